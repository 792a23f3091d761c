"""The ``ast`` command line: a thin click + rich layer over library functions."""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
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


def _batch_progress(description: str, as_json: bool):
    """A progress bar for a batch of pieces (done, failed, ETA) and its callback
    ``update(event, done, failed, total)``, as the library functions call it."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("[red]{task.fields[failed]} failed"), TimeElapsedColumn(),
        TextColumn("ETA"), TimeRemainingColumn(), console=err_console, disable=as_json,
    )
    task = None

    def update(event: str, done: int, failed: int, total: int) -> None:
        nonlocal task
        if task is None:
            task = progress.add_task(description, total=total, failed=0)
        progress.update(task, completed=done + failed, failed=failed)

    return progress, update


def _print_failures(title: str, rows: Sequence[tuple[str, str, str]]) -> None:
    """The pieces a batch could not process: piece, file, reason."""
    table = Table(title=title)
    for col in ("piece", "file", "reason"):
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*row)
    console.print(table)


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
    from .build import dataset_spec, render_dataset

    spec = dataset_spec(_registry(ctx), name_or_source, renderer=renderer,
                        soundfonts=soundfonts, tempos=tempos)
    plugins.get("renderers", spec.render.renderer)  # unknown names fail before any work
    plugins.get("synthesizers", spec.synthesis.synthesizer)
    progress, update = _batch_progress(f"render {spec.name}", as_json)
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
            _print_failures(f"failed pieces (also in {report.out / 'failures.json'})",
                            [(f.piece, f.file, f.reason) for f in report.failed])
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


# --- fit -----------------------------------------------------------------------


def _params(pairs: Sequence[str]) -> dict[str, Any]:
    from .config import parse_param

    return dict(parse_param(p) for p in pairs)


@cli.command("fit", cls=click.Command)
@click.option("--dataset", "-d", "dataset", required=True, metavar="NAME|DIR",
              help="A rendered dataset folder, or a registry dataset rendered to "
              "$AST_DATA/NAME (default data/NAME).")
@click.option("--encoder", "-e", default="cnn", show_default=True, metavar="NAME",
              help="Encoder plugin: cnn, attention, timm, dcca (`ast plugins list --group encoders`).")
@click.option("--loss", "-l", "objective", default="ranking", show_default=True, metavar="NAME",
              help="Objective plugin: ranking, cca (CCA layer + ranking), dcca, infonce.")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False),
              help="Model folder to write (config.json, weights.pt, log.jsonl).")
@click.option("--param", "-p", "params", multiple=True, metavar="KEY=VALUE",
              help="Encoder hyper-parameter (repeatable), e.g. audio_context=168, "
              "filters=[16,32,64,64].")
@click.option("--loss-param", "loss_params", multiple=True, metavar="KEY=VALUE",
              help="Objective parameter (repeatable), e.g. margin=0.5, direction=a2s, temperature=0.1.")
@click.option("--context", type=int, metavar="FRAMES",
              help="Audio excerpt length in frames (shortcut for --param audio_context=...).")
@click.option("--sheet-backbone", metavar="TIMM_NAME", help="timm encoder: sheet pathway architecture.")
@click.option("--audio-backbone", metavar="TIMM_NAME", help="timm encoder: audio pathway architecture.")
@click.option("--epochs", type=int, help="Most epochs.  [default: 100]")
@click.option("--epoch-samples", type=int, help="Pairs per epoch.  [default: 10000]")
@click.option("--batch-size", type=int, help="Pairs per batch.  [default: 100]")
@click.option("--lr", type=float, help="Adam learning rate.  [default: 0.002]")
@click.option("--patience", type=int, help="Epochs without a better validation MRR before a "
              "refinement round.  [default: 10]")
@click.option("--refinements", type=int, help="Rounds that reload the best weights and halve "
              "the learning rate.  [default: 2]")
@click.option("--seed", type=int, help="Random seed.  [default: 0]")
@click.option("--val-candidates", type=int, help="Validation pairs per epoch.  [default: 1000]")
@click.option("--no-augment", is_flag=True, help="No sheet shift/scale, onset jitter or random renditions.")
@click.option("--time-limit", type=float, metavar="MINUTES",
              help="Stop training after this long and finish the model normally.")
@click.option("--device", default="auto", show_default=True,
              help="auto (CUDA when present, else CPU), cpu, cuda, cuda:N.")
@click.option("--no-amp", is_flag=True, help="No mixed precision on the GPU.")
@click.option("--resume", is_flag=True, help="Continue the unfinished run in --out.")
@click.option("--exist-ok", is_flag=True,
              help="If --out already holds a finished model, report it and do not train again.")
@click.option("--register", "register_name", metavar="NAME",
              help="Add the model to a registry file as NAME (see --registry-file).")
@click.option("--registry-file", default="ast-registry.toml", show_default=True,
              type=click.Path(dir_okay=False),
              help="The registry file --register writes; read it with `ast --registry FILE`.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def fit_command(ctx: click.Context, dataset: str, encoder: str, objective: str, out: str,
                params: tuple[str, ...], loss_params: tuple[str, ...], context: int | None,
                sheet_backbone: str | None, audio_backbone: str | None, epochs: int | None,
                epoch_samples: int | None, batch_size: int | None, lr: float | None,
                patience: int | None, refinements: int | None, seed: int | None,
                val_candidates: int | None, no_augment: bool, time_limit: float | None,
                device: str, no_amp: bool, resume: bool, exist_ok: bool,
                register_name: str | None, registry_file: str, as_json: bool) -> None:
    """Train an encoder on aligned sheet/audio snippet pairs of a rendered dataset.

    Seed 003's recipe by default: Adam (lr 2e-3, batches of 100), epochs of
    10,000 sampled pairs, validation R@1 / MRR (audio -> sheet) after each
    epoch, early stopping, then refinement rounds at half the learning rate.
    Every epoch is checkpointed; an interrupted run continues with --resume.

    \b
    Examples:
      ast fit -d demo -e attention --lr 5e-4 --time-limit 5 -o models/demo-att
      ast fit -d chorales -e cnn --loss cca -o models/chorales-cnn-cca
      ast fit -d folk-dcca -e dcca --loss dcca -o models/folk-dcca
      ast fit -d chorales -e timm --sheet-backbone resnet18 -o models/chorales-r18
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .models import register_model, resolve_dataset_dir
    from .training import fit, fit_config

    registry = _registry(ctx)
    root = resolve_dataset_dir(dataset, registry)
    plugins.get("encoders", encoder)
    plugins.get("objectives", objective)
    p = _params(params)
    for key, value in (("audio_context", context), ("sheet_backbone", sheet_backbone),
                       ("audio_backbone", audio_backbone)):
        if value is not None:
            p[key] = value
    cfg = fit_config(max_epochs=epochs, epoch_samples=epoch_samples, batch_size=batch_size,
                     lr=lr, patience=patience, refinements=refinements, seed=seed,
                     val_candidates=val_candidates, augment=False if no_augment else None,
                     time_limit=time_limit, device=device, amp=False if no_amp else None)
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(),
                        TextColumn("{task.fields[best]}"), console=err_console, disable=as_json)
    task = None
    best = ""

    def say(event: str, info: dict[str, Any]) -> None:
        nonlocal task, best
        if event == "start":
            progress.console.print(
                f"training [bold]{encoder}[/] with [bold]{objective}[/] on {root}: "
                f"{info['train_pairs']} training pairs, {info['valid_pairs']} validation "
                f"pairs, {info['parameters']:,} parameters, device {info['device']}"
                + (" (bfloat16)" if info["amp"] else ""))
        elif event == "resume":
            progress.console.print(f"resuming after epoch {info['epoch']}")
        elif event == "batch":
            if task is None:
                task = progress.add_task("", total=info["total"], loss="", best=best)
            progress.update(task, description=f"epoch {info['epoch']}", completed=info["done"],
                            total=info["total"], loss=f"{info['loss']:.4f}", best=best)
        elif event == "epoch":
            best = f"best MRR {info['best_mrr']:.3f} (epoch {info['best_epoch']})"
            progress.console.print(
                f"epoch {info['epoch']:3d}  loss {info['loss'] if info['loss'] is None else round(info['loss'], 4)}"
                f"  valid R@1 {info['valid_r1']:.3f}  MRR {info['valid_mrr']:.3f}"
                f"{'  [green]best[/]' if info['best'] else ''}  {info['pairs_per_s']:.0f} pairs/s")
        elif event == "refine":
            progress.console.print(f"refinement {info['round']}: best weights, lr {info['lr']:g}")
        elif event == "refit":
            progress.console.print(f"refitting the CCA projection on {info['samples']} training pairs")

    if exist_ok and (Path(out) / "config.json").exists():
        from .nn import read_model_config

        done = read_model_config(out)
        if (done["encoder"], done.get("objective")) != (encoder, objective):
            raise click.ClickException(
                f"{out} holds a {done['encoder']} model trained with {done.get('objective')}, "
                f"not {encoder} with {objective}")
        train = done.get("training", {})
        console.print(f"{out} already holds a finished {encoder} model "
                      f"({train.get('epochs')} epochs, valid MRR "
                      f"{train.get('valid', {}).get('mrr', float('nan')):.3f}); not training again")
        return
    try:
        with progress:
            result = fit(root, out, encoder=encoder, params=p, objective=objective,
                         objective_params=_params(loss_params), config=cfg, resume=resume,
                         dataset_name=dataset if not Path(dataset).is_dir() else Path(dataset).name,
                         progress=say)
    except KeyboardInterrupt:
        err_console.print(f"interrupted: the last finished epoch is checkpointed in {out}; "
                          "run the same command with --resume to continue")
        ctx.exit(130)
    registered = None
    if register_name:
        registered = str(register_model(registry_file, register_name, result.out))
    summary = {"out": str(result.out), "epochs": result.epochs, "best_epoch": result.best_epoch,
               "stopped": result.stopped, "seconds": round(result.seconds, 1),
               "valid": result.valid, "registered": registered}
    if as_json:
        _print_json(summary)
        return
    console.print(f"[green]model written to {result.out}[/]: {result.epochs} epochs "
                  f"({result.stopped}), best epoch {result.best_epoch}, valid R@1 "
                  f"{result.valid['r1']:.3f}, MRR {result.valid['mrr']:.3f}, "
                  f"{result.seconds / 60:.1f} min")
    if registered:
        console.print(f"registered as {register_name!r} in {registered} "
                      f"(use `ast --registry {registered} ...` or ${ENV_VAR})")


