"""The ``ast`` command line: a thin click + rich layer over library functions.

The command tree is the modules of this package: ``ast data …`` is
:mod:`~ast_toolkit.cli.data`, ``ast fit`` :mod:`~ast_toolkit.cli.fit`, and so
on.  Each command parses its options, calls one library function and prints
a table (or JSON with ``--json``).  Commands are plugins of the
``ast.commands`` entry-point group, like every other capability: a package
adds ``ast mycommand`` with one module and one entry-point line, and a
command that fails to import breaks only itself.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from typing import Any

import click

from .. import __version__
from .. import plugins as discovery  # not `plugins`: ast_toolkit.cli.plugins is a command module
from ..catalog import ENV_VAR
from ..io import set_verify
from ..errors import PluginLoadError, UnknownPluginError
from ._common import AstGroup

__all__ = ["cli", "main"]


class _Commands(AstGroup):
    """The root group: its subcommands are the ``ast.commands`` plugins, loaded when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return discovery.names("commands")

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        try:
            return discovery.load("commands", name)
        except UnknownPluginError:
            return None
        except PluginLoadError as exc:
            message = str(exc)

            def broken() -> None:
                raise click.ClickException(message)

            return click.Command(name, callback=broken, help=f"(broken) {message}",
                                 short_help="(broken: `ast plugins list -g commands` says why)")


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="ast")
@click.option(
    "--registry",
    "registry_files",
    multiple=True,
    type=click.Path(dir_okay=False),
    help=f"A registry file that extends and overrides the bundled registry.toml "
    f"(repeatable; read after the files in ${ENV_VAR}).",
)
@click.option(
    "--verify",
    is_flag=True,
    help="Check the content checksums of every large file a command opens (spectrograms, "
    "pages, index arrays), not only sizes, shapes and small files; slower on big folders.",
)
@click.pass_context
def cli(ctx: click.Context, registry_files: Sequence[str], verify: bool) -> None:
    """ast: cross-modal retrieval between music recordings and sheet-music images.

    Every capability is a plugin found through entry points; `ast plugins list`
    shows them.  Named datasets and models live in registry.toml; `ast registry
    list` shows them.
    """
    ctx.ensure_object(dict)
    ctx.obj["registry_files"] = tuple(registry_files)
    if verify:
        set_verify(True)


def _format_warning(message: Any, category: Any, filename: str, lineno: int,
                    line: str | None = None) -> str:
    # Warnings (e.g. two plugins with one name) are for users: one plain line.
    return f"warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    warnings.formatwarning = _format_warning
    cli.main(args=list(argv) if argv is not None else None, prog_name="ast")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
