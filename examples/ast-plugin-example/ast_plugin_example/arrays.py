"""``arrays``: a dataset kind of its own — a folder of precomputed arrays.

Each piece is two ``.npy`` files: its systems unrolled into one strip
(``strip.npy``, ink in [0, 1], with ``strip_index.npy``: where each system
starts in the strip, its left edge on the page, its page) and a spectrogram
(``spectrogram.npy``).  ``dataset.json`` names the plugin, the spectrogram
settings and the pieces with their splits::

    {"plugin": "arrays", "name": "...", "spectrogram": {...},
     "pieces": [{"id": "...", "folder": "pieces/0000", "split": "test"}, ...]}

It has no aligned note pairs (it cannot train a model), but it goes through
``ast index``, ``ast match`` and ``ast eval pieces`` like any dataset: it
implements the three abstract members of the interface, and cuts its windows
and excerpts with the core's helpers, so they are the ones the encoders were
trained on.  ``ast arrays export`` (``command.py``) writes such a folder from
any dataset with pages and performances.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ast_toolkit.data.audio import excerpts
from ast_toolkit.data.snippets import Strip, sheet_sequence
from ast_toolkit.errors import IntegrityError, ParameterError
from ast_toolkit.interfaces import Dataset
from ast_toolkit.types import Performance, PieceSequence, SpectrogramSpec


class ArraysDataset(Dataset):
    """Read a folder of precomputed strips and spectrograms (see the module docstring)."""

    def __init__(self, root, *, sheet_window=(160, 200), audio_context=42) -> None:
        super().__init__(root, sheet_window=sheet_window, audio_context=audio_context)
        try:
            meta = json.loads((self.root / "dataset.json").read_text())
        except (OSError, ValueError) as exc:
            raise IntegrityError(f"{self.root / 'dataset.json'}: cannot read: {exc}") from None
        self.name = meta.get("name", self.root.name)
        self._spec = SpectrogramSpec.from_dict(meta.get("spectrogram"))
        self._pieces = {p["id"]: p for p in meta["pieces"]}

    @property
    def spectrogram(self) -> SpectrogramSpec:
        return self._spec

    def piece_ids(self, split=None):
        if split is not None and split not in self.SPLITS:
            raise ParameterError(f"unknown split {split!r}; known: {', '.join(self.SPLITS)}")
        return sorted(k for k, p in self._pieces.items() if split in (None, p["split"]))

    def source(self, piece):
        return str(self.root / self._pieces[piece]["folder"])

    def _load(self, piece, name):
        path = Path(self.source(piece)) / name
        try:
            return np.load(path)
        except (OSError, ValueError) as exc:
            raise IntegrityError(f"{path}: cannot read: {exc}") from None

    def strip(self, piece) -> Strip:
        """The stored strip, cut or padded to the window's height around its centre."""
        image = self._load(piece, "strip.npy")
        offsets, x0, pages = self._load(piece, "strip_index.npy")
        height, have = self.sheet_window[0], image.shape[0]
        out = np.zeros((height, image.shape[1]), np.float16)
        top = (have - height) // 2  # the stored band's row at the top of the window
        lo, hi = max(top, 0), min(top + height, have)
        out[lo - top:hi - top] = image[lo:hi]
        return Strip(out, offsets, x0, pages)

    def performances(self, piece):
        return ["recording"]

    def performance(self, piece, name=None):
        return Performance("recording", self._load(piece, "spectrogram.npy"), self._spec.fps)

    def sequence(self, piece, *, sheet_hop=50, audio_hop=10, performance=None) -> PieceSequence:
        sheet, positions = sheet_sequence(self.strip(piece), width=self.sheet_window[1],
                                          hop=sheet_hop)
        perf = self.performance(piece)
        audio, centres = excerpts(np.asarray(perf.spectrogram), self.audio_context, audio_hop)
        return PieceSequence(piece, sheet, positions, audio,
                             (centres / self._spec.fps).astype(np.float32),
                             duration=perf.duration, performance=perf.name)
