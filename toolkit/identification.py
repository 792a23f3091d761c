"""Piece identification (seed 002): queries, ranked answers, and the evaluations.

* :func:`piece_query`, :func:`file_query`, :func:`dataset_query` — a query
  sequence from an indexed piece (or a fragment of it), a user's recording, or
  a piece of a rendered dataset outside the index.
* :func:`identify` — the ranked pieces for one query, each with its score and
  matched position (page, system, x — or seconds).
* :func:`evaluate_pieces` — seed 002's Table I: every piece queried whole
  against the other modality; R@1, R@5, R@10 (counts and fractions), MRR and
  median rank, per matcher and direction.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import plugins
from .errors import ParameterError
from .index import DIRECTIONS, Index, audio_query, resolve_piece
from .matching import make_matcher
from .snippets import rank_metrics
from .types import Match

__all__ = ["Query", "piece_query", "file_query", "dataset_query", "identify", "true_rank",
           "evaluate_pieces", "evaluate_fragments", "evaluate_scale", "PIECE_METRICS",
           "AUDIO_LENGTHS", "SYSTEM_COUNTS"]

PIECE_METRICS = ("recall@1", "recall@5", "recall@10", "mrr", "median-rank")
#: Seed 002's fragment lengths: audio seconds and score systems (Table II).
AUDIO_LENGTHS = (10, 20, 30, 40, 50, 60, 70, 80)
SYSTEM_COUNTS = (1, 2, 3, 4, 5, 6, 7, 8)


@dataclass
class Query:
    """A query embedding sequence and where it comes from.

    Attributes
    ----------
    embeddings : np.ndarray [shape=(n, dim)], float32
    modality : str
        ``audio`` or ``sheet``.
    label : str
        The file, or the piece and fragment, for people.
    piece : str or None
        The true piece, when the query comes from a dataset.
    positions : np.ndarray
        Seconds ``[n]`` of audio rows, or ``[n, 3]`` page, system, x of sheet rows.
    spectrogram : np.ndarray [shape=(n_bins, n_frames)] or None
        A recording's spectrogram, for the report picture.
    fps : float
        Its frames per second.
    dataset_root : Path or None
        The rendered dataset the query piece comes from, for pictures.
    """

    embeddings: np.ndarray
    modality: str
    label: str
    piece: str | None = None
    positions: np.ndarray = field(default_factory=lambda: np.zeros(0))
    spectrogram: np.ndarray | None = None
    fps: float = 20.0
    dataset_root: Path | None = None


def _fragment_rows(positions: np.ndarray, modality: str, *, start: float | None,
                   duration: float | None, systems: tuple[int, int] | None, label: str
                   ) -> tuple[np.ndarray, str]:
    """Rows of a piece inside a fragment, and the fragment described."""
    rows = np.arange(len(positions))
    if modality == "audio":
        if systems is not None:
            raise ParameterError("--systems selects a fragment of a score query; for audio "
                                 "use --start / --duration")
        if start is None and duration is None:
            return rows, label
        t0 = float(start or 0.0)
        t1 = t0 + float(duration) if duration is not None else float("inf")
        keep = rows[(positions >= t0) & (positions < t1)]
        what = f"{label} at {t0:.1f}–{min(t1, float(positions[-1])):.1f} s"
    else:
        if start is not None or duration is not None:
            raise ParameterError("--start / --duration select a fragment of an audio query; "
                                 "for a score use --systems A-B")
        if systems is None:
            return rows, label
        a, b = systems
        sys_of = positions[:, 1].astype(int) + 1
        keep = rows[(sys_of >= a) & (sys_of <= b)]
        what = f"{label}, systems {a}–{b}"
    if len(keep) == 0:
        raise ParameterError(f"{what}: the fragment holds no {modality} rows")
    return keep, what


def piece_query(index: Index, piece: str | int, modality: str, *, start: float | None = None,
                duration: float | None = None, systems: tuple[int, int] | None = None) -> Query:
    """An indexed piece (or a fragment of it) as a query of ``modality``."""
    i = index.piece(piece) if isinstance(piece, str) else int(piece)
    pid = index.ids[i]
    positions = index.positions(modality, i)
    if len(positions) == 0:
        raise ParameterError(f"piece {pid!r} has no {modality} rows in {index.folder}")
    rows, label = _fragment_rows(positions, modality, start=start, duration=duration,
                                 systems=systems, label=pid)
    return Query(index.sequence(modality, i)[rows], modality, label, pid, positions[rows],
                 fps=float(index.settings["spectrogram"]["fps"]), dataset_root=index.dataset_root)


def file_query(index: Index, encoder: Any, path: str | os.PathLike) -> Query:
    """A user's recording as an audio query, embedded with the index's model."""
    spec = index.settings["spectrogram"]
    emb, seconds, spectrogram = audio_query(encoder, path, spec, hop=index.settings["audio_hop"])
    return Query(emb, "audio", str(path), None, seconds, spectrogram, float(spec["fps"]))


def dataset_query(index: Index, encoder: Any, dataset_root: str | os.PathLike, piece: str,
                  modality: str, *, start: float | None = None, duration: float | None = None,
                  systems: tuple[int, int] | None = None) -> Query:
    """A piece of a rendered dataset outside the index, embedded with the index's model."""
    ds = plugins.create("datasets", "rendered", root=dataset_root,
                        sheet_shape=encoder.sheet_window, audio_context=encoder.audio_shape[1])
    ids = ds.piece_ids()
    piece = ids[resolve_piece(piece, ids, where=str(dataset_root),
                              hint=f"`ast data stats {dataset_root} --pieces`")]
    seq = ds.sequence(piece, sheet_hop=index.settings["sheet_hop"],
                      audio_hop=index.settings["audio_hop"])
    if modality == "audio":
        emb, positions = encoder.embed_audio(seq.audio), seq.audio_times
    else:
        emb, positions = encoder.embed_sheet(seq.sheet), seq.sheet_positions
    rows, label = _fragment_rows(positions, modality, start=start, duration=duration,
                                 systems=systems, label=piece)
    return Query(emb[rows], modality, label, piece, positions[rows],
                 fps=float(index.settings["spectrogram"]["fps"]), dataset_root=Path(dataset_root))


