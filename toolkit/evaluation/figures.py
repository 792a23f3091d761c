"""Pictures of evaluations: snippet retrieval, and search quality and time against collection size."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ParameterError
from ..plotting import pyplot, save_figure

__all__ = ["snippet_retrieval_figure", "scale_figure"]


def snippet_retrieval_figure(encoder: Any, emb: Any, out: str | os.PathLike, *, query: int = 0,
                             top: int = 5) -> Path:
    """One audio query beside its top-ranked sheet snippets ([Dorfer et al. 2016], Fig. 3).

    The correct snippet is framed green, others red; for an encoder with
    ``attention_weights`` (``attention``) the weights are drawn over the
    spectrogram.

    Parameters
    ----------
    encoder : Encoder
    emb : ast_toolkit.evaluation.snippets.SnippetEmbeddings
        With ``sheets`` and ``spectrograms`` kept.
    query : int
        Row of ``emb`` used as the audio query.

    Examples
    --------
    >>> from ast_toolkit.evaluation.snippets import evaluate_snippets
    >>> report, emb = evaluate_snippets(encoder, dataset, keep_inputs=True)  # doctest: +SKIP
    >>> snippet_retrieval_figure(encoder, emb, "query.png")  # doctest: +SKIP
    PosixPath('query.png')
    """
    if emb.sheets is None or emb.spectrograms is None:
        raise ParameterError("the embeddings were computed without keep_inputs=True")
    if not 0 <= query < len(emb.audio):
        raise ParameterError(f"query must be in 0..{len(emb.audio) - 1}, got {query}")
    plt = pyplot()
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
    return save_figure(fig, out, dpi=110, tight=False)


def scale_figure(report: dict[str, Any], out: str | os.PathLike) -> Path:
    """MRR and mean search time per query against collection size
    ([Carvalho & Widmer 2021], Fig. 3; :data:`~ast_toolkit.references.CARVALHO2021`).

    Parameters
    ----------
    report : dict
        What :func:`ast_toolkit.evaluation.pieces.evaluate_scale` returns.
    out : path
        The PNG to write.

    Examples
    --------
    >>> import tempfile
    >>> rows = [{"matcher": "sdtw", "direction": "a2s", "pieces": n, "MRR": m, "MRR std": 0.02,
    ...          "seconds per query": n / 1e5, "seconds std": 0.0, "repeats": 10, "queries": 100}
    ...         for n, m in ((10, 0.98), (40, 0.93), (83, 0.89))]
    >>> report = {"index": "indexes/chorales-test", "audio_seconds": 50.0, "systems": 4,
    ...           "results": rows}
    >>> scale_figure(report, Path(tempfile.mkdtemp()) / "scale.png").suffix
    '.png'
    """
    plt = pyplot()
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
    return save_figure(fig, out, dpi=110)
