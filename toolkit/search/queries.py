"""Queries and answers: which piece — and where in it — a recording or a score comes from.

* :func:`piece_query`, :func:`file_query`, :func:`dataset_query` — a query
  sequence from an indexed piece (or a fragment of it), a user's recording, or
  a piece of a dataset outside the index; :func:`make_query` picks the right
  one for what ``ast match -q`` was given.
* :func:`identify` — the ranked pieces for one query, each with its score and
  matched position (page, system, x — or seconds).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..catalog import Registry
from ..data.audio import AUDIO_SUFFIXES
from ..data.datasets import open_dataset, resolve_piece
from ..data.recordings import recording_excerpts
from ..data.sheets import PDF_DPI, SHEET_SUFFIXES, Sheets, sheet_kind
from ..learn.modelfile import model_sheet_scale
from ..errors import ParameterError
from ..interfaces import Dataset
from ..types import Match
from .hubness import K as HUBNESS_K, resolve_hubness, search_space
from .index import Index
from .matching import make_matcher, matcher_params

__all__ = ["Query", "parse_systems", "piece_query", "file_query", "sheet_file_query", "dataset_query",
           "make_query",
           "identify", "match"]


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
    dataset : Dataset or None
        The dataset the query piece comes from when it is not in the index
        (for pictures; a piece of the index is drawn from the index's dataset).

    Examples
    --------
    >>> emb = np.random.default_rng(0).normal(size=(4, 32)).astype(np.float32)
    >>> q = Query(emb / np.linalg.norm(emb, axis=1, keepdims=True), "audio", "take.wav",
    ...           positions=np.arange(4) * 0.5)
    >>> q.modality, q.embeddings.shape, q.positions.tolist(), q.piece
    ('audio', (4, 32), [0.0, 0.5, 1.0, 1.5], None)
    >>> piece_query(Index("indexes/demo"), "bwv269", "sheet").piece  # doctest: +SKIP
    'music21/bach/bwv269.mxl'
    """

    embeddings: np.ndarray
    modality: str
    label: str
    piece: str | None = None
    positions: np.ndarray = field(default_factory=lambda: np.zeros(0))
    spectrogram: np.ndarray | None = None
    fps: float = 20.0
    dataset: Dataset | None = None
    #: the query's piece in :attr:`dataset` when it is not the true piece (a user's scan)
    source_piece: str | None = None


def parse_systems(text: str | None) -> tuple[int, int] | None:
    """``"A-B"`` or ``"A"`` (1-based systems) as ``(A, B)``; None stays None.

    Examples
    --------
    >>> parse_systems("2-4"), parse_systems("3"), parse_systems(None)
    ((2, 4), (3, 3), None)
    >>> parse_systems("4-2")
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.ParameterError: --systems '4-2': need 1 <= A <= B
    """
    if text is None:
        return None
    a, _, b = text.partition("-")
    try:
        lo, hi = int(a), int(b or a)
    except ValueError:
        raise ParameterError(f"--systems {text!r}: write A-B or A (1-based systems)") from None
    if lo < 1 or hi < lo:
        raise ParameterError(f"--systems {text!r}: need 1 <= A <= B")
    return lo, hi


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
    """An indexed piece (or a fragment of it) as a query of ``modality``.

    Parameters
    ----------
    index : Index
    piece : str or int
        Its id, a unique part of it, or its position in the index.
    modality : {"audio", "sheet"}
        Which side of the piece queries.
    start, duration : float or None
        An audio fragment, in seconds.
    systems : (int, int) or None
        A score fragment: systems ``a`` to ``b``, 1-based.

    Examples
    --------
    >>> q = piece_query(Index("indexes/demo"), "bwv269", "sheet", systems=(1, 2))  # doctest: +SKIP
    >>> q.label  # doctest: +SKIP
    'music21/bach/bwv269.mxl, systems 1–2'
    """
    i = index.piece(piece) if isinstance(piece, str) else int(piece)
    pid = index.ids[i]
    positions = index.positions(modality, i)
    if len(positions) == 0:
        raise ParameterError(f"piece {pid!r} has no {modality} rows in {index.folder}")
    rows, label = _fragment_rows(positions, modality, start=start, duration=duration,
                                 systems=systems, label=pid)
    return Query(index.sequence(modality, i)[rows], modality, label, pid, positions[rows],
                 fps=index.spectrogram.fps)


