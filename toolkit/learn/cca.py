"""The CCA layer and canonical correlations (torch).

* :class:`CCAProjection` — the CCA layer of [Dorfer et al. 2018b]
  (:data:`ast_toolkit.references.DORFER2018_IJMIR`): batch-wise CCA with ε·I
  regularisation, running statistics, and a refit on a large sample;
* :func:`canonical_correlations` — the singular values of
  ``T = Σxx^-1/2 Σxy Σyy^-1/2``, whose sum is the DCCA objective of
  [Dorfer et al. 2016] (:data:`ast_toolkit.references.DORFER2016`).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ParameterError

__all__ = ["CCAProjection", "canonical_correlations"]


def _covariances(x: torch.Tensor, y: torch.Tensor, eps: float):
    n = x.shape[0]
    mx, my = x.mean(0), y.mean(0)
    xc, yc = x - mx, y - my
    eye_x = torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
    eye_y = torch.eye(y.shape[1], dtype=y.dtype, device=y.device)
    sxx = xc.T @ xc / (n - 1) + eps * eye_x
    syy = yc.T @ yc / (n - 1) + eps * eye_y
    sxy = xc.T @ yc / (n - 1)
    return mx, my, sxx, syy, sxy


def _inv_sqrt(m: torch.Tensor) -> torch.Tensor:
    """``m^-1/2`` of a symmetric positive definite matrix."""
    w, v = torch.linalg.eigh(m)
    w = w.clamp_min(torch.finfo(m.dtype).eps * w.max().abs().clamp_min(1.0) * 10)
    return (v * w.rsqrt()) @ v.T


def _whitened_cross(sxx, syy, sxy):
    ix, iy = _inv_sqrt(sxx), _inv_sqrt(syy)
    return ix, iy, ix @ sxy @ iy


def canonical_correlations(x: torch.Tensor, y: torch.Tensor, *, eps: float = 1e-4) -> torch.Tensor:
    """Canonical correlations of two views, differentiably.

    Parameters
    ----------
    x, y : torch.Tensor [shape=(n, d)]
        Paired samples (rows) of the two views; computed in float64.
    eps : float
        Ridge ``ε·I`` added to both auto-covariances.

    Returns
    -------
    torch.Tensor [shape=(d,)], float64
        Singular values of ``T = Σxx^-1/2 Σxy Σyy^-1/2``, largest first; their sum
        is the trace norm ``||T||_tr`` that DCCA maximises.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(1000, 3, generator=g)
    >>> y = x[:, [1, 0, 2]] * torch.tensor([1.0, 0.5, 0.0]) + 0.5 * torch.randn(1000, 3, generator=g)
    >>> [round(c, 2) for c in canonical_correlations(x, y).tolist()]
    [0.9, 0.72, 0.04]
    >>> canonical_correlations(x, y[:, :2])
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.ParameterError: need two [n >= 2, d] views of one shape, got (1000, 3) and (1000, 2)
    """
    if x.ndim != 2 or x.shape != y.shape or x.shape[0] < 2:
        raise ParameterError(f"need two [n >= 2, d] views of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    _, _, sxx, syy, sxy = _covariances(x.double(), y.double(), eps)
    return torch.linalg.svdvals(_whitened_cross(sxx, syy, sxy)[2])


class CCAProjection(nn.Module):
    """The CCA layer (:data:`~ast_toolkit.references.DORFER2018_IJMIR`): projects both
    views onto canonical directions.

    In training mode, :meth:`forward` computes CCA on the batch (so a loss on the
    projected views back-propagates through the analytic projections) and updates
    running means and covariances.  In eval mode it projects with the projections
    derived from the running statistics — or, after :meth:`fit`, from an exact
    computation on a large sample, which is what the trainer does once training ends.

    Parameters
    ----------
    dim : int
        Dimension of both views.
    eps : float
        Ridge ``ε·I`` on the auto-covariances.
    momentum : float
        Weight of each batch in the running statistics.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(1000, 3, generator=g)
    >>> y = x[:, [1, 0, 2]] * torch.tensor([1.0, 0.5, 0.0]) + 0.5 * torch.randn(1000, 3, generator=g)
    >>> cca = CCAProjection(3)
    >>> [round(c, 2) for c in cca.fit(x, y).tolist()]
    [0.9, 0.72, 0.04]
    >>> px, py = cca.eval()(x, y)  # the first canonical pair is the most correlated
    >>> px.shape, round(float(torch.corrcoef(torch.stack([px[:, 0], py[:, 0]]))[0, 1]), 2)
    (torch.Size([1000, 3]), 0.9)
    """

    def __init__(self, dim: int, *, eps: float = 1e-3, momentum: float = 0.05) -> None:
        super().__init__()
        self.dim, self.eps, self.momentum = int(dim), float(eps), float(momentum)
        f64 = dict(dtype=torch.float64)
        self.register_buffer("mean_x", torch.zeros(dim, **f64))
        self.register_buffer("mean_y", torch.zeros(dim, **f64))
        self.register_buffer("cov_xx", torch.eye(dim, **f64))
        self.register_buffer("cov_yy", torch.eye(dim, **f64))
        self.register_buffer("cov_xy", torch.zeros(dim, dim, **f64))
        self.register_buffer("proj_x", torch.eye(dim, **f64))
        self.register_buffer("proj_y", torch.eye(dim, **f64))
        self.register_buffer("n_seen", torch.zeros((), dtype=torch.int64))

    @staticmethod
    def _projections(sxx, syy, sxy):
        ix, iy, t = _whitened_cross(sxx, syy, sxy)
        u, _, vh = torch.linalg.svd(t)
        return ix @ u, iy @ vh.T

    @torch.no_grad()
    def _set_stats(self, mx, my, sxx, syy, sxy, *, blend: float) -> None:
        for buf, val in ((self.mean_x, mx), (self.mean_y, my), (self.cov_xx, sxx),
                         (self.cov_yy, syy), (self.cov_xy, sxy)):
            buf.mul_(1 - blend).add_(blend * val.detach())
        px, py = self._projections(self.cov_xx, self.cov_yy, self.cov_xy)
        self.proj_x.copy_(px)
        self.proj_y.copy_(py)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Project a batch of pairs; returns the two projected views (float32)."""
        if not self.training:
            return self.project_x(x), self.project_y(y)
        mx, my, sxx, syy, sxy = _covariances(x.double(), y.double(), self.eps)
        px, py = self._projections(sxx, syy, sxy)
        blend = 1.0 if int(self.n_seen) == 0 else self.momentum
        self._set_stats(mx, my, sxx, syy, sxy, blend=blend)
        self.n_seen += x.shape[0]
        return ((x.double() - mx) @ px).to(x.dtype), ((y.double() - my) @ py).to(y.dtype)

    def project_x(self, x: torch.Tensor) -> torch.Tensor:
        return ((x.double() - self.mean_x) @ self.proj_x).to(x.dtype)

    def project_y(self, y: torch.Tensor) -> torch.Tensor:
        return ((y.double() - self.mean_y) @ self.proj_y).to(y.dtype)

    @torch.no_grad()
    def fit(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Exact CCA on a (large) sample; returns its canonical correlations."""
        mx, my, sxx, syy, sxy = _covariances(x.double(), y.double(), self.eps)
        self._set_stats(mx, my, sxx, syy, sxy, blend=1.0)
        self.n_seen.fill_(x.shape[0])
        return torch.linalg.svdvals(_whitened_cross(sxx, syy, sxy)[2])
