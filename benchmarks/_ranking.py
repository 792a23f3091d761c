"""Whole-piece ranks and their summary, shared by the retrieval benchmarks
(``degraded.py``, ``robustness.py``); imported as a sibling module, since the
benchmarks run as scripts from this folder."""

from __future__ import annotations

import numpy as np

from ast_toolkit.search.index import Index
from ast_toolkit.search.queries import identify, piece_query


def hubness_options(hubness: str) -> dict:
    """``identify``'s keywords for a benchmark's ``--hubness``: ``none``, ``csls``, or
    ``csls-ref`` (csls measured against the model's reference rows, as an index of
    one side is, even where the index has both)."""
    if hubness == "csls-ref":
        return {"hubness": "csls", "hubness_reference": True}
    return {"hubness": hubness}


def piece_ranks(idx: Index, truth: dict[str, str], modality: str, matcher: str) -> list[int]:
    """The 1-based rank of each query's true piece (``truth``: query piece -> true piece).

    A query that is not in the index (it could not be indexed) is left out — the
    summary's ``n`` shows it; a true piece that is not in the index, or that the
    matcher cannot score, counts as ranked after every scored piece.
    """
    return list(piece_rank_map(idx, truth, modality, matcher).values())


def piece_rank_map(idx: Index, truth: dict[str, str], modality: str,
                   matcher: str, hubness: str = "none") -> dict[str, int]:
    """:func:`piece_ranks` by query piece (queries not in the index left out)."""
    out = {}
    for query, target in truth.items():
        if query not in idx.ids:
            continue
        matches, _, _ = identify(idx, piece_query(idx, query, modality), matcher, top=None,
                                 **hubness_options(hubness))
        order = [m.piece for m in matches if np.isfinite(m.score)]
        out[query] = order.index(target) + 1 if target in order else len(order) + 1
    return out


def summary(ranks: list[int]) -> dict:
    """n, R@1, R@5, MRR and median rank of ``ranks``."""
    r = np.array(ranks, float)
    if not len(r):
        return {"n": 0}
    return {"n": len(r), "r@1": round(float((r <= 1).mean()), 3),
            "r@5": round(float((r <= 5).mean()), 3), "mrr": round(float((1 / r).mean()), 3),
            "median_rank": float(np.median(r))}
