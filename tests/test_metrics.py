"""Bundled metrics against an independent brute-force reference."""

from __future__ import annotations

import numpy as np
import pytest

from ast_toolkit_plugins.metrics import rank as M
from ast_toolkit import plugins
from ast_toolkit.errors import ParameterError


def reference_ranks(preds, target, indexes):
    """Rank of the first relevant candidate per query, by sorting each query's list.

    Among equal scores, non-relevant candidates are placed first (pessimistic ties).
    """
    ranks = []
    for q in sorted(set(indexes.tolist())):
        rows = [(p, t) for p, t, i in zip(preds, target, indexes) if i == q]
        rows.sort(key=lambda r: (-r[0], r[1]))  # False (non-relevant) before True
        ranks.append(next(pos for pos, (_, t) in enumerate(rows, start=1) if t))
    return np.array(ranks)


REFERENCE = {
    "recall@1": lambda r: np.mean(r <= 1),
    "recall@5": lambda r: np.mean(r <= 5),
    "recall@10": lambda r: np.mean(r <= 10),
    "recall@25": lambda r: np.mean(r <= 25),
    "mrr": lambda r: np.mean(1.0 / r),
    "median-rank": lambda r: np.median(r),
    "mean-rank": lambda r: np.mean(r),
}
FUNCTIONAL = {
    "recall@1": lambda *a: M.recall_at_k(*a, k=1),
    "recall@5": lambda *a: M.recall_at_k(*a, k=5),
    "recall@10": lambda *a: M.recall_at_k(*a, k=10),
    "recall@25": lambda *a: M.recall_at_k(*a, k=25),
    "mrr": M.mrr,
    "median-rank": M.median_rank,
    "mean-rank": M.mean_rank,
}


def random_results(seed, n_queries=40, n_candidates=60, ties=True):
    rng = np.random.default_rng(seed)
    preds, target, indexes = [], [], []
    for q in rng.permutation(n_queries):
        scores = rng.normal(size=n_candidates)
        if ties:
            scores = np.round(scores, 1)  # many ties
        rel = np.zeros(n_candidates, dtype=bool)
        rel[rng.choice(n_candidates, size=rng.integers(1, 3), replace=False)] = True
        preds.append(scores)
        target.append(rel)
        indexes.append(np.full(n_candidates, q * 7 + 3))  # sparse query ids
    return np.concatenate(preds), np.concatenate(target), np.concatenate(indexes)


@pytest.mark.parametrize("name", sorted(REFERENCE))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metric_matches_reference(name, seed):
    preds, target, indexes = random_results(seed)
    expected = REFERENCE[name](reference_ranks(preds, target, indexes))

    metric = plugins.create("metrics", name)
    # Shuffle and feed in uneven batches so queries are split across updates.
    order = np.random.default_rng(seed).permutation(len(preds))
    for chunk in np.array_split(order, 7):
        metric.update(preds[chunk], target[chunk], indexes[chunk])
    assert metric.compute() == pytest.approx(expected)
    assert FUNCTIONAL[name](preds, target, indexes) == pytest.approx(expected)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_reset_merge_and_ranks(name):
    preds, target, indexes = random_results(5)
    half = indexes < np.median(indexes)
    a, b = plugins.create("metrics", name), plugins.create("metrics", name)
    a.update(preds[half], target[half], indexes[half])
    b.update(preds[~half], target[~half], indexes[~half])
    a.merge(b)
    expected = REFERENCE[name](reference_ranks(preds, target, indexes))
    assert a.compute() == pytest.approx(expected)

    a.reset()
    with pytest.raises(ParameterError, match="before any update"):
        a.compute()
    ranks = reference_ranks(preds, target, indexes)
    a.update_ranks(ranks)
    assert a.compute() == pytest.approx(expected)


def test_ties_are_pessimistic():
    # Every candidate scores the same: the relevant one is ranked last.
    preds = np.zeros(10)
    target = np.eye(10, dtype=bool)[3]
    assert M.mean_rank(preds, target, np.zeros(10, dtype=int)) == 10
    assert M.recall_at_k(preds, target, np.zeros(10, dtype=int), k=9) == 0


def test_recall_k_from_name_and_bad_values():
    assert plugins.create("metrics", "recall@25").k == 25
    with pytest.raises(ParameterError, match="must be an integer"):
        plugins.create("metrics", "recall@ten")
    with pytest.raises(ParameterError, match="k must be an integer >= 1"):
        plugins.create("metrics", "recall@0")


def test_query_without_relevant_candidate():
    preds = np.array([0.9, 0.1, 0.5, 0.4])
    target = np.array([0, 1, 0, 0], dtype=bool)
    indexes = np.array([0, 0, 1, 1])
    with pytest.raises(ParameterError, match="no relevant candidate"):
        M.mrr(preds, target, indexes)
    assert M.mrr(preds, target, indexes, empty_target_action="skip") == pytest.approx(0.5)


@pytest.mark.parametrize(
    "preds, target, indexes, match",
    [
        ([0.1, 0.2], [1, 0, 1], [0, 0], "one length"),
        ([0.1, np.nan], [1, 0], [0, 0], "NaN"),
        ([0.1, 0.2], [2, 0], [0, 0], "boolean or 0/1"),
        ([0.1, 0.2], [1, 0], [0.5, 0.5], "integer query ids"),
    ],
)
def test_bad_inputs(preds, target, indexes, match):
    with pytest.raises(ParameterError, match=match):
        M.mrr(preds, target, indexes)
