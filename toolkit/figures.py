"""Pictures people look at instead of reading numbers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import ParameterError

__all__ = ["alignment_figure", "snippet_retrieval_figure", "match_report", "scale_figure"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def alignment_figure(dataset, piece: str, out: str | os.PathLike, *, page: int = 0,
                     rendition: str | None = None) -> Path:
    """Draw a page with its note-head and system boxes beside the aligned spectrogram.

    Note heads are coloured by the time they are first played; the spectrogram
    carries a dot of the same colour at each onset, placed on the played
    pitch's frequency bin, so a misaligned note shows as a dot off its note or a
    colour out of order.

    Parameters
    ----------
    dataset : plugins.datasets.RenderedDataset
    piece : str
        Piece id.
    out : path
        PNG to write (written to a temporary name, then renamed).
    page : int
        0-based page index.
    rendition : str or None
        Rendition name; None takes the first.

    Returns
    -------
    Path
        ``out``.
    """
    from matplotlib.patches import Rectangle

    from .spectrogram import bin_frequencies

    plt = _pyplot()
    score = dataset.score(piece)
    n_pages = len(score["pages"])
    if not 0 <= page < n_pages:
        raise ParameterError(f"piece {piece!r} has pages 0..{n_pages - 1}, got --page {page}")
    names = dataset.renditions(piece)
    if rendition is None:
        rendition = names[0]
    elif rendition not in names:
        raise ParameterError(f"piece {piece!r} has no rendition {rendition!r}; it has {', '.join(names)}")
    rend = dataset.rendition(piece, rendition)
    spec_settings = dataset.spec.get("spectrogram", {})
    fps = float(spec_settings.get("fps", 20.0))
    centre_hz = bin_frequencies(
        int(spec_settings.get("sample_rate", 22050)), int(spec_settings.get("frame_size", 2048)),
        int(spec_settings.get("bands_per_octave", 16)), float(spec_settings.get("fmin", 30.0)),
        float(spec_settings.get("fmax", 6000.0)))

    heads = {h[0]: h for h in score["noteheads"]}
    on_page = [i for i, n in enumerate(rend.noteheads) if n in heads and heads[n][1] == page]
    if not on_page:
        raise ParameterError(f"piece {piece!r}: no performed note on page {page}")
    t0, t1 = rend.onsets[on_page[0]], rend.onsets[on_page[-1]]
    cmap = plt.get_cmap("turbo")
    colour_of = lambda t: cmap(0.05 + 0.9 * (t - t0) / max(t1 - t0, 1e-6))  # noqa: E731

    image = dataset.page(piece, page)
    spec = rend.spectrogram
    fig = plt.figure(figsize=(20, 9), dpi=100)
    grid = fig.add_gridspec(1, 2, width_ratios=[1.0, 2.2], wspace=0.08)
    ax_page = fig.add_subplot(grid[0])
    ax_page.imshow(image, cmap="gray", vmin=0, vmax=255)
    for index, pg, x0, y0, x1, y1 in score["systems"]:
        if pg == page:
            ax_page.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, lw=1.2, ec="tab:blue"))
            ax_page.text(x0 - 4, y0, str(index), color="tab:blue", ha="right", va="top", fontsize=8)
    first_play = {}
    for i in on_page:
        first_play.setdefault(rend.noteheads[i], rend.onsets[i])
    for nid, (_, pg, _, x0, y0, x1, y1, _) in heads.items():
        if pg == page:
            colour = colour_of(first_play[nid]) if nid in first_play else "red"
            ax_page.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, lw=1.0, ec=colour))
    ax_page.set_title(f"{piece} — page {page + 1}/{n_pages}\nsystems (blue); note heads "
                      "coloured by onset (red: never played)", fontsize=9)
    ax_page.set_axis_off()

    f0 = max(int(t0 * fps) - 20, 0)
    f1 = min(int(t1 * fps) + 40, spec.shape[1])
    ax_spec = fig.add_subplot(grid[1])
    crop = spec[:, f0:f1]
    ax_spec.imshow(crop, origin="lower", aspect="auto", cmap="magma", vmin=0.0,
                   vmax=max(float(np.percentile(crop, 99.5)), 1e-3),
                   extent=(f0 / fps, f1 / fps, -0.5, spec.shape[0] - 0.5))
    times = rend.onsets[on_page]
    hz = 440.0 * 2.0 ** ((rend.pitches[on_page] - 69) / 12.0)
    bins = np.array([int(np.argmin(np.abs(centre_hz - f))) for f in hz])
    ax_spec.scatter(times, bins, s=22, c=[colour_of(t) for t in times], edgecolors="white",
                    linewidths=0.6, zorder=3)
    for t in np.unique(np.round(times, 3)):
        ax_spec.axvline(t, color="white", lw=0.4, alpha=0.35)
    ticks = [i for i in range(0, len(centre_hz), 8)]
    ax_spec.set_yticks(ticks, [f"{centre_hz[i]:.0f}" for i in ticks])
    ax_spec.set_ylabel("Hz (log-filterbank bin centre)")
    ax_spec.set_xlabel("seconds")
    ax_spec.set_title(f"rendition {rendition} ({rend.soundfont}, tempo ×{rend.tempo:g})\n"
                      "onsets (lines); played pitches (dots, coloured as their note heads)",
                      fontsize=9)
    return _save(fig, out)


def snippet_retrieval_figure(encoder, emb, out: str | os.PathLike, *, query: int = 0,
                             top: int = 5) -> Path:
    """One audio query beside its top-ranked sheet snippets (seed 001, Fig. 3).

    The correct snippet is framed green, others red; for an encoder with
    ``attention_weights`` (``attention``) the weights are drawn over the
    spectrogram.

    Parameters
    ----------
    encoder : Encoder
    emb : toolkit.snippets.SnippetEmbeddings
        With ``sheets`` and ``spectrograms`` kept.
    query : int
        Row of ``emb`` used as the audio query.
    """
    if emb.sheets is None or emb.spectrograms is None:
        raise ParameterError("the embeddings were computed without keep_inputs=True")
    if not 0 <= query < len(emb.audio):
        raise ParameterError(f"query must be in 0..{len(emb.audio) - 1}, got {query}")
    plt = _pyplot()
    sim = emb.sheet @ emb.audio[query]
    order = np.argsort(-sim, kind="stable")
    correct = emb.sheet_id == emb.sheet_id[query]
    rank = 1 + int(((sim >= sim[correct].max()) & ~correct).sum())
    top = min(top, len(order))
    attention = getattr(encoder, "attention_weights", None)
    fig = plt.figure(figsize=(2.2 * (top + 1.6), 3.6), constrained_layout=True)
    grid = fig.add_gridspec(2, top + 2, height_ratios=[4, 1] if attention else [4, 0.01])
    ax = fig.add_subplot(grid[0, :2])
    spec = emb.spectrograms[query]
    ax.imshow(spec, origin="lower", aspect="auto", cmap="magma")
    ax.set_title(f"audio query (correct snippet: rank {rank})", fontsize=9)
    ax.set_xlabel("frame")
    ax.set_ylabel("bin")
    if attention:
        w = attention(spec[None])[0]
        axw = fig.add_subplot(grid[1, :2], sharex=ax)
        axw.fill_between(np.arange(len(w)), w, step="mid", color="tab:blue")
        axw.axhline(1 / len(w), color="grey", lw=0.8, ls="--")
        axw.set_ylabel("attention", fontsize=8)
        axw.tick_params(labelsize=7)
    for k in range(top):
        i = order[k]
        axk = fig.add_subplot(grid[:, k + 2])
        axk.imshow(1 - emb.sheets[i], cmap="gray", vmin=0, vmax=1)
        colour = "tab:green" if correct[i] else "tab:red"
        for side in axk.spines.values():
            side.set_edgecolor(colour)
            side.set_linewidth(3)
        axk.set_xticks([])
        axk.set_yticks([])
        axk.set_title(f"#{k + 1}  cos {sim[i]:.2f}", fontsize=9, color=colour)
    return _save(fig, out, dpi=110, tight=False)


def _save(fig, out: str | os.PathLike, *, dpi: int | None = None, tight: bool = True) -> Path:
    """Write ``fig`` as PNG to a temporary name, then rename; close it."""
    from .build import atomic_path

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=dpi or fig.dpi, bbox_inches="tight" if tight else None,
                    format="png")
    _pyplot().close(fig)
    return out


def _rendered(root):
    from . import plugins

    return plugins.create("datasets", "rendered", root=root)


def _recording(index, piece: int, query=None):
    """A piece's (or the query's) spectrogram and frame rate, or None."""
    from .audio import load_audio, spectrogram_of

    spec = index.settings["spectrogram"]
    fps = float(spec["fps"])
    if query is not None and query.spectrogram is not None:
        return query.spectrogram, fps
    entry = index.pieces[piece] if piece >= 0 else None
    root = query.dataset_root if query is not None else index.dataset_root
    pid = query.piece if query is not None else entry["id"]
    if root is not None and pid is not None:
        ds = _rendered(root)
        names = ds.renditions(pid)
        name = (entry or {}).get("rendition") if entry else None
        r = ds.rendition(pid, name if name in names else names[0])
        return np.asarray(r.spectrogram, np.float32), fps
    if entry is not None and entry.get("file"):
        return spectrogram_of(load_audio(entry["file"], int(spec["sample_rate"])), spec), fps
    return None


def _draw_spectrogram(ax, spec, fps, span, title, shade=None):
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


def _draw_score_region(fig, grid_cell, dataset_root, piece_id, positions, window, title):
    """The systems a run of sheet rows lies on (cropped from their pages), the
    rows' windows shaded, one system of context above and below."""
    from matplotlib.patches import Rectangle

    ds = _rendered(dataset_root)
    score = ds.score(piece_id)
    systems = {s[0]: s for s in score["systems"]}
    pages = sorted({int(p) for p in positions[:, 0]})[:2]
    sub = grid_cell.subgridspec(1, len(pages), wspace=0.05)
    h, w = window
    for k, page in enumerate(pages):
        ax = fig.add_subplot(sub[0, k])
        image = ds.page(piece_id, page)
        on_page = positions[positions[:, 0].astype(int) == page]
        covered = sorted({int(s) for s in on_page[:, 1]})
        shown = [i for i in systems if systems[i][1] == page
                 and min(covered) - 1 <= i <= max(covered) + 1]
        top = max(int(min(systems[i][3] for i in shown)) - 40, 0)
        bottom = min(int(max(systems[i][5] for i in shown)) + 40, image.shape[0])
        ax.imshow(image[top:bottom], cmap="gray", vmin=0, vmax=255,
                  extent=(0, image.shape[1], bottom, top))
        for system in covered:
            xs = on_page[on_page[:, 1].astype(int) == system][:, 2]
            _, _, x0, y0, x1, y1 = systems[system]
            cy = (y0 + y1) / 2
            left, right = max(xs.min() - w / 2, x0 - 10), min(xs.max() + w / 2, x1 + 10)
            ax.add_patch(Rectangle((left, cy - h / 2), right - left, h, fc=(0, 0.8, 1, 0.22),
                                   ec="tab:cyan", lw=1.5))
        ax.set_axis_off()
        ax.set_title(f"{title} (page {page + 1})" if k == 0 else f"page {page + 1}", fontsize=9)