# --- index ----------------------------------------------------------------------


@cli.command("index")
@click.option("--model", "-m", "model", required=True, metavar="NAME|DIR",
              help="A model folder (from `ast fit`) or a registered model name.")
@click.option("--dataset", "-d", metavar="NAME|DIR",
              help="Rendered dataset to index; default: the one the model was trained on.")
@click.option("--split", default="test", show_default=True, metavar="SPLIT",
              help="train, valid, test, a comma-separated list, or all.")
@click.option("--audio", "audio", multiple=True, type=click.Path(), metavar="PATH",
              help="Index these recordings instead of a dataset (files or folders, searched "
              "recursively; wav, flac, mp3, ogg, aiff; any sample rate or channel count). "
              "Repeatable. The index then has an audio side only.")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False),
              help="Index folder; running the same command again resumes or reports it complete.")
@click.option("--sheet-hop", default=50, show_default=True, type=int, metavar="PX",
              help="Pixels between sheet windows along the unrolled systems (seed 002: 50).")
@click.option("--audio-hop", default=0.5, show_default=True, type=float, metavar="SECONDS",
              help="Seconds between excerpt centres (rounded to whole frames).")
@click.option("--rendition", metavar="NAME",
              help="Which performance of each dataset piece; default: its first.")
@click.option("--overwrite", is_flag=True, help="Replace an index of other settings in --out.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def index_command(ctx: click.Context, model: str, dataset: str | None, split: str,
                  audio: tuple[str, ...], out: str, sheet_hop: int, audio_hop: float,
                  rendition: str | None, overwrite: bool, as_json: bool) -> None:
    """Embed every piece of a collection for piece identification (`ast match`).

    Each piece becomes two embedding sequences: sheet windows slid along its
    unrolled systems and spectrogram excerpts slid over its recording, with
    what each row is (page, system, x — or seconds) and the model's
    fingerprint.  The arrays are memory-mapped when read.

    A killed run resumes where it stopped; a piece that cannot be indexed is
    reported (piece, file, reason) in OUT/failures.json and the others go on;
    the exit status is then 3.

    \b
    Examples:
      ast index -m models/demo-attention -d demo --out indexes/demo
      ast index -m models/demo-attention --split all --out indexes/demo-all
      ast index -m models/demo-attention --audio ~/recordings --out indexes/mine
    """
    from .index import Index, build_index
    from .models import resolve_dataset_dir

    registry = _registry(ctx)
    root = resolve_dataset_dir(dataset, registry) if dataset else None
    progress, update = _batch_progress("index", as_json)

    try:
        with progress:
            report = build_index(model, out, dataset=root, split=split,
                                 audio=list(audio) if audio else None, sheet_hop=sheet_hop,
                                 audio_hop=audio_hop, rendition=rendition, overwrite=overwrite,
                                 registry=registry, progress=update)
    except KeyboardInterrupt:
        err_console.print(f"interrupted: finished pieces are kept in {out}; run the same "
                          "command again to continue")
        ctx.exit(130)
    idx = Index(out)
    summary = {"out": str(out), "pieces": len(idx), "modalities": idx.modalities,
               "rows": idx.meta["rows"], "built": len(report.built),
               "resumed": len(report.resumed), "already_complete": report.already_complete,
               "failed": report.failed, "seconds": round(report.seconds, 2)}
    if as_json:
        _print_json(summary)
    else:
        if report.already_complete:
            console.print(f"{out} is already a complete index of these settings: "
                          f"{len(idx)} pieces, " + ", ".join(
                              f"{n:,} {m} rows" for m, n in idx.meta["rows"].items()))
        else:
            console.print(
                f"[green]{len(idx)} pieces indexed[/] ({len(report.built)} embedded now, "
                f"{len(report.resumed)} from an earlier run), "
                + ", ".join(f"{n:,} {m} rows" for m, n in idx.meta["rows"].items())
                + f", [{'red' if report.failed else 'green'}]{len(report.failed)} failed[/] "
                f"in {report.seconds:.1f} s → {out}")
        if report.failed:
            _print_failures(f"pieces not indexed (also in {Path(out) / 'failures.json'})",
                            [(f["piece"], f["file"], f["reason"]) for f in report.failed])
    if report.failed:
        ctx.exit(EXIT_PIECES_FAILED)


