"""``timm``: any timm architecture per pathway, one input channel, never pretrained.

Nothing is downloaded (``pretrained=False``); each pathway is projected to the
32-d space by a linear layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ast_toolkit.errors import UnknownNameError, did_you_mean
from ast_toolkit.learn.encoder import TorchEncoder

__all__ = ["TimmEncoder", "TimmConfig"]


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
            raise UnknownNameError(did_you_mean(backbone, timm.list_models(), what="timm backbone",
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
