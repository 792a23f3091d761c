"""The picture of one ``ast match``: query, cost matrix with the warping path, matched region."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..data.spectrogram import spectrogram_of
from ..data.audio import load_audio
from ..data.sheets import Sheets
from ..errors import ParameterError
from ..interfaces import Dataset
from ..plotting import pyplot, save_figure
from ..types import Match
from .dtw import cosine_cost, dtw
from .index import Index
from .queries import Query

__all__ = ["match_report"]


def _recording(index: Index, piece: int, query: Query | None = None,
               dataset: Dataset | None = None) -> tuple[np.ndarray, float] | None:
    """A piece's (or the query's) spectrogram and frame rate, or None."""
    spec = index.spectrogram
    if query is not None and query.spectrogram is not None:
        return query.spectrogram, spec.fps
    entry = index.pieces[piece] if piece >= 0 else None
    ds = dataset
    pid = query.piece if query is not None else entry["id"]
    if ds is not None and pid is not None:
        names = ds.performances(pid)
        if names:
            name = (entry or {}).get("rendition")
            r = ds.performance(pid, name if name in names else names[0])
            return np.asarray(r.spectrogram, np.float32), r.fps
    if entry is not None and entry.get("file"):
        return spectrogram_of(load_audio(entry["file"], spec.sample_rate), spec), spec.fps
    return None


def _draw_spectrogram(ax: Any, spec: np.ndarray, fps: float, span: tuple[float, float], title: str,
                      shade: tuple[float, float] | None = None) -> None:
    f0 = max(int(span[0] * fps), 0)
    f1 = min(max(int(span[1] * fps), f0 + 1), spec.shape[1])
    crop = spec[:, f0:f1]
    ax.imshow(crop, origin="lower", aspect="auto", cmap="magma", vmin=0.0,
              vmax=max(float(np.percentile(crop, 99.5)) if crop.size else 1.0, 1e-3),
              extent=(f0 / fps, f1 / fps, -0.5, spec.shape[0] - 0.5))
    if shade is not None:
        ax.axvspan(shade[0], shade[1], color="cyan", alpha=0.25, lw=0)
        ax.axvline(shade[0], color="cyan", lw=1.2)
        ax.axvline(shade[1], color="cyan", lw=1.2)
    ax.set_xlabel("seconds")
    ax.set_ylabel("bin")
    ax.set_title(title, fontsize=9)


def _draw_score_region(fig: Any, grid_cell: Any, ds: Dataset, piece_id: str,
                       positions: np.ndarray, window: tuple[int, int], title: str) -> None:
    """The systems a run of sheet rows lies on (cropped from their pages), the
    rows' windows shaded, one system of context above and below."""
    from matplotlib.patches import Rectangle

    systems = {s.index: s for s in ds.systems(piece_id)}
    pages = sorted({int(p) for p in positions[:, 0]})[:2]
    sub = grid_cell.subgridspec(1, len(pages), wspace=0.05)
    h, w = window
    for k, page in enumerate(pages):
        ax = fig.add_subplot(sub[0, k])
        image = ds.page(piece_id, page)
        on_page = positions[positions[:, 0].astype(int) == page]
        covered = sorted({int(s) for s in on_page[:, 1]})
        shown = [i for i in systems if systems[i].page == page
                 and min(covered) - 1 <= i <= max(covered) + 1]
        pad = h // 4  # page above and below the systems: a quarter window (40 px at 160)
        top = max(int(min(systems[i].bbox[1] for i in shown)) - pad, 0)
        bottom = min(int(max(systems[i].bbox[3] for i in shown)) + pad, image.shape[0])
        ax.imshow(image[top:bottom], cmap="gray", vmin=0, vmax=255,
                  extent=(0, image.shape[1], bottom, top))
        for system in covered:
            xs = on_page[on_page[:, 1].astype(int) == system][:, 2]
            x0, y0, x1, y1 = systems[system].bbox
            cy = (y0 + y1) / 2
            left, right = max(xs.min() - w / 2, x0 - pad / 4), min(xs.max() + w / 2, x1 + pad / 4)
            ax.add_patch(Rectangle((left, cy - h / 2), right - left, h, fc=(0, 0.8, 1, 0.22),
                                   ec="tab:cyan", lw=1.5))
        ax.set_axis_off()
        ax.set_title(f"{title} (page {page + 1})" if k == 0 else f"page {page + 1}", fontsize=9)


