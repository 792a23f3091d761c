"""Objective plugins and the CCA machinery, against independent numpy computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ast_toolkit import plugins
from ast_toolkit.errors import ParameterError
from ast_toolkit.learn.cca import CCAProjection, canonical_correlations

OBJECTIVES = plugins.names("objectives")


def _views(n=200, d=6, noise=0.5, seed=0):
    """Two correlated views: y is a linear mix of x plus noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = x @ rng.normal(size=(d, d)) + noise * rng.normal(size=(n, d))
    return x, y


def numpy_canonical_correlations(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Björck & Golub: singular values of Qx^T Qy for orthonormal bases of the centred views.

    A different route from the toolkit's (whitening with Σ^-1/2, then the SVD of T).
    """
    qx, _ = np.linalg.qr(x - x.mean(0))
    qy, _ = np.linalg.qr(y - y.mean(0))
    return np.linalg.svd(qx.T @ qy, compute_uv=False)


def test_canonical_correlations_match_numpy():
    x, y = _views()
    ours = canonical_correlations(torch.from_numpy(x), torch.from_numpy(y), eps=1e-12).numpy()
    np.testing.assert_allclose(ours, numpy_canonical_correlations(x, y), atol=1e-6)


def test_dcca_objective_is_minus_the_sum_of_canonical_correlations():
    x, y = _views(seed=1)
    dcca = plugins.create("objectives", "dcca", eps=1e-12)
    loss = dcca.loss(torch.from_numpy(x).float(), torch.from_numpy(y).float())
    assert float(loss) == pytest.approx(-numpy_canonical_correlations(x, y).sum(), abs=1e-3)


def test_cca_layer_correlation_is_the_sum_of_canonical_correlations():
    x, y = _views(seed=2)
    layer = CCAProjection(6, eps=1e-12)
    layer.train()
    px, py = layer(torch.from_numpy(x), torch.from_numpy(y))
    px, py = px.detach().numpy(), py.detach().numpy()
    # projected views: unit variance, uncorrelated within a view, paired across views
    cov = np.cov(np.hstack([px, py]).T)
    np.testing.assert_allclose(cov[:6, :6], np.eye(6), atol=1e-6)
    cross = np.diag(cov[:6, 6:])
    reference = numpy_canonical_correlations(x, y)
    np.testing.assert_allclose(np.sort(cross)[::-1], reference, atol=1e-6)
    assert cross.sum() == pytest.approx(reference.sum(), abs=1e-6)
    # eval mode projects with the statistics kept from training: the same numbers here
    layer.eval()
    ex, ey = layer(torch.from_numpy(x), torch.from_numpy(y))
    np.testing.assert_allclose(ex.numpy(), px, atol=1e-6)
    # a refit on another sample moves the projections to that sample's CCA
    x2, y2 = _views(seed=3)
    corr = layer.fit(torch.from_numpy(x2), torch.from_numpy(y2)).numpy()
    np.testing.assert_allclose(corr, numpy_canonical_correlations(x2, y2), atol=1e-6)


def test_cca_layer_backpropagates_through_the_projections():
    x, y = (torch.from_numpy(v).float().requires_grad_() for v in _views(n=100, d=4, seed=4))
    layer = CCAProjection(4, eps=1e-3)
    layer.train()
    px, py = layer(x, y)
    loss = plugins.create("objectives", "cca").loss(px, py)
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_ranking_loss_matches_a_plain_loop():
    rng = np.random.default_rng(5)
    s, a = rng.normal(size=(7, 5)), rng.normal(size=(7, 5))
    sn = s / np.linalg.norm(s, axis=1, keepdims=True)
    an = a / np.linalg.norm(a, axis=1, keepdims=True)
    sim = sn @ an.T
    margin = 0.7
    a2s = sum(max(0, margin - sim[i, i] + sim[j, i]) for i in range(7) for j in range(7) if j != i)
    s2a = sum(max(0, margin - sim[i, i] + sim[i, j]) for i in range(7) for j in range(7) if j != i)
    for direction, expected in (("a2s", a2s), ("s2a", s2a), ("both", a2s + s2a)):
        obj = plugins.create("objectives", "ranking", margin=margin, direction=direction)
        got = obj.loss(torch.from_numpy(s).float(), torch.from_numpy(a).float())
        assert float(got) == pytest.approx(expected / 7, rel=1e-5)


def test_infonce_matches_numpy_and_learns_its_temperature():
    rng = np.random.default_rng(6)
    s, a = rng.normal(size=(9, 4)), rng.normal(size=(9, 4))
    obj = plugins.create("objectives", "infonce", temperature=0.1)
    sn = s / np.linalg.norm(s, axis=1, keepdims=True)
    an = a / np.linalg.norm(a, axis=1, keepdims=True)
    logits = sn @ an.T / 0.1

    def ce(lg):
        lg = lg - lg.max(axis=1, keepdims=True)
        return -np.mean(np.diag(lg) - np.log(np.exp(lg).sum(axis=1)))

    got = obj.loss(torch.from_numpy(s).float(), torch.from_numpy(a).float())
    assert float(got.detach()) == pytest.approx((ce(logits) + ce(logits.T)) / 2, rel=1e-5)
    got.backward()
    assert obj.log_scale.grad is not None and float(obj.log_scale.grad) != 0


@pytest.mark.parametrize("name", OBJECTIVES)
def test_every_objective_prefers_aligned_pairs(name):
    obj = plugins.create("objectives", name)
    rng = np.random.default_rng(7)
    x = torch.from_numpy(rng.normal(size=(64, 32))).float()
    aligned = x + 0.1 * torch.from_numpy(rng.normal(size=(64, 32))).float()
    shuffled = aligned[torch.from_numpy(rng.permutation(64))]
    assert obj.cca in ("none", "train", "refit")
    la, ls = obj.loss(x, aligned), obj.loss(x, shuffled)
    assert torch.isfinite(la) and torch.isfinite(ls)
    assert float(la.detach()) < float(ls.detach())


def test_objective_parameters_are_checked():
    with pytest.raises(ParameterError, match="margin must be in"):
        plugins.create("objectives", "ranking", margin=-1)
    with pytest.raises(ParameterError, match="direction must be both, a2s or s2a"):
        plugins.create("objectives", "ranking", direction="up")
    with pytest.raises(ParameterError, match="temperature must be > 0"):
        plugins.create("objectives", "infonce", temperature=0)