def file_query(index: Index, encoder: Any, path: str | os.PathLike) -> Query:
    """A user's recording as an audio query, embedded with the index's model.

    Raises
    ------
    AudioError
        Missing, empty, unreadable, not audio, silent, or shorter than one excerpt.

    Examples
    --------
    >>> index = Index("indexes/demo")  # doctest: +SKIP
    >>> encoder, _ = index.load_encoder()  # doctest: +SKIP
    >>> file_query(index, encoder, "recording.mp3").modality  # doctest: +SKIP
    'audio'
    """
    spec = index.spectrogram
    windows, seconds, spectrogram = recording_excerpts(
        path, spec, context=int(encoder.audio_shape[1]), hop=int(index.settings["audio_hop"]))
    if spectrogram.shape[0] != encoder.audio_shape[0]:
        raise ParameterError(f"{path}: the spectrogram has {spectrogram.shape[0]} bins; the model "
                             f"takes {encoder.audio_shape[0]}")
    return Query(encoder.embed_audio(windows), "audio", str(path), None, seconds, spectrogram,
                 spec.fps)


def sheet_file_query(index: Index, encoder: Any, config: dict[str, Any], path: str | os.PathLike, *,
                     page: int | None = None, systems: tuple[int, int] | None = None,
                     reader: str | None = None) -> Query:
    """A user's scan, photo or PDF as a sheet query, embedded with the index's model.

    Its pages are read (staves, systems) and rescaled to the staff space of
    the model's training data, then cut into windows along the unrolled
    systems exactly as indexed scores are.

    Parameters
    ----------
    page : int or None
        1-based page of a PDF / multi-page TIFF; None reads every page.
    systems : (int, int) or None
        1-based systems (over the pages read) to query with.
    reader : str or None
        Page reader plugin; None: the one the index read its scans with, or ``classical``.

    Raises
    ------
    SheetError
        The file cannot be read, or no page of it holds staves (the reason named).
    """
    from .. import plugins

    if page is not None and page < 1:
        raise ParameterError(f"--page must be >= 1, got {page}")
    src = index.settings["source"]
    staff_space, margin = model_sheet_scale(config)
    path = Path(path)
    ds = Sheets.from_pieces(
        {path.name: [(path, None if page is None else page - 1)]}, index.spectrogram,
        reader=plugins.create("readers", reader or src.get("reader") or "classical"),
        staff_space=staff_space, system_margin=margin, dpi=int(src.get("dpi", PDF_DPI)),
        sheet_window=tuple(encoder.sheet_window), audio_context=int(encoder.audio_shape[1]))
    seq = ds.sequence(path.name, sheet_hop=int(index.settings["sheet_hop"]))
    label = str(path) + (f", page {page}" if page is not None else "")
    rows, label = _fragment_rows(seq.sheet_positions, "sheet", start=None, duration=None,
                                 systems=systems, label=label)
    return Query(encoder.embed_sheet(seq.sheet[rows]), "sheet", label, None,
                 seq.sheet_positions[rows], fps=index.spectrogram.fps, dataset=ds,
                 source_piece=path.name)


def dataset_query(index: Index, encoder: Any, dataset: str | os.PathLike | Dataset, piece: str,
                  modality: str, *, start: float | None = None, duration: float | None = None,
                  systems: tuple[int, int] | None = None,
                  registry: Registry | None = None) -> Query:
    """A piece of a dataset outside the index, embedded with the index's model.

    Examples
    --------
    >>> q = dataset_query(index, encoder, "data/chorales", "bwv269", "audio")  # doctest: +SKIP
    >>> q.piece  # doctest: +SKIP
    'music21/bach/bwv269.mxl'
    """
    ds = dataset if isinstance(dataset, Dataset) else \
        open_dataset(dataset, encoder=encoder, registry=registry)
    ids = ds.piece_ids()
    piece = ids[resolve_piece(piece, ids, where=str(ds.root),
                              hint=f"`ast data stats {ds.root} --pieces`")]
    seq = ds.sequence(piece, sheet_hop=index.settings["sheet_hop"],
                      audio_hop=index.settings["audio_hop"])
    if modality == "audio":
        emb, positions = encoder.embed_audio(seq.audio), seq.audio_times
    else:
        emb, positions = encoder.embed_sheet(seq.sheet), seq.sheet_positions
    rows, label = _fragment_rows(positions, modality, start=start, duration=duration,
                                 systems=systems, label=piece)
    return Query(emb[rows], modality, label, piece, positions[rows], fps=index.spectrogram.fps,
                 dataset=ds)


