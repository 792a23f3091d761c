"""The ``ast`` command line: a thin click + rich layer over library functions."""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from . import __version__, plugins
from .errors import ToolkitError
from .registry import ENV_VAR, load_registry

console = Console()
err_console = Console(stderr=True)


class AstGroup(click.Group):
    """A click group that turns toolkit errors into one-line messages, exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ToolkitError as exc:
            raise click.ClickException(str(exc)) from exc


def _registry(ctx: click.Context):
    return load_registry(ctx.find_root().obj["registry_files"])


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@click.group(cls=AstGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="ast")
@click.option(
    "--registry",
    "registry_files",
    multiple=True,
    type=click.Path(dir_okay=False),
    help=f"A registry file that extends and overrides the bundled registry.toml "
    f"(repeatable; read after the files in ${ENV_VAR}).",
)
@click.pass_context
def cli(ctx: click.Context, registry_files: Sequence[str]) -> None:
    """ast: cross-modal retrieval between music recordings and sheet-music images.

    Every capability is a plugin found through entry points; `ast plugins list`
    shows them.  Named datasets and models live in registry.toml; `ast registry
    list` shows them.
    """
    ctx.ensure_object(dict)
    ctx.obj["registry_files"] = tuple(registry_files)


# --- plugins ------------------------------------------------------------------


@cli.group("plugins", cls=AstGroup)
def plugins_group() -> None:
    """Inspect the installed plugins (renderers, synthesizers, datasets, encoders,
    matchers, metrics)."""


@plugins_group.command("list")
@click.option(
    "--group",
    "-g",
    metavar="GROUP",
    help="Only this group: " + ", ".join(sorted(plugins.GROUPS)) + ".",
)
@click.option(
    "--check/--no-check",
    default=True,
    show_default=True,
    help="Import each plugin to check that it loads and implements its interface "
    "(--no-check reads entry-point metadata only and imports nothing).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins_list(group: str | None, check: bool, as_json: bool) -> None:
    """List every registered plugin with its distribution and status.

    A plugin that fails to import, or does not implement its group's interface,
    is shown as broken with the reason; it never stops the command.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        infos = plugins.discover(group)
    rows = []
    for info in infos:
        status = plugins.check(info) if check else None
        rows.append(
            {
                "group": info.group,
                "name": info.name,
                "distribution": info.distribution,
                "version": info.version,
                "target": info.target,
                "status": "unchecked" if status is None else ("ok" if status.ok else "broken"),
                "reason": "" if status is None else status.reason,
                "shadows": list(info.shadows),
            }
        )
    notes = [str(w.message) for w in caught]
    if as_json:
        _print_json({"plugins": rows, "warnings": notes})
        return
    table = Table(title="ast plugins", show_lines=False)
    for col in ("group", "name", "distribution", "target", "status"):
        table.add_column(col, no_wrap=col in ("group", "name"))
    for r in rows:
        status = {
            "ok": "[green]ok[/]",
            "unchecked": "[dim]unchecked[/]",
        }.get(r["status"], f"[red]broken[/]: {r['reason']}")
        if r["shadows"]:
            status += f" [yellow](shadows {', '.join(r['shadows'])})[/]"
        table.add_row(
            r["group"], r["name"], f"{r['distribution']} {r['version']}", r["target"], status
        )
    console.print(table)
    for note in notes:
        err_console.print(f"[yellow]warning:[/] {note}")
    if not rows:
        console.print("no plugins registered" + (f" in group {group!r}" if group else ""))


# --- registry -----------------------------------------------------------------


@cli.group("registry", cls=AstGroup)
def registry_group() -> None:
    """Named datasets and models (registry.toml and user registry files)."""


