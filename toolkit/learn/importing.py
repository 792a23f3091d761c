"""Importing published checkpoints into model folders (``ast model import``).

An :class:`~ast_toolkit.interfaces.Importer` plugin reads another code base's
checkpoint into an encoder; this module writes the encoder as an ``ast`` model
folder — ``config.json`` (with where the weights came from and the data
setting they expect) and ``weights.pt`` — usable by ``ast fit --init``,
``ast index``, ``ast match`` and ``ast eval`` like a model trained here.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .. import plugins
from ..catalog import register_model
from ..errors import ParameterError
from ..io import sha256, writes_folder
from .modelfile import CONFIG_FILE, read_model_config

__all__ = ["ImportResult", "import_model"]


@dataclass
class ImportResult:
    """What :func:`import_model` wrote."""

    out: Path
    encoder: str
    params: dict
    already: bool = False
    registered: Path | None = None


@writes_folder("out", what="ast model import")
def import_model(file: str | os.PathLike, out: str | os.PathLike, *, format: str,
                 exist_ok: bool = False, register_as: str | None = None,
                 registry_file: str | os.PathLike = "ast-registry.toml") -> ImportResult:
    """Convert the checkpoint ``file`` of format ``format`` into the model folder ``out``.

    Parameters
    ----------
    file : path
        The checkpoint (e.g. ``params_mc_audio.pt`` of luisfvc/ucasr).
    out : path
        Model folder to write; written under a temporary name and renamed, so
        an interrupted import leaves nothing that looks finished.
    format : str
        Importer plugin name (``ast plugins list --group importers``).
    exist_ok : bool
        When ``out`` already holds the import of this very file, return it.
    register_as, registry_file
        Add the model to a user registry file (as ``ast fit --register``).

    Examples
    --------
    >>> result = import_model("params_mc_audio.pt", "models/ucasr-mc", format="ucasr")  # doctest: +SKIP
    >>> result.encoder, result.params["audio_context"], result.params["sheet_polarity"]  # doctest: +SKIP
    ('cnn', 84, 'paper')
    >>> import_model("x.pt", "models/x", format="ucsar")
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.UnknownPluginError: unknown importer plugin 'ucsar'; did you mean 'ucasr'? Known: ucasr
    """
    importer = plugins.create("importers", format)
    file, out = Path(file), Path(out)
    digest = sha256(file) if file.is_file() else None
    if (out / CONFIG_FILE).exists():
        done = read_model_config(out)
        if exist_ok and (done.get("imported") or {}).get("sha256") == digest:
            return _registered(ImportResult(out, done["encoder"], done.get("params", {}),
                                            already=True), register_as, registry_file)
        raise ParameterError(f"{out}: already holds a model; choose another --out"
                             + ("" if exist_ok else " (or --exist-ok if it is this import)"))
    if out.is_dir() and any(out.iterdir()):  # never replace files that are not a model
        raise ParameterError(f"{out}: not empty and not a model folder; choose another --out")
    model = importer.read(file)
    tmp = out.with_name(f".partial-{out.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.encoder.save(tmp, extra={
            "objective": None,
            "dataset": model.dataset,
            "imported": {**model.source, "file": str(file.resolve()), "sha256": digest},
        })
        if out.exists():  # an empty folder (checked above)
            out.rmdir()
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    cfg = read_model_config(out)
    return _registered(ImportResult(out, cfg["encoder"], cfg.get("params", {})), register_as,
                       registry_file)


def _registered(result: ImportResult, name: str | None, registry_file) -> ImportResult:
    if name:
        result.registered = register_model(registry_file, name, result.out,
                                           description="imported checkpoint")
    return result
