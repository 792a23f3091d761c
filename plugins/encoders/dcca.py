"""``dcca``: the pathways of [Dorfer et al. 2016] (:data:`~ast_toolkit.references.DORFER2016`).

16 / 32 / 64 / 64 filters, a 1×1 conv to 32 + BatchNorm (linear) and global
average pooling; a 40×100 sheet snippet (an 80×200 one-staff window
downscaled ×0.5) and 136 bins × 100 frames (their spectrogram, 31.25 frames/s:
:data:`ast_toolkit.data.spectrogram.DORFER2016`, the ``folk-dcca`` dataset).
"""

from __future__ import annotations

from dataclasses import dataclass

from ast_toolkit.learn.encoder import TorchEncoder

from ._layers import ConvPathway
from .cnn import CNNConfig

__all__ = ["DCCAEncoder", "DCCAConfig"]


@dataclass(frozen=True)
class DCCAConfig(CNNConfig):
    """Hyper-parameters of ``dcca``: the ``cnn``'s, with [Dorfer et al. 2016]'s defaults.

    ``sheet_window`` 80×200 is one staff with its ledger-line space, downscaled to
    40×100; ``audio_bins`` 136 and ``audio_context`` 100 (3.2 s at 31.25 frames/s)
    are their spectrogram (:data:`ast_toolkit.data.spectrogram.DORFER2016`).
    """

    sheet_window: tuple[int, int] = (80, 200)
    audio_bins: int = 136
    audio_context: int = 100
    filters: tuple[int, ...] = (16, 32, 64, 64)


class DCCAEncoder(TorchEncoder):
    """``dcca``: [Dorfer et al. 2016]'s pathways, 1×1 conv to 32 and global average pooling."""

    name = "dcca"
    Config = DCCAConfig

    def build(self) -> None:
        c = self.config
        self.sheet_net = ConvPathway(self.sheet_shape, c.filters, c.dim, reduce="gap")
        self.audio_net = ConvPathway(self.audio_shape, c.filters, c.dim, reduce="gap")