@registry_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.pass_context
def registry_list(ctx: click.Context, as_json: bool) -> None:
    """Show the named datasets and models, and the files they come from."""
    reg = _registry(ctx)
    installed = {g: set(plugins.names(g)) for g in ("renderers", "synthesizers", "encoders")}

    def missing(group: str, name: str | None) -> list[str]:
        return [] if name is None or name in installed[group] else [f"{group[:-1]} {name!r}"]

    datasets = []
    for d in reg.datasets.values():
        datasets.append(
            {
                "name": d.name,
                "description": d.description,
                "sources": [{"path": s.path, "limit": s.limit} for s in d.sources],
                "renderer": d.render.renderer,
                "synthesizer": d.synthesis.synthesizer,
                "renditions": [
                    {"soundfont": r.soundfont, "tempo": r.tempo, "splits": list(r.splits)}
                    for r in d.synthesis.renditions
                ],
                "split": {"train": d.split.train, "valid": d.split.valid,
                          "test": d.split.test, "seed": d.split.seed},
                "missing_plugins": missing("renderers", d.render.renderer)
                + missing("synthesizers", d.synthesis.synthesizer),
                "file": str(d.origin),
            }
        )
    models = []
    for m in reg.models.values():
        models.append(
            {
                "name": m.name,
                "description": m.description,
                "encoder": m.encoder,
                "dataset": m.dataset,
                "loss": m.loss,
                "params": m.params,
                "checkpoint": str(m.checkpoint_path),
                "checkpoint_exists": m.checkpoint_path.exists(),
                "missing_plugins": missing("encoders", m.encoder),
                "file": str(m.origin),
            }
        )
    if as_json:
        _print_json({"files": [str(f) for f in reg.files], "datasets": datasets, "models": models})
        return
    bundled = reg.files[0]
    table = Table(title="datasets")
    for col in ("name", "description", "sources", "render / synthesis", "split"):
        table.add_column(col)
    for d in datasets:
        sources = "\n".join(
            s["path"] + (f" (≤{s['limit']})" if s["limit"] else "") for s in d["sources"]
        )
        render = f"{d['renderer']} / {d['synthesizer']}, {len(d['renditions'])} renditions"
        if d["missing_plugins"]:
            render += "\n[yellow]not installed: " + ", ".join(d["missing_plugins"]) + "[/]"
        split = "{train}/{valid}/{test} seed {seed}".format(**d["split"])
        name = d["name"] + ("" if d["file"] == str(bundled) else f"\n[dim]{d['file']}[/]")
        table.add_row(name, d["description"], sources, render, split)
    console.print(table)
    table = Table(title="models")
    for col in ("name", "encoder", "dataset", "checkpoint"):
        table.add_column(col)
    for m in models:
        ckpt = m["checkpoint"] + ("" if m["checkpoint_exists"] else " [yellow](not trained yet)[/]")
        enc = m["encoder"] + (" [yellow](not installed)[/]" if m["missing_plugins"] else "")
        name = m["name"] + ("" if m["file"] == str(bundled) else f"\n[dim]{m['file']}[/]")
        table.add_row(name, enc, m["dataset"] or "", ckpt)
    console.print(table if models else "[dim]no models registered[/]")
    console.print("[dim]registry files: " + ", ".join(str(f) for f in reg.files) + "[/]")


# --- data ---------------------------------------------------------------------

#: Exit status of `ast data render` when some pieces failed (the rest is built).
EXIT_PIECES_FAILED = 3


@cli.group("data", cls=AstGroup)
def data_group() -> None:
    """Render aligned audio–sheet-music datasets from score corpora and inspect them."""


@data_group.command("render")
@click.argument("name_or_source")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False),
              help="Dataset folder; re-running with the same folder resumes.")
@click.option("--renderer", "-r", metavar="NAME",
              help="Renderer plugin (verovio, lilypond, ...); default: the dataset's.")
@click.option("--soundfont", "soundfonts", multiple=True, metavar="SF",
              help="Soundfont name or .sf2/.sf3 path (repeatable). With --soundfont or "
              "--tempo, every piece gets one rendition per (soundfont, tempo), in every "
              "split; otherwise the dataset's renditions (MSMD-like: three training "
              "renditions, tempo 0.9–1.1, and a test soundfont kept out of training).")
@click.option("--tempo", "tempos", multiple=True, type=float, metavar="FACTOR",
              help="Tempo factor (repeatable), > 1 is faster.")