# --- match -------------------------------------------------------------------------


def _matcher_params(pairs: Sequence[str], names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``KEY=VALUE`` (for the only matcher) or ``MATCHER.KEY=VALUE`` -> per-matcher dicts."""
    from .config import parse_param
    from .matching import parse_spec

    bases = []
    for n in names:
        main, pre = parse_spec(n)
        bases += [main] + ([pre[0]] if pre else [])
    out: dict[str, dict[str, Any]] = {}
    for text in pairs:
        key, value = parse_param(text)
        owner, dot, key = key.rpartition(".")
        if not dot:
            if len(set(bases)) != 1:
                raise click.BadParameter(f"{text!r}: with several matchers write MATCHER.KEY=VALUE",
                                         param_hint="--matcher-param")
            owner = bases[0]
        out.setdefault(owner, {})[key] = value
    return out


def _systems(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    a, _, b = text.partition("-")
    try:
        lo, hi = int(a), int(b or a)
    except ValueError:
        raise click.BadParameter(f"{text!r}: write A-B or A (1-based systems)",
                                 param_hint="--systems") from None
    if lo < 1 or hi < lo:
        raise click.BadParameter(f"{text!r}: need 1 <= A <= B", param_hint="--systems")
    return lo, hi


def _describe(pos: dict[str, Any] | None) -> str:
    if not pos:
        return ""
    if "seconds" in pos:
        return f"{pos['seconds']:.1f} s"
    return f"p{pos['page']} s{pos['system']} x{pos['x']}"


@cli.command("match")
@click.option("--index", "-i", "index_dir", required=True, type=click.Path(file_okay=False),
              help="An index folder made by `ast index`.")
@click.option("--query", "-q", metavar="FILE|PIECE",
              help="An audio file (wav, flac, mp3, ogg, aiff), or a piece: its id, a unique "
              "part of it, or its number in the index (`--list`).")
@click.option("--matcher", "-M", default="dtw", show_default=True, metavar="NAME",
              help="Matcher plugin: vote, shazam, dtw, sdtw (`ast plugins list -g matchers`); "
              "NAME+vote:K runs it on the vote's K best pieces.")
@click.option("--prefilter", metavar="NAME:K", help="e.g. vote:50: the matcher scores only the "
              "prefilter's K best pieces (seed 002, footnote 1).")
@click.option("--matcher-param", "matcher_params", multiple=True, metavar="KEY=VALUE",
              help="Matcher hyper-parameter (repeatable), e.g. k=10, codes=512.")
@click.option("--direction", default="a2s", show_default=True, type=click.Choice(["a2s", "s2a"]),
              help="For a piece query: a2s queries its recording against the scores, s2a "
              "its score against the recordings.")
@click.option("--start", type=float, metavar="SECONDS", help="Audio fragment: first second.")
@click.option("--duration", type=float, metavar="SECONDS", help="Audio fragment: its length.")
@click.option("--systems", "systems_text", metavar="A-B",
              help="Score fragment: systems A to B (1-based).")
@click.option("--dataset", "-d", metavar="NAME|DIR",
              help="Take the query piece from this rendered dataset instead of the index.")
@click.option("--top", "-n", default=10, show_default=True, type=int, help="Pieces to list.")
@click.option("--report", type=click.Path(dir_okay=False),
              help="PNG: the query, the cost matrix with the warping path (seed 002, Fig. 2) "
              "and the matched region of the best piece.")
@click.option("--model", "-m", metavar="NAME|DIR",
              help="The index's model at another path (checked by its weights' sha256).")
@click.option("--list", "list_pieces", is_flag=True, help="List the index's pieces and stop.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def match_command(ctx: click.Context, index_dir: str, query: str | None, matcher: str,
                  prefilter: str | None, matcher_params: tuple[str, ...], direction: str,
                  start: float | None, duration: float | None, systems_text: str | None,
                  dataset: str | None, top: int, report: str | None, model: str | None,
                  list_pieces: bool, as_json: bool) -> None:
    """Which piece — and where in it — does a recording or a score come from?

    The query is embedded with the index's model, matched against every
    indexed piece of the other modality, and the best pieces are listed with
    their score and the matched position (page / system / x, or seconds).

    \b
    Examples:
      ast match -i indexes/demo -q recording.flac --report match.png
      ast match -i indexes/demo -q altdeu10.abc#12 --start 5 --duration 10 -M sdtw
      ast match -i indexes/demo -q bwv269 --direction s2a --systems 1-2 -M sdtw
      ast match -i indexes/demo -q 3 -M dtw --prefilter vote:5 --json
    """
    from .audio import AUDIO_SUFFIXES
    from .identification import dataset_query, file_query, identify, piece_query
    from .index import Index

    registry = _registry(ctx)
    idx = Index(index_dir)
    if list_pieces:
        rows = [{"number": i, "id": p["id"], "duration": round(p["duration"], 1),
                 **{m: p[m][1] - p[m][0] for m in ("sheet", "audio") if m in p}}
                for i, p in enumerate(idx.pieces)]
        if as_json:
            _print_json({"index": index_dir, "pieces": rows})
            return
        table = Table(title=f"{index_dir}: {len(rows)} pieces")
        for col in ("number", "id", "duration", "sheet", "audio"):
            table.add_column(col if col not in ("sheet", "audio") else f"{col} rows",
                             justify="right" if col != "id" else "left", overflow="fold")
        for r in rows:
            table.add_row(str(r["number"]), r["id"], f"{r['duration']:.1f} s",
                          str(r.get("sheet", "")), str(r.get("audio", "")))
        console.print(table)
        return
    if not query:
        raise click.UsageError("give --query FILE|PIECE (or --list)")
    params = _matcher_params(matcher_params, [matcher] + ([f"{matcher.partition('+')[0]}+{prefilter}"]
                                                         if prefilter else []))
    systems = _systems(systems_text)
    qmod = "audio" if direction == "a2s" else "sheet"
    if Path(query).expanduser().is_file() or Path(query).suffix.lower() in AUDIO_SUFFIXES:
        if systems or start is not None or duration is not None:
            raise click.UsageError("--start/--duration/--systems select a fragment of a piece "
                                   "query; cut an audio file before querying with it")
        encoder, _ = idx.load_encoder(model, registry)
        q = file_query(idx, encoder, Path(query).expanduser())
    elif dataset:
        from .models import resolve_dataset_dir

        encoder, _ = idx.load_encoder(model, registry)
        q = dataset_query(idx, encoder, resolve_dataset_dir(dataset, registry), query, qmod,
                          start=start, duration=duration, systems=systems)
    else:
        q = piece_query(idx, query, qmod, start=start, duration=duration, systems=systems)
    matches, rows, fitted = identify(idx, q, matcher, top=top, prefilter=prefilter, params=params)
    result = {"index": index_dir, "query": q.label, "query_modality": q.modality,
              "true_piece": q.piece, "matcher": fitted.name, "query_rows": int(len(q.embeddings)),
              "results": rows}
    if report:
        from .figures import match_report

        match_report(idx, q, matches, report, matcher=fitted.name)
        result["report"] = report
    if as_json:
        _print_json(result)
        return
    table = Table(title=f"{q.label} ({q.modality}, {len(q.embeddings)} excerpts"
                  f"{'' if q.modality == 'audio' else ' of the score'}) → {fitted.name} on "
                  f"{index_dir}")
    for col in ("rank", "piece", "score", "from", "to"):
        table.add_column(col, justify="right" if col in ("rank", "score") else "left",
                         overflow="fold")
    for r in rows:
        mark = " [green]✓[/]" if q.piece and r["piece"] == q.piece else ""
        table.add_row(str(r["rank"]), r["piece"] + mark, f"{r['score']:.4g}",
                      _describe(r.get("start")), _describe(r.get("end")))
    console.print(table)
    if q.piece and q.piece not in [r["piece"] for r in rows]:
        console.print(f"[yellow]the true piece {q.piece} is not among the first {top}[/]")
    if report:
        console.print(f"report written to {report}")


# --- eval ---------------------------------------------------------------------


@cli.group("eval", cls=AstGroup)
def eval_group() -> None:
    """Evaluate: snippet retrieval, piece identification, fragments, scalability."""


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


@eval_group.command("snippets")
@click.option("--model", "-m", "model", required=True, metavar="NAME|DIR",
              help="A model folder (from `ast fit`) or a registered model name.")
@click.option("--dataset", "-d", metavar="NAME|DIR",
              help="Rendered dataset; default: the one the model was trained on.")
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "valid", "test"]))
@click.option("--candidates", "-n", default=2000, show_default=True, type=int,
              help="Pairs taken evenly over the split; each query ranks all of them "
              "(2,000 / 10,000 as seed 003, 16,000 as seed 001).")
@click.option("--direction", default="both", show_default=True,
              type=click.Choice(["a2s", "s2a", "both"]),
              help="a2s: audio query -> sheet snippets; s2a: sheet query -> audio.")
@click.option("--metric", "metric_names", default=",".join(
              ("recall@1", "recall@5", "recall@10", "recall@25", "mrr", "median-rank", "mean-rank")),
              show_default=True, help="Comma-separated metric plugins.")
@click.option("--figure", type=click.Path(dir_okay=False),
              help="PNG: one audio query with its top-ranked sheet snippets "
              "(and, for attention models, the attention over the spectrogram).")
@click.option("--query", "query_index", default=0, show_default=True, type=int,
              help="Which candidate is the --figure's query (0-based).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def eval_snippets(ctx: click.Context, model: str, dataset: str | None, split: str, candidates: int,
                  direction: str, metric_names: str, figure: str | None, query_index: int,
                  as_json: bool) -> None:
    """Snippet retrieval: audio excerpt -> sheet snippet and sheet -> audio.

    Prints R@k, MRR, median and mean rank per direction (seed 001's and seed
    003's tables).  A candidate is correct when it shows the same sheet window
    as the query's partner; ties count against the query.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from .models import load_encoder, resolve_dataset_dir
    from .snippets import DIRECTIONS, evaluate_snippets

    registry = _registry(ctx)
    encoder, cfg = load_encoder(model, registry)
    if dataset is None:
        root = (cfg.get("dataset") or {}).get("root")
        if not root:
            raise click.UsageError("the model does not record its dataset; pass --dataset")
        root = Path(root)
    else:
        root = resolve_dataset_dir(dataset, registry)
    ds = plugins.create("datasets", "rendered", root=root, sheet_shape=encoder.sheet_window,
                        audio_context=encoder.audio_shape[1])
    if ds.spectrogram_bins != encoder.audio_shape[0]:
        raise click.ClickException(
            f"{root} has {ds.spectrogram_bins}-bin spectrograms; the model takes "
            f"{encoder.audio_shape[0]} bins")
    metrics = [m.strip() for m in metric_names.split(",") if m.strip()]
    for m in metrics:
        plugins.get("metrics", m)
    directions = DIRECTIONS if direction == "both" else (direction,)
    progress = Progress(TextColumn("[bold]embedding"), BarColumn(), MofNCompleteColumn(),
                        console=err_console, disable=as_json, transient=True)
    with progress:
        task = progress.add_task("", total=None)
        report, emb = evaluate_snippets(
            encoder, ds, split=split, candidates=candidates, directions=directions,
            metrics=metrics, keep_inputs=bool(figure),
            progress=lambda done, total: progress.update(task, completed=done, total=total))
    report = {"model": str(model), "encoder": cfg["encoder"], "objective": cfg.get("objective"),
              "dataset": str(root), **report}
    if figure:
        from .figures import snippet_retrieval_figure

        snippet_retrieval_figure(encoder, emb, figure, query=query_index)
        report["figure"] = figure
    if as_json:
        _print_json(report)
        return
    if report["candidates"] < candidates:
        err_console.print(f"[yellow]note:[/] the {split} split has only {report['available']} "
                          f"pairs; all of them are candidates")
    table = Table(title=f"snippet retrieval: {model} on {root} ({split}, "
                        f"{report['candidates']} candidates)")
    table.add_column("direction")
    for m in metrics:
        table.add_column(m.replace("recall@", "R@").replace("median-rank", "MR")
                         .replace("mean-rank", "mean rank").replace("mrr", "MRR"), justify="right")
    for d, values in report["directions"].items():
        table.add_row(d, *(f"{values[m]:.3f}" if "rank" not in m else f"{values[m]:.1f}"
                           for m in metrics))
    console.print(table)
    if figure:
        console.print(f"figure written to {figure}")


_MATCHERS_HELP = ("Comma-separated matcher plugins (`ast plugins list -g matchers`); "
                  "NAME+vote:K runs NAME on the vote's K best pieces.")


def _eval_common(f):
    """Options every piece-identification evaluation takes."""
    options = [
        click.option("--index", "-i", "index_dir", required=True, type=click.Path(file_okay=False),
                     help="An index folder made by `ast index` from a rendered dataset."),
        click.option("--direction", default="both", show_default=True,
                     type=click.Choice(["a2s", "s2a", "both"]),
                     help="a2s: recordings query the scores; s2a: scores query the recordings."),
        click.option("--prefilter", metavar="NAME:K",
                     help="Score only the prefilter's K best pieces (e.g. vote:50)."),
        click.option("--matcher-param", "matcher_params", multiple=True,
                     metavar="MATCHER.KEY=VALUE", help="Matcher hyper-parameter (repeatable)."),
        click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _eval_progress(as_json: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=err_console, disable=as_json, transient=True)
    task = progress.add_task("", total=None)

    def update(what: str, done: int, total: int) -> None:
        progress.update(task, description=what, completed=done, total=total)

    return progress, update


def _int_list(text: str, what: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r}: comma-separated integers", param_hint=what) from None
    if not values or min(values) < 1:
        raise click.BadParameter(f"{text!r}: integers >= 1", param_hint=what)
    return values


@eval_group.command("pieces")
@_eval_common
@click.option("--matcher", "-M", "matchers", default="vote,shazam,dtw,sdtw", show_default=True,
              help=_MATCHERS_HELP)
def eval_pieces(index_dir: str, direction: str, prefilter: str | None,
                matcher_params: tuple[str, ...], as_json: bool, matchers: str) -> None:
    """Piece identification, seed 002's Table I: each piece queried whole.

    Every piece's recording queries all scores (A2S) and every score all
    recordings (S2A); the table gives R@1, R@5 and R@10 as counts and
    fractions, the mean reciprocal rank and the median rank, per matcher.
    Pieces scoring the same as the true piece count against it.
    """
    from .identification import evaluate_pieces
    from .index import Index

    names = [m.strip() for m in matchers.split(",") if m.strip()]
    params = _matcher_params(matcher_params, names)
    idx = Index(index_dir)
    progress, update = _eval_progress(as_json)
    with progress:
        report = evaluate_pieces(idx, names, direction=direction, prefilter=prefilter,
                                 params=params, progress=update)
    if as_json:
        _print_json(report)
        return
    n = report["queries"]
    for d in ("a2s", "s2a"):
        rows = [r for r in report["results"] if r["direction"] == d]
        if not rows:
            continue
        title = {"a2s": "Audio-to-score (A2S)", "s2a": "Score-to-audio (S2A)"}[d]
        table = Table(title=f"{title} piece identification: {n} queries, {idx.folder}")
        for col in ("Method", "R@1", "R@5", "R@10", "MRR", "MR", "ms / query"):
            table.add_column(col, justify="left" if col == "Method" else "right")
        for r in rows:
            table.add_row(r["matcher"], *(f"{r[f'R@{k}']} ({r[f'R@{k} fraction']:.2f})"
                                         for k in (1, 5, 10)),
                          f"{r['MRR']:.2f}", f"{r['MR']:g}", f"{1000 * r['seconds per query']:.1f}")
        console.print(table)


@eval_group.command("fragments")
@_eval_common
@click.option("--matcher", "-M", default="sdtw", show_default=True, help=_MATCHERS_HELP)
@click.option("--lengths", default="10,20,30,40,50,60,70,80", show_default=True,
              help="Audio query lengths in seconds (A2S).")
@click.option("--systems", default="1,2,3,4,5,6,7,8", show_default=True,
              help="Score query lengths in systems (S2A).")
@click.option("--queries", "-n", default=100, show_default=True, type=int,
              help="Random queries per length (seed 002: 1,500).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the random queries.")
def eval_fragments(index_dir: str, direction: str, prefilter: str | None,
                   matcher_params: tuple[str, ...], as_json: bool, matcher: str, lengths: str,
                   systems: str, queries: int, seed: int) -> None:
    """Fragment retrieval, seed 002's Table II: MRR by query length.

    Random audio fragments of each length (seconds) query the scores; random
    runs of consecutive systems query the recordings.  Fragments are drawn
    from the pieces long enough, with a seeded generator; a length no piece
    reaches has no queries (shown as -).
    """
    from .identification import evaluate_fragments
    from .index import Index

    params = _matcher_params(matcher_params, [matcher])
    idx = Index(index_dir)
    progress, update = _eval_progress(as_json)
    with progress:
        report = evaluate_fragments(
            idx, matcher, direction=direction, audio_lengths=_int_list(lengths, "--lengths"),
            system_counts=_int_list(systems, "--systems"), queries=queries, seed=seed,
            prefilter=prefilter, params=params, progress=update)
    if as_json:
        _print_json(report)
        return
    for d, unit in (("a2s", "Length (s)"), ("s2a", "Systems")):
        rows = [r for r in report["results"] if r["direction"] == d]
        if not rows:
            continue
        name = {"a2s": "Audio-to-score", "s2a": "Score-to-audio"}[d]
        table = Table(title=f"{name} fragments, {rows[0]['matcher']}, seed {seed}: {idx.folder}")
        table.add_column(unit, justify="left")
        for r in rows:
            table.add_column(f"{r['length']:g}", justify="right")
        table.add_row("MRR", *("-" if r["MRR"] is None else f"{r['MRR']:.2f}" for r in rows))
        table.add_row("R@1", *("-" if r["MRR"] is None else f"{r['R@1 fraction']:.2f}" for r in rows))
        table.add_row("queries", *(str(r["queries"]) for r in rows), style="dim")
        table.add_row("pieces", *(str(r["pieces"]) for r in rows), style="dim")
        console.print(table)


@eval_group.command("scale")
@_eval_common
@click.option("--matcher", "-M", default="sdtw", show_default=True, help=_MATCHERS_HELP)
@click.option("--sizes", help="Collection sizes in pieces, comma-separated; default: an eighth, "
              "a quarter, half and all of the index.")
@click.option("--repeats", default=10, show_default=True, type=int,
              help="Random subsets per size (seed 002: 10).")
@click.option("--queries", "-n", default=100, show_default=True, type=int,
              help="Queries per subset (seed 002: 1,000).")
@click.option("--audio-seconds", default=50.0, show_default=True, type=float,
              help="Length of the audio queries (seed 002: 50 s).")
@click.option("--query-systems", default=4, show_default=True, type=int,
              help="Length of the score queries in systems (seed 002: 4).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--figure", type=click.Path(dir_okay=False),
              help="PNG of MRR and search time against collection size (seed 002, Fig. 3).")
def eval_scale(index_dir: str, direction: str, prefilter: str | None,
               matcher_params: tuple[str, ...], as_json: bool, matcher: str, sizes: str | None,
               repeats: int, queries: int, audio_seconds: float, query_systems: int, seed: int,
               figure: str | None) -> None:
    """Scalability as in seed 002's Figure 3: MRR and search time against collection size.

    Random subsets of the index's pieces of each size, each searched with
    fixed-size fragments of its own pieces; fitting the matcher is not timed,
    the search is.  For collections larger than a rendered dataset, see
    benchmarks/match.py.
    """
    from .identification import evaluate_scale
    from .index import Index

    params = _matcher_params(matcher_params, [matcher])
    idx = Index(index_dir)
    progress, update = _eval_progress(as_json)
    with progress:
        report = evaluate_scale(idx, matcher, direction=direction,
                                sizes=_int_list(sizes, "--sizes") if sizes else None,
                                repeats=repeats, queries=queries, audio_seconds=audio_seconds,
                                systems=query_systems, seed=seed, prefilter=prefilter,
                                params=params, progress=update)
    if figure:
        from .figures import scale_figure

        scale_figure(report, figure)
        report["figure"] = figure
    if as_json:
        _print_json(report)
        return
    table = Table(title=f"scalability of {report['results'][0]['matcher']}: {idx.folder} "
                        f"({repeats} subsets × {queries} queries per size)")
    table.add_column("pieces", justify="right")
    dirs = sorted({r["direction"] for r in report["results"]})
    for d in dirs:
        table.add_column(f"{d.upper()} MRR", justify="right")
        table.add_column(f"{d.upper()} ms / query", justify="right")
    for size in sorted({r["pieces"] for r in report["results"]}):
        cells = []
        for d in dirs:
            r = next(x for x in report["results"] if x["pieces"] == size and x["direction"] == d)
            cells += [f"{r['MRR']:.2f} ± {r['MRR std']:.2f}", f"{1000 * r['seconds per query']:.1f}"]
        table.add_row(str(size), *cells)
    console.print(table)
    if figure:
        console.print(f"figure written to {figure}")


def _format_warning(message, category, filename, lineno, line=None) -> str:
    # Warnings (e.g. two plugins with one name) are for users: one plain line.
    return f"warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    warnings.formatwarning = _format_warning
    cli.main(args=list(argv) if argv is not None else None, prog_name="ast")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
