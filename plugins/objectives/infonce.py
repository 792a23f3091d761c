"""``infonce``: symmetric InfoNCE / NT-Xent (CLIP-style) with a learnable temperature
([Oord et al. 2018], :data:`~ast_toolkit.references.OORD2018`)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ast_toolkit.errors import ParameterError
from ast_toolkit.interfaces import Objective

__all__ = ["InfoNCELoss"]


class InfoNCELoss(Objective, nn.Module):
    """``infonce``: symmetric cross-entropy over cosine similarities / temperature.

    Parameters
    ----------
    temperature : float
        Initial temperature (learnable, clamped to >= 0.01).
    """

    name = "infonce"

    def __init__(self, temperature: float = 0.07) -> None:
        nn.Module.__init__(self)
        if not temperature > 0:
            raise ParameterError(f"objective 'infonce': temperature must be > 0, got {temperature!r}")
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))

    @property
    def temperature(self) -> float:
        return float(1.0 / self.log_scale.detach().clamp(max=math.log(100.0)).exp())

    def loss(self, sheet: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        s, a = F.normalize(sheet.float(), dim=1), F.normalize(audio.float(), dim=1)
        logits = (s @ a.T) * self.log_scale.clamp(max=math.log(100.0)).exp()
        target = torch.arange(len(logits), device=logits.device)
        return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
