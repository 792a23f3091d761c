"""The picture of a dataset piece: ``ast data show``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..catalog import Registry
from ..errors import ParameterError
from ..interfaces import Dataset
from ..plotting import pyplot, save_figure
from .spectrogram import bin_frequencies

__all__ = ["alignment_figure", "show_piece"]


def alignment_figure(dataset: Dataset, piece: str, out: str | os.PathLike, *, page: int = 0,
                     performance: str | None = None) -> Path:
    """Draw a page with its note-head and system boxes beside the aligned spectrogram.

    Note heads are coloured by the time they are first played; the spectrogram
    carries a dot of the same colour at each onset, placed on the played
    pitch's frequency bin, so a misaligned note shows as a dot off its note or a
    colour out of order.

    Parameters
    ----------
    dataset : Dataset
        Any dataset whose pieces have pages, note heads and annotated performances.
    piece : str
        Piece id.
    out : path
        PNG to write (written to a temporary name, then renamed).
    page : int
        0-based page index.
    performance : str or None
        Which performance; None takes the first.

    Returns
    -------
    Path
        ``out``.

    Examples
    --------
    >>> from ast_toolkit.data.datasets import open_dataset
    >>> ds = open_dataset("data/demo")  # doctest: +SKIP
    >>> alignment_figure(ds, ds.piece_ids("test")[0], "alignment.png")  # doctest: +SKIP
    PosixPath('alignment.png')
    """
    from matplotlib.patches import Rectangle

    plt = pyplot()
    n_pages = dataset.pages(piece)
    if not 0 <= page < n_pages:
        raise ParameterError(f"piece {piece!r} has pages 0..{n_pages - 1}, got --page {page}")
    names = dataset.performances(piece)
    if performance is not None and performance not in names:
        raise ParameterError(f"piece {piece!r} has no rendition {performance!r}; it has "
                             f"{', '.join(names)}")
    rend = dataset.performance(piece, performance)
    spec_settings = dataset.spectrogram
    fps = rend.fps
    centre_hz = bin_frequencies(spec_settings.sample_rate, spec_settings.frame_size,
                                spec_settings.bands_per_octave, spec_settings.fmin,
                                spec_settings.fmax)

    heads = {h.id: h for h in dataset.noteheads(piece)}
    on_page = [i for i, n in enumerate(rend.noteheads) if n in heads and heads[n].page == page]
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
    for system in dataset.systems(piece):
        if system.page == page:
            x0, y0, x1, y1 = system.bbox
            ax_page.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, lw=1.2, ec="tab:blue"))
            ax_page.text(x0 - 4, y0, str(system.index), color="tab:blue", ha="right", va="top",
                         fontsize=8)
    first_play = {}
    for i in on_page:
        first_play.setdefault(rend.noteheads[i], rend.onsets[i])
    for nid, head in heads.items():
        if head.page == page:
            x0, y0, x1, y1 = head.bbox
            colour = colour_of(first_play[nid]) if nid in first_play else "red"
            ax_page.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, lw=1.0, ec=colour))
    ax_page.set_title(f"{piece} — page {page + 1}/{n_pages}\nsystems (blue); note heads "
                      "coloured by onset (red: never played)", fontsize=9)
    ax_page.set_axis_off()

    f0 = max(int(t0 * fps) - 20, 0)
    f1 = min(int(t1 * fps) + 40, spec.shape[1])
    ax_spec = fig.add_subplot(grid[1])
    crop = np.asarray(spec[:, f0:f1], np.float32)
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
    ax_spec.set_title(f"rendition {rend.name} ({rend.label})\n"
                      "onsets (lines); played pitches (dots, coloured as their note heads)",
                      fontsize=9)
    return save_figure(fig, out)


def show_piece(dataset: str | os.PathLike, piece: str, out: str | os.PathLike, *, page: int = 1,
               performance: str | None = None, registry: Registry | None = None) -> tuple[str, Path]:
    """``ast data show``: open a dataset, find a piece, draw :func:`alignment_figure`.

    Parameters
    ----------
    dataset : str or path
        A dataset folder or registry name.
    piece : str
        A piece id, a unique part of it, or its 0-based number among the sorted ids.
    page : int
        1-based page number.

    Returns
    -------
    piece : str
        The piece's id.
    out : Path

    Examples
    --------
    >>> show_piece("data/demo", "bwv269", "bwv269.png")  # doctest: +SKIP
    ('music21/bach/bwv269.mxl', PosixPath('bwv269.png'))
    """
    from .datasets import open_dataset, resolve_piece

    ds = open_dataset(dataset, registry=registry)
    ids = ds.piece_ids()
    pid = ids[resolve_piece(piece, ids, where=str(ds.root),
                            hint=f"`ast data stats {ds.root} --pieces`")]
    return pid, alignment_figure(ds, pid, out, page=page - 1, performance=performance)
