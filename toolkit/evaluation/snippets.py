"""Snippet retrieval: audio excerpt -> sheet snippet and back (``ast eval snippets``).

The tables of [Dorfer et al. 2016] and [Dorfer et al. 2018a]
(:data:`~ast_toolkit.references.DORFER2016`,
:data:`~ast_toolkit.references.DORFER2018_TISMIR`).

Candidates are pairs taken evenly over a split (as the authors did: the first or
an evenly spaced 2,000 / 10,000 / 16,000); every query of one modality ranks all
candidates of the other by cosine similarity.  A candidate is correct when it
shows the same sheet window as the query's partner — a passage played twice has
two audio excerpts and one sheet window, and both excerpts are correct answers
for it.  Ranks are 1-based with pessimistic ties (see :mod:`ast_toolkit.evaluation.retrieval`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import plugins
from ..catalog import Registry
from ..errors import ParameterError
from ..interfaces import Dataset
from ..progress import Progress, Reporter
from ..types import PairTable

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
    "snippet_retrieval",
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

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> sheet = rng.normal(size=(6, 16))
    >>> sheet /= np.linalg.norm(sheet, axis=1, keepdims=True)
    >>> audio = sheet + rng.normal(scale=0.3, size=sheet.shape)
    >>> audio /= np.linalg.norm(audio, axis=1, keepdims=True)
    >>> relevant_ranks(audio, sheet, np.arange(6), np.arange(6))
    array([1, 1, 2, 1, 1, 1])
    """
    if queries.shape[1] != candidates.shape[1]:
        raise ParameterError(f"dimensions differ: {queries.shape} vs {candidates.shape}")
    for what, x in (("query", queries), ("candidate", candidates)):
        # NaN compares false everywhere: every query would rank its partner first
        if not np.isfinite(x).all():
            bad = int((~np.isfinite(x)).any(axis=1).sum())
            raise ParameterError(f"{bad} {what} embeddings are not finite (NaN or inf): "
                                 "the model's weights or its input are damaged; no ranks "
                                 "are computed from them")
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
    """``n`` indices spread evenly over ``range(n_total)`` (all of them if fewer).

    Examples
    --------
    >>> evenly_spaced(10, 4)
    array([0, 3, 6, 9])
    >>> evenly_spaced(3, 2000)
    array([0, 1, 2])
    """
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

    Examples
    --------
    A passage played twice: pairs 1 and 3 show one sheet window.

    >>> x = np.random.default_rng(0).normal(size=(4, 16)).astype(np.float32)
    >>> x /= np.linalg.norm(x, axis=1, keepdims=True)
    >>> emb = SnippetEmbeddings(sheet=x[[0, 1, 2, 1]], audio=x, sheet_id=np.array([0, 1, 2, 1]),
    ...                         index=np.arange(4))
    >>> emb.sheet.shape, emb.sheets is None
    ((4, 16), True)
    """

    sheet: np.ndarray
    audio: np.ndarray
    sheet_id: np.ndarray
    index: np.ndarray
    sheets: np.ndarray | None = None
    spectrograms: np.ndarray | None = None


def embed_pairs(encoder: Any, dataset: Dataset, table: PairTable, index: np.ndarray, *,
                batch_size: int = 500, keep_inputs: bool = False,
                progress: Progress | None = None) -> SnippetEmbeddings:
    """Embed pairs ``index`` of ``table`` with ``encoder`` (deterministic renditions).

    Parameters
    ----------
    encoder : Encoder
    dataset : Dataset
        The dataset that made ``table`` (it cuts the arrays).
    table : PairTable
    index : np.ndarray [shape=(n,)], int
        Rows of ``table``.
    keep_inputs : bool
        Keep the sheet windows and spectrogram excerpts (for pictures).
    progress : Progress or None
        A step per batch (task ``"embed"``, unit pairs).

    Examples
    --------
    >>> emb = embed_pairs(encoder, dataset, dataset.pair_table("test"), np.arange(100))  # doctest: +SKIP
    >>> emb.sheet.shape  # doctest: +SKIP
    (100, 32)
    """
    job = Reporter(progress, "embed", description="embedding", total=len(index), unit="pairs")
    sheets, audios, inputs_s, inputs_a = [], [], [], []
    for start in range(0, len(index), batch_size):
        rows = index[start:start + batch_size]
        s, a = dataset.batch(table, rows)
        sheets.append(encoder.embed_sheet(s))
        audios.append(encoder.embed_audio(a))
        if keep_inputs:
            inputs_s.append(s)
            inputs_a.append(a)
        job.update(done=min(start + batch_size, len(index)))
    empty = np.zeros((0, encoder.dim), np.float32)
    return SnippetEmbeddings(
        np.concatenate(sheets) if sheets else empty,
        np.concatenate(audios) if audios else empty,
        table.sheet_id[index], index,
        np.concatenate(inputs_s) if inputs_s else None,
        np.concatenate(inputs_a) if inputs_a else None,
    )


def rank_metrics(ranks: np.ndarray, metrics: Sequence[str] = DEFAULT_METRICS) -> dict[str, float]:
    """Metric plugins evaluated on 1-based ranks.

    Examples
    --------
    >>> rank_metrics(np.array([1, 2, 1, 20]), ["recall@1", "recall@10", "mrr", "median-rank"])
    {'recall@1': 0.5, 'recall@10': 0.75, 'mrr': 0.6375, 'median-rank': 1.5}
    """
    out = {}
    for name in metrics:
        m = plugins.create("metrics", name)
        m.update_ranks(ranks)
        out[name] = m.compute()
    return out


def direction_ranks(emb: SnippetEmbeddings, direction: str) -> np.ndarray:
    """Ranks of every candidate pair used as a query in ``direction``.

    Examples
    --------
    The excerpts of pairs 2 and 3 are swapped: each finds the other's window first.

    >>> x = np.random.default_rng(0).normal(size=(4, 16)).astype(np.float32)
    >>> x /= np.linalg.norm(x, axis=1, keepdims=True)
    >>> emb = SnippetEmbeddings(x, x[[0, 1, 3, 2]], sheet_id=np.arange(4), index=np.arange(4))
    >>> direction_ranks(emb, "a2s").tolist(), direction_ranks(emb, "s2a").tolist()
    ([1, 1, 2, 2], [1, 1, 2, 2])
    >>> direction_ranks(emb, "both")
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.ParameterError: direction must be a2s, s2a or both, got 'both'
    """
    if direction == "a2s":
        return relevant_ranks(emb.audio, emb.sheet, emb.sheet_id, emb.sheet_id)
    if direction == "s2a":
        return relevant_ranks(emb.sheet, emb.audio, emb.sheet_id, emb.sheet_id)
    raise ParameterError(f"direction must be a2s, s2a or both, got {direction!r}")


def evaluate_snippets(encoder: Any, dataset: Dataset, *, split: str = "test",
                      candidates: int = 2000, directions: Sequence[str] = DIRECTIONS,
                      metrics: Sequence[str] = DEFAULT_METRICS,
                      progress: Progress | None = None,
                      keep_inputs: bool = False) -> tuple[dict[str, Any], SnippetEmbeddings]:
    """Snippet retrieval in each direction among ``candidates`` pairs of ``split``.

    Returns
    -------
    report : dict
        ``{"split", "candidates", "available", "directions": {dir: {metric: value}}}``.
    embeddings : SnippetEmbeddings

    Examples
    --------
    >>> from ast_toolkit.data.datasets import open_dataset
    >>> from ast_toolkit.learn.modelfile import load_encoder
    >>> encoder, _ = load_encoder("models/demo-cnn")  # doctest: +SKIP
    >>> dataset = open_dataset("data/demo", encoder=encoder)  # doctest: +SKIP
    >>> report, emb = evaluate_snippets(encoder, dataset, candidates=500)  # doctest: +SKIP
    >>> report["candidates"], sorted(report["directions"]), emb.sheet.shape  # doctest: +SKIP
    (500, ['a2s', 's2a'], (500, 32))
    """
    for d in directions:
        if d not in DIRECTIONS:
            raise ParameterError(f"direction must be a2s, s2a or both, got {d!r}")
    if candidates < 2:
        raise ParameterError(f"candidates must be >= 2, got {candidates}")
    for m in metrics:
        plugins.get("metrics", m)  # an unknown metric fails before any work
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


def snippet_retrieval(model: str | os.PathLike, dataset: str | os.PathLike | None = None, *,
                      registry: Registry | None = None, split: str = "test",
                      candidates: int = 2000, direction: str = "both",
                      metrics: Sequence[str] = DEFAULT_METRICS, figure: str | os.PathLike | None = None,
                      query: int = 0, progress: Progress | None = None) -> dict[str, Any]:
    """``ast eval snippets``: load a model, open its dataset, evaluate, draw.

    Parameters
    ----------
    model : str or path
        A model folder or a registered model name.
    dataset : str or path or None
        A dataset folder or registry name; None: the one the model was trained on.
    direction : {"a2s", "s2a", "both"}
    figure : path or None
        A PNG of one audio query and its top-ranked sheet snippets.
    query : int
        Which candidate is the figure's query.

    Returns
    -------
    dict
        :func:`evaluate_snippets`'s report with ``model``, ``encoder``,
        ``objective``, ``dataset`` (and ``figure``).

    Examples
    --------
    >>> report = snippet_retrieval("models/demo-cnn", candidates=500)  # doctest: +SKIP
    >>> sorted(report["directions"])  # doctest: +SKIP
    ['a2s', 's2a']
    """
    from ..data.datasets import dataset_of_model, warn_on_training_pieces
    from ..learn.modelfile import load_encoder

    if direction not in (*DIRECTIONS, "both"):
        raise ParameterError(f"direction must be a2s, s2a or both, got {direction!r}")
    encoder, cfg = load_encoder(model, registry)
    ds = dataset_of_model(cfg, dataset, encoder=encoder, registry=registry)
    warn_on_training_pieces(cfg, ds.piece_ids(split))
    directions = DIRECTIONS if direction == "both" else (direction,)
    report, emb = evaluate_snippets(encoder, ds, split=split, candidates=candidates,
                                    directions=directions, metrics=metrics, progress=progress,
                                    keep_inputs=figure is not None)
    report = {"model": str(model), "encoder": cfg["encoder"], "objective": cfg.get("objective"),
              "dataset": str(ds.root), **report}
    if figure is not None:
        from .figures import snippet_retrieval_figure

        snippet_retrieval_figure(encoder, emb, figure, query=query)
        report["figure"] = str(figure)
    return report
