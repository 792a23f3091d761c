"""Plugin discovery: the ONE module of ``ast`` that touches entry points.

Every capability of the toolkit is a plugin registered under an entry-point group
in some distribution's ``pyproject.toml``; the toolkit's own plugins are declared
in its own ``pyproject.toml`` exactly like a third party's::

    [project.entry-points."ast.metrics"]
    "ndcg@k" = "my_package.metrics:NDCGAtK"

Discovery is lazy: :func:`discover` reads distribution metadata only and imports
no plugin; :func:`load` imports one when it is used.  A name of the form
``base@VALUE`` (``recall@10``) resolves to the plugin registered as ``base@k``
and passes ``k=VALUE`` to its constructor.

``entrypoints.get_group_named`` silently keeps the first of two plugins that share
a name; here every entry point is read with ``get_group_all`` and a duplicate
raises a :class:`~ast_toolkit.errors.DuplicatePluginWarning` naming both
distributions (the one found first on ``sys.path`` is used, as an import would).
"""

from __future__ import annotations

import inspect
import re
import warnings
from dataclasses import dataclass
from typing import Any

import click
import entrypoints

from . import interfaces
from .errors import (
    DuplicatePluginWarning,
    ParameterError,
    PluginInterfaceError,
    PluginLoadError,
    UnknownPluginError,
    did_you_mean,
)

__all__ = [
    "GROUPS",
    "PluginInfo",
    "PluginStatus",
    "discover",
    "names",
    "get",
    "load",
    "create",
    "check",
    "refresh",
    "describe",
]

#: short group name -> (entry-point group, interface every plugin must implement)
GROUPS: dict[str, tuple[str, type]] = {
    "renderers": ("ast.renderers", interfaces.Renderer),
    "synthesizers": ("ast.synthesizers", interfaces.Synthesizer),
    "readers": ("ast.readers", interfaces.Reader),
    "datasets": ("ast.datasets", interfaces.Dataset),
    "encoders": ("ast.encoders", interfaces.Encoder),
    "objectives": ("ast.objectives", interfaces.Objective),
    "matchers": ("ast.matchers", interfaces.Matcher),
    "metrics": ("ast.metrics", interfaces.Metric),
    "importers": ("ast.importers", interfaces.Importer),
    "augmentations": ("ast.augmentations", interfaces.Augmentation),
    # `ast` subcommands: click commands (objects, not classes), one module of
    # ast_toolkit.cli each for the bundled ones.
    "commands": ("ast.commands", click.Command),
}
#: Groups whose entry points name objects (instances of the interface), not classes.
_INSTANCE_GROUPS = frozenset({"commands"})


@dataclass(frozen=True)
class PluginInfo:
    """What the metadata says about one plugin; nothing is imported.

    Attributes
    ----------
    group : str
        Short group name, e.g. ``"metrics"``.
    name : str
        Registered name, e.g. ``"recall@k"``.
    target : str
        ``"module:object"`` the entry point points at.
    distribution : str
        The distribution that registers it, e.g. ``"ast-toolkit"``.
    version : str
        That distribution's version.
    shadows : tuple of str
        Other distributions registering the same name, each reachable as
        ``DISTRIBUTION:NAME`` (this one keeps the plain name: the bundled one
        when it is among them).

    Examples
    --------
    >>> info = get("matchers", "dtw")
    >>> info.group, info.name, info.entry_point_group
    ('matchers', 'dtw', 'ast.matchers')
    >>> info.target
    'ast_toolkit_plugins.matchers.dtw:DTWMatcher'
    """

    group: str
    name: str
    target: str
    distribution: str
    version: str
    shadows: tuple[str, ...] = ()

    @property
    def entry_point_group(self) -> str:
        return GROUPS[self.group][0]


@dataclass(frozen=True)
class PluginStatus:
    """Result of :func:`check`: ``ok`` or broken with a reason.

    Examples
    --------
    >>> status = check(get("metrics", "mrr"))
    >>> status.ok, status.reason, status.info.name
    (True, '', 'mrr')
    """

    info: PluginInfo
    ok: bool
    reason: str = ""


_cache: dict[str, list[PluginInfo]] = {}
_PARAM_NAME = re.compile(r"^(?P<base>[^@]+)@(?P<value>[^@]+)$")


def _normalise_distribution(name: str) -> str:
    # entrypoints reports the on-disk spelling (ast_toolkit); show the PEP 503 one.
    return re.sub(r"[-_.]+", "-", name).lower()


def _check_group(group: str) -> str:
    if group not in GROUPS:
        raise ParameterError(did_you_mean(group, GROUPS, what="plugin group"))
    return group


def refresh() -> None:
    """Forget what was discovered, e.g. after a ``pip install`` in this process.

    Examples
    --------
    >>> refresh()
    >>> "dtw" in names("matchers")  # read again from the installed metadata
    True
    """
    _cache.clear()


#: The distribution whose plugins are the bundled ones (this toolkit's own).
BUNDLED_DISTRIBUTION = "ast-toolkit"


