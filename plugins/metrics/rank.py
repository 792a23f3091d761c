"""Bundled retrieval metrics: ``recall@k``, ``mrr``, ``median-rank``, ``mean-rank``.

Each is a stateful :class:`~ast_toolkit.interfaces.Metric` (grouped by query id) with a
plain-function twin of the same name.  Ranks are 1-based, ties pessimistic (see
:mod:`ast_toolkit.evaluation.retrieval`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ast_toolkit.errors import ParameterError
from ast_toolkit.evaluation.retrieval import EmptyTargetAction, RankMetric, first_relevant_ranks

__all__ = [
    "RecallAtK",
    "MeanReciprocalRank",
    "MedianRank",
    "MeanRank",
    "recall_at_k",
    "mrr",
    "median_rank",
    "mean_rank",
]


class RecallAtK(RankMetric):
    """Fraction of queries whose relevant candidate is among the top ``k``.

    Registered as ``recall@k``; ``recall@10`` means ``k=10``.
    """

    def __init__(self, k: int, *, empty_target_action: EmptyTargetAction = "error") -> None:
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
            raise ParameterError(f"recall@k: k must be an integer >= 1, got {k!r}")
        super().__init__(empty_target_action=empty_target_action)
        self.k = int(k)

    def from_ranks(self, ranks: np.ndarray) -> float:
        return float(np.mean(ranks <= self.k))


class MeanReciprocalRank(RankMetric):
    """Mean over queries of 1 / rank of the relevant candidate (``mrr``)."""

    def from_ranks(self, ranks: np.ndarray) -> float:
        return float(np.mean(1.0 / ranks))


class MedianRank(RankMetric):
    """Median rank of the relevant candidate (``median-rank``, MR); lower is better."""

    higher_is_better = False

    def from_ranks(self, ranks: np.ndarray) -> float:
        return float(np.median(ranks))


class MeanRank(RankMetric):
    """Mean rank of the relevant candidate (``mean-rank``); lower is better."""

    higher_is_better = False

    def from_ranks(self, ranks: np.ndarray) -> float:
        return float(np.mean(ranks))


def _functional(metric: RankMetric, preds: Any, target: Any, indexes: Any) -> float:
    ranks = first_relevant_ranks(
        preds, target, indexes, empty_target_action=metric.empty_target_action
    )
    if ranks.size == 0:
        raise ParameterError("no queries to score")
    return metric.from_ranks(ranks)


def recall_at_k(preds: Any, target: Any, indexes: Any, k: int, **kw: Any) -> float:
    """Functional twin of :class:`RecallAtK`."""
    return _functional(RecallAtK(k, **kw), preds, target, indexes)


def mrr(preds: Any, target: Any, indexes: Any, **kw: Any) -> float:
    """Functional twin of :class:`MeanReciprocalRank`."""
    return _functional(MeanReciprocalRank(**kw), preds, target, indexes)


def median_rank(preds: Any, target: Any, indexes: Any, **kw: Any) -> float:
    """Functional twin of :class:`MedianRank`."""
    return _functional(MedianRank(**kw), preds, target, indexes)


def mean_rank(preds: Any, target: Any, indexes: Any, **kw: Any) -> float:
    """Functional twin of :class:`MeanRank`."""
    return _functional(MeanRank(**kw), preds, target, indexes)
