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
