"""Piece identification evaluated: the tables of [Carvalho & Widmer 2021].

(:data:`~ast_toolkit.references.CARVALHO2021`)

* :func:`evaluate_pieces` — Table I: every piece queried whole against the
  other modality; R@1, R@5, R@10 (counts and fractions), MRR and median rank,
  per matcher and direction.
* :func:`evaluate_fragments` — Table II: random audio fragments of 10–80 s and
  score fragments of 1–8 systems; MRR per length.
* :func:`evaluate_scale` — Fig. 3: MRR and mean search time per query against
  the collection size (random subsets, repeated).

Ranks are 1-based and pessimistic: a piece scoring the same as the true piece
counts against it, so a matcher that cannot tell pieces apart ranks the true
piece last, not first.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import ParameterError
from ..interfaces import Matcher
from ..progress import Progress, Reporter
from ..search.index import DIRECTIONS, Index
from ..search.hubness import search_space
from ..search.matching import make_matcher, matcher_params
from ..types import Match
from .snippets import rank_metrics

__all__ = ["true_rank", "evaluate_pieces", "evaluate_fragments", "evaluate_scale",
           "PIECE_METRICS", "AUDIO_LENGTHS", "SYSTEM_COUNTS"]

PIECE_METRICS = ("recall@1", "recall@5", "recall@10", "mrr", "median-rank")
#: [Carvalho & Widmer 2021]'s fragment lengths: audio seconds and score systems (Table II).
AUDIO_LENGTHS = (10, 20, 30, 40, 50, 60, 70, 80)
SYSTEM_COUNTS = (1, 2, 3, 4, 5, 6, 7, 8)


def true_rank(matches: Sequence[Match], piece: str) -> int:
    """1-based rank of ``piece``; pieces with the same score count against it.

    Examples
    --------
    >>> true_rank([Match("a", 0.9), Match("b", 0.5), Match("c", 0.5)], "c")
    3
    """
    scores = {m.piece: m.score for m in matches}
    if piece not in scores:
        return len(matches) + 1
    s = scores[piece]
    return int(sum(1 for v in scores.values() if v >= s))


def _summary(ranks: np.ndarray, seconds: Sequence[float]) -> dict[str, Any]:
    values = rank_metrics(ranks, PIECE_METRICS)
    out = {"queries": int(len(ranks))}
    for k in (1, 5, 10):
        out[f"R@{k}"] = int(np.sum(ranks <= k))
        out[f"R@{k} fraction"] = values[f"recall@{k}"]
    out["MRR"] = values["mrr"]
    out["MR"] = values["median-rank"]
    out["seconds per query"] = float(np.mean(seconds)) if len(seconds) else 0.0
    return out


def _directions(direction: str) -> list[str]:
    if direction == "both":
        return list(DIRECTIONS)
    if direction not in DIRECTIONS:
        raise ParameterError(f"direction must be a2s, s2a or both, got {direction!r}")
    return [direction]


Params = dict[str, dict[str, Any]] | Sequence[str] | None


def _open(index: Index | str | os.PathLike, specs: Sequence[str],
          params: Params) -> tuple[Index, dict[str, dict[str, Any]]]:
    """The index, and the matchers' hyper-parameters as a dict (``KEY=VALUE`` strings parsed)."""
    index = index if isinstance(index, Index) else Index(index)
    if params is None or isinstance(params, dict):
        return index, dict(params or {})
    return index, matcher_params(params, specs)


def _check_both_sides(index: Index) -> None:
    if not (index.has("sheet") and index.has("audio")):
        raise ParameterError(f"{index.folder} has only a {index.modalities[0]} side; evaluation "
                             "needs an index of a rendered dataset (both sides)")


