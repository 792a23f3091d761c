"""What every ``ast`` command shares: consoles, errors, JSON, the progress display, options."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from .. import plugins
from ..catalog import Registry, load_registry
from ..config import parse_param
from ..errors import ToolkitError
from ..progress import Step
from ..search.hubness import K as HUBNESS_K

__all__ = ["HUBNESS_HELP", "console", "err_console", "AstGroup", "registry_of", "print_json", "print_failures",
           "register_options",
           "ProgressDisplay", "PluginOption", "parse_params", "EXIT_PIECES_FAILED"]

#: ``--hubness`` of ``ast match`` and ``ast eval pieces``.
HUBNESS_HELP = ("csls: correct the scores for hubs — candidates close to every query, which "
                "otherwise win many searches — by each candidate's and the query's mean "
                f"similarity to their {HUBNESS_K} nearest rows of the other side (Conneau et al. "
                "2018). An index of scans only, or of recordings only, measures against the "
                "model's reference rows (`ast model reference`; the shipped models have them).")

console = Console()
err_console = Console(stderr=True)

#: Exit status of a batch command (render, index) when some pieces failed (the rest is done).
EXIT_PIECES_FAILED = 3


class AstGroup(click.Group):
    """A click group that turns toolkit errors into one-line messages, exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ToolkitError as exc:
            raise click.ClickException(str(exc)) from exc


def registry_of(ctx: click.Context) -> Registry:
    """The registry: the bundled file, ``$AST_REGISTRY`` and ``ast --registry`` files."""
    return load_registry(ctx.find_root().obj["registry_files"])


def print_json(data: Any) -> None:
    """``data`` as indented JSON on stdout (anything not JSON becomes a string)."""
    click.echo(json.dumps(data, indent=2, default=str))


def print_failures(title: str, rows: Sequence[dict[str, str]]) -> None:
    """The pieces a batch could not process: piece, file, reason."""
    table = Table(title=title)
    for col in ("piece", "file", "reason"):
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(row["piece"], row["file"], row["reason"])
    console.print(table)


def _shown(info: dict[str, Any]) -> str:
    """The numbers of a step worth showing beside its bar: floats and texts."""
    parts = []
    for key, value in info.items():
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, float) and math.isfinite(value):
            parts.append(f"{key} {value:.4g}")
    return "  ".join(parts)


class ProgressDisplay:
    """The one rich adapter of :mod:`ast_toolkit.progress`: a bar per task, lines for messages.

    Use it as the ``progress`` callback of any long-running library function::

        with ProgressDisplay(enabled=not as_json) as show:
            render_dataset(spec, out, progress=show)

    Parameters
    ----------
    enabled : bool
        Draw bars (messages are printed either way, on stderr).
    transient : bool
        Remove the bars when the job ends.
    """

    def __init__(self, *, enabled: bool = True, transient: bool = False) -> None:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[extra]}"), TimeElapsedColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), console=err_console, disable=not enabled, transient=transient)
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> ProgressDisplay:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def __call__(self, step: Step) -> None:
        if step.message is not None:
            self.progress.console.print(step.message, markup=False, highlight=False)
            return
        extra = _shown(step.info)
        if step.failed:
            extra = f"[red]{step.failed} failed[/]" + (f"  {extra}" if extra else "")
        if step.task not in self._tasks:
            self._tasks[step.task] = self.progress.add_task(step.description, total=step.total,
                                                            extra=extra)
        self.progress.update(self._tasks[step.task], description=step.description,
                             completed=step.done, total=step.total, extra=extra)


class PluginOption(click.Option):
    """An option that names a plugin: its help ends with the installed names of its
    group, read from the entry points when the help is shown (no plugin is imported)."""

    def __init__(self, *args: Any, plugin_group: str, **kwargs: Any) -> None:
        self.plugin_group = plugin_group
        super().__init__(*args, **kwargs)

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        original = self.help
        names = ", ".join(plugins.names(self.plugin_group)) or "none"
        self.help = f"{original or ''} Installed: {names}.".strip()
        try:
            return super().get_help_record(ctx)
        finally:
            self.help = original


def parse_params(pairs: Sequence[str], option: str = "--param") -> dict[str, Any]:
    """``KEY=VALUE`` strings (values read as JSON when they can be) as a dict."""
    out = {}
    for text in pairs:
        try:
            key, value = parse_param(text)
        except ToolkitError as exc:
            raise click.BadParameter(str(exc), param_hint=option) from None
        out[key] = value
    return out


def register_options(f: Any) -> Any:
    """``--register NAME`` and ``--registry-file FILE`` of the commands that write a model
    folder (``ast fit``, ``ast model import``)."""
    options = [
        click.option("--register", "register_name", metavar="NAME",
                     help="Add the model to a registry file as NAME (see --registry-file)."),
        click.option("--registry-file", default="ast-registry.toml", show_default=True,
                     type=click.Path(dir_okay=False),
                     help="The registry file --register writes; read it with `ast --registry FILE`."),
    ]
    for option in reversed(options):
        f = option(f)
    return f
