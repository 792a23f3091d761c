"""``ndcg@k``: normalised discounted cumulative gain at k, with binary relevance.

Built only on the toolkit's public core (:mod:`ast_toolkit.evaluation.retrieval`); it knows
nothing of the bundled plugins.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ast_toolkit.errors import ParameterError
from ast_toolkit.evaluation.retrieval import RetrievalMetric, check_retrieval_inputs


def _ndcg_per_query(preds: np.ndarray, target: np.ndarray, k: int) -> float:
    # Pessimistic ties, like the toolkit's rank metrics: among equal scores,
    # non-relevant candidates come first.
    order = np.lexsort((target, -preds))
    gains = target[order][:k].astype(float)
    discounts = 1.0 / np.log2(np.arange(2, gains.size + 2))
    ideal = np.sort(target)[::-1][:k].astype(float)
    idcg = float((ideal * discounts[: ideal.size]).sum())
    return float((gains * discounts).sum() / idcg) if idcg > 0 else 0.0


class NDCGAtK(RetrievalMetric):
    """Mean over queries of nDCG@k.  Registered as ``ndcg@k``; ``ndcg@10`` means k=10."""

    def __init__(self, k: int, **kw: Any) -> None:
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ParameterError(f"ndcg@k: k must be an integer >= 1, got {k!r}")
        super().__init__(**kw)
        self.k = k

    def compute(self) -> float:
        return ndcg_at_k(*self.gathered(), k=self.k)


def ndcg_at_k(preds: Any, target: Any, indexes: Any, k: int) -> float:
    """Functional twin of :class:`NDCGAtK`."""
    preds, target, indexes = check_retrieval_inputs(preds, target, indexes)
    if preds.size == 0:
        raise ParameterError("ndcg@k: no queries to score")
    values = [
        _ndcg_per_query(preds[indexes == q], target[indexes == q], k)
        for q in np.unique(indexes)
    ]
    return float(np.mean(values))
