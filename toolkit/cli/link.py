"""``ast link``: link a library of scans with its recordings."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from ..search.linking import link_library
from ._common import (EXIT_PIECES_FAILED, PluginOption, ProgressDisplay, console, err_console,
                      print_failures, print_json, registry_of)


@click.command("link")
@click.option("--sheets", "sheets", multiple=True, required=True, type=click.Path(), metavar="PATH",
              help="Scans, photos and PDFs, or folders of them (as `ast index --sheets`). Repeatable.")
@click.option("--audio", "audio", multiple=True, required=True, type=click.Path(), metavar="PATH",
              help="Recordings, or folders of them (as `ast index --audio`). Repeatable.")
@click.option("--model", "-m", "model", metavar="NAME|DIR",
              help="A model folder (from `ast fit` or `ast model import`) or a registered model name"
              "; default: the registry's default model (`ast registry list` marks it: the shipped ast-cnn unless a registry file of yours names another).")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False),
              help="Output folder: index/, links.csv, links.json, links/*.png. Running the same "
              "command again reuses the index.")
@click.option("--matcher", "-M", default="dtw", show_default=True, metavar="NAME",
              cls=PluginOption, plugin_group="matchers",
              help="Matcher plugin (sdtw: a recording of a passage inside a longer score).")
@click.option("--manifest", type=click.Path(dir_okay=False), metavar="CSV",
              help="A CSV file,piece[,page] grouping the sheet files into named pieces.")
@click.option("--reader", default="classical", show_default=True, metavar="NAME",
              help="Page reader plugin.")
@click.option("--min-margin", type=float, metavar="M",
              help="Margin to the runner-up a link must clear; default: calibrated on the "
              "collection (the 95% quantile of its impostor margins).")
@click.option("--no-pictures", is_flag=True, help="Do not draw a picture per link.")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
@click.pass_context
def command(ctx: click.Context, sheets: tuple[str, ...], audio: tuple[str, ...], model: str | None,
            out: str, matcher: str, manifest: str | None, reader: str, min_margin: float | None,
            no_pictures: bool, as_json: bool) -> None:
    """Link every recording to its score, and every score to its recording.

    Indexes the scans and the recordings together, matches every recording
    against the scores and every score against the recordings, and writes a
    table (OUT/links.csv and links.json): for each, the best partner, the
    score, the margin to the runner-up, the matched page/system range or time
    range, and whether both directions agree; plus one picture per link.

    A link is made only when its margin clears a threshold calibrated on the
    collection itself (the 95% quantile of the margins between second and
    third best candidates: what a margin looks like when the true partner is
    absent), the partner chooses it back, and does so by a margin clearing its
    own threshold. A recording whose score is not in the collection comes out
    unlinked rather than attached to the nearest piece.

    \b
    Examples:
      ast link --sheets ~/scans --audio ~/recordings --out links
      ast link --sheets ~/scans --audio ~/recordings -m models/cnn --out links
      ast link --sheets scans.pdf --audio takes/ -m ucasr-msmd --out links --min-margin 0.01
    """
    try:
        with ProgressDisplay(enabled=not as_json) as show:
            report = link_library(list(sheets), list(audio), out, model=model, matcher=matcher,
                                  manifest=manifest, reader=reader, min_margin=min_margin,
                                  pictures=not no_pictures, registry=registry_of(ctx),
                                  progress=show)
    except KeyboardInterrupt:
        err_console.print(f"interrupted: the indexed pieces are kept in {Path(out) / 'index'}; "
                          "run the same command again to continue")
        ctx.exit(130)
    if as_json:
        print_json({"out": str(out), "threshold": report.threshold,
                    "calibration": report.calibration, "links": report.rows,
                    "failed": report.index.failed, "seconds": round(report.seconds, 1)})
    else:
        for kind in ("recording", "score"):
            rows = [r for r in report.rows if r["kind"] == kind]
            table = Table(title=f"{kind}s → best {'score' if kind == 'recording' else 'recording'}")
            for col in ("piece", "best", "score", "margin", "matched", "agree", "status"):
                table.add_column(col, justify="right" if col in ("score", "margin") else "left",
                                 overflow="fold")
            for r in rows:
                status = "[green]linked[/]" if r["status"] == "linked" else "[yellow]unlinked[/]"
                table.add_row(r["piece"], r["best"], f"{r['score']:.4g}" if r["score"] is not None else "",
                              f"{r['margin']:.4g}" if r["margin"] is not None else "",
                              r["best_span"], "yes" if r["agree"] else "no", status)
            console.print(table)
        for kind in ("recording", "score"):
            console.print(f"threshold on the margin of {kind} queries: {report.threshold[kind]:.4g} "
                          f"({report.calibration[kind]})")
        console.print(f"{len(report.linked('recording'))} of "
                      f"{sum(r['kind'] == 'recording' for r in report.rows)} recordings linked, "
                      f"{len(report.linked('score'))} of {sum(r['kind'] == 'score' for r in report.rows)} "
                      "scores; "
                      f"tables in {Path(out) / 'links.csv'} and links.json"
                      + (f", {len(report.pictures)} pictures in {Path(out) / 'links'}"
                         if report.pictures else ""))
        if report.index.failed:
            print_failures("files not read (also in index/failures.json)", report.index.failed)
    if report.index.failed:
        ctx.exit(EXIT_PIECES_FAILED)