def make_query(index: Index, query: str, *, direction: str = "a2s", start: float | None = None,
               duration: float | None = None, systems: tuple[int, int] | None = None,
               dataset: str | os.PathLike | None = None, model: str | os.PathLike | None = None,
               page: int | None = None, registry: Registry | None = None) -> Query:
    """The query ``ast match -q QUERY`` means: an audio file, a scan / photo / PDF, or a
    piece (of the index, or of ``dataset``), whole or a fragment.

    Parameters
    ----------
    index : Index
    query : str
        An audio file, a sheet-music file (PDF, PNG, JPEG, TIFF: always a
        score query), or a piece: its id, a unique part of it, or its number.
    direction : {"a2s", "s2a"}
        For a piece: a2s queries with its recording, s2a with its score.
    start, duration, systems
        A fragment of a piece (seconds, or 1-based systems ``(a, b)``).
    dataset : str or path or None
        Take the piece from this dataset (folder or registry name), embedded
        with the index's model.
    model : str or path or None
        The index's model at another path (checked by its weights' sha256).
    page : int or None
        1-based page of a sheet-music file query.

    Examples
    --------
    >>> make_query(Index("indexes/demo"), "take.wav", systems=(1, 2))  # doctest: +SKIP
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.ParameterError: --start/--duration/--systems select a fragment of a piece query; cut an audio file before querying with it
    """
    if direction not in ("a2s", "s2a"):
        raise ParameterError(f"direction must be a2s or s2a, got {direction!r}")
    modality = "audio" if direction == "a2s" else "sheet"
    for name, value in (("--start", start), ("--duration", duration)):
        if value is not None and not (np.isfinite(value) and value >= 0):
            raise ParameterError(f"{name} must be a number of seconds >= 0, got {value}")
    path = Path(query).expanduser()
    if path.suffix.lower() in SHEET_SUFFIXES or (path.is_file() and sheet_kind(path)):
        if start is not None or duration is not None:
            raise ParameterError("--start / --duration select a fragment of an audio query; "
                                 "for a score use --systems A-B (and --page N)")
        encoder, config = index.load_encoder(model, registry)
        return sheet_file_query(index, encoder, config, path, page=page, systems=systems)
    if page is not None:
        raise ParameterError("--page selects a page of a PDF or image query")
    if path.is_file() or path.suffix.lower() in AUDIO_SUFFIXES:
        if systems or start is not None or duration is not None:
            raise ParameterError("--start/--duration/--systems select a fragment of a piece "
                                 "query; cut an audio file before querying with it")
        encoder, _ = index.load_encoder(model, registry)
        return file_query(index, encoder, path)
    if dataset is not None:
        encoder, _ = index.load_encoder(model, registry)
        return dataset_query(index, encoder, dataset, query, modality, start=start,
                             duration=duration, systems=systems, registry=registry)
    return piece_query(index, query, modality, start=start, duration=duration, systems=systems)


def identify(index: Index, query: Query, matcher: str = "dtw", *, top: int | None = 10,
             prefilter: str | None = None, params: dict[str, dict[str, Any]] | None = None,
             rate: float | None = None, hubness: str = "none",
             hubness_k: int = HUBNESS_K, hubness_reference: bool = False,
             model: str | os.PathLike | None = None,
             registry: Registry | None = None) -> tuple[list[Match], list[dict[str, Any]], Any]:
    """Rank the index's pieces for ``query``.

    Parameters
    ----------
    index : Index
    query : Query
    matcher : str
        A matcher plugin, optionally with a prefilter: ``dtw+vote:50``.
    top : int or None
        How many pieces to return; None ranks every piece.
    prefilter : str or None
        ``NAME:K``: the matcher scores only the prefilter's ``K`` best pieces.
    params : dict or None
        ``{matcher: {key: value}}`` hyper-parameters.
    rate : float or None
        Collection rows per query row; None: the index's.
    hubness : str
        ``none``, or ``csls``: scores corrected for hubs — candidates close to
        every query (:mod:`ast_toolkit.search.hubness`); an index of one side
        measures against its model's reference rows (``model``: the model at
        another path; ``hubness_reference``: against those even where the index has
        both sides).  ``hubness_k``: the neighbourhood size.

    Returns
    -------
    matches : list of Match
    rows : list of dict
        ``rank, piece, score, start, end`` with positions described (page /
        system / x, or seconds); for a table or JSON.
    matcher : Matcher
        The fitted matcher.

    Examples
    --------
    >>> index = Index("indexes/demo")  # doctest: +SKIP
    >>> matches, rows, _ = identify(index, piece_query(index, 0, "audio"), "sdtw", top=3)  # doctest: +SKIP
    >>> rows[0]["start"]  # doctest: +SKIP
    {'page': 1, 'system': 1, 'x': 176}
    """
    target = index.search_modality(query.modality)
    if hubness != "none" and target == query.modality:
        raise ParameterError("hubness reduction is for cross-modal search; this query searches "
                             f"its own modality ({target})")
    collection, transform = search_space(index, target, hubness, hubness_k, model=model,
                                         registry=registry, reference=hubness_reference)
    m = make_matcher(matcher, prefilter=prefilter, params=params)
    m.fit(collection)
    if rate is None:
        rate = index.rate(query.modality) if target != query.modality else 1.0
    matches = m.match(transform(query.embeddings), top=top, rate=rate)
    rows = []
    for rank, r in enumerate(matches, start=1):
        i = index.piece(r.piece)
        row = {"rank": rank, "piece": r.piece, "score": r.score, "modality": target}
        if r.start >= 0:
            row["start"] = index.describe_row(target, i, r.start)
            row["end"] = index.describe_row(target, i, r.end)
        rows.append(row)
    return matches, rows, m


