"""Finding, loading and registering trained models and rendered datasets by name."""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from . import plugins
from .build import atomic_write_text
from .errors import IntegrityError, ParameterError, RegistryError, UnknownPluginError, did_you_mean
from .nn import read_model_config
from .registry import Registry

__all__ = ["DATA_ENV", "data_root", "resolve_dataset_dir", "resolve_model_dir", "load_encoder",
           "register_model"]

#: Folder holding rendered datasets by name (default ``./data``).
DATA_ENV = "AST_DATA"


def data_root() -> Path:
    """Where ``--dataset NAME`` looks for ``NAME``'s rendered folder: ``$AST_DATA`` or ``./data``."""
    return Path(os.environ.get(DATA_ENV, "data"))


def resolve_dataset_dir(name_or_path: str, registry: Registry | None = None) -> Path:
    """A rendered dataset folder from a path or a registry name.

    A name of ``registry.toml`` maps to ``$AST_DATA/NAME`` (default ``data/NAME``),
    where ``ast data render NAME --out data/NAME`` puts it.
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    if registry is not None and name_or_path in registry.datasets:
        folder = data_root() / name_or_path
        if folder.is_dir():
            return folder
        raise ParameterError(
            f"dataset {name_or_path!r} has not been rendered to {folder}: run "
            f"`ast data render {name_or_path} --out {folder}` first, or pass the folder"
        )
    msg = f"{name_or_path!r} is neither a dataset folder nor a dataset of the registry"
    if registry is not None and registry.datasets:
        close = difflib.get_close_matches(name_or_path, registry.datasets, n=3)
        if close:
            msg += f"; did you mean {' or '.join(repr(c) for c in close)}?"
        msg += f" Known names: {', '.join(sorted(registry.datasets))}"
    raise ParameterError(msg)


def resolve_model_dir(name_or_path: str, registry: Registry | None = None) -> Path:
    """A model folder from a path or a registry model name."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    if registry is not None and name_or_path in registry.models:
        return registry.models[name_or_path].checkpoint_path
    if registry is not None and registry.models:
        raise UnknownPluginError(
            did_you_mean(name_or_path, registry.models, what="model",
                         hint="`ast registry list`") + " (or give a model folder)"
        )
    raise ParameterError(f"{name_or_path!r}: no such model folder, and no models are registered")


def load_encoder(name_or_path: str, registry: Registry | None = None) -> tuple[Any, dict[str, Any]]:
    """Load a trained encoder: its plugin is looked up by the name in ``config.json``.

    Returns
    -------
    encoder : Encoder
    config : dict
        The model folder's ``config.json``.
    """
    folder = resolve_model_dir(name_or_path, registry)
    cfg = read_model_config(folder)
    try:
        cls = plugins.load("encoders", cfg["encoder"])
    except UnknownPluginError:
        raise IntegrityError(
            f"{folder}: trained with encoder {cfg['encoder']!r}, which is not installed here "
            f"(installed: {', '.join(plugins.names('encoders'))})"
        ) from None
    return cls.load(folder), cfg


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise ParameterError(f"cannot write {value!r} to TOML")


def register_model(registry_file: str | os.PathLike, name: str, model_dir: str | os.PathLike,
                   *, description: str = "") -> Path:
    """Add (or replace) ``[models.NAME]`` in a user registry file for a trained model.

    The checkpoint path is written relative to the registry file's folder.  Use
    the file with ``ast --registry FILE`` or ``$AST_REGISTRY``.
    """
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise ParameterError(f"model name {name!r}: use letters, digits, '-' and '_'")
    file = Path(registry_file)
    model_dir = Path(model_dir)
    cfg = read_model_config(model_dir)
    text = file.read_text() if file.exists() else "schema = 1\n"
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{file}: not valid TOML: {exc}") from None
    # Drop an existing entry of that name (its header up to the next header).
    text = re.sub(rf"(?ms)^\[models\.{re.escape(name)}\]\n.*?(?=^\[|\Z)", "", text)
    try:
        rel = os.path.relpath(model_dir.resolve(), file.resolve().parent)
    except ValueError:  # another drive
        rel = str(model_dir.resolve())
    entry = {
        "encoder": cfg["encoder"],
        "checkpoint": rel,
        "description": description or f"{cfg['encoder']} trained with {cfg.get('objective')}",
        "loss": cfg.get("objective"),
    }
    if (cfg.get("dataset") or {}).get("name"):
        entry["dataset"] = cfg["dataset"]["name"]
    lines = [f"\n[models.{name}]"] + [f"{k} = {_toml_value(v)}" for k, v in entry.items() if v]
    text = text.rstrip("\n") + "\n" + "\n".join(lines) + "\n"
    file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(file, text)
    return file