def _discover_group(group: str) -> list[PluginInfo]:
    """Every plugin of ``group``; one name, one plugin.

    When distributions register the same name, the bundled plugin keeps it
    whatever the installation order (a third-party package cannot silently
    replace ``cnn``), else the first registered one does; each other one stays
    reachable as ``DISTRIBUTION:NAME`` and is listed under that name, and a
    :class:`DuplicatePluginWarning` names both.
    """
    if group in _cache:
        return _cache[group]
    ep_group = GROUPS[group][0]
    by_name: dict[str, list[PluginInfo]] = {}
    for ep in entrypoints.get_group_all(ep_group):
        dist = _normalise_distribution(ep.distro.name) if ep.distro else "(unknown)"
        version = (ep.distro.version or "") if ep.distro else ""
        target = ep.module_name + (f":{ep.object_name}" if ep.object_name else "")
        same = by_name.setdefault(ep.name, [])
        if all(info.distribution != dist for info in same):  # one distribution seen twice: once
            same.append(PluginInfo(group, ep.name, target, dist, version))
    infos = []
    for name, candidates in sorted(by_name.items()):
        winner = next((c for c in candidates if c.distribution == BUNDLED_DISTRIBUTION),
                      candidates[0])
        others = [c for c in candidates if c is not winner]
        if others:
            aliases = [f"{o.distribution}:{name}" for o in others]
            winner = PluginInfo(winner.group, name, winner.target, winner.distribution,
                                winner.version, tuple(f"{a} ({o.target})" for a, o in zip(aliases, others)))
            infos.extend(PluginInfo(o.group, a, o.target, o.distribution, o.version)
                         for a, o in zip(aliases, others))
            warnings.warn(
                f"plugin {name!r} in {ep_group} is registered by more than one "
                f"distribution: {winner.distribution} ({winner.target}) and "
                + ", ".join(f"{o.distribution} ({o.target})" for o in others)
                + f"; {name!r} is the one from {winner.distribution}"
                + ("" if winner.distribution != BUNDLED_DISTRIBUTION else " (bundled)")
                + "; the other" + ("s are " if len(others) > 1 else " is ")
                + ", ".join(repr(a) for a in aliases),
                DuplicatePluginWarning,
                stacklevel=3,
            )
        infos.append(winner)
    infos.sort(key=lambda info: info.name)
    _cache[group] = infos
    return infos


def discover(group: str | None = None) -> list[PluginInfo]:
    """List registered plugins without importing any of them.

    Parameters
    ----------
    group : str or None
        A short group name (see :data:`GROUPS`); None lists every group.

    Returns
    -------
    list of PluginInfo
        Sorted by group, then name.

    Examples
    --------
    >>> "mrr" in [info.name for info in discover("metrics")]
    True
    >>> {info.group for info in discover()} == set(GROUPS)
    True
    >>> discover("metric")
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.ParameterError: unknown plugin group 'metric'; did you mean 'metrics'? Known: augmentations, commands, datasets, encoders, importers, matchers, metrics, objectives, readers, renderers, synthesizers
    """
    groups = [_check_group(group)] if group else list(GROUPS)
    return [info for g in groups for info in _discover_group(g)]


def names(group: str) -> list[str]:
    """Registered names in ``group``, sorted.

    Examples
    --------
    >>> "dtw" in names("matchers"), "recall@k" in names("metrics")
    (True, True)
    >>> names("encoders") == sorted(names("encoders"))
    True
    """
    return [info.name for info in discover(group)]


def _resolve(group: str, name: str) -> tuple[PluginInfo, dict[str, Any]]:
    """Find the plugin for ``name``; ``base@VALUE`` maps to ``base@k`` with ``k=VALUE``."""
    infos = {info.name: info for info in discover(group)}
    if name in infos:
        return infos[name], {}
    m = _PARAM_NAME.match(name)
    if m and f"{m['base']}@k" in infos:
        value = m["value"]
        try:
            k = int(value)
        except ValueError:
            raise ParameterError(
                f"{group[:-1]} {name!r}: the value after '@' must be an integer, got {value!r}"
            ) from None
        return infos[f"{m['base']}@k"], {"k": k}
    raise UnknownPluginError(did_you_mean(name, infos, what=f"{group[:-1]} plugin"))


def get(group: str, name: str) -> PluginInfo:
    """Metadata of the plugin ``name`` in ``group``; raises :class:`UnknownPluginError`.

    Examples
    --------
    >>> get("metrics", "recall@10").name  # base@VALUE names the plugin base@k
    'recall@k'
    >>> get("metrics", "mmr")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.UnknownPluginError: unknown metric plugin 'mmr'; did you mean 'mrr'...
    """
    return _resolve(_check_group(group), name)[0]


