"""Learning: model folders, the torch encoder base, the CCA layer, training.

* :mod:`~ast_toolkit.learn.modelfile` — model folders, read without torch;
* :mod:`~ast_toolkit.learn.encoder` — :class:`TorchEncoder`, the base of torch encoders;
* :mod:`~ast_toolkit.learn.cca` — the CCA layer and canonical correlations;
* :mod:`~ast_toolkit.learn.training` — ``ast fit``: training as named steps.
"""
