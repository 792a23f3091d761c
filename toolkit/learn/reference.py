"""A model's reference rows: embeddings of both modalities kept beside its weights.

Hubness correction (:mod:`ast_toolkit.search.hubness`) measures how crowded
each candidate's neighbourhood is among rows of the *query's* modality.  An
index of scans only (``ast match -q recording.mp3 --sheets ~/scans``) has no
such rows; the model's reference rows stand in for them: aligned sheet and
audio snippets of the model's validation pieces, embedded once, stored as
``reference.npz`` in the model folder (float16, a few hundred kB) with the
sha256 of the weights they were embedded with.

``ast fit`` writes them when it finishes; ``ast model reference`` writes them
for a model folder that has none (an imported checkpoint, an older model).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..catalog import Registry, resolve_model_dir
from ..errors import IntegrityError, ParameterError
from ..io import atomic_path
from ..progress import Progress
from .modelfile import WEIGHTS_FILE, model_fingerprint

__all__ = ["REFERENCE_FILE", "REFERENCE_ROWS", "save_reference", "read_reference", "write_reference"]

REFERENCE_FILE = "reference.npz"
#: Pairs embedded by default: enough for a stable 10-nearest-neighbour mean,
#: small enough to ship (2 x 4000 x dim float16: 0.5 MB at 32 dimensions).
REFERENCE_ROWS = 4000


def save_reference(model_dir: str | os.PathLike, sheet: np.ndarray, audio: np.ndarray,
                   source: str) -> Path:
    """Write ``reference.npz`` (rows L2-normalised, float16) for the weights now in ``model_dir``.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "weights.pt").write_bytes(b"w")
    >>> path = save_reference(folder, np.eye(2), np.eye(2)[::-1], "a test")
    >>> read_reference(folder)["audio"].tolist()
    [[0.0, 1.0], [1.0, 0.0]]
    >>> _ = (folder / "weights.pt").write_bytes(b"other weights")
    >>> read_reference(folder)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.IntegrityError: .../reference.npz: made with other weights than .../weights.pt; run `ast model reference ...` again
    """
    model_dir = Path(model_dir)
    arrays = {}
    for name, rows in (("sheet", sheet), ("audio", audio)):
        rows = np.asarray(rows, np.float32)
        if rows.ndim != 2 or len(rows) == 0:
            raise ParameterError(f"reference rows of {name}: shape {rows.shape}, need (n, dim) with n > 0")
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        arrays[name] = (rows / np.maximum(norms, 1e-12)).astype(np.float16)
    if arrays["sheet"].shape[1] != arrays["audio"].shape[1]:
        raise ParameterError(f"reference rows: sheet width {arrays['sheet'].shape[1]}, "
                             f"audio width {arrays['audio'].shape[1]}")
    path = model_dir / REFERENCE_FILE
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays, weights_sha256=np.array(model_fingerprint(model_dir)),
                     source=np.array(source))
    return path


def read_reference(model_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The reference rows of a model folder (``sheet``, ``audio``: float32; ``source``), or None.

    A damaged file, or one made with other weights, raises
    :class:`~ast_toolkit.errors.IntegrityError` naming it.
    """
    model_dir = Path(model_dir)
    path = model_dir / REFERENCE_FILE
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {name: z[name] for name in ("sheet", "audio", "weights_sha256", "source")}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise IntegrityError(f"{path}: cannot read reference rows: {exc}; run `ast model "
                             f"reference {model_dir}` again") from None
    if str(data["weights_sha256"]) != model_fingerprint(model_dir):
        raise IntegrityError(f"{path}: made with other weights than {model_dir / WEIGHTS_FILE}; "
                             f"run `ast model reference {model_dir}` again")
    out: dict[str, Any] = {"source": str(data["source"])}
    for name in ("sheet", "audio"):
        rows = np.asarray(data[name], np.float32)
        if rows.ndim != 2 or not np.isfinite(rows).all():
            raise IntegrityError(f"{path}: {name} rows of shape {rows.shape} or not finite; run "
                                 f"`ast model reference {model_dir}` again")
        out[name] = rows
    return out


def write_reference(model: str | os.PathLike | None, datasets: list[str | os.PathLike] | None = None,
                    *, split: str = "valid", rows: int = REFERENCE_ROWS,
                    registry: Registry | None = None, progress: Progress | None = None) -> Path:
    """Embed ``rows`` aligned pairs of ``split`` of ``datasets`` with the model; save them.

    ``datasets`` default to those the model was trained on (its
    ``config.json``); an imported checkpoint needs them named (e.g. a dataset
    rendered with the ``msmd`` preset for MSMD-trained weights).
    """
    from ..evaluation.snippets import embed_pairs, evenly_spaced
    from .modelfile import load_encoder
    from .training import _open_training_data, _without

    folder = resolve_model_dir(model, registry)
    encoder, cfg = load_encoder(folder, registry)
    if not datasets:
        info = cfg.get("dataset") or {}
        datasets = list(info.get("roots") or ([info["root"]] if info.get("root") else []))
        missing = [d for d in datasets if not Path(d).is_dir()]
        if not datasets or missing:
            raise ParameterError(
                f"{folder}: " + (f"the datasets it was trained on are not here ({', '.join(map(str, missing))})"
                                 if missing else "no training dataset recorded (an imported model?)")
                + "; name one with --dataset")
    ds = _open_training_data(list(datasets), encoder, registry)
    table = ds.pair_table(split)
    # pieces the model was kept from stay out of its reference too: a benchmark's
    # held-out piece must not find its own recording among the reference rows
    held_out = frozenset((cfg.get("held_out") or {}).get("pieces") or ())
    if held_out:
        table = _without(table, held_out)
    if len(table) < 2:
        raise ParameterError(f"{ds.root}: the {split} split has {len(table)} pairs; choose another "
                             "--split")
    emb = embed_pairs(encoder, ds, table, evenly_spaced(len(table), rows), progress=progress)
    names = ", ".join(Path(d).name for d in datasets)
    return save_reference(folder, emb.sheet, emb.audio,
                          f"{len(emb.sheet)} pairs of the {split} split of {names}")
