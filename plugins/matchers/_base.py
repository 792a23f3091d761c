"""What the bundled matchers share: typed settings, checks, ranking and locating answers,
and a faiss nearest-neighbour index."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ast_toolkit.config import make_config
from ast_toolkit.errors import ParameterError
from ast_toolkit.interfaces import Matcher
from ast_toolkit.search.matching import candidate_positions, check_query, rank_positions
from ast_toolkit.types import Collection, Match

__all__ = ["MatcherBase", "knn_index"]


def _faiss():
    import faiss

    return faiss


def knn_index(embeddings: np.ndarray, *, exact_rows: int, nprobe: int, seed: int):
    """A faiss inner-product index: exact up to ``exact_rows`` rows, IVF above.

    Returns the index and its coarse quantizer (None for the exact index),
    which the caller keeps alive as long as the index.
    """
    faiss = _faiss()
    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    dim = x.shape[1]
    quantizer = None
    if len(x) <= exact_rows:
        index = faiss.IndexFlatIP(dim)
    else:
        nlist = int(min(65536, 4 * math.sqrt(len(x))))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        sample = x[np.sort(rng.choice(len(x), size=min(len(x), nlist * 64), replace=False))]
        index.cp.seed = seed
        index.train(sample)
        index.nprobe = nprobe
    index.add(x)
    return index, quantizer


class MatcherBase(Matcher):
    """Config handling and the checks every bundled matcher shares."""

    Config: type = object

    def __init__(self, **params) -> None:
        self.config = make_config(self.Config, params, what=f"matcher {self.name!r}")
        self.collection: Collection | None = None

    def fit(self, collection: Collection) -> None:
        if not isinstance(collection, Collection):
            collection = Collection.from_mapping(collection)
        if len(collection) == 0 or len(collection.embeddings) == 0:
            raise ParameterError(f"matcher {self.name!r}: the collection is empty")
        self.collection = collection
        self._fit(collection)

    def _fit(self, collection: Collection) -> None:
        pass

    def _prepare(self, query, top, candidates, rate):
        if self.collection is None:
            raise ParameterError(f"matcher {self.name!r}: call fit() before match()")
        if not (rate > 0 and math.isfinite(rate)):
            raise ParameterError(f"rate must be a positive number, got {rate!r}")
        q = check_query(query, self.collection.dim)
        positions = candidate_positions(candidates, len(self.collection))
        return q, positions

    def _answers(self, positions: np.ndarray, scores: np.ndarray, top: int | None,
                 locate: Callable[[int, int], tuple | None]) -> list[Match]:
        """Matches best first; ``locate(i, piece)`` gives ``(start, end, path)`` of
        the first ``top`` (or :attr:`LOCATED`) answers, or None when it cannot."""
        out = []
        for rank, i in enumerate(rank_positions(positions, scores, top)):
            p = int(positions[i])
            where = locate(i, p) if rank < (top or self.LOCATED) else None
            start, end, path = where if where is not None else (-1, -1, None)
            out.append(Match(self.collection.ids[p], float(scores[i]), start, end, path))
        return out