@click.option("--workers", "-j", default=2, show_default=True, type=int,
              help="Pieces rendered in parallel (processes).")
@click.option("--limit", "-n", type=int, help="Render at most N pieces, taken evenly from every source.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def data_render(ctx: click.Context, name_or_source: str, out: str, renderer: str | None,
                soundfonts: tuple[str, ...], tempos: tuple[float, ...], workers: int,
                limit: int | None, as_json: bool) -> None:
    """Engrave, perform, synthesize and align a dataset.

    NAME_OR_SOURCE is a dataset of registry.toml (`ast registry list`: folk,
    chorales, piano, demo) or a source: `music21:<glob>` of music21's corpus
    (music21:essenFolksong/*.abc, music21:bach/bwv*) or a local score file,
    folder or glob (MusicXML, MXL, ABC, Humdrum kern, MEI).

    Finished pieces are skipped when a run is repeated; a run killed half-way
    leaves no piece that looks finished.  A score that cannot be rendered is
    reported (piece, file, reason) in DIR/failures.json and the run goes on;
    the exit status is then 3.
    """
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    from .build import dataset_spec, render_dataset

    spec = dataset_spec(_registry(ctx), name_or_source, renderer=renderer,
                        soundfonts=soundfonts, tempos=tempos)
    plugins.get("renderers", spec.render.renderer)  # unknown names fail before any work
    plugins.get("synthesizers", spec.synthesis.synthesizer)
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("[red]{task.fields[failed]} failed"), TimeElapsedColumn(),
        TextColumn("ETA"), TimeRemainingColumn(), console=err_console,
        disable=as_json,
    )
    task = None

    def update(event: str, done: int, failed: int, total: int) -> None:
        nonlocal task
        if task is None:
            task = progress.add_task(f"render {spec.name}", total=total, failed=0)
        progress.update(task, completed=done + failed, failed=failed)

    with progress:
        report = render_dataset(spec, out, workers=workers, limit=limit, progress=update)
    summary = {
        "dataset": spec.name, "out": str(report.out), "built": len(report.built),
        "skipped": len(report.skipped), "failed": [f.__dict__ for f in report.failed],
        "seconds": round(report.seconds, 2),
    }
    if as_json:
        _print_json(summary)
    else:
        console.print(
            f"[green]{len(report.built)} built[/], {len(report.skipped)} already complete, "
            f"[{'red' if report.failed else 'green'}]{len(report.failed)} failed[/] "
            f"in {report.seconds:.1f} s → {report.out}"
        )
        if report.failed:
            table = Table(title=f"failed pieces (also in {report.out / 'failures.json'})")
            for col in ("piece", "file", "reason"):
                table.add_column(col, overflow="fold")
            for f in report.failed:
                table.add_row(f.piece, f.file, f.reason)
            console.print(table)
    if report.failed:
        ctx.exit(EXIT_PIECES_FAILED)


def _open_dataset(path: str):
    return plugins.create("datasets", "rendered", root=path)


@data_group.command("show")
@click.argument("dataset_dir", type=click.Path(file_okay=False))
@click.argument("piece")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False),
              help="PNG file to write.")
@click.option("--page", default=1, show_default=True, type=int, help="Page number (from 1).")
@click.option("--rendition", help="Rendition folder name; default: the first.")
def data_show(dataset_dir: str, piece: str, out: str, page: int, rendition: str | None) -> None:
    """Draw a page with its note-head and system boxes beside the aligned spectrogram.

    PIECE is a piece id (`ast data stats DIR --pieces` lists them) or its
    0-based position in the sorted list.  Note heads are coloured by when they
    are played, and each onset is a dot of the same colour on the played pitch,
    so the alignment can be checked by eye.
    """
    from .figures import alignment_figure

    ds = _open_dataset(dataset_dir)
    ids = ds.piece_ids()
    if piece.isdigit() and piece not in ids:
        if int(piece) >= len(ids):
            raise click.BadParameter(f"the dataset has {len(ids)} pieces (0..{len(ids) - 1})",
                                     param_hint="PIECE")
        piece = ids[int(piece)]
    path = alignment_figure(ds, piece, out, page=page - 1, rendition=rendition)
    console.print(f"{piece} → {path}")


