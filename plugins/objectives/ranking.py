"""``ranking`` and ``cca``: the pairwise ranking loss, without and with the CCA layer.

In a batch of ``n`` aligned pairs, row ``i`` of the sheet and audio outputs is a
matching pair and every other row a negative.

* ``ranking`` — the pairwise ranking loss ([Kiros et al. 2014],
  :data:`~ast_toolkit.references.KIROS2014`; as [Dorfer et al. 2018a]) on cosine
  similarity: for every pair and every negative,
  ``max(0, margin − cos(x_i, y_i) + cos(x_i, y_j))``, summed over negatives and
  averaged over anchors; audio→sheet, sheet→audio or both directions.
* ``cca`` — the CCA layer of [Dorfer et al. 2018b]
  (:data:`~ast_toolkit.references.DORFER2018_IJMIR`): both pathways pass through a
  batch-wise CCA projection (:class:`ast_toolkit.learn.cca.CCAProjection`, ε·I
  regularised, running statistics) and the ranking loss is taken on the
  projected views.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ast_toolkit.errors import ParameterError
from ast_toolkit.interfaces import Objective

__all__ = ["RankingLoss", "CCARankingLoss", "ranking_loss"]

Direction = Literal["both", "a2s", "s2a"]


def ranking_loss(sheet: torch.Tensor, audio: torch.Tensor, *, margin: float = 0.7,
                 direction: Direction = "both") -> torch.Tensor:
    """Pairwise ranking loss on cosine similarity; see the module docstring.

    Examples
    --------
    >>> x = torch.eye(4)
    >>> float(ranking_loss(x, x, margin=0.7))  # every pair apart by 1 > margin: no loss
    0.0
    """
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
        Hinge margin (default 0.7, as the authors' code; their tutorial slides use 1).
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
    """``cca``: the ranking loss behind the CCA projection layer of [Dorfer et al. 2018b]."""

    name = "cca"
    cca = "train"
