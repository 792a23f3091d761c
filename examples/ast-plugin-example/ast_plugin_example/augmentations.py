"""An augmentation: SpecAugment-style masks (Park et al. 2019) over spectrogram excerpts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ast_toolkit.interfaces import Augmentation


class Mask(Augmentation):
    """``mask``: up to ``frames`` consecutive frames and up to ``bins`` consecutive bins of
    each chosen excerpt set to silence (a dropout, a masked instrument)."""

    name = "mask"
    modality = "audio"

    @dataclass(frozen=True)
    class Config:
        p: float = 0.5
        frames: int = 8
        bins: int = 12

    def apply(self, x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        n, _, n_bins, n_frames = x.shape
        pick = self.chosen(n, rng)
        keep = np.ones((n, 1, n_bins, n_frames), np.float32)
        for i in np.flatnonzero(pick):
            w, h = rng.integers(0, self.config.frames + 1), rng.integers(0, self.config.bins + 1)
            t, f = rng.integers(0, n_frames - w + 1), rng.integers(0, n_bins - h + 1)
            keep[i, 0, :, t:t + w] = 0.0
            keep[i, 0, f:f + h, :] = 0.0
        return x * torch.from_numpy(keep).to(x.device)
