"""Data: score sources, rendering datasets, spectrograms, audio files, snippets, opening datasets.

* :mod:`~ast_toolkit.data.sources` — which pieces a dataset is made of;
* :mod:`~ast_toolkit.data.build` — ``ast data render``: engrave, perform,
  synthesize and align into a dataset folder;
* :mod:`~ast_toolkit.data.spectrogram` — log-frequency spectrograms (MSMD's);
* :mod:`~ast_toolkit.data.audio` — reading users' recordings, cutting excerpts;
* :mod:`~ast_toolkit.data.snippets` — unrolled systems and sheet windows;
* :mod:`~ast_toolkit.data.datasets` — opening a dataset folder with its plugin;
* :mod:`~ast_toolkit.data.recordings` — a user's recordings as a collection;
* :mod:`~ast_toolkit.data.figures` — ``ast data show``.
"""
