"""Files written so that a killed run never leaves one that looks complete.

Every file the toolkit writes goes to a temporary name beside its final one
and is renamed into place when it is whole (:func:`atomic_path`); JSON is read
back with errors that name the file (:func:`read_json`); checksums are sha256
(:func:`sha256`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import IntegrityError

__all__ = ["atomic_path", "atomic_write_text", "write_json", "read_json", "save_npy", "sha256"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary name beside ``path`` (same suffix) to write to.

    The file is renamed to ``path`` when the block ends, and removed if the
    block raises: never a half-written file under the final name.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with atomic_path(folder / "table.csv") as tmp:
    ...     _ = tmp.write_text("query,score,relevant\\n")
    >>> sorted(p.name for p in folder.iterdir())
    ['table.csv']
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to a temporary name, then rename: never a half-written file.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "note.txt"
    >>> atomic_write_text(path, "done\\n")
    >>> path.read_text()
    'done\\n'
    """
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "meta.json"
    >>> write_json(path, {"pieces": 3})
    >>> read_json(path)
    {'pieces': 3}
    """
    atomic_write_text(path, json.dumps(data, indent=1))


def read_json(path: str | os.PathLike, *, what: str = "") -> Any:
    """Read a JSON file; a missing or damaged one raises :class:`IntegrityError` naming it.

    Parameters
    ----------
    path : path
    what : str
        What the file is, for the message (``"dataset metadata"``).

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "broken.json"
    >>> _ = path.write_text("{not json")
    >>> read_json(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.IntegrityError: .../broken.json: cannot read: Expecting property name ...
    """
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise IntegrityError(f"{path}: missing" + (f" ({what})" if what else "")) from None
    except (OSError, ValueError) as exc:
        raise IntegrityError(f"{path}: cannot read: {exc}") from None


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """``np.save`` to a temporary name, then rename.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "rows.npy"
    >>> save_npy(path, np.arange(3, dtype=np.float32))
    >>> np.load(path)
    array([0., 1., 2.], dtype=float32)
    """
    with atomic_path(path) as tmp:
        np.save(tmp, array)


def sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in blocks of 1 MiB.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "empty"
    >>> _ = path.write_bytes(b"")
    >>> sha256(path)[:16]
    'e3b0c44298fc1c14'
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
