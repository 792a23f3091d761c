"""Bundled encoders: ``cnn``, ``attention``, ``timm`` and ``dcca``.

Every encoder has two pathways — sheet snippet and spectrogram excerpt — each
ending in a ``dim``-d (32) vector; embeddings are L2-normalised (see
:class:`toolkit.nn.TorchEncoder`).  Hyper-parameters are typed dataclasses; pass
them as keyword arguments (``ast fit --param audio_context=168``).

* ``cnn`` — seed 003 (Dorfer et al., TISMIR 2018): per pathway four blocks of
  [3×3 conv, pad 1 + BatchNorm + ELU]×2 + 2×2 max-pool with 24 / 48 / 96 / 96
  filters, a 1×1 conv to 32 + BatchNorm (linear), then Dense(32) (linear).  Sheet:
  the 160×200 window downscaled ×0.5; audio: 92 bins × 42 frames (2.1 s).
* ``attention`` — seeds 002/003 (Balke et al., ISMIR 2019): the ``cnn`` with a
  soft-attention branch on the audio — a parallel CNN of the same layout whose
  1×1 conv gives one logit per input frame, mean-pooled and soft-maxed over time;
  spectrogram columns are multiplied by ``weight × T``, so uniform attention
  leaves the input unchanged (and that is where training starts).  84 frames
  (4.2 s) by default; 168 is seed 003's longest context.
* ``timm`` — any timm architecture per pathway (``sheet_backbone``,
  ``audio_backbone``), one input channel, never pretrained (nothing is
  downloaded), projected to 32-d by a linear layer.
* ``dcca`` — seed 001 (Dorfer et al., 2016): 16 / 32 / 64 / 64 filters, a 1×1 conv
  to 32 + BatchNorm (linear) and global average pooling; a 40×100 sheet snippet
  (an 80×200 one-staff window downscaled ×0.5) and 136 bins × 100 frames (seed
  001's spectrogram, 31.25 frames/s: the ``folk-dcca`` dataset).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from toolkit.errors import ParameterError, UnknownPluginError, did_you_mean
from toolkit.nn import TorchEncoder

__all__ = ["CNNEncoder", "AttentionEncoder", "TimmEncoder", "DCCAEncoder", "ConvPathway",
           "SoftAttention"]


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ELU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ELU(inplace=True),
        nn.MaxPool2d(2),
    )


class ConvPathway(nn.Module):
    """VGG-style pathway: conv blocks, a 1×1 conv to ``out`` maps, then Dense or GAP.

    Parameters
    ----------
    input_shape : (int, int)
        ``(height, width)`` of the single-channel input.
    filters : tuple of int
        Filters of each block (one 2×2 max-pool per block).
    out : int
        Output dimension.
    reduce : {"dense", "gap"}
        ``dense``: flatten and a linear Dense(out) (seed 003); ``gap``: global
        average pooling of the 1×1 conv's maps (seed 001).
    batchnorm : bool
        BatchNorm after the 1×1 conv.
    """

    def __init__(self, input_shape: tuple[int, int], filters: tuple[int, ...], out: int, *,
                 reduce: Literal["dense", "gap"] = "dense", batchnorm: bool = True) -> None:
        super().__init__()
        layers, cin = [], 1
        for f in filters:
            layers.append(_block(cin, f))
            cin = f
        self.blocks = nn.Sequential(*layers)
        self.project = nn.Conv2d(cin, out, 1, bias=not batchnorm)
        self.norm = nn.BatchNorm2d(out) if batchnorm else nn.Identity()
        self.reduce = reduce
        if reduce == "dense":
            with torch.no_grad():
                h, w = self.blocks(torch.zeros(1, 1, *input_shape)).shape[-2:]
            if h * w == 0:
                raise ParameterError(f"input {input_shape} too small for {len(filters)} poolings")
            self.dense = nn.Linear(out * h * w, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.project(self.blocks(x)))
        if self.reduce == "dense":
            return self.dense(x.flatten(1))
        return x.mean(dim=(2, 3))


class SoftAttention(nn.Module):
    """Attention over the frames of a spectrogram excerpt (Balke et al., 2019).

    A :class:`ConvPathway` of the given layout whose 1×1 conv has one map per
    input frame; the maps are mean-pooled to ``T`` logits and soft-maxed over
    time.  The 1×1 conv starts at zero, so the initial attention is uniform.
    """

    def __init__(self, input_shape: tuple[int, int], filters: tuple[int, ...]) -> None:
        super().__init__()
        self.frames = int(input_shape[1])
        self.net = ConvPathway(input_shape, filters, self.frames, reduce="gap", batchnorm=False)
        nn.init.zeros_(self.net.project.weight)
        nn.init.zeros_(self.net.project.bias)

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """``[n, 1, bins, T]`` -> attention weights ``[n, T]`` summing to 1."""
        return torch.softmax(self.net(x), dim=1)

    @staticmethod
    def apply(x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Scale the columns of ``x`` by ``weights × T`` (uniform weights: identity)."""
        return x * (weights * weights.shape[1])[:, None, None, :]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.apply(x, self.weights(x))


