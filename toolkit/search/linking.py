"""Linking a library: which recording plays which score — ``ast link``.

The digitisation workflow in one call: a folder of scans / PDFs and a folder of
recordings are indexed together (:func:`~ast_toolkit.search.index.build_index`
with ``sheets`` and ``audio``), every recording is matched against every score
and every score against every recording, and each side gets its best
partner, the score, the margin to the runner-up, the matched page / system
range and time range, and whether the two directions agree.

A link is made only when the margin clears a threshold **calibrated on the
collection itself**, both directions agree, and the partner's own margin
clears its direction's threshold (the link is as clear from either side).  For every query, the margin
between its second and third best candidates is what a margin looks like when
the true partner is not in the collection (the best is removed, as if it were
absent); the threshold is a high quantile (:data:`QUANTILE`) of these impostor
margins, for each direction apart (their scores differ in scale).  And the best
partner must choose the query back: a piece that is everyone's nearest (a hub)
is no evidence.  A recording whose score is not in the collection therefore
comes out **unlinked**, instead of being attached to the nearest piece.
``min_margin`` sets the threshold by hand.

Layout of ``OUT``::

    OUT/index/          the index of both sides (resumable; ``ast match -i OUT/index``)
    OUT/links.csv       one row per recording and per score
    OUT/links.json      the same, with the threshold and how it was set
    OUT/links/*.png     one picture per link (the match report of the recording)
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..catalog import Registry
from ..data.sources import piece_slug
from ..errors import ParameterError
from ..io import atomic_write_text
from ..progress import Progress, Reporter
from .index import Index, IndexReport, build_index
from .queries import identify, piece_query

__all__ = ["QUANTILE", "LinkReport", "link_library", "calibrate_margin"]

#: Quantile of the impostor margins a link's margin must clear.
QUANTILE = 0.95
#: Too few impostor margins to estimate a quantile from: the threshold is their maximum.
MIN_IMPOSTORS = 20


@dataclass
class LinkReport:
    """What ``ast link`` found: one row per recording and per score."""

    out: Path
    rows: list[dict[str, Any]]
    #: per kind of query (``recording``, ``score``): the margin a link must clear
    threshold: dict[str, float]
    #: per kind of query: how the threshold was set
    calibration: dict[str, str]
    index: IndexReport
    pictures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def linked(self, kind: str = "recording") -> list[dict[str, Any]]:
        """The rows of ``kind`` (``recording`` or ``score``) that were linked."""
        return [r for r in self.rows if r["kind"] == kind and r["status"] == "linked"]


def calibrate_margin(rankings: Sequence[Sequence[float]], *, quantile: float = QUANTILE) -> tuple[float, str]:
    """The margin a link must clear, from the collection's own score lists.

    Parameters
    ----------
    rankings : sequence of sequences of float
        Every query's candidate scores, best first (higher is better).

    Returns
    -------
    threshold : float
    how : str
        How it was set, for the report.

    Examples
    --------
    >>> calibrate_margin([[0.9, 0.5, 0.45, 0.4], [0.8, 0.3, 0.28], [0.7, 0.35, 0.3]])
    (0.05, 'maximum of 3 impostor margins (2nd - 3rd best of each query)')
    """
    impostors = np.array([r[1] - r[2] for r in rankings if len(r) >= 3], float)
    if not len(impostors):
        return float("inf"), "no query has three candidates: nothing to calibrate on, nothing linked"
    if len(impostors) < MIN_IMPOSTORS:
        return (round(float(impostors.max()), 6),
                f"maximum of {len(impostors)} impostor margins (2nd - 3rd best of each query)")
    return (round(float(np.quantile(impostors, quantile)), 6),
            f"{quantile:.0%} quantile of {len(impostors)} impostor margins (2nd - 3rd best of each query)")


def _span(row: dict[str, Any]) -> str:
    a, b = row.get("start"), row.get("end")
    if not a or not b:
        return ""
    if "seconds" in a:
        return f"{a['seconds']:.1f}-{b['seconds']:.1f} s"
    return f"p{a['page']} s{a['system']} - p{b['page']} s{b['system']}"


def link_library(sheets: Sequence[str | os.PathLike], audio: Sequence[str | os.PathLike],
                 out: str | os.PathLike, *, model: str | os.PathLike | None = None, matcher: str = "dtw",
                 manifest: str | os.PathLike | None = None, reader: str = "classical",
                 min_margin: float | None = None, pictures: bool = True,
                 registry: Registry | None = None, progress: Progress | None = None) -> LinkReport:
    """Index scans and recordings together and link each recording to its score.

    Parameters
    ----------
    sheets, audio : sequence of paths
        Scans / photos / PDFs and recordings (files or folders), as ``ast index
        --sheets`` and ``--audio`` take them.
    out : path
        The output folder (see the module's documentation).
    model : str or path
        A model folder or registered model name.
    matcher : str
        Matcher plugin.
    min_margin : float or None
        The margin a link must clear; None calibrates it on the collection.
    pictures : bool
        Draw one match report per linked recording.

    Returns
    -------
    LinkReport

    Examples
    --------
    >>> report = link_library(["scans"], ["recordings"], "links", model="models/cnn")  # doctest: +SKIP
    >>> [(r["file"], r["best"], r["status"]) for r in report.rows][:1]  # doctest: +SKIP
    [('recordings/take1.wav', 'scans/chopin.pdf', 'linked')]
    """
    t0 = time.perf_counter()
    if not sheets or not audio:
        raise ParameterError("ast link needs both --sheets and --audio")
    if min_margin is not None and not (np.isfinite(min_margin) and min_margin >= 0):
        raise ParameterError(f"--min-margin must be a number >= 0, got {min_margin}")
    out = Path(out)
    index_report = build_index(model, out / "index", sheets=sheets, audio=audio, manifest=manifest,
                               reader=reader, registry=registry, progress=progress)
    idx = Index(out / "index")
    recordings = [i for i, p in enumerate(idx.pieces) if "audio" in p]
    scores = [i for i, p in enumerate(idx.pieces) if "sheet" in p]
    if not recordings or not scores:
        raise ParameterError(f"{out / 'index'}: needs indexed recordings and scores to link "
                             f"({len(recordings)} recordings, {len(scores)} scores could be read)")
    job = Reporter(progress, "link", total=len(recordings) + len(scores), unit="queries")
    found: list[dict[str, Any]] = []
    for kind, members, modality in (("recording", recordings, "audio"), ("score", scores, "sheet")):
        for i in members:
            q = piece_query(idx, i, modality)
            matches, rows, fitted = identify(idx, q, matcher, top=None)
            # a candidate the matcher cannot align (an infinite cost) is no candidate
            keep = [k for k, m in enumerate(matches) if np.isfinite(m.score)]
            matches, rows = [matches[k] for k in keep], [rows[k] for k in keep]
            found.append({"kind": kind, "index": i, "piece": idx.ids[i], "matches": matches,
                          "rows": rows, "query": q, "matcher": fitted.name})
            job.advance()
    # each direction has its own scale of scores: calibrated apart
    thresholds: dict[str, tuple[float, str]] = {}
    for kind in ("recording", "score"):
        thresholds[kind] = (float(min_margin), "set by hand (--min-margin)") if min_margin is not None \
            else calibrate_margin([[m.score for m in f["matches"]] for f in found if f["kind"] == kind])
    best_of = {f["piece"]: (f["matches"][0].piece if f["matches"] else None) for f in found}
    table = []
    for f in found:
        ms, rows = f["matches"], f["rows"]
        entry = idx.pieces[f["index"]]
        row: dict[str, Any] = {"kind": f["kind"], "piece": f["piece"], "file": entry.get("file", ""),
                               "best": ms[0].piece if ms else "", "score": ms[0].score if ms else None,
                               "runner_up": ms[1].piece if len(ms) > 1 else "",
                               "margin": (ms[0].score - ms[1].score) if len(ms) > 1 else None}
        if ms:
            row["best_span"] = _span(rows[0])  # where in the best partner the query matched
            row["agree"] = best_of.get(ms[0].piece) == f["piece"]
        else:
            row["best_span"], row["agree"] = "", False
        row["threshold"] = thresholds[f["kind"]][0]
        row["score"] = None if row["score"] is None else round(float(row["score"]), 6)
        row["margin"] = None if row["margin"] is None else round(float(row["margin"]), 6)
        table.append(row)
    by_piece = {r["piece"]: r for r in table}

    def clears(r: dict[str, Any]) -> bool:
        return r["margin"] is not None and r["margin"] >= r["threshold"]

    for row in table:
        partner = by_piece.get(row["best"])
        if row["margin"] is None:
            row["status"], row["why"] = "unlinked", "only one candidate: no margin to judge by"
        elif not clears(row):
            row["status"], row["why"] = "unlinked", f"margin {row['margin']:.4g} < threshold {row['threshold']:.4g}"
        elif not row["agree"]:
            # one piece that is everyone's nearest (a hub) is no evidence of a link
            row["status"], row["why"] = "unlinked", f"{row['best']} prefers {best_of.get(row['best'])}"
        elif partner is None or not clears(partner):
            # the link must be as clear from the other side
            row["status"] = "unlinked"
            row["why"] = (f"{row['best']} chooses it back by a margin of {partner['margin']:.4g}, under "
                          f"its threshold {partner['threshold']:.4g}" if partner and partner["margin"] is not None
                          else f"{row['best']} has no margin to judge by")
        else:
            row["status"], row["why"] = "linked", ""
    report = LinkReport(out, table, {k: v[0] for k, v in thresholds.items()},
                        {k: v[1] for k, v in thresholds.items()}, index_report)
    if pictures:
        report.pictures = _draw_links(idx, report, {f["piece"]: f for f in found}, out / "links")
    _write_tables(out, report, matcher)
    report.seconds = time.perf_counter() - t0
    return report


def _draw_links(idx: Index, report: LinkReport, found: dict[str, dict[str, Any]],
                folder: Path) -> list[str]:
    """The match report of every linked recording, from the matches already made."""
    from .report import match_report

    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for row in report.linked("recording"):
        f = found[row["piece"]]
        path = folder / f"{piece_slug(row['piece'])}.png"
        match_report(idx, f["query"], f["matches"][:3], path, matcher=f["matcher"])
        row["picture"] = str(path)
        made.append(str(path))
    return made


COLUMNS = ("kind", "piece", "file", "best", "score", "runner_up", "margin", "threshold", "best_span",
           "agree", "status", "why", "picture")


def _write_tables(out: Path, report: LinkReport, matcher: str) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in report.rows:
        writer.writerow({k: row.get(k, "") for k in COLUMNS})
    atomic_write_text(out / "links.csv", buf.getvalue())
    atomic_write_text(out / "links.json", json.dumps({
        "matcher": matcher, "threshold": report.threshold, "calibration": report.calibration,
        "index": str(out / "index"), "failed": report.index.failed, "links": report.rows}, indent=1))