@data_group.command("stats")
@click.argument("dataset_dir", type=click.Path(file_okay=False))
@click.option("--pieces", "list_pieces", is_flag=True, help="Also list the piece ids per split.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def data_stats(dataset_dir: str, list_pieces: bool, as_json: bool) -> None:
    """Pieces, pages, pairs and hours of audio per split."""
    from .build import dataset_stats, iter_pieces
    from pathlib import Path

    stats = dataset_stats(dataset_dir)
    failures_file = Path(dataset_dir) / "failures.json"
    failures = json.loads(failures_file.read_text()) if failures_file.is_file() else []
    pieces = {}
    if list_pieces:
        for e in iter_pieces(Path(dataset_dir)):
            pieces.setdefault(e["split"], []).append(e["id"])
    if as_json:
        _print_json({"dataset": dataset_dir, "splits": stats, "failed": failures,
                     **({"pieces": pieces} if list_pieces else {})})
        return
    table = Table(title=f"{dataset_dir}")
    for col in ("split", "pieces", "pages", "note heads", "renditions", "pairs", "hours of audio"):
        table.add_column(col, justify="left" if col == "split" else "right")
    for split, row in stats.items():
        style = "bold" if split == "all" else None
        table.add_row(split, f"{row['pieces']:,}", f"{row['pages']:,}", f"{row['noteheads']:,}",
                      f"{row['renditions']:,}", f"{row['pairs']:,}", f"{row['hours']:.2f}",
                      style=style)
    console.print(table)
    if failures:
        console.print(f"[yellow]{len(failures)} pieces failed to render (see {failures_file})[/]")
    for split, ids in pieces.items():
        console.print(f"[bold]{split}[/] ({len(ids)}): " + ", ".join(ids))


@data_group.command("validate")
@click.argument("dataset_dir", type=click.Path(file_okay=False))
def data_validate(dataset_dir: str) -> None:
    """Check every file against its checksum; list missing and corrupt files.

    Exit status 1 when anything is missing or corrupt.
    """
    from .build import validate_dataset

    missing, corrupt = validate_dataset(dataset_dir)
    for rel in missing:
        console.print(f"[red]missing[/] {rel}")
    for rel in corrupt:
        console.print(f"[red]corrupt[/] {rel}")
    if missing or corrupt:
        raise click.ClickException(
            f"{dataset_dir}: {len(missing)} missing and {len(corrupt)} corrupt files; "
            "re-render the pieces concerned (delete their folders and rerun `ast data render`)"
        )
    console.print(f"[green]{dataset_dir}: every file matches its checksum[/]")


# --- eval ---------------------------------------------------------------------


@cli.group("eval", cls=AstGroup)
def eval_group() -> None:
    """Evaluate retrieval results with the metric plugins."""


@eval_group.command("scores")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--metric",
    "-m",
    "metric_names",
    default="recall@1,recall@5,recall@10,mrr,median-rank,mean-rank",
    show_default=True,
    help="Comma-separated metric plugin names; NAME@K sets k (recall@25).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def eval_scores(file: str, metric_names: str, as_json: bool) -> None:
    """Score a CSV of retrieval results (columns query,score,relevant: one row per
    query–candidate pair) with metric plugins."""
    from .evaluate import compute_metrics, read_scores

    names = [m.strip() for m in metric_names.split(",") if m.strip()]
    preds, target, indexes = read_scores(file)
    values = compute_metrics(preds, target, indexes, names)
    if as_json:
        _print_json({"file": file, "queries": int(len(set(indexes.tolist()))), "metrics": values})
        return
    table = Table(title=f"{file}: {len(set(indexes.tolist()))} queries")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in values.items():
        table.add_row(name, f"{value:.4f}")
    console.print(table)


def _format_warning(message, category, filename, lineno, line=None) -> str:
    # Warnings (e.g. two plugins with one name) are for users: one plain line.
    return f"warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    warnings.formatwarning = _format_warning
    cli.main(args=list(argv) if argv is not None else None, prog_name="ast")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
