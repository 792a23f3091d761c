"""``ast data``: render datasets and look at them."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from ..catalog import PRESETS
from ..data.build import Budget, render, repair_dataset
from ..data.datasets import dataset_report, open_dataset
from ..data.figures import show_piece
from ._common import (EXIT_PIECES_FAILED, AstGroup, PluginOption, ProgressDisplay, console,
                      print_failures, print_json, registry_of)


@click.group("data", cls=AstGroup)
def group() -> None:
    """Render aligned audio–sheet-music datasets from score corpora and inspect them."""


@group.command("render")
@click.argument("name_or_source")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False),
              help="Dataset folder; re-running with the same folder resumes.")
@click.option("--renderer", "-r", metavar="NAME", cls=PluginOption, plugin_group="renderers",
              help="Renderer plugin; default: the dataset's.")
@click.option("--soundfont", "soundfonts", multiple=True, metavar="SF",
              help="Soundfont name or .sf2/.sf3 path (repeatable). With --soundfont or "
              "--tempo, every piece gets one rendition per (soundfont, tempo), in every "
              "split; otherwise the dataset's renditions (MSMD-like: three training "
              "renditions, tempo 0.9–1.1, and a test soundfont kept out of training).")
@click.option("--tempo", "tempos", multiple=True, type=float, metavar="FACTOR",
              help="Tempo factor (repeatable), > 1 is faster.")
@click.option("--preset", type=click.Choice(sorted(PRESETS)), metavar="NAME",
              help="Data setting: msmd (the default: as MSMD was made, which models trained "
              "on MSMD expect — staff space 7 px, gain 0.2, velocity 64, MSMD's frame timing "
              "and pairs) or ast-v1 (ast's earlier setting: staff space 10 px, gain 0.8). "
              "Default: the dataset's own.")
@click.option("--workers", "-j", default=2, show_default=True, type=int,
              help="Pieces rendered in parallel (processes).")
@click.option("--limit", "-n", type=int, help="Render at most N pieces, taken evenly from every source.")
@click.option("--max-notes", type=int, default=Budget.notes, show_default=True,
              help="Budget per piece: a score with more note heads is refused (in failures.json).")
@click.option("--max-minutes", type=float, default=Budget.minutes, show_default=True,
              help="Budget per piece: a longer performance (at tempo 1) is refused.")
@click.option("--piece-timeout", type=float, default=Budget.seconds, show_default=True,
              metavar="SECONDS", help="Budget per piece: its build is stopped after this long.")
@click.option("--max-memory", type=float, default=Budget.memory, show_default=True,
              metavar="GIB", help="Budget per piece: memory its build may use beyond the start.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def render_command(ctx: click.Context, name_or_source: str, out: str, renderer: str | None,
                   soundfonts: tuple[str, ...], tempos: tuple[float, ...], preset: str | None,
                   workers: int, limit: int | None, max_notes: int, max_minutes: float,
                   piece_timeout: float, max_memory: float, as_json: bool) -> None:
    """Engrave, perform, synthesize and align a dataset.

    NAME_OR_SOURCE is a dataset of the registry (`ast registry list` shows
    them) or a source: `music21:<glob>` of music21's corpus
    (music21:essenFolksong/*.abc, music21:bach/bwv*) or a local score file,
    folder or glob (MusicXML, MXL, ABC, Humdrum kern, MEI).

    Finished pieces are skipped when a run is repeated; a run killed half-way
    leaves no piece that looks finished.  A score that cannot be rendered is
    reported (piece, file, reason) in DIR/failures.json and the run goes on;
    the exit status is then 3.  So is a piece over a budget (--max-notes,
    --max-minutes, --piece-timeout, --max-memory): one huge or broken score
    never stalls a batch.  Scores with pitches outside MIDI's 0-127, tempo marks outside
    10-1000 quarter notes per minute or notes longer than 64 whole notes are
    refused as not physical.
    """
    budget = Budget(notes=max_notes, minutes=max_minutes, seconds=piece_timeout,
                    memory=max_memory)
    with ProgressDisplay(enabled=not as_json) as show:
        spec, report = render(name_or_source, out, registry=registry_of(ctx), renderer=renderer,
                              soundfonts=soundfonts, tempos=tempos, workers=workers, limit=limit,
                              preset=preset, budget=budget, progress=show)
    failed = [f.__dict__ for f in report.failed]
    if as_json:
        print_json({"dataset": spec.name, "out": str(report.out), "built": len(report.built),
                    "skipped": len(report.skipped), "failed": failed,
                    "seconds": round(report.seconds, 2)})
    else:
        console.print(
            f"[green]{len(report.built)} built[/], {len(report.skipped)} already complete, "
            f"[{'red' if failed else 'green'}]{len(failed)} failed[/] "
            f"in {report.seconds:.1f} s → {report.out}")
        if failed:
            print_failures(f"failed pieces (also in {report.out / 'failures.json'})", failed)
    if failed:
        ctx.exit(EXIT_PIECES_FAILED)


@group.command("show")
@click.argument("dataset")
@click.argument("piece")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False),
              help="PNG file to write.")
@click.option("--page", default=1, show_default=True, type=int, help="Page number (from 1).")
@click.option("--rendition", help="Rendition (performance) name; default: the first.")
@click.pass_context
def show_command(ctx: click.Context, dataset: str, piece: str, out: str, page: int,
                 rendition: str | None) -> None:
    """Draw a page with its note-head and system boxes beside the aligned spectrogram.

    DATASET is a dataset folder or a registry name.  PIECE is a piece id (`ast
    data stats DIR --pieces` lists them), a unique part of it, or its 0-based
    position in the sorted list.  Note heads are coloured by when they are
    played, and each onset is a dot of the same colour on the played pitch, so
    the alignment can be checked by eye.
    """
    pid, path = show_piece(dataset, piece, out, page=page, performance=rendition,
                           registry=registry_of(ctx))
    console.print(f"{pid} → {path}")


@group.command("stats")
@click.argument("dataset")
@click.option("--pieces", "list_pieces", is_flag=True, help="Also list the piece ids per split.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def stats_command(ctx: click.Context, dataset: str, list_pieces: bool, as_json: bool) -> None:
    """Pieces, pages, pairs and hours of audio per split."""
    report = dataset_report(dataset, registry=registry_of(ctx), pieces=list_pieces)
    if as_json:
        print_json(report)
        return
    table = Table(title=dataset)
    for col in ("split", "pieces", "pages", "note heads", "renditions", "pairs", "hours of audio"):
        table.add_column(col, justify="left" if col == "split" else "right")
    for split, row in report["splits"].items():
        table.add_row(split, f"{row['pieces']:,}", f"{row['pages']:,}", f"{row['noteheads']:,}",
                      f"{row['renditions']:,}", f"{row['pairs']:,}", f"{row['hours']:.2f}",
                      style="bold" if split == "all" else None)
    console.print(table)
    if report["failed"]:
        console.print(f"[yellow]{len(report['failed'])} pieces failed to render "
                      f"(see {dataset}/failures.json)[/]")
    for split, ids in report.get("pieces", {}).items():
        console.print(f"[bold]{split}[/] ({len(ids)}): " + ", ".join(ids))


@group.command("validate")
@click.argument("dataset")
@click.option("--repair", is_flag=True,
              help="Re-render every piece with a missing or corrupt file (the rest is kept), "
              "with the settings the folder records, then check again.")
@click.option("--workers", "-j", default=2, show_default=True, type=int,
              help="With --repair: pieces re-rendered in parallel.")
@click.pass_context
def validate_command(ctx: click.Context, dataset: str, repair: bool, workers: int) -> None:
    """Check every file against its checksum; list missing and corrupt files.

    Exit status 1 when anything is missing or corrupt (after --repair: when
    a piece could not be re-rendered).
    """
    root = open_dataset(dataset, registry=registry_of(ctx)).root
    if repair:
        with ProgressDisplay() as show:
            damaged, report = repair_dataset(root, workers=workers, progress=show)
        if damaged:
            console.print(f"re-rendered {len(report.built)} of {len(damaged)} damaged pieces: "
                          + ", ".join(damaged[:5]) + (" …" if len(damaged) > 5 else ""))
        if report.failed:
            print_failures("pieces that could not be re-rendered", [f.__dict__ for f in report.failed])
    missing, corrupt = open_dataset(dataset, registry=registry_of(ctx)).validate()
    for rel in missing:
        console.print(f"[red]missing[/] {rel}")
    for rel in corrupt:
        console.print(f"[red]corrupt[/] {rel}")
    if missing or corrupt:
        raise click.ClickException(
            f"{dataset}: {len(missing)} missing and {len(corrupt)} corrupt files (the first: "
            f"{Path(root) / (missing + corrupt)[0].split(' ')[0]}); "
            + ("the pieces above could not be re-rendered" if repair else
               "`ast data validate --repair` re-renders the pieces concerned"))
    console.print(f"[green]{dataset}: every file matches its checksum[/]")