def _draw_reading(fig: Any, grid_cell: Any, ds: Sheets, piece_id: str, positions: np.ndarray,
                  window: tuple[int, int], title: str) -> None:
    """A user's query page as read: every staff found (thin red boxes), every system
    (blue boxes, numbered), and the query's windows shaded."""
    from matplotlib.patches import Rectangle

    readings = ds.readings(piece_id)
    pages = sorted({int(p) for p in positions[:, 0]})[:2]
    sub = grid_cell.subgridspec(1, len(pages), wspace=0.05)
    h, w = window
    for k, page in enumerate(pages):
        ax = fig.add_subplot(sub[0, k])
        reading = readings[page]
        # the page from above its first staff to below its last (margins and titles cut)
        top = int(max(min(b[1] for b in reading.staves) - h / 2, 0))
        bottom = int(min(max(b[3] for b in reading.staves) + h / 2, reading.image.shape[0]))
        ax.imshow(reading.image[top:bottom], cmap="gray", vmin=0, vmax=255,
                  extent=(0, reading.image.shape[1], bottom, top))
        for x0, y0, x1, y1 in reading.staves:
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fc="none", ec="tab:red", lw=0.6))
        for system in reading.systems:
            x0, y0, x1, y1 = system.bbox
            ax.add_patch(Rectangle((x0 - 3, y0 - 3), x1 - x0 + 6, y1 - y0 + 6, fc="none",
                                   ec="tab:blue", lw=1.2))
            ax.text(x0 - 6, (y0 + y1) / 2, str(system.index + 1), color="tab:blue", fontsize=7,
                    ha="right", va="center")
            xs = positions[(positions[:, 0].astype(int) == page)
                           & (positions[:, 1].astype(int) == system.index)][:, 2]
            if len(xs):
                cy = (y0 + y1) / 2
                ax.add_patch(Rectangle((xs.min() - w / 2, cy - h / 2), xs.max() - xs.min() + w, h,
                                       fc=(0, 0.8, 1, 0.15), ec="none"))
        ax.set_axis_off()
        ax.set_title((f"{title}\n" if k == 0 else "") +
                     f"page {page + 1}: {len(reading.staves)} staves (red), {len(reading.systems)} "
                     f"systems (blue), staff space {reading.staff_space:.1f} px, skew "
                     f"{reading.skew:+.2f}°", fontsize=8)