def evaluate_pieces(index: Index | str | os.PathLike, matchers: Sequence[str], *,
                    direction: str = "both", prefilter: str | None = None, params: Params = None,
                    hubness: str = "none", progress: Progress | None = None) -> dict[str, Any]:
    """Table I: each piece queried whole against the other modality.

    Parameters
    ----------
    index : Index or path
        Of a dataset (both sides).
    matchers : sequence of str
        Matcher plugins, optionally with a prefilter (``dtw+vote:10``).
    direction : {"a2s", "s2a", "both"}
    prefilter : str or None
        ``NAME:K`` for every matcher that has none.
    params : dict or sequence of str or None
        ``{matcher: {key: value}}`` hyper-parameters, or ``MATCHER.KEY=VALUE``
        strings (:func:`~ast_toolkit.search.matching.matcher_params`).
    hubness : str
        ``none`` or ``csls`` (:mod:`ast_toolkit.search.hubness`).
    progress : Progress or None
        A step per query (task ``"evaluate"``).

    Returns
    -------
    dict
        ``{"pieces": n, "results": [{"matcher", "direction", "R@1", "R@1 fraction",
        ..., "MRR", "MR", "seconds per query", "ranks"}]}``.

    Examples
    --------
    >>> report = evaluate_pieces(Index("indexes/demo"), ["vote", "sdtw"])  # doctest: +SKIP
    >>> [(r["matcher"], r["direction"], r["R@1"]) for r in report["results"]]  # doctest: +SKIP
    [('vote', 'a2s', 7), ('sdtw', 'a2s', 13), ('vote', 's2a', 8), ('sdtw', 's2a', 12)]
    """
    index, params = _open(index, matchers, params)
    _check_both_sides(index)
    results = []
    queries = [(i, None) for i, p in enumerate(index.pieces) if "sheet" in p and "audio" in p]
    job = Reporter(progress, "evaluate", total=len(queries) * len(matchers) * len(_directions(direction)),
                   unit="queries")
    for d in _directions(direction):
        qmod, cmod = DIRECTIONS[d]
        collection, transform = search_space(index, cmod, hubness)
        rate = index.rate(qmod)
        for spec in matchers:
            m = make_matcher(spec, prefilter=prefilter, params=params)
            m.fit(collection)
            ranks, seconds = _ranks(index, m, qmod, queries, rate,
                                    tick=lambda: job.advance(description=f"{m.name} {d}"),
                                    transform=transform)
            results.append({"matcher": m.name, "direction": d,
                            **_summary(np.array(ranks), seconds), "ranks": ranks})
    return {"index": str(index.folder), "pieces": len(index), "queries": len(queries),
            "hubness": hubness, "results": results}


def _audio_fragments(index: Index, pieces: Sequence[int], length: float, n: int,
                     rng: np.random.Generator) -> list[tuple[int, np.ndarray]]:
    """``n`` random audio fragments of ``length`` s: (piece, rows)."""
    eligible = [i for i in pieces if index.pieces[i]["duration"] >= length]
    out = []
    for _ in range(n if eligible else 0):
        i = eligible[int(rng.integers(len(eligible)))]
        t0 = rng.uniform(0.0, index.pieces[i]["duration"] - length)
        pos = index.positions("audio", i)
        rows = np.nonzero((pos >= t0) & (pos < t0 + length))[0]
        if len(rows):
            out.append((i, rows))
    return out


def _score_fragments(index: Index, pieces: Sequence[int], systems: int, n: int,
                     rng: np.random.Generator) -> list[tuple[int, np.ndarray]]:
    """``n`` random runs of ``systems`` consecutive systems: (piece, rows)."""
    sys_of = {i: index.positions("sheet", i)[:, 1].astype(int) for i in pieces}
    eligible = [i for i in pieces if len(sys_of[i]) and sys_of[i].max() + 1 >= systems]
    out = []
    for _ in range(n if eligible else 0):
        i = eligible[int(rng.integers(len(eligible)))]
        first = int(rng.integers(0, sys_of[i].max() + 2 - systems))
        rows = np.nonzero((sys_of[i] >= first) & (sys_of[i] < first + systems))[0]
        if len(rows):
            out.append((i, rows))
    return out