class _AttendedAudio(nn.Module):
    def __init__(self, attention: SoftAttention, pathway: ConvPathway) -> None:
        super().__init__()
        self.attention, self.pathway = attention, pathway

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pathway(self.attention(x))


@dataclass(frozen=True)
class CNNConfig:
    """Hyper-parameters of ``cnn`` (defaults: seed 003).

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
    """

    sheet_window: tuple[int, int] = (160, 200)
    sheet_scale: float = 0.5
    audio_bins: int = 92
    audio_context: int = 42
    filters: tuple[int, ...] = (24, 48, 96, 96)
    dim: int = 32


class CNNEncoder(TorchEncoder):
    """``cnn``: seed 003's two VGG-style pathways with a Dense(32) output."""

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


@dataclass(frozen=True)
class TimmConfig:
    """Hyper-parameters of ``timm``.

    Attributes
    ----------
    sheet_backbone, audio_backbone : str
        timm architecture names (``timm.list_models()``), e.g. ``resnet18``.
    sheet_window, sheet_scale, audio_bins, audio_context, dim
        As for ``cnn``.
    """

    sheet_backbone: str = "resnet18"
    audio_backbone: str = "resnet18"
    sheet_window: tuple[int, int] = (160, 200)
    sheet_scale: float = 0.5
    audio_bins: int = 92
    audio_context: int = 42
    dim: int = 32


class _TimmPathway(nn.Module):
    def __init__(self, backbone: str, dim: int) -> None:
        super().__init__()
        import timm

        if not timm.is_model(backbone):
            raise UnknownPluginError(did_you_mean(backbone, timm.list_models(), what="timm backbone",
                                                  max_known=10, hint="`timm.list_models()`"))
        # pretrained=False always: weights are never downloaded.
        self.backbone = timm.create_model(backbone, pretrained=False, in_chans=1, num_classes=0)
        self.proj = nn.Linear(self.backbone.num_features, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.backbone(x))


class TimmEncoder(TorchEncoder):
    """``timm``: a timm backbone per pathway (one channel, random init) and a linear projection."""

    name = "timm"
    Config = TimmConfig

    def build(self) -> None:
        c = self.config
        self.sheet_net = _TimmPathway(c.sheet_backbone, c.dim)
        self.audio_net = _TimmPathway(c.audio_backbone, c.dim)


@dataclass(frozen=True)
class DCCAConfig(CNNConfig):
    """Hyper-parameters of ``dcca``: the ``cnn``'s, with seed 001's defaults.

    ``sheet_window`` 80×200 is one staff with its ledger-line space, downscaled to
    40×100; ``audio_bins`` 136 and ``audio_context`` 100 (3.2 s at 31.25 frames/s)
    are seed 001's spectrogram (``toolkit.spectrogram.SEED001``).
    """

    sheet_window: tuple[int, int] = (80, 200)
    audio_bins: int = 136
    audio_context: int = 100
    filters: tuple[int, ...] = (16, 32, 64, 64)


class DCCAEncoder(TorchEncoder):
    """``dcca``: seed 001's pathways, 1×1 conv to 32 and global average pooling."""

    name = "dcca"
    Config = DCCAConfig

    def build(self) -> None:
        c = self.config
        self.sheet_net = ConvPathway(self.sheet_shape, c.filters, c.dim, reduce="gap")
        self.audio_net = ConvPathway(self.audio_shape, c.filters, c.dim, reduce="gap")

