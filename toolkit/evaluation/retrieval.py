"""Shared machinery for retrieval metrics: grouping by query id and ranking.

A retrieval result is given torchmetrics-style as three flat arrays of equal
length: ``preds`` (score of each (query, candidate) pair, higher = more similar),
``target`` (whether the candidate is relevant to the query) and ``indexes`` (the
query id of the pair).  Pairs of one query may arrive across several updates.

Ties are broken pessimistically: a relevant candidate's rank counts every
non-relevant candidate scoring *at least* as high, so a model that scores
everything equally gets the worst rank, not the best.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Literal

import numpy as np

from ..errors import ParameterError
from ..interfaces import Metric

__all__ = ["check_retrieval_inputs", "first_relevant_ranks", "RetrievalMetric", "RankMetric"]

EmptyTargetAction = Literal["error", "skip"]


def check_retrieval_inputs(
    preds: Any, target: Any, indexes: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate and convert to ``(float64, bool, int64)`` 1-d arrays of equal length.

    Examples
    --------
    >>> preds, target, indexes = check_retrieval_inputs([0.9, 0.2, 0.7], [1, 0, 1], [0, 0, 1])
    >>> preds.dtype, target.tolist(), indexes.dtype
    (dtype('float64'), [True, False, True], dtype('int64'))
    >>> check_retrieval_inputs([0.9, 0.2], [1, 0, 1], [0, 0, 1])
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.ParameterError: preds, target and indexes must have one length; got 2, 3, 3
    """
    preds = np.asarray(preds, dtype=np.float64).reshape(-1)
    target_arr = np.asarray(target)
    if target_arr.dtype != bool and not np.isin(target_arr, (0, 1)).all():
        raise ParameterError("target must be boolean or 0/1 relevance flags")
    target = target_arr.astype(bool).reshape(-1)
    indexes = np.asarray(indexes).reshape(-1)
    if not np.issubdtype(indexes.dtype, np.integer):
        raise ParameterError(f"indexes must be integer query ids, got dtype {indexes.dtype}")
    if not (len(preds) == len(target) == len(indexes)):
        raise ParameterError(
            f"preds, target and indexes must have one length; got "
            f"{len(preds)}, {len(target)}, {len(indexes)}"
        )
    if np.isnan(preds).any():
        raise ParameterError("preds contains NaN")
    return preds, target, indexes.astype(np.int64)


