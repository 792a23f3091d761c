"""Bundled augmentations (``ast.augmentations``): sheet windows, spectrogram excerpts, renditions."""