def _ranks(index: Index, m: Matcher, qmod: str, queries: Sequence[tuple[int, np.ndarray | None]],
           rate: float, tick: Callable[[], None] | None = None,
           transform: Callable[[np.ndarray], np.ndarray] | None = None
           ) -> tuple[list[int], list[float]]:
    """True-piece ranks and search seconds of ``queries``: ``(piece, rows)``, rows
    None for the whole piece (``transform``: of the query's rows, e.g. hubness
    correction).  The first query is also run once untimed, so compilation and
    lazily built structures do not count."""
    def sequence(i, rows):
        seq = np.asarray(index.sequence(qmod, i))
        seq = seq if rows is None else seq[rows]
        return transform(seq) if transform else seq

    ranks, seconds = [], []
    if queries:
        m.match(sequence(*queries[0]), top=None, rate=rate)
    for i, rows in queries:
        q = sequence(i, rows)
        t = time.perf_counter()
        res = m.match(q, top=None, rate=rate)
        seconds.append(time.perf_counter() - t)
        ranks.append(true_rank(res, index.ids[i]))
        if tick:
            tick()
    return ranks, seconds


def evaluate_fragments(index: Index | str | os.PathLike, matcher: str = "sdtw", *,
                       direction: str = "both", audio_lengths: Sequence[float] = AUDIO_LENGTHS,
                       system_counts: Sequence[int] = SYSTEM_COUNTS, queries: int = 100,
                       seed: int = 0, prefilter: str | None = None, params: Params = None,
                       progress: Progress | None = None) -> dict[str, Any]:
    """Table II: MRR of random fragments by length, per direction.

    A2S queries are audio fragments of each length in seconds, S2A queries runs
    of consecutive systems; ``queries`` per length, drawn with a seeded
    generator from the pieces long enough (a piece is drawn uniformly, then
    the fragment's start).  A length no piece reaches has no queries.

    Examples
    --------
    >>> report = evaluate_fragments(Index("indexes/demo"), "sdtw", audio_lengths=[10, 20],  # doctest: +SKIP
    ...                             system_counts=[1, 2], queries=50)
    >>> [(r["direction"], r["length"], round(r["MRR"], 2)) for r in report["results"]]  # doctest: +SKIP
    [('a2s', 10, 0.86), ('a2s', 20, 0.91), ('s2a', 1, 0.7), ('s2a', 2, 0.92)]
    """
    if any(not (np.isfinite(x) and x > 0) for x in audio_lengths) or any(c < 1 for c in system_counts):
        raise ParameterError(f"audio lengths must be numbers of seconds > 0 and system counts >= 1, "
                             f"got {list(audio_lengths)} and {list(system_counts)}")
    index, params = _open(index, [matcher], params)
    _check_both_sides(index)
    if queries < 1:
        raise ParameterError(f"queries must be >= 1, got {queries}")
    dirs = _directions(direction)
    pieces = list(range(len(index)))
    job = Reporter(progress, "evaluate", unit="queries",
                   total=queries * sum(len(audio_lengths) if d == "a2s" else len(system_counts)
                                       for d in dirs))
    out = []
    for d in dirs:
        qmod, cmod = DIRECTIONS[d]
        m = make_matcher(matcher, prefilter=prefilter, params=params)
        m.fit(index.collection(cmod))
        rate = index.rate(qmod)
        rng = np.random.default_rng(seed)
        lengths = audio_lengths if d == "a2s" else system_counts
        for length in lengths:
            frags = (_audio_fragments(index, pieces, float(length), queries, rng) if d == "a2s"
                     else _score_fragments(index, pieces, int(length), queries, rng))
            ranks, seconds = _ranks(index, m, qmod, frags, rate,
                                    tick=lambda: job.advance(description=f"{m.name} {d} {length}"))
            job.advance(queries - len(frags))  # queries that could not be drawn
            row = {"matcher": m.name, "direction": d, "length": length,
                   "unit": "s" if d == "a2s" else "systems", "queries": len(ranks),
                   "pieces": len({i for i, _ in frags})}
            if ranks:
                row.update(_summary(np.array(ranks), seconds))
            else:
                row["MRR"] = None
            out.append(row)
    return {"index": str(index.folder), "seed": seed, "results": out}