def match(index: Index | str | os.PathLike, query: str, *, matcher: str = "dtw",
          prefilter: str | None = None, params: Sequence[str] = (), direction: str = "a2s",
          start: float | None = None, duration: float | None = None,
          systems: str | tuple[int, int] | None = None, dataset: str | os.PathLike | None = None,
          top: int = 10, report: str | os.PathLike | None = None,
          model: str | os.PathLike | None = None, page: int | None = None,
          hubness: str = "auto", registry: Registry | None = None) -> dict[str, Any]:
    """``ast match``: make the query, rank the index's pieces, draw the report.

    Parameters
    ----------
    index : Index or path
    query : str
        An audio file, or a piece (:func:`make_query`).
    matcher, prefilter : str
        As :func:`identify` takes them.
    params : sequence of str
        ``KEY=VALUE`` or ``MATCHER.KEY=VALUE`` hyper-parameters (:func:`matcher_params`).
    direction, start, duration, dataset, model
        As :func:`make_query` takes them.
    systems : str or (int, int) or None
        A score fragment, ``"A-B"`` (1-based).
    top : int
        Pieces to return.
    report : path or None
        Draw :func:`~ast_toolkit.search.report.match_report` to this PNG.
    hubness : str
        As :func:`identify` takes it, or ``auto`` (the default): ``csls`` with
        ``dtw`` where the index or the model's reference rows allow it, ``none``
        otherwise (:func:`~ast_toolkit.search.hubness.resolve_hubness`); the
        result's ``hubness`` says which was used.

    Returns
    -------
    dict
        ``index, query, query_modality, true_piece, matcher, query_rows, results``
        (rank, piece, score, start and end described), and ``report``.

    Examples
    --------
    >>> result = match("indexes/demo", "bwv269", direction="s2a", systems="1-2",  # doctest: +SKIP
    ...                matcher="sdtw", top=3)
    >>> result["results"][0]["piece"] == result["true_piece"]  # doctest: +SKIP
    True
    """
    idx = index if isinstance(index, Index) else Index(index)
    specs = [matcher] + ([f"{matcher.partition('+')[0]}+{prefilter}"] if prefilter else [])
    per_matcher = matcher_params(params, specs)
    if isinstance(systems, str):
        systems = parse_systems(systems)
    q = make_query(idx, query, direction=direction, start=start, duration=duration,
                   systems=systems, dataset=dataset, model=model, page=page, registry=registry)
    hubness = resolve_hubness(hubness, idx, q.modality, matcher, model, registry)
    matches, rows, fitted = identify(idx, q, matcher, top=top, prefilter=prefilter,
                                     params=per_matcher, hubness=hubness, model=model,
                                     registry=registry)
    result: dict[str, Any] = {
        "index": str(idx.folder), "query": q.label, "query_modality": q.modality,
        "true_piece": q.piece, "matcher": fitted.name, "hubness": hubness,
        "query_rows": int(len(q.embeddings)), "results": rows}
    if report is not None:
        from .report import match_report

        match_report(idx, q, matches, report, matcher=fitted.name)
        result["report"] = str(report)
    return result