def match_report(index, query, matches, out: str | os.PathLike, *, matcher: str = "") -> Path:
    """The picture of one ``ast match``: query, cost matrix with path, matched region.

    Top left, the query (its spectrogram, or its systems on the page); top
    right, the cosine-distance matrix between the query and the best piece,
    audio along x and score along y as in seed 002's Fig. 2, with the warping
    path (the matcher's, or a subsequence-DTW path for matchers without one);
    below, the matched region: the score pages with the matched windows
    shaded, or the recording with the matched span.

    Parameters
    ----------
    index : toolkit.index.Index
    query : toolkit.identification.Query
    matches : list of Match
        Best first; the first is drawn.
    out : path
        PNG file (written to a temporary name, then renamed).
    """
    from .sequence import cosine_cost, dtw

    if not matches:
        raise ParameterError("no match to draw")
    plt = _pyplot()
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
        rec = _recording(index, -1, query) if (query.spectrogram is not None
                                               or query.dataset_root) else None
        ctx = index.settings["audio_context"] / query.fps
        span = (max(float(query.positions[0]) - ctx / 2, 0), float(query.positions[-1]) + ctx / 2)
        if rec is not None:
            _draw_spectrogram(ax, rec[0], rec[1], span, f"query: {query.label}")
        else:
            ax.text(0.5, 0.5, "(no recording to draw)", ha="center", transform=ax.transAxes)
            ax.set_axis_off()
    elif query.dataset_root is not None and query.piece is not None:
        _draw_score_region(fig, grid[0, 0], query.dataset_root, query.piece,
                           np.asarray(query.positions), window, f"query: {query.label}")
    # -- the cost matrix, audio along x, score along y (seed 002, Fig. 2)
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
    if target == "sheet" and index.dataset_root is not None:
        pos = index.positions("sheet", piece)[start:end + 1]
        first = index.describe_row("sheet", piece, start)
        last = index.describe_row("sheet", piece, end)
        _draw_score_region(fig, grid[1, :], index.dataset_root, best.piece, pos, window,
                           f"match #1: {best.piece}, page {first['page']} system {first['system']}"
                           f" to page {last['page']} system {last['system']}")
    elif target == "audio":
        ax = fig.add_subplot(grid[1, :])
        rec = _recording(index, piece)
        secs = index.positions("audio", piece)
        t0, t1 = float(secs[start]), float(secs[end])
        if rec is not None:
            _draw_spectrogram(ax, rec[0], rec[1], (0, rec[0].shape[1] / rec[1]),
                              f"match #1: {best.piece}, {t0:.1f}–{t1:.1f} s", shade=(t0, t1))
    fig.suptitle(f"{query.label} → " + ", ".join(f"{i + 1}. {m.piece}" for i, m in
                                                  enumerate(matches[:3])), fontsize=11)
    return _save(fig, out)


