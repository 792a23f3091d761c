"""Layers shared by the bundled encoders: a VGG-style pathway and soft attention over frames."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ast_toolkit.errors import ParameterError

__all__ = ["ConvPathway", "SoftAttention"]


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
        ``dense``: flatten and a linear Dense(out) ([Dorfer et al. 2018a]);
        ``gap``: global average pooling of the 1×1 conv's maps ([Dorfer et al. 2016]).
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
    """Attention over the frames of a spectrogram excerpt
    ([Balke et al. 2019], :data:`~ast_toolkit.references.BALKE2019`).

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