def _load_info(info: PluginInfo) -> type:
    interface = GROUPS[info.group][1]
    module, _, obj_path = info.target.partition(":")
    try:
        ep = entrypoints.EntryPoint(info.name, module, obj_path or None)
        obj = ep.load()
    except (Exception, SystemExit) as exc:  # any import-time failure: broken plugin
        raise PluginLoadError(
            f"{info.group[:-1]} plugin {info.name!r} from {info.distribution} "
            f"({info.target}) failed to import: {type(exc).__name__}: {exc}"
        ) from exc
    if info.group in _INSTANCE_GROUPS:
        if not isinstance(obj, interface):
            raise PluginInterfaceError(
                f"{info.group[:-1]} plugin {info.name!r} from {info.distribution} "
                f"({info.target}) is not a {interface.__module__}.{interface.__qualname__}"
            )
        return obj
    if not (inspect.isclass(obj) and issubclass(obj, interface)):
        raise PluginInterfaceError(
            f"{info.group[:-1]} plugin {info.name!r} from {info.distribution} "
            f"({info.target}) is not a subclass of {interface.__module__}."
            f"{interface.__qualname__}"
        )
    if inspect.isabstract(obj):
        missing = ", ".join(sorted(obj.__abstractmethods__))
        raise PluginInterfaceError(
            f"{info.group[:-1]} plugin {info.name!r} from {info.distribution} "
            f"({info.target}) does not implement {interface.__qualname__}: missing {missing}"
        )
    return obj


def load(group: str, name: str) -> Any:
    """Import and return the plugin class registered as ``name`` in ``group``
    (for ``commands``: the click command).

    Raises
    ------
    UnknownPluginError
        No such name (the message lists the known names and close matches).
    PluginLoadError
        The plugin failed to import.
    PluginInterfaceError
        It imported but is not a concrete implementation of the group's interface.

    Examples
    --------
    >>> from ast_toolkit.interfaces import Matcher
    >>> issubclass(load("matchers", "dtw"), Matcher)
    True
    >>> load("commands", "plugins").name  # a click command, not a class
    'plugins'
    """
    return _load_info(get(group, name))


def create(group: str, name: str, /, **kwargs: Any) -> Any:
    """Instantiate a plugin; keyword arguments that are None are dropped.

    Dropping None lets CLI options that were not given fall back to the plugin's own
    defaults instead of overriding them.

    Examples
    --------
    >>> create("metrics", "recall@10").k
    10
    >>> create("matchers", "dtw", steps=None).config.steps  # None: the plugin's default
    'basic'
    >>> create("metrics", "recall@ten")
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.ParameterError: metric 'recall@ten': the value after '@' must be an integer, got 'ten'
    """
    info, implied = _resolve(_check_group(group), name)
    if group in _INSTANCE_GROUPS:
        raise ParameterError(f"{group} plugins are objects, not classes: use load()")
    cls = _load_info(info)
    options = {k: v for k, v in {**implied, **kwargs}.items() if v is not None}
    try:
        return cls(**options)
    except TypeError as exc:
        raise ParameterError(f"{group[:-1]} plugin {name!r}: bad options {options}: {exc}") from exc


def check(info: PluginInfo) -> PluginStatus:
    """Import ``info``'s plugin and check its interface; never raises for a broken plugin.

    Examples
    --------
    >>> check(get("matchers", "dtw")).ok
    True
    >>> broken = PluginInfo("metrics", "broken", "no_such_module:Metric", "my-dist", "1.0")
    >>> check(broken).reason
    "ModuleNotFoundError: No module named 'no_such_module'"
    """
    try:
        _load_info(info)
    except PluginInterfaceError as exc:
        return PluginStatus(info, False, str(exc).split(f"({info.target}) ", 1)[-1])
    except PluginLoadError as exc:
        cause = exc.__cause__
        return PluginStatus(info, False, f"{type(cause).__name__}: {cause}")
    return PluginStatus(info, True)


def describe(group: str, name: str) -> dict[str, Any]:
    """What a plugin is and which settings it takes: for ``ast plugins show``.

    The settings are the fields of the plugin's typed ``Config`` dataclass
    when it has one (encoders, matchers), else its constructor's keywords.

    Returns
    -------
    dict
        ``group, name, target, distribution, version, doc`` (its docstring)
        and ``params``: ``[{"name", "type", "default"}]``.

    Examples
    --------
    >>> info = describe("matchers", "vote")
    >>> [(p["name"], p["default"]) for p in info["params"]][:2]
    [('k', 25), ('exact_rows', 200000)]
    >>> describe("encoders", "cnn")["params"][0]
    {'name': 'sheet_window', 'type': 'tuple[int, int]', 'default': (160, 200)}
    """
    import dataclasses

    info = get(group, name)
    obj = _load_info(info)
    params = []
    config = getattr(obj, "Config", None)
    if dataclasses.is_dataclass(config):
        for f in dataclasses.fields(config):
            default = f.default if f.default is not dataclasses.MISSING else None
            params.append({"name": f.name, "type": str(f.type), "default": default})
    elif inspect.isclass(obj):
        for p in list(inspect.signature(obj.__init__).parameters.values())[1:]:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            default = None if p.default is p.empty else p.default
            annotation = p.annotation if isinstance(p.annotation, str) else \
                getattr(p.annotation, "__name__", str(p.annotation))
            params.append({"name": p.name, "type": "" if p.annotation is p.empty else annotation,
                           "default": default})
    return {"group": info.group, "name": info.name, "target": info.target,
            "distribution": info.distribution, "version": info.version,
            "doc": inspect.getdoc(obj) or "", "params": params}