def scale_figure(report: dict, out: str | os.PathLike) -> Path:
    """Seed 002's Fig. 3: MRR and mean search time per query against collection size."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    rows = report["results"]
    for (matcher, direction) in sorted({(r["matcher"], r["direction"]) for r in rows}):
        sel = sorted((r for r in rows if r["matcher"] == matcher and r["direction"] == direction),
                     key=lambda r: r["pieces"])
        x = [r["pieces"] for r in sel]
        label = f"{matcher} {direction.upper()}"
        axes[0].errorbar(x, [r["MRR"] for r in sel], yerr=[r["MRR std"] for r in sel],
                         marker="o", capsize=3, label=label)
        axes[1].errorbar(x, [1000 * r["seconds per query"] for r in sel],
                         yerr=[1000 * r["seconds std"] for r in sel], marker="o", capsize=3,
                         label=label)
    axes[0].set_ylabel("MRR")
    axes[0].set_ylim(0, 1.02)
    axes[1].set_ylabel("mean search time per query (ms)")
    for ax, t in zip(axes, ("(a) MRR", "(b) search time")):
        ax.set_xlabel("collection size (pieces)")
        ax.set_title(t, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{report['index']}: fragments of {report['audio_seconds']:g} s / "
                 f"{report['systems']} systems, {rows[0]['repeats']} subsets × "
                 f"{rows[0]['queries']} queries per size", fontsize=10)
    return _save(fig, out, dpi=110)
