"""Model folders: what ``ast fit`` writes, read without importing a deep-learning framework.

A model folder holds ``config.json`` (encoder plugin name, hyper-parameters,
objective, the dataset it was trained on and its spectrogram, training
summary; written last, it marks the model finished) and ``weights.pt``; ``ast
fit`` adds ``log.jsonl`` (one line per epoch) and ``reference.npz`` (reference
rows for hubness correction, :mod:`ast_toolkit.learn.reference`).
:func:`load_encoder` finds the encoder plugin by the name in ``config.json``
and lets the plugin read its weights.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .. import __version__, plugins
from ..catalog import Registry, resolve_model_dir
from ..errors import IntegrityError, UnknownPluginError
from .. import schemas
from ..io import read_json, sha256
from ..types import SpectrogramSpec

__all__ = ["MODEL_FORMAT", "CONFIG_FILE", "WEIGHTS_FILE", "read_model_config", "load_encoder",
           "model_fingerprint", "model_spectrogram"]

#: Version of the model-folder format.
MODEL_FORMAT = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.pt"
#: one JSON line per training epoch (written by ``ast fit``)
LOG_FILE = "log.jsonl"


def read_model_config(path: str | os.PathLike) -> dict[str, Any]:
    """The ``config.json`` of a model folder, checked for format.

    Raises
    ------
    IntegrityError
        No such folder, no ``config.json`` (an unfinished run), a damaged one,
        another format version, or no encoder name.

    Examples
    --------
    >>> import tempfile
    >>> read_model_config(tempfile.mkdtemp())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.IntegrityError: ...: not a model folder (no config.json); a training run that did not finish can be continued with `ast fit ... --resume`
    """
    folder = Path(path)
    cfg_path = folder / CONFIG_FILE
    if not folder.is_dir():
        raise IntegrityError(f"{folder}: no such model folder")
    if not cfg_path.is_file():
        raise IntegrityError(
            f"{folder}: not a model folder (no {CONFIG_FILE}); a training run that "
            "did not finish can be continued with `ast fit ... --resume`"
        )
    cfg = read_json(cfg_path, schema=schemas.ModelConfig)
    fmt = cfg.get("format")
    if fmt != MODEL_FORMAT:
        raise IntegrityError(
            f"{cfg_path}: model format {fmt!r}; this toolkit ({__version__}) reads format {MODEL_FORMAT}"
        )
    if not isinstance(cfg.get("encoder"), str):
        raise IntegrityError(f"{cfg_path}: no encoder name")
    return cfg


def load_encoder(name_or_path: str | os.PathLike,
                 registry: Registry | None = None) -> tuple[Any, dict[str, Any]]:
    """Load a trained encoder: its plugin is looked up by the name in ``config.json``.

    Parameters
    ----------
    name_or_path : str or path
        A model folder or a registered model name.
    registry : Registry or None
        For registered names.

    Returns
    -------
    encoder : Encoder
    config : dict
        The model folder's ``config.json``.

    Examples
    --------
    >>> encoder, config = load_encoder("models/demo-cnn")  # doctest: +SKIP
    >>> encoder.name, config["objective"]  # doctest: +SKIP
    ('cnn', 'ranking')
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


def model_fingerprint(model_dir: str | os.PathLike) -> str:
    """sha256 of a model folder's weights: which model made an index.

    Examples
    --------
    >>> model_fingerprint("no/such/model")
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.IntegrityError: no/such/model/weights.pt: missing
    """
    path = Path(model_dir) / WEIGHTS_FILE
    if not path.is_file():
        raise IntegrityError(f"{path}: missing")
    return sha256(path)


def model_spectrogram(config: dict[str, Any]) -> SpectrogramSpec:
    """The spectrogram a model was trained on (from its ``config.json``).

    Examples
    --------
    >>> model_spectrogram({"dataset": {"spectrogram": {"fps": 31.25}}}).fps
    31.25
    """
    return SpectrogramSpec.from_dict((config.get("dataset") or {}).get("spectrogram"))


def model_sheet_scale(config: dict[str, Any]) -> tuple[float, int]:
    """The staff space (pixels) and system margin of the pages a model was trained on.

    A user's scan is rescaled to this staff space before its systems are cut
    (:mod:`ast_toolkit.data.sheets`).  A model that does not record it (trained
    before it was recorded) gets the ``msmd`` preset's, 7 px and no margin.

    Examples
    --------
    >>> model_sheet_scale({"dataset": {"staff_space": 10.0, "system_margin": 10}})
    (10.0, 10)
    >>> model_sheet_scale({})
    (7.0, 0)
    """
    from ..catalog import PRESETS

    data = config.get("dataset") or {}
    default = PRESETS["msmd"]
    return (float(data.get("staff_space") or default.render.staff_space),
            int(data.get("system_margin", default.snippets.system_margin)))