def match_report(index: Index, query: Query, matches: list[Match], out: str | os.PathLike, *,
                 matcher: str = "") -> Path:
    """The picture of one ``ast match``: query, cost matrix with path, matched region.

    Top left, the query (its spectrogram, or its systems on the page); top
    right, the cosine-distance matrix between the query and the best piece,
    audio along x and score along y as in [Carvalho & Widmer 2021]'s Fig. 2,
    with the warping path (the matcher's, or a subsequence-DTW path for
    matchers without one); below, the matched region: the score pages with the
    matched windows shaded, or the recording with the matched span.  Pages and
    recordings come from the index's dataset
    (:meth:`~ast_toolkit.search.index.Index.dataset`) through the
    :class:`~ast_toolkit.interfaces.Dataset` interface; what a dataset does not
    have is left out.

    Parameters
    ----------
    index : Index
    query : Query
    matches : list of Match
        Best first; the first is drawn.
    out : path
        PNG file (written to a temporary name, then renamed).

    Examples
    --------
    >>> from ast_toolkit.search.queries import identify, make_query
    >>> index = Index("indexes/demo")  # doctest: +SKIP
    >>> query = make_query(index, "recording.mp3")  # doctest: +SKIP
    >>> matches, _, m = identify(index, query, "dtw")  # doctest: +SKIP
    >>> match_report(index, query, matches, "match.png", matcher=m.name)  # doctest: +SKIP
    PosixPath('match.png')
    """
    if not matches:
        raise ParameterError("no match to draw")
    plt = pyplot()
    source = index.dataset()
    # a query piece of the index is drawn from the index's own dataset
    shown = query.dataset if query.dataset is not None else (
        source if query.piece is not None and query.piece in index.ids else None)
    best = matches[0]
    piece = index.piece(best.piece)
    target = index.search_modality(query.modality)
    seq = index.sequence(target, piece)
    C = cosine_cost(query.embeddings, seq)
    path = best.path
    path_kind = matcher
    if path is None:
        path = dtw(C, subsequence=True).path
        path_kind = "subsequence DTW (for the picture)"
    window = tuple(index.settings["model"]["sheet_window"])

    fig = plt.figure(figsize=(15, 10))
    grid = fig.add_gridspec(2, 2, height_ratios=[1, 1.1], width_ratios=[1.3, 1], hspace=0.25,
                            wspace=0.18)
    # -- the query
    if query.modality == "audio":
        ax = fig.add_subplot(grid[0, 0])
        rec = _recording(index, -1, query, dataset=shown) if (query.spectrogram is not None
                                                              or shown is not None) else None
        ctx = index.settings["audio_context"] / query.fps
        span = (max(float(query.positions[0]) - ctx / 2, 0), float(query.positions[-1]) + ctx / 2)
        if rec is not None:
            _draw_spectrogram(ax, rec[0], rec[1], span, f"query: {query.label}")
        else:
            ax.text(0.5, 0.5, "(no recording to draw)", ha="center", transform=ax.transAxes)
            ax.set_axis_off()
    elif isinstance(shown, Sheets) and query.source_piece is not None:
        _draw_reading(fig, grid[0, 0], shown, query.source_piece, np.asarray(query.positions),
                      window, f"query: {query.label}")
    elif shown is not None and query.piece is not None and shown.pages(query.piece):
        _draw_score_region(fig, grid[0, 0], shown, query.piece,
                           np.asarray(query.positions), window, f"query: {query.label}")
    # -- the cost matrix, audio along x, score along y ([Carvalho & Widmer 2021], Fig. 2)
    ax = fig.add_subplot(grid[0, 1])
    audio_is_query = query.modality == "audio"
    M = C if audio_is_query else C.T
    ax.imshow(M.T, origin="lower", aspect="auto", cmap="viridis_r", interpolation="nearest")
    px, py = (path[:, 0], path[:, 1]) if audio_is_query else (path[:, 1], path[:, 0])
    ax.plot(px, py, color="red", lw=1.4)
    ax.set_xlabel(("query " if audio_is_query else "") + "audio excerpts")
    ax.set_ylabel(("query " if not audio_is_query else "") + "score windows"
                  if target != query.modality else "piece rows")
    ax.set_title(f"cosine distance to {best.piece}\npath: {path_kind}; score {best.score:.3f}",
                 fontsize=9)
    # -- the matched region
    start, end = (best.start, best.end) if best.start >= 0 else (int(path[0, 1]), int(path[-1, 1]))
    if target == "sheet" and source is not None and source.pages(best.piece):
        pos = index.positions("sheet", piece)[start:end + 1]
        first = index.describe_row("sheet", piece, start)
        last = index.describe_row("sheet", piece, end)
        _draw_score_region(fig, grid[1, :], source, best.piece, pos, window,
                           f"match #1: {best.piece}, page {first['page']} system {first['system']}"
                           f" to page {last['page']} system {last['system']}")
    elif target == "audio":
        ax = fig.add_subplot(grid[1, :])
        rec = _recording(index, piece, dataset=source)
        secs = index.positions("audio", piece)
        t0, t1 = float(secs[start]), float(secs[end])
        if rec is not None:
            _draw_spectrogram(ax, rec[0], rec[1], (0, rec[0].shape[1] / rec[1]),
                              f"match #1: {best.piece}, {t0:.1f}–{t1:.1f} s", shade=(t0, t1))
    fig.suptitle(f"{query.label} → " + ", ".join(f"{i + 1}. {m.piece}" for i, m in
                                                  enumerate(matches[:3])), fontsize=11)
    return save_figure(fig, out)
