"""Bundled training objectives: ``ranking``, ``cca``, ``dcca`` and ``infonce``.

In a batch of ``n`` aligned pairs, row ``i`` of the sheet and audio outputs is a
matching pair and every other row a negative.

* ``ranking`` — the pairwise ranking loss (Kiros et al.; seed 003) on cosine
  similarity: for every pair and every negative,
  ``max(0, margin − cos(x_i, y_i) + cos(x_i, y_j))``, summed over negatives and
  averaged over anchors; audio→sheet, sheet→audio or both directions.
* ``cca`` — seed 003's CCA layer: both pathways pass through a batch-wise CCA
  projection (:class:`toolkit.nn.CCAProjection`, ε·I regularised, running
  statistics) and the ranking loss is taken on the projected views.
* ``dcca`` — seed 001's DCCA objective: maximise the trace norm of
  ``T = Σxx^-1/2 Σxy Σyy^-1/2`` (the sum of the canonical correlations); the CCA
  projections used for retrieval are fitted on a large training sample afterwards.
* ``infonce`` — symmetric InfoNCE / NT-Xent (CLIP-style) with a learnable
  temperature.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from toolkit.errors import ParameterError
from toolkit.interfaces import Objective
from toolkit.nn import canonical_correlations

__all__ = ["RankingLoss", "CCARankingLoss", "DCCALoss", "InfoNCELoss", "ranking_loss"]

Direction = Literal["both", "a2s", "s2a"]


def ranking_loss(sheet: torch.Tensor, audio: torch.Tensor, *, margin: float = 0.7,
                 direction: Direction = "both") -> torch.Tensor:
    """Pairwise ranking loss on cosine similarity; see the module docstring."""
    s, a = F.normalize(sheet.float(), dim=1), F.normalize(audio.float(), dim=1)
    sim = s @ a.T  # sim[i, j]: sheet i with audio j
    pos = sim.diagonal()
    off = ~torch.eye(len(sim), dtype=torch.bool, device=sim.device)
    total = sim.new_zeros(())
    if direction in ("both", "a2s"):  # audio query j ranks sheets i
        total = total + (F.relu(margin - pos[None, :] + sim) * off).sum()
    if direction in ("both", "s2a"):  # sheet query i ranks audio j
        total = total + (F.relu(margin - pos[:, None] + sim) * off).sum()
    return total / len(sim)


def _check(margin: float, direction: str, what: str) -> None:
    if not 0 < margin <= 2:
        raise ParameterError(f"objective {what!r}: margin must be in (0, 2], got {margin!r}")
    if direction not in ("both", "a2s", "s2a"):
        raise ParameterError(f"objective {what!r}: direction must be both, a2s or s2a, got {direction!r}")


class RankingLoss(Objective, nn.Module):
    """``ranking``: pairwise ranking loss on cosine similarity.

    Parameters
    ----------
    margin : float
        Hinge margin (default 0.7, seed 003's code; the tutorial slides use 1).
    direction : {"both", "a2s", "s2a"}
        Which retrieval directions contribute.
    """

    name = "ranking"

    def __init__(self, margin: float = 0.7, direction: Direction = "both") -> None:
        nn.Module.__init__(self)
        _check(margin, direction, self.name)
        self.margin, self.direction = float(margin), direction

    def loss(self, sheet: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        return ranking_loss(sheet, audio, margin=self.margin, direction=self.direction)


class CCARankingLoss(RankingLoss):
    """``cca``: the ranking loss behind seed 003's CCA projection layer."""

    name = "cca"
    cca = "train"


class DCCALoss(Objective, nn.Module):
    """``dcca``: minus the sum of canonical correlations of the batch (seed 001).

    Parameters
    ----------
    eps : float
        Ridge ``ε·I`` on the auto-covariances.
    """

    name = "dcca"
    cca = "refit"

    def __init__(self, eps: float = 1e-3) -> None:
        nn.Module.__init__(self)
        if not eps > 0:
            raise ParameterError(f"objective 'dcca': eps must be > 0, got {eps!r}")
        self.eps = float(eps)

    def loss(self, sheet: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        return -canonical_correlations(sheet, audio, eps=self.eps).sum().float()


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
