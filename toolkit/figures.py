"""Pictures people look at instead of reading numbers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import ParameterError

__all__ = ["alignment_figure", "snippet_retrieval_figure"]


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
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".tmp" + out.suffix)
    fig.savefig(tmp, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, out)
    return out


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
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp{out.suffix or '.png'}")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, out)
    return out
