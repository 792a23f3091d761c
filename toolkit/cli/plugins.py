"""``ast plugins``: the installed plugins."""

from __future__ import annotations

import warnings

import click
from rich.table import Table

from .. import plugins
from ._common import AstGroup, console, err_console, print_json


@click.group("plugins", cls=AstGroup)
def group() -> None:
    """Inspect the installed plugins (renderers, synthesizers, datasets, encoders,
    objectives, matchers, metrics, commands)."""


@group.command("list")
@click.option("--group", "-g", "group_name", metavar="GROUP",
              help="Only this group: " + ", ".join(sorted(plugins.GROUPS)) + ".")
@click.option("--check/--no-check", default=True, show_default=True,
              help="Import each plugin to check that it loads and implements its interface "
              "(--no-check reads entry-point metadata only and imports nothing).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_plugins(group_name: str | None, check: bool, as_json: bool) -> None:
    """List every registered plugin with its distribution and status.

    A plugin that fails to import, or does not implement its group's interface,
    is shown as broken with the reason; it never stops the command.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        infos = plugins.discover(group_name)
    rows = []
    for info in infos:
        status = plugins.check(info) if check else None
        rows.append({
            "group": info.group,
            "name": info.name,
            "distribution": info.distribution,
            "version": info.version,
            "target": info.target,
            "status": "unchecked" if status is None else ("ok" if status.ok else "broken"),
            "reason": "" if status is None else status.reason,
            "shadows": list(info.shadows),
        })
    notes = [str(w.message) for w in caught]
    if as_json:
        print_json({"plugins": rows, "warnings": notes})
        return
    table = Table(title="ast plugins", show_lines=False)
    for col in ("group", "name", "distribution", "target", "status"):
        table.add_column(col, no_wrap=col in ("group", "name"))
    for r in rows:
        status = {"ok": "[green]ok[/]", "unchecked": "[dim]unchecked[/]"}.get(
            r["status"], f"[red]broken[/]: {r['reason']}")
        if r["shadows"]:
            status += f" [yellow](shadows {', '.join(r['shadows'])})[/]"
        table.add_row(r["group"], r["name"], f"{r['distribution']} {r['version']}", r["target"],
                      status)
    console.print(table)
    for note in notes:
        err_console.print(f"[yellow]warning:[/] {note}")
    if not rows:
        console.print("no plugins registered" + (f" in group {group_name!r}" if group_name else ""))


def reflow(doc: str) -> str:
    r"""A docstring's prose paragraphs joined into one line each, for the terminal to wrap;
    paragraphs with indented, bulleted or table lines are kept as written.

    Examples
    --------
    >>> print(reflow("One sentence\nwrapped by hand.\n\n* a\n* b"))
    One sentence wrapped by hand.
    <BLANKLINE>
    * a
    * b
    """
    out = []
    for par in doc.split("\n\n"):
        lines = par.splitlines()
        kept = any(ln[:1].isspace() or ln.lstrip()[:2] in ("* ", "- ", "| ") or
                   ln.lstrip()[:1] == "|" for ln in lines)
        out.append(par if kept else " ".join(ln.strip() for ln in lines))
    return "\n\n".join(out)


@group.command("show")
@click.argument("group_name", metavar="GROUP")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def show(group_name: str, name: str, as_json: bool) -> None:
    """What one plugin does and the settings it takes (its `--param` / `--matcher-param` keys).

    \b
    Examples:
      ast plugins show encoders attention
      ast plugins show matchers sdtw
    """
    info = plugins.describe(group_name, name)
    if as_json:
        print_json(info)
        return
    console.print(f"[bold]{info['group'][:-1]} {info['name']}[/] — {info['target']} "
                  f"({info['distribution']} {info['version']})\n")
    console.print(reflow(info["doc"]), markup=False, highlight=False)
    if info["params"]:
        table = Table(title="settings")
        for col in ("name", "type", "default"):
            table.add_column(col)
        for p in info["params"]:
            table.add_row(p["name"], p["type"], repr(p["default"]))
        console.print(table)