def evaluate_scale(index: Index | str | os.PathLike, matcher: str = "sdtw", *,
                   direction: str = "both", sizes: Sequence[int] | None = None, repeats: int = 10,
                   queries: int = 100, audio_seconds: float = 50.0, systems: int = 4, seed: int = 0,
                   prefilter: str | None = None, params: Params = None,
                   progress: Progress | None = None, figure: str | os.PathLike | None = None
                   ) -> dict[str, Any]:
    """Fig. 3: MRR and search time per query against the collection size.

    For each size, ``repeats`` random subsets of the index's pieces are drawn;
    from each, ``queries`` fragments (``audio_seconds`` of audio or ``systems``
    systems; a shorter piece is queried whole) of its pieces are searched in
    it.  Fitting the matcher is not timed; the search is.  ``figure``: draw
    :func:`~ast_toolkit.evaluation.figures.scale_figure` to this PNG.

    Examples
    --------
    >>> report = evaluate_scale(Index("indexes/demo"), "sdtw", sizes=[5, 14])  # doctest: +SKIP
    >>> [(r["direction"], r["pieces"]) for r in report["results"]]  # doctest: +SKIP
    [('a2s', 5), ('a2s', 14), ('s2a', 5), ('s2a', 14)]
    """
    if not (np.isfinite(audio_seconds) and audio_seconds > 0) or systems < 1:
        raise ParameterError(f"--audio-seconds must be a number > 0 and --query-systems >= 1, "
                             f"got {audio_seconds} and {systems}")
    index, params = _open(index, [matcher], params)
    _check_both_sides(index)
    n = len(index)
    if sizes is None:
        sizes = sorted({max(2, n // 8), max(2, n // 4), max(2, n // 2), n})
    sizes = sorted(int(s) for s in sizes)
    if not sizes or sizes[0] < 1 or sizes[-1] > n:
        raise ParameterError(f"sizes must be between 1 and the index's {n} pieces, got {sizes}")
    if repeats < 1 or queries < 1:
        raise ParameterError("repeats and queries must be >= 1")
    dirs = _directions(direction)
    job = Reporter(progress, "evaluate", total=len(dirs) * len(sizes) * repeats * queries,
                   unit="queries")
    out = []
    for d in dirs:
        qmod, cmod = DIRECTIONS[d]
        rate = index.rate(qmod)
        rng = np.random.default_rng(seed)
        for size in sizes:
            mrrs, times = [], []
            for _ in range(repeats):
                subset = np.sort(rng.choice(n, size=size, replace=False)).tolist()
                m = make_matcher(matcher, prefilter=prefilter, params=params)
                m.fit(index.collection(cmod, subset))
                frags = []
                for _q in range(queries):
                    i = subset[int(rng.integers(len(subset)))]
                    got = (_audio_fragments(index, [i], min(audio_seconds, index.pieces[i]["duration"]), 1, rng)
                           if d == "a2s" else
                           _score_fragments(index, [i], min(systems, int(index.positions("sheet", i)[:, 1].max()) + 1), 1, rng))
                    frags += got
                ranks, seconds = _ranks(
                    index, m, qmod, frags, rate,
                    tick=lambda: job.advance(description=f"{m.name} {d} {size} pieces"))
                job.advance(queries - len(frags))  # queries that could not be drawn
                mrrs.append(float(np.mean(1.0 / np.array(ranks))))
                times.append(float(np.mean(seconds)))
            out.append({"matcher": m.name, "direction": d, "pieces": size, "repeats": repeats,
                        "queries": queries, "MRR": float(np.mean(mrrs)),
                        "MRR std": float(np.std(mrrs)),
                        "seconds per query": float(np.mean(times)),
                        "seconds std": float(np.std(times))})
    report = {"index": str(index.folder), "seed": seed, "audio_seconds": audio_seconds,
              "systems": systems, "results": out}
    if figure is not None:
        from .figures import scale_figure

        scale_figure(report, figure)
        report["figure"] = str(figure)
    return report
