"""``ast registry``: the named datasets and models."""

from __future__ import annotations

import click
from rich.table import Table

from ..catalog import describe
from ._common import AstGroup, console, print_json, registry_of


@click.group("registry", cls=AstGroup)
def group() -> None:
    """Named datasets and models (registry.toml and user registry files)."""


@group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.pass_context
def list_registry(ctx: click.Context, as_json: bool) -> None:
    """Show the named datasets and models, and the files they come from."""
    info = describe(registry_of(ctx))
    if as_json:
        print_json(info)
        return
    datasets, models = info["datasets"], info["models"]
    bundled = info["files"][0]
    table = Table(title="datasets")
    for col in ("name", "description", "sources", "render / synthesis", "split"):
        table.add_column(col)
    for d in datasets:
        sources = "\n".join(
            s["path"] + (f" (≤{s['limit']})" if s["limit"] else "") for s in d["sources"]
        )
        render = (f"{d['renderer']} / {d['synthesizer']}, {len(d['renditions'])} renditions, "
                  f"preset {d['preset']}")
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
        name = m["name"] + (" [green](default)[/]" if m["default"] else "") \
            + ("" if m["file"] == str(bundled) else f"\n[dim]{m['file']}[/]")
        table.add_row(name, enc, m["dataset"] or "", ckpt)
    console.print(table if models else "[dim]no models registered[/]")
    console.print("[dim]registry files: " + ", ".join(info["files"]) + "[/]")
