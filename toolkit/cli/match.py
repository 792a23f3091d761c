"""``ast match``: which piece — and where in it — a recording or a score comes from."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from ..search.index import Index, collection_index
from ..search.hubness import AUTO, AUTO_MATCHERS, HUBNESS
from ..search.queries import match
from ._common import (HUBNESS_HELP, PluginOption, ProgressDisplay, console, print_failures, print_json,
                      registry_of)


def _describe(pos: dict[str, Any] | None) -> str:
    if not pos:
        return ""
    if "seconds" in pos:
        return f"{pos['seconds']:.1f} s"
    return f"p{pos['page']} s{pos['system']} x{pos['x']}"


def _print_listing(index_dir: str, as_json: bool) -> None:
    rows = Index(index_dir).listing()
    if as_json:
        print_json({"index": index_dir, "pieces": rows})
        return
    table = Table(title=f"{index_dir}: {len(rows)} pieces")
    for col in ("number", "id", "duration", "sheet", "audio"):
        table.add_column(col if col not in ("sheet", "audio") else f"{col} rows",
                         justify="right" if col != "id" else "left", overflow="fold")
    for r in rows:
        table.add_row(str(r["number"]), r["id"], f"{r['duration']:.1f} s",
                      str(r.get("sheet", "")), str(r.get("audio", "")))
    console.print(table)


@click.command("match")
@click.option("--index", "-i", "index_dir", type=click.Path(file_okay=False),
              help="An index folder made by `ast index`.")
@click.option("--sheets", "sheets", multiple=True, type=click.Path(exists=True), metavar="PATH",
              help="Instead of --index: search these scans, photos and PDFs (files or folders, "
              "as `ast index --sheets`). They are indexed with the model (default: the shipped "
              "one) the first time and the index is kept in ~/.cache/ast (or $AST_CACHE). "
              "Repeatable.")
@click.option("--audio", "audio", multiple=True, type=click.Path(exists=True), metavar="PATH",
              help="Instead of --index: search these recordings (files or folders), indexed "
              "and cached as --sheets. Repeatable; with --sheets, both go into one index.")
@click.option("--query", "-q", metavar="FILE|PIECE",
              help="An audio file (wav, flac, mp3, ogg, aiff); a scan, photo or PDF of sheet "
              "music (pdf, png, jpg, tif: read, rescaled to the model's staff space and "
              "matched against the recordings); or a piece: its id, a unique part of it, or "
              "its number in the index (`--list`).")
@click.option("--matcher", "-M", default="dtw", show_default=True, metavar="NAME",
              cls=PluginOption, plugin_group="matchers",
              help="Matcher plugin; NAME+OTHER:K runs it on OTHER's K best pieces.")
@click.option("--prefilter", metavar="NAME:K", help="e.g. vote:50: the matcher scores only the "
              "prefilter's K best pieces (Carvalho & Widmer 2021, footnote 1).")
@click.option("--matcher-param", "matcher_params", multiple=True, metavar="KEY=VALUE",
              help="Matcher hyper-parameter (repeatable), e.g. k=10, codes=512; "
              "MATCHER.KEY=VALUE when several matchers are in play (`ast plugins show "
              "matchers NAME` lists them).")
@click.option("--direction", default="a2s", show_default=True, type=click.Choice(["a2s", "s2a"]),
              help="For a piece query: a2s queries its recording against the scores, s2a "
              "its score against the recordings.")
@click.option("--start", type=float, metavar="SECONDS", help="Audio fragment: first second.")
@click.option("--duration", type=float, metavar="SECONDS", help="Audio fragment: its length.")
@click.option("--systems", "systems_text", metavar="A-B",
              help="Score fragment: systems A to B (1-based).")
@click.option("--page", type=int, metavar="N",
              help="Page N (1-based) of a PDF or multi-page TIFF query; default: every page.")
@click.option("--dataset", "-d", metavar="NAME|DIR",
              help="Take the query piece from this dataset instead of the index.")
@click.option("--top", "-n", default=10, show_default=True, type=int, help="Pieces to list.")
@click.option("--report", type=click.Path(dir_okay=False),
              help="PNG: the query, the cost matrix with the warping path (Carvalho & Widmer "
              "2021, Fig. 2) and the matched region of the best piece.")
@click.option("--model", "-m", metavar="NAME|DIR",
              help="The index's model at another path (checked by its weights' sha256); with "
              "--sheets/--audio, the model they are indexed with (default: the registry's "
              "default model).")
@click.option("--hubness", type=click.Choice([AUTO, *HUBNESS]), default=AUTO, show_default=True,
              help=HUBNESS_HELP + f" auto: csls with {', '.join(AUTO_MATCHERS)} (measured to help "
              "it; not the other matchers) where the index or the model's reference rows "
              "allow, none otherwise.")
@click.option("--list", "list_pieces", is_flag=True, help="List the index's pieces and stop.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def command(ctx: click.Context, index_dir: str | None, sheets: tuple[str, ...],
            audio: tuple[str, ...], query: str | None, matcher: str,
            prefilter: str | None, matcher_params: tuple[str, ...], direction: str,
            start: float | None, duration: float | None, systems_text: str | None,
            page: int | None, dataset: str | None, top: int, report: str | None, model: str | None,
            hubness: str, list_pieces: bool, as_json: bool) -> None:
    """Which piece — and where in it — does a recording or a score come from?

    The query is embedded with the index's model, matched against every
    indexed piece of the other modality, and the best pieces are listed with
    their score and the matched position (page / system / x, or seconds).
    A page image or PDF is a score query whatever --direction says; --report
    then draws the staves and systems found on it.

    Without an index, --sheets and --audio name the scans and recordings to
    search: they are indexed on the first call with the default model (no
    training needed) and the index is kept for the next.

    \b
    Examples:
      ast match -q recording.mp3 --sheets ~/scans
      ast match -q page.png --audio ~/recordings --report match.png
      ast match -i indexes/demo -q recording.flac --report match.png
      ast match -i indexes/library -q scan.pdf --page 2 --systems 1-3 --report match.png
      ast match -i indexes/demo -q altdeu10.abc#12 --start 5 --duration 10 -M sdtw
      ast match -i indexes/demo -q bwv269 --direction s2a --systems 1-2 -M sdtw
      ast match -i indexes/demo -q 3 -M dtw --prefilter vote:5 --json
    """
    if index_dir and (sheets or audio):
        raise click.UsageError("give --index DIR or --sheets/--audio PATH, not both")
    if not index_dir and not (sheets or audio):
        raise click.UsageError("give --index DIR (from `ast index`), or --sheets/--audio PATH "
                               "to search scans or recordings directly")
    not_indexed: list[dict[str, str]] = []
    if not index_dir:
        with ProgressDisplay(enabled=not as_json) as show:
            folder, built = collection_index(sheets=sheets, audio=audio, model=model,
                                             registry=registry_of(ctx), progress=show)
        index_dir, model, not_indexed = str(folder), None, built.failed
        if not_indexed and not as_json:
            print_failures("files not indexed (they are not searched)", not_indexed)
    if list_pieces:
        _print_listing(index_dir, as_json)
        return
    if not query:
        raise click.UsageError("give --query FILE|PIECE (or --list)")
    result = match(index_dir, query, matcher=matcher, prefilter=prefilter, params=matcher_params,
                   direction=direction, start=start, duration=duration, systems=systems_text,
                   dataset=dataset, top=top, report=report, model=model, page=page,
                   hubness=hubness, registry=registry_of(ctx))
    if as_json:
        print_json({**result, "index": index_dir, "not_indexed": not_indexed})
        return
    modality = result["query_modality"]
    table = Table(title=f"{result['query']} ({modality}, {result['query_rows']} excerpts"
                  f"{'' if modality == 'audio' else ' of the score'}) → {result['matcher']}"
                  f"{'' if result['hubness'] == 'none' else ' + ' + result['hubness']} on {index_dir}")
    for col in ("rank", "piece", "score", "from", "to"):
        table.add_column(col, justify="right" if col in ("rank", "score") else "left",
                         overflow="fold")
    truth = result["true_piece"]
    for r in result["results"]:
        mark = " [green]✓[/]" if truth and r["piece"] == truth else ""
        table.add_row(str(r["rank"]), r["piece"] + mark, f"{r['score']:.4g}",
                      _describe(r.get("start")), _describe(r.get("end")))
    console.print(table)
    if truth and truth not in [r["piece"] for r in result["results"]]:
        console.print(f"[yellow]the true piece {truth} is not among the first {top}[/]")
    if report:
        console.print(f"report written to {report}")
