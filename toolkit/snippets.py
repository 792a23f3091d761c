"""Snippet retrieval: audio excerpt -> sheet snippet and back (seeds 001 and 003).

Candidates are pairs taken evenly over a split (as the authors did: the first or
an evenly spaced 2,000 / 10,000 / 16,000); every query of one modality ranks all
candidates of the other by cosine similarity.  A candidate is correct when it
shows the same sheet window as the query's partner — a passage played twice has
two audio excerpts and one sheet window, and both excerpts are correct answers
for it.  Ranks are 1-based with pessimistic ties (see :mod:`toolkit.retrieval`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import plugins
from .errors import ParameterError

__all__ = [
    "DIRECTIONS",
    "DEFAULT_METRICS",
    "relevant_ranks",
    "evenly_spaced",
    "SnippetEmbeddings",
    "embed_pairs",
    "rank_metrics",
    "direction_ranks",
    "evaluate_snippets",
]

DIRECTIONS = ("a2s", "s2a")
DEFAULT_METRICS = ("recall@1", "recall@5", "recall@10", "recall@25", "mrr", "median-rank",
                   "mean-rank")


def relevant_ranks(queries: np.ndarray, candidates: np.ndarray, query_ids: np.ndarray,
                   candidate_ids: np.ndarray, *, chunk: int = 1024) -> np.ndarray:
    """Rank of the best-scored correct candidate of every query.

    Parameters
    ----------
    queries : np.ndarray [shape=(n_queries, dim)], float32
    candidates : np.ndarray [shape=(n_candidates, dim)], float32
        L2-normalised rows: the score is their dot product.
    query_ids, candidate_ids : np.ndarray [shape=(n,)], int
        A candidate is correct for a query when the ids are equal.

    Returns
    -------
    np.ndarray [shape=(n_queries,)], int64
        1-based ranks; a non-correct candidate scoring at least as high as the best
        correct one counts against the query (pessimistic ties).
    """
    if queries.shape[1] != candidates.shape[1]:
        raise ParameterError(f"dimensions differ: {queries.shape} vs {candidates.shape}")
    ranks = np.empty(len(queries), dtype=np.int64)
    for i in range(0, len(queries), chunk):
        sim = queries[i:i + chunk] @ candidates.T
        correct = query_ids[i:i + chunk, None] == candidate_ids[None, :]
        if not correct.any(axis=1).all():
            raise ParameterError("some queries have no correct candidate")
        best = np.where(correct, sim, -np.inf).max(axis=1)
        ranks[i:i + chunk] = 1 + ((sim >= best[:, None]) & ~correct).sum(axis=1)
    return ranks


def evenly_spaced(n_total: int, n: int) -> np.ndarray:
    """``n`` indices spread evenly over ``range(n_total)`` (all of them if fewer)."""
    if n >= n_total:
        return np.arange(n_total)
    return np.unique(np.linspace(0, n_total - 1, n).round().astype(np.int64))


@dataclass(frozen=True)
class SnippetEmbeddings:
    """Embedded candidate pairs of a split.

    Attributes
    ----------
    sheet, audio : np.ndarray [shape=(n, dim)], float32
    sheet_id : np.ndarray [shape=(n,)], int
        Pairs with equal ids show the same sheet window.
    index : np.ndarray [shape=(n,)], int
        Rows of the split's pair table.
    sheets, spectrograms : np.ndarray or None
        The inputs, when kept (for figures).
    """

    sheet: np.ndarray
    audio: np.ndarray
    sheet_id: np.ndarray
    index: np.ndarray
    sheets: np.ndarray | None = None
    spectrograms: np.ndarray | None = None


def embed_pairs(encoder: Any, dataset: Any, table: Any, index: np.ndarray, *,
                batch_size: int = 500, keep_inputs: bool = False,
                progress: Callable[[int, int], None] | None = None) -> SnippetEmbeddings:
    """Embed pairs ``index`` of ``table`` with ``encoder`` (deterministic renditions)."""
    sheets, audios, inputs_s, inputs_a = [], [], [], []
    for start in range(0, len(index), batch_size):
        rows = index[start:start + batch_size]
        s, a = dataset.batch(table, rows)
        sheets.append(encoder.embed_sheet(s))
        audios.append(encoder.embed_audio(a))
        if keep_inputs:
            inputs_s.append(s)
            inputs_a.append(a)
        if progress:
            progress(min(start + batch_size, len(index)), len(index))
    empty = np.zeros((0, encoder.dim), np.float32)
    return SnippetEmbeddings(
        np.concatenate(sheets) if sheets else empty,
        np.concatenate(audios) if audios else empty,
        table.sheet_id[index], index,
        np.concatenate(inputs_s) if inputs_s else None,
        np.concatenate(inputs_a) if inputs_a else None,
    )


def rank_metrics(ranks: np.ndarray, metrics: Sequence[str] = DEFAULT_METRICS) -> dict[str, float]:
    """Metric plugins evaluated on 1-based ranks."""
    out = {}
    for name in metrics:
        m = plugins.create("metrics", name)
        m.update_ranks(ranks)
        out[name] = m.compute()
    return out


def direction_ranks(emb: SnippetEmbeddings, direction: str) -> np.ndarray:
    """Ranks of every candidate pair used as a query in ``direction``."""
    if direction == "a2s":
        return relevant_ranks(emb.audio, emb.sheet, emb.sheet_id, emb.sheet_id)
    if direction == "s2a":
        return relevant_ranks(emb.sheet, emb.audio, emb.sheet_id, emb.sheet_id)
    raise ParameterError(f"direction must be a2s, s2a or both, got {direction!r}")


def evaluate_snippets(encoder: Any, dataset: Any, *, split: str = "test",
                      candidates: int = 2000, directions: Sequence[str] = DIRECTIONS,
                      metrics: Sequence[str] = DEFAULT_METRICS,
                      progress: Callable[[int, int], None] | None = None,
                      keep_inputs: bool = False) -> tuple[dict[str, Any], SnippetEmbeddings]:
    """Snippet retrieval in each direction among ``candidates`` pairs of ``split``.

    Returns
    -------
    report : dict
        ``{"split", "candidates", "available", "directions": {dir: {metric: value}}}``.
    embeddings : SnippetEmbeddings
    """
    for d in directions:
        if d not in DIRECTIONS:
            raise ParameterError(f"direction must be a2s, s2a or both, got {d!r}")
    if candidates < 2:
        raise ParameterError(f"candidates must be >= 2, got {candidates}")
    table = dataset.pair_table(split)
    if len(table) == 0:
        raise ParameterError(f"split {split!r} of {dataset.root} has no pairs")
    index = evenly_spaced(len(table), candidates)
    emb = embed_pairs(encoder, dataset, table, index, keep_inputs=keep_inputs, progress=progress)
    report = {
        "split": split,
        "candidates": int(len(index)),
        "available": int(len(table)),
        "directions": {d: rank_metrics(direction_ranks(emb, d), metrics) for d in directions},
    }
    return report, emb
