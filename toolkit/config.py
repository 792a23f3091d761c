"""Typed configuration: frozen dataclasses built from keyword arguments or CLI strings.

Shared by every plugin with hyper-parameters (encoders, objectives, matchers)
and by the training loop; it needs neither torch nor any plugin.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any

from .errors import ParameterError, did_you_mean

__all__ = ["make_config", "parse_param"]


def parse_param(text: str) -> tuple[str, Any]:
    """``"key=value"`` from the command line; the value is read as JSON when it can be.

    ``context=84`` gives an int, ``sheet_backbone=resnet18`` a string,
    ``sheet_window=[160,200]`` a list.

    Examples
    --------
    >>> parse_param("context=84"), parse_param("sheet_backbone=resnet18")
    (('context', 84), ('sheet_backbone', 'resnet18'))
    >>> parse_param("sheet_window=[160,200]")
    ('sheet_window', [160, 200])
    >>> parse_param("context")
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.ParameterError: expected KEY=VALUE, got 'context'
    """
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ParameterError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key.strip(), json.loads(value)
    except ValueError:
        return key.strip(), value


def _coerce(tp: Any, value: Any, key: str, what: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)

    def bad() -> ParameterError:
        return ParameterError(f"{what}: {key} must be {getattr(tp, '__name__', tp)}, got {value!r}")

    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, key, what)
    if origin is typing.Literal:
        if value not in args:
            raise ParameterError(f"{what}: {key} must be one of {', '.join(map(repr, args))}, "
                                 f"got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise bad()
        items = args if (len(args) != 2 or args[1] is not Ellipsis) else (args[0],) * len(value)
        if len(items) != len(value):
            raise ParameterError(f"{what}: {key} needs {len(items)} values, got {value!r}")
        return tuple(_coerce(t, v, key, what) for t, v in zip(items, value))
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad()
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad()
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad()
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad()
        return value
    return value


def make_config(cls: type, params: dict[str, Any], *, what: str) -> Any:
    """Build the frozen dataclass ``cls`` from ``params``; unknown keys get a did-you-mean.

    Examples
    --------
    >>> @dataclasses.dataclass(frozen=True)
    ... class Settings:
    ...     context: int = 42
    ...     sheet_window: tuple[int, int] = (160, 200)
    >>> make_config(Settings, dict(map(parse_param, ["context=84", "sheet_window=[80,100]"])),
    ...             what="encoder 'cnn'")
    Settings(context=84, sheet_window=(80, 100))
    >>> make_config(Settings, {"contxt": 84}, what="encoder 'cnn'")
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.ParameterError: encoder 'cnn': unknown parameter 'contxt'; did you mean 'context'? Allowed: context, sheet_window
    >>> make_config(Settings, {"context": 8.4}, what="encoder 'cnn'")
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.ParameterError: encoder 'cnn': context must be int, got 8.4
    """
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in params:
        if key not in names:
            raise ParameterError(
                f"{what}: " + did_you_mean(key, names, what="parameter").replace("Known:", "Allowed:")
            )
    kwargs = {k: _coerce(hints[k], v, k, what) for k, v in params.items() if v is not None}
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise ParameterError(f"{what}: {exc}") from None