def identify(index: Index, query: Query, matcher: str = "dtw", *, top: int | None = 10,
             prefilter: str | None = None, params: dict | None = None,
             rate: float | None = None) -> tuple[list[Match], list[dict[str, Any]], Any]:
    """Rank the index's pieces for ``query``.

    Returns
    -------
    matches : list of Match
    rows : list of dict
        ``rank, piece, score, start, end`` with positions described (page /
        system / x, or seconds); for a table or JSON.
    matcher : Matcher
        The fitted matcher.
    """
    target = index.search_modality(query.modality)
    m = make_matcher(matcher, prefilter=prefilter, params=params)
    m.fit(index.collection(target))
    if rate is None:
        rate = index.rate(query.modality) if target != query.modality else 1.0
    matches = m.match(query.embeddings, top=top, rate=rate)
    rows = []
    for rank, r in enumerate(matches, start=1):
        i = index.piece(r.piece)
        row = {"rank": rank, "piece": r.piece, "score": r.score, "modality": target}
        if r.start >= 0:
            row["start"] = index.describe_row(target, i, r.start)
            row["end"] = index.describe_row(target, i, r.end)
        rows.append(row)
    return matches, rows, m


def true_rank(matches: Sequence[Match], piece: str) -> int:
    """1-based rank of ``piece``; pieces with the same score count against it."""
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


def _check_both_sides(index: Index) -> None:
    if not (index.has("sheet") and index.has("audio")):
        raise ParameterError(f"{index.folder} has only a {index.modalities[0]} side; evaluation "
                             "needs an index of a rendered dataset (both sides)")


Progress = Callable[[str, int, int], None]


