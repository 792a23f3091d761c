"""``cnn`` and ``attention``: two VGG-style pathways, with soft attention on the audio for ``attention``.

* ``cnn`` — [Dorfer et al. 2018a] (:data:`~ast_toolkit.references.DORFER2018_TISMIR`):
  per pathway four blocks of [3×3 conv, pad 1 + BatchNorm + ELU]×2 + 2×2
  max-pool with 24 / 48 / 96 / 96 filters, a 1×1 conv to 32 + BatchNorm
  (linear), then Dense(32) (linear).  Sheet: the 160×200 window downscaled
  ×0.5; audio: 92 bins × 42 frames (2.1 s).
* ``attention`` — [Balke et al. 2019] (:data:`~ast_toolkit.references.BALKE2019`):
  the ``cnn`` with a soft-attention branch on the audio — a parallel CNN of the
  same layout whose 1×1 conv gives one logit per input frame, mean-pooled and
  soft-maxed over time; spectrogram columns are multiplied by ``weight × T``,
  so uniform attention leaves the input unchanged (and that is where training
  starts).  84 frames (4.2 s) by default; 168 is the longest context of
  [Balke et al. 2019].

Embeddings are 32-d and L2-normalised (:class:`ast_toolkit.learn.encoder.TorchEncoder`);
hyper-parameters are typed dataclasses (``ast fit --param audio_context=168``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from ast_toolkit.learn.encoder import TorchEncoder

from ._layers import ConvPathway, SoftAttention, _AttendedAudio

__all__ = ["CNNEncoder", "AttentionEncoder", "CNNConfig", "AttentionConfig"]


@dataclass(frozen=True)
class CNNConfig:
    """Hyper-parameters of ``cnn`` (defaults: [Dorfer et al. 2018a]).

    Attributes
    ----------
    sheet_window : (int, int)
        Sheet window cut from the score, (height, width) pixels.
    sheet_scale : float
        Downscaling of the window before the sheet pathway (160×200 -> 80×100).
    audio_bins : int
        Spectrogram bins (92: MSMD's filterbank).
    audio_context : int
        Spectrogram frames per excerpt (42 = 2.1 s at 20 frames/s).
    filters : tuple of int
        Filters of the four conv blocks.
    dim : int
        Embedding dimension.
    sheet_polarity : {"ink", "paper"}
        What 1 means in the sheet pathway's input: ``ink`` (``ast``'s windows)
        or ``paper`` (images divided by 255, as the authors' code feeds them:
        set by ``ast model import --format ucasr``).
    """

    sheet_window: tuple[int, int] = (160, 200)
    sheet_scale: float = 0.5
    audio_bins: int = 92
    audio_context: int = 42
    filters: tuple[int, ...] = (24, 48, 96, 96)
    dim: int = 32
    sheet_polarity: Literal["ink", "paper"] = "ink"


class CNNEncoder(TorchEncoder):
    """``cnn``: [Dorfer et al. 2018a]'s two VGG-style pathways with a Dense(32) output.

    Examples
    --------
    >>> from ast_toolkit import plugins
    >>> enc = plugins.create("encoders", "cnn", filters=[8, 16, 16, 16])
    >>> enc.sheet_window, enc.sheet_shape, enc.audio_shape
    ((160, 200), (80, 100), (92, 42))
    >>> enc.embed_audio(np.zeros((2, 92, 42), np.float32)).shape
    (2, 32)
    """

    name = "cnn"
    Config = CNNConfig

    def build(self) -> None:
        c = self.config
        self.sheet_net = ConvPathway(self.sheet_shape, c.filters, c.dim)
        self.audio_net = ConvPathway(self.audio_shape, c.filters, c.dim)


@dataclass(frozen=True)
class AttentionConfig(CNNConfig):
    """Hyper-parameters of ``attention``: the ``cnn``'s, with 84 frames (4.2 s) of audio."""

    audio_context: int = 84


class AttentionEncoder(TorchEncoder):
    """``attention``: the ``cnn`` plus soft attention over the spectrogram frames."""

    name = "attention"
    Config = AttentionConfig

    def build(self) -> None:
        c = self.config
        self.sheet_net = ConvPathway(self.sheet_shape, c.filters, c.dim)
        self.audio_net = _AttendedAudio(SoftAttention(self.audio_shape, c.filters),
                                        ConvPathway(self.audio_shape, c.filters, c.dim))

    @torch.no_grad()
    def attention_weights(self, spectrograms: np.ndarray) -> np.ndarray:
        """Attention over the frames: ``[n, bins, T]`` -> ``[n, T]`` (rows sum to 1)."""
        was = self.training
        self.eval()
        try:
            x = self.audio_input(torch.as_tensor(np.asarray(spectrograms, np.float32),
                                                 device=self.device))
            return self.audio_net.attention.weights(x).cpu().numpy()
        finally:
            self.train(was)
