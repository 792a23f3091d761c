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
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import BusyError, IntegrityError

__all__ = ["atomic_path", "atomic_write_text", "write_json", "read_json", "read_npy", "save_npy", "sha256",
           "set_verify", "verify_enabled",
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


def read_json(path: str | os.PathLike, *, schema: Any = None, what: str = "") -> Any:
    """Read a JSON file the toolkit wrote, checked against its ``schema``.

    The one loader of every internal JSON file: a missing, unreadable or
    malformed file, or one whose content does not fit ``schema`` (a type of
    :mod:`ast_toolkit.schemas`), raises one :class:`IntegrityError` naming the
    file, the field and the type expected.

    Parameters
    ----------
    path : path
    schema : type or None
        What the file must hold (``None``: any JSON).
    what : str
        What the file is, for the message (``"dataset metadata"``).

    Returns
    -------
    The parsed JSON, as written (keys the schema does not list are kept).

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "broken.json"
    >>> _ = path.write_text("{not json")
    >>> read_json(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.IntegrityError: .../broken.json: not valid JSON: ... at line 1 column 2
    >>> _ = path.write_text('{"pieces": "three"}')
    >>> read_json(path, schema=dict[str, int])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.IntegrityError: .../broken.json: field 'pieces': Input should be a valid integer (got 'three')
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise IntegrityError(f"{path}: missing" + (f" ({what})" if what else "")) from None
    except OSError as exc:
        raise IntegrityError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw)
    except RecursionError:
        raise IntegrityError(f"{path}: not valid JSON: nested too deeply") from None
    except ValueError as exc:
        detail = getattr(exc, "msg", str(exc))
        where = f" at line {exc.lineno} column {exc.colno}" if hasattr(exc, "lineno") else ""
        raise IntegrityError(f"{path}: not valid JSON: {detail[:1].lower()}{detail[1:]}{where}"
                             + (f" ({what})" if what else "")) from None
    if schema is not None:
        _check_schema(path, data, schema)
    return data


@functools.lru_cache(maxsize=64)
def _adapter(schema: Any) -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(schema)


_SURROGATE = re.compile(r"\\ud[89a-f][0-9a-f]{2}")


def _check_schema(path: Path, data: Any, schema: Any) -> None:
    from pydantic import ValidationError

    text = json.dumps(data, allow_nan=True)
    # a file name that is not valid UTF-8 (kept by Python as lone surrogates) is a
    # valid string here; pydantic's JSON parser would refuse its escape
    text = _SURROGATE.sub("?", text)
    try:
        # JSON mode: arrays are accepted for tuples; strict: no "3" for 3
        _adapter(schema).validate_json(text, strict=True)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        field = ".".join(str(p) for p in first["loc"])
        got = first.get("input")
        shown = repr(got) if not isinstance(got, (dict, list)) else type(got).__name__
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise IntegrityError(
            f"{path}: " + (f"field {field!r}: " if field else "") + f"{first['msg']}"
            + (f" (got {shown[:60]})" if first["type"] != "missing" else "") + more
        ) from None


def read_npy(path: str | os.PathLike, *, ndim: int | None = None, dtype: Any = None,
             shape: tuple[int | None, ...] | None = None, mmap: bool = False) -> np.ndarray:
    """Read a ``.npy`` array the toolkit wrote, checked for rank, dtype and shape.

    ``shape`` may hold ``None`` for a free axis.  A missing, truncated or
    damaged file, or one of another shape, raises :class:`IntegrityError`
    naming the file; object arrays are never unpickled.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "spectrogram.npy"
    >>> np.save(path, np.zeros((92, 40), np.float16))
    >>> read_npy(path, shape=(92, None)).shape
    (92, 40)
    >>> read_npy(path, shape=(136, None))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.IntegrityError: .../spectrogram.npy: shape (92, 40), expected (136, any)
    """
    path = Path(path)
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise IntegrityError(f"{path}: missing") from None
    except (OSError, ValueError, EOFError) as exc:
        raise IntegrityError(f"{path}: cannot read array: {exc}") from None
    want = shape
    if ndim is None and want is not None:
        ndim = len(want)
    if ndim is not None and array.ndim != ndim:
        raise IntegrityError(f"{path}: {array.ndim}-d array of shape {array.shape}, expected {ndim}-d")
    if want is not None and any(w is not None and w != a for w, a in zip(want, array.shape)):
        shown = ", ".join("any" if w is None else str(w) for w in want)
        raise IntegrityError(f"{path}: shape {array.shape}, expected ({shown})")
    if dtype is not None and array.dtype != np.dtype(dtype):
        raise IntegrityError(f"{path}: dtype {array.dtype}, expected {np.dtype(dtype)}")
    return array


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


#: Whether opening a folder checks the content checksums of its large arrays too
#: (``ast --verify``); sizes, shapes and small files are always checked.
_VERIFY = [os.environ.get("AST_VERIFY", "") not in ("", "0")]


def set_verify(on: bool) -> None:
    """Check content checksums of large arrays when folders are opened (``ast --verify``).

    Examples
    --------
    >>> set_verify(True); verify_enabled()
    True
    >>> set_verify(False); verify_enabled()
    False
    """
    _VERIFY[0] = bool(on)


def verify_enabled() -> bool:
    """Whether :func:`set_verify` (or ``AST_VERIFY=1``) asked for content checksums on open."""
    return _VERIFY[0]


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
