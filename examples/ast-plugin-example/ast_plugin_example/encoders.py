"""``tiny``: an encoder of its own — two small conv pathways with global average pooling.

Built on the core's torch base (:class:`ast_toolkit.learn.encoder.TorchEncoder`),
which gives it batched numpy embedding, the optional CCA head, and the model
folder (``config.json`` + ``weights.pt``): a plugin declares its typed
hyper-parameters (``Config``) and builds the two pathways (``build``).
Quick to train on a CPU; far from the bundled ``cnn``'s quality.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ast_toolkit.learn.encoder import TorchEncoder


@dataclass(frozen=True)
class TinyConfig:
    """Hyper-parameters of ``tiny`` (``ast fit -e tiny --param width=32``).

    The first five fields are the ones every encoder of the torch base has.
    """

    sheet_window: tuple[int, int] = (160, 200)
    sheet_scale: float = 0.5
    audio_bins: int = 92
    audio_context: int = 42
    dim: int = 32
    width: int = 16


def _pathway(width: int, dim: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, width, 5, stride=2, padding=2), nn.BatchNorm2d(width), nn.ELU(),
        nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.BatchNorm2d(2 * width), nn.ELU(),
        nn.Conv2d(2 * width, dim, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    )


class TinyEncoder(TorchEncoder):
    """``tiny``: two conv layers and global average pooling per pathway."""

    name = "tiny"
    Config = TinyConfig

    def build(self) -> None:
        self.sheet_net = _pathway(self.config.width, self.config.dim)
        self.audio_net = _pathway(self.config.width, self.config.dim)
