"""Files written so that a killed run never leaves one that looks complete.

Every file the toolkit writes goes to a temporary name beside its final one
and is renamed into place when it is whole (:func:`atomic_path`); JSON is read
back with errors that name the file (:func:`read_json`); checksums are sha256
(:func:`sha256`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import BusyError, IntegrityError

__all__ = ["atomic_path", "atomic_write_text", "write_json", "read_json", "save_npy", "sha256",
           "writer_lock", "writes_folder"]


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


@contextlib.contextmanager
def writer_lock(folder: str | os.PathLike, *, what: str = "") -> Iterator[None]:
    """Hold the one-writer lock of an output folder while the block writes into it.

    An advisory lock (``filelock``, ``flock`` on POSIX) on ``.NAME.lock``
    beside the folder — beside, not inside, so that replacing the folder does
    not drop it.  A second writer stops at once with :class:`BusyError` naming
    the process that holds it; a killed writer's lock is released by the
    operating system, so nothing has to be cleaned up after a crash.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "data"
    >>> with writer_lock(out, what="ast data render"):
    ...     with writer_lock(out):  # doctest: +ELLIPSIS
    ...         pass
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.BusyError: .../data is being written by process ... (ast data render, since ...); wait for it to finish, or stop it
    """
    import filelock

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    lock_file = folder.parent / f".{folder.name}.lock"
    owner_file = folder.parent / f".{folder.name}.lock.owner"
    lock = filelock.FileLock(str(lock_file))
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        try:
            owner = owner_file.read_text().strip()
        except OSError:
            owner = "another process"
        raise BusyError(f"{folder} is being written by {owner}; wait for it to finish, or stop "
                        "it") from None
    try:
        owner_file.write_text(f"process {os.getpid()}"
                              + (f" ({what}, since " if what else " (since ")
                              + time.strftime("%H:%M:%S") + ")\n")
        yield
    finally:
        owner_file.unlink(missing_ok=True)
        lock.release()


def writes_folder(param: str, *, what: str) -> Callable[[Callable], Callable]:
    """Decorate a function that writes the output folder named by its argument ``param``:
    it runs holding that folder's :func:`writer_lock`.

    Examples
    --------
    >>> @writes_folder("out", what="an example")
    ... def make(out, n=1):
    ...     return n
    >>> import tempfile
    >>> make(Path(tempfile.mkdtemp()) / "x", n=3)
    3
    """
    def decorate(fn: Callable) -> Callable:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            folder = signature.bind(*args, **kwargs).arguments[param]
            with writer_lock(folder, what=what):
                return fn(*args, **kwargs)
        return wrapper
    return decorate
