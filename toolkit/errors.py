"""One error hierarchy for the whole toolkit.

Every error the toolkit raises on purpose derives from :class:`ToolkitError`, so
callers (and the CLI) can catch one class.  Messages name the bad value, the file
it came from and what is allowed.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "ToolkitError",
    "ParameterError",
    "RegistryError",
    "UnknownNameError",
    "UnknownPluginError",
    "UnknownEntryError",
    "PluginLoadError",
    "PluginInterfaceError",
    "IntegrityError",
    "BusyError",
    "AudioError",
    "SheetError",
    "RenderError",
    "DuplicatePluginWarning",
    "TruncatedAudioWarning",
    "TruncatedImageWarning",
    "did_you_mean",
]


class ToolkitError(Exception):
    """Root of every error raised by ``ast`` on purpose.

    Examples
    --------
    >>> from ast_toolkit.catalog import load_registry
    >>> try:
    ...     load_registry(env=False).dataset("chorale")
    ... except ToolkitError as exc:
    ...     print(type(exc).__name__)
    UnknownEntryError
    >>> all(issubclass(e, ToolkitError) for e in (
    ...     ParameterError, RegistryError, UnknownNameError, UnknownPluginError, UnknownEntryError,
    ...     PluginLoadError, PluginInterfaceError, IntegrityError, AudioError, RenderError))
    True
    """


class ParameterError(ToolkitError, ValueError):
    """A value passed at a public boundary is not allowed."""


class RegistryError(ToolkitError):
    """A ``registry.toml`` file is malformed: unknown key, missing field, wrong type."""


class UnknownNameError(ToolkitError, KeyError):
    """A name that is not known: a plugin, a registry entry, a piece, a backbone.

    The message lists close matches ("did you mean ...?") and the known names.
    """

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class UnknownPluginError(UnknownNameError):
    """No plugin of that name is registered in the group."""


class UnknownEntryError(UnknownNameError):
    """No dataset or model of that name in the registry files (``registry.toml``)."""


class PluginLoadError(ToolkitError):
    """A registered plugin could not be imported."""


class PluginInterfaceError(PluginLoadError):
    """A registered plugin loaded, but does not implement its group's interface."""


class IntegrityError(ToolkitError):
    """Files on disk are missing, corrupt or incomplete."""


class BusyError(ToolkitError):
    """An output folder is being written by another process."""


class AudioError(ParameterError):
    """An audio file cannot be used: missing, unreadable, not audio, silent or too short."""


class SheetError(ParameterError):
    """A sheet-music file or page cannot be used: missing, unreadable, encrypted, empty,
    or a page the reader cannot trust (no staves, strong perspective, too coarse)."""


class RenderError(ToolkitError):
    """A score could not be engraved, performed or synthesized.

    Raised by renderers and synthesizers for a score that cannot be read, an
    engraver or synthesizer that fails or crashes, and one that takes longer
    than its time limit; not for a bad option (that is a :class:`ParameterError`).
    """


class TruncatedAudioWarning(UserWarning):
    """An audio file holds less audio than its header declares; what is there is used."""


class TruncatedImageWarning(UserWarning):
    """An image file ends before its format's end marker; what could be decoded is used."""


class DuplicatePluginWarning(UserWarning):
    """Two distributions register a plugin under the same name in one group."""


def did_you_mean(name: str, known: Iterable[str], *, what: str = "name", max_known: int = 30,
                 hint: str = "") -> str:
    """Return ``"unknown <what> 'x'; did you mean 'y'? Known: a, b, c"``.

    Parameters
    ----------
    name : str
        The name the user gave.
    known : iterable of str
        Every allowed name.
    what : str
        What kind of name it is, for the message.
    max_known : int
        Longer lists are not printed in full; ``hint`` says where to see them.
    hint : str
        How to list every known name, e.g. ``"`ast data stats DIR --pieces`"``.

    Examples
    --------
    >>> did_you_mean("mmr", ["mrr", "recall@k", "median-rank"], what="metric plugin")
    "unknown metric plugin 'mmr'; did you mean 'mrr'? Known: median-rank, mrr, recall@k"
    """
    known = sorted(set(known))
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    msg = f"unknown {what} {name!r}"
    if close:
        msg += "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    if not close:
        msg += ";"
    if len(known) <= max_known:
        msg += " Known: " + (", ".join(known) if known else "(none)")
    else:
        msg += f" ({len(known)} known" + (f"; {hint} lists them" if hint else "") + ")"
    return msg
