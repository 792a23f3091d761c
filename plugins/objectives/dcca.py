"""``dcca``: the DCCA objective of [Dorfer et al. 2016] (:data:`~ast_toolkit.references.DORFER2016`).

Maximise the trace norm of ``T = Σxx^-1/2 Σxy Σyy^-1/2`` (the sum of the
canonical correlations, [Andrew et al. 2013], :data:`~ast_toolkit.references.ANDREW2013`);
the CCA projections used for retrieval are fitted on a large training sample
afterwards (the objective declares ``cca = "refit"``).
"""

from __future__ import annotations

import torch
from torch import nn

from ast_toolkit.errors import ParameterError
from ast_toolkit.interfaces import Objective
from ast_toolkit.learn.cca import canonical_correlations

__all__ = ["DCCALoss"]


class DCCALoss(Objective, nn.Module):
    """``dcca``: minus the sum of canonical correlations of the batch.

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