def _group(indexes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct query ids (sorted) and each pair's position among them."""
    change = indexes[1:] != indexes[:-1]
    if (indexes[1:] >= indexes[:-1]).all():
        # Pairs arrive grouped by query in the usual case: no sort needed.
        return indexes[np.r_[True, change]], np.r_[0, np.cumsum(change)]
    return np.unique(indexes, return_inverse=True)


def first_relevant_ranks(
    preds: Any,
    target: Any,
    indexes: Any,
    *,
    empty_target_action: EmptyTargetAction = "error",
) -> np.ndarray:
    """1-based rank of the best-scored relevant candidate of every query.

    Parameters
    ----------
    preds, target, indexes : array-like [shape=(n_pairs,)]
        See the module docstring.
    empty_target_action : {"error", "skip"}
        What to do with a query that has no relevant candidate.

    Returns
    -------
    np.ndarray [shape=(n_queries,)], int64
        One rank per query id, in increasing query-id order.

    Examples
    --------
    Query 0's relevant candidate ties with a non-relevant one (counted against it):

    >>> first_relevant_ranks([0.9, 0.5, 0.5, 0.8, 0.3], [0, 1, 0, 0, 1], [0, 0, 0, 1, 1])
    array([3, 2])
    >>> first_relevant_ranks([0.9, 0.4, 0.6], [0, 0, 1], [0, 0, 1], empty_target_action="skip")
    array([1])
    >>> first_relevant_ranks([0.9, 0.4], [0, 0], [0, 0])
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.ParameterError: 1 queries have no relevant candidate (query ids [0]...); pass empty_target_action='skip' to ignore them
    """
    preds, target, indexes = check_retrieval_inputs(preds, target, indexes)
    return _first_relevant_ranks(preds, target, indexes, empty_target_action)


def _first_relevant_ranks(
    preds: np.ndarray, target: np.ndarray, indexes: np.ndarray, empty_target_action: str
) -> np.ndarray:
    # Inputs already validated by check_retrieval_inputs.
    if len(preds) == 0:
        return np.zeros(0, dtype=np.int64)
    queries, inv = _group(indexes)
    best = np.full(len(queries), -np.inf)
    np.maximum.at(best, inv[target], preds[target])
    has_relevant = np.zeros(len(queries), dtype=bool)
    has_relevant[inv[target]] = True
    beaten = ~target & (preds >= best[inv])
    ranks = 1 + np.bincount(inv[beaten], minlength=len(queries))
    if not has_relevant.all():
        if empty_target_action == "error":
            bad = queries[~has_relevant][:5].tolist()
            raise ParameterError(
                f"{int((~has_relevant).sum())} queries have no relevant candidate "
                f"(query ids {bad}...); pass empty_target_action='skip' to ignore them"
            )
        if empty_target_action != "skip":
            raise ParameterError(
                f"empty_target_action must be 'error' or 'skip', got {empty_target_action!r}"
            )
        ranks = ranks[has_relevant]
    return ranks.astype(np.int64)


class RetrievalMetric(Metric):
    """Base of metrics over (preds, target, indexes) grouped by query id.

    Subclasses implement :meth:`compute` from :meth:`gathered` (all pairs so far).

    Examples
    --------
    >>> from ast_toolkit import plugins
    >>> metric = plugins.create("metrics", "mrr")
    >>> isinstance(metric, RetrievalMetric)
    True
    >>> metric.update([0.9, 0.1], [1, 0], [0, 0])
    >>> metric.update([0.4, 0.8], [1, 0], [1, 1])
    >>> metric.gathered()[2].tolist(), metric.compute()
    ([0, 0, 1, 1], 0.75)
    """

    def __init__(self, *, empty_target_action: EmptyTargetAction = "error") -> None:
        super().__init__()
        if empty_target_action not in ("error", "skip"):
            raise ParameterError(
                f"empty_target_action must be 'error' or 'skip', got {empty_target_action!r}"
            )
        self.empty_target_action = empty_target_action
        self.add_state("preds", [])
        self.add_state("target", [])
        self.add_state("indexes", [])

    def update(self, preds: Any, target: Any, indexes: Any) -> None:
        """Accumulate pairs.

        Parameters
        ----------
        preds : array-like [shape=(n,)], float
        target : array-like [shape=(n,)], bool
        indexes : array-like [shape=(n,)], int
        """
        p, t, i = check_retrieval_inputs(preds, target, indexes)
        self.preds.append(p)
        self.target.append(t)
        self.indexes.append(i)

    def gathered(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All pairs accumulated since the last reset."""
        if not self.preds:
            return np.zeros(0), np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64)
        return (
            np.concatenate(self.preds),
            np.concatenate(self.target),
            np.concatenate(self.indexes),
        )


class RankMetric(RetrievalMetric):
    """A retrieval metric that depends only on each query's first relevant rank.

    Besides pairs, it accepts ranks directly with :meth:`update_ranks` (for
    evaluations that rank thousands of candidates per query and would not
    materialise every pair).  Subclasses implement :meth:`from_ranks`.

    Examples
    --------
    >>> from ast_toolkit import plugins
    >>> metric = plugins.create("metrics", "recall@1")
    >>> metric.update_ranks([1, 3])
    >>> metric.update([0.9, 0.1], [1, 0], [7, 7])
    >>> metric.all_ranks().tolist(), round(metric.compute(), 3)
    ([1, 3, 1], 0.667)
    >>> metric.update_ranks([0])
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.ParameterError: ranks must be integers >= 1
    """

    def __init__(self, *, empty_target_action: EmptyTargetAction = "error") -> None:
        super().__init__(empty_target_action=empty_target_action)
        self.add_state("ranks", [])

    def update_ranks(self, ranks: Any) -> None:
        """Accumulate 1-based ranks of whole queries."""
        ranks = np.asarray(ranks).reshape(-1)
        if ranks.size and (not np.issubdtype(ranks.dtype, np.integer) or ranks.min() < 1):
            raise ParameterError("ranks must be integers >= 1")
        self.ranks.append(ranks.astype(np.int64))

    def all_ranks(self) -> np.ndarray:
        """Ranks of every query seen: from pairs and from :meth:`update_ranks`."""
        parts = list(self.ranks)
        preds, target, indexes = self.gathered()
        if len(preds):
            parts.append(
                _first_relevant_ranks(preds, target, indexes, self.empty_target_action)
            )
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def compute(self) -> float:
        ranks = self.all_ranks()
        if ranks.size == 0:
            raise ParameterError(f"{type(self).__name__}.compute() called before any update")
        return float(self.from_ranks(ranks))

    @abstractmethod
    def from_ranks(self, ranks: np.ndarray) -> float:
        """The metric from 1-based ranks, one per query."""