class _Counter:
    """Queries done out of ``total``, reported to ``progress`` as they finish."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self.done, self.total, self.progress = 0, total, progress

    def tick(self, what: str) -> None:
        self.done += 1
        if self.progress:
            self.progress(what, self.done, self.total)

    def skip(self, n: int) -> None:
        """Count queries that could not be drawn (no piece long enough)."""
        self.done += n


def evaluate_pieces(index: Index, matchers: Sequence[str], *, direction: str = "both",
                    prefilter: str | None = None, params: dict | None = None,
                    progress: Progress | None = None) -> dict[str, Any]:
    """Seed 002's Table I: each piece queried whole against the other modality.

    Returns
    -------
    dict
        ``{"pieces": n, "results": [{"matcher", "direction", "R@1", "R@1 fraction",
        ..., "MRR", "MR", "seconds per query", "ranks"}]}``.
    """
    _check_both_sides(index)
    results = []
    queries = [(i, None) for i, p in enumerate(index.pieces) if "sheet" in p and "audio" in p]
    counter = _Counter(len(queries) * len(matchers) * len(_directions(direction)), progress)
    for d in _directions(direction):
        qmod, cmod = DIRECTIONS[d]
        collection = index.collection(cmod)
        rate = index.rate(qmod)
        for spec in matchers:
            m = make_matcher(spec, prefilter=prefilter, params=params)
            m.fit(collection)
            ranks, seconds = _ranks(index, m, qmod, queries, rate,
                                    tick=lambda: counter.tick(f"{m.name} {d}"))
            results.append({"matcher": m.name, "direction": d,
                            **_summary(np.array(ranks), seconds), "ranks": ranks})
    return {"index": str(index.folder), "pieces": len(index), "queries": len(queries),
            "results": results}


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


def _ranks(index: Index, m, qmod: str, queries, rate: float,
           tick=None) -> tuple[list[int], list[float]]:
    """True-piece ranks and search seconds of ``queries``: ``(piece, rows)``, rows
    None for the whole piece.  The first query is also run once untimed, so
    compilation and lazily built structures do not count."""
    def sequence(i, rows):
        seq = index.sequence(qmod, i)
        return seq if rows is None else seq[rows]

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


def evaluate_fragments(index: Index, matcher: str = "sdtw", *, direction: str = "both",
                       audio_lengths: Sequence[float] = AUDIO_LENGTHS,
                       system_counts: Sequence[int] = SYSTEM_COUNTS, queries: int = 100,
                       seed: int = 0, prefilter: str | None = None, params: dict | None = None,
                       progress: Progress | None = None) -> dict[str, Any]:
    """Seed 002's Table II: MRR of random fragments by length, per direction.

    A2S queries are audio fragments of each length in seconds, S2A queries runs
    of consecutive systems; ``queries`` per length, drawn with a seeded
    generator from the pieces long enough (a piece is drawn uniformly, then
    the fragment's start).  A length no piece reaches has no queries.
    """
    _check_both_sides(index)
    if queries < 1:
        raise ParameterError(f"queries must be >= 1, got {queries}")
    dirs = _directions(direction)
    pieces = list(range(len(index)))
    counter = _Counter(queries * sum(len(audio_lengths) if d == "a2s" else len(system_counts)
                                     for d in dirs), progress)
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
                                             tick=lambda: counter.tick(f"{m.name} {d} {length}"))
            counter.skip(queries - len(frags))
            row = {"matcher": m.name, "direction": d, "length": length,
                   "unit": "s" if d == "a2s" else "systems", "queries": len(ranks),
                   "pieces": len({i for i, _ in frags})}
            if ranks:
                row.update(_summary(np.array(ranks), seconds))
            else:
                row["MRR"] = None
            out.append(row)
    return {"index": str(index.folder), "seed": seed, "results": out}


def evaluate_scale(index: Index, matcher: str = "sdtw", *, direction: str = "both",
                   sizes: Sequence[int] | None = None, repeats: int = 10, queries: int = 100,
                   audio_seconds: float = 50.0, systems: int = 4, seed: int = 0,
                   prefilter: str | None = None, params: dict | None = None,
                   progress: Progress | None = None) -> dict[str, Any]:
    """Seed 002's Fig. 3: MRR and search time per query against the collection size.

    For each size, ``repeats`` random subsets of the index's pieces are drawn;
    from each, ``queries`` fragments (``audio_seconds`` of audio or ``systems``
    systems; a shorter piece is queried whole) of its pieces are searched in
    it.  Fitting the matcher is not timed; the search is.
    """
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
    counter = _Counter(len(dirs) * len(sizes) * repeats * queries, progress)
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
                    tick=lambda: counter.tick(f"{m.name} {d} {size} pieces"))
                counter.skip(queries - len(frags))
                mrrs.append(float(np.mean(1.0 / np.array(ranks))))
                times.append(float(np.mean(seconds)))
            out.append({"matcher": m.name, "direction": d, "pieces": size, "repeats": repeats,
                        "queries": queries, "MRR": float(np.mean(mrrs)),
                        "MRR std": float(np.std(mrrs)),
                        "seconds per query": float(np.mean(times)),
                        "seconds std": float(np.std(times))})
    return {"index": str(index.folder), "seed": seed, "audio_seconds": audio_seconds,
            "systems": systems, "results": out}
