"""Score sources: which pieces a dataset is made of.

A source is a string:

* ``music21:<glob>`` — files of music21's bundled corpus, e.g.
  ``music21:essenFolksong/*.abc`` or ``music21:bach/bwv*``;
* a local file, folder (searched recursively) or glob of MusicXML (``.xml``,
  ``.musicxml``, ``.mxl``), ABC, Humdrum kern (``.krn``) or MEI files.

Every tune of a multi-tune ABC file is a piece of its own.  Each piece gets a
stable id made of the source, the file and the tune number:
``music21/essenFolksong/altdeu10.abc#12`` or ``local/<folder>/<relative path>``.
"""

from __future__ import annotations

import glob
import os
import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import ParameterError
from ..types import ScoreSource

__all__ = ["SCORE_SUFFIXES", "music21_corpus_root", "expand_source", "select", "piece_slug"]

#: File suffixes read as scores.
SCORE_SUFFIXES = (".xml", ".musicxml", ".mxl", ".abc", ".krn", ".mei")

_X_LINE = re.compile(rb"^X:\s*(\d+)", re.MULTILINE)


def music21_corpus_root() -> Path:
    """Folder of the corpus that ships inside the music21 wheel.

    Examples
    --------
    >>> root = music21_corpus_root()
    >>> (root / "essenFolksong" / "altdeu10.abc").is_file()
    True
    """
    try:
        from music21 import common
    except ImportError as exc:  # pragma: no cover - music21 is a dependency
        raise ParameterError("music21 is not installed; it provides the bundled corpus") from exc
    return Path(common.getCorpusFilePath())


def _abc_tunes(path: Path) -> list[int]:
    """Reference numbers (``X:``) of the tunes in an ABC file, read without parsing."""
    try:
        numbers = [int(m) for m in _X_LINE.findall(path.read_bytes())]
    except OSError as exc:
        raise ParameterError(f"{path}: cannot read: {exc.strerror}") from None
    # Duplicate numbers cannot be told apart by music21; keep the first of each.
    return list(dict.fromkeys(numbers))


def _pieces_of_file(path: Path, id_prefix: str) -> list[ScoreSource]:
    if path.suffix.lower() == ".abc":
        tunes = _abc_tunes(path)
        if len(tunes) > 1:
            return [ScoreSource(f"{id_prefix}#{n}", path, n) for n in tunes]
        if tunes:
            return [ScoreSource(id_prefix, path, tunes[0])]
    return [ScoreSource(id_prefix, path, None)]


def expand_source(spec: str) -> list[ScoreSource]:
    """Every piece of one source, sorted by id.

    Parameters
    ----------
    spec : str
        ``music21:<glob>`` or a local file / folder / glob.

    Raises
    ------
    ParameterError
        When the source matches no score file.

    Examples
    --------
    >>> pieces = expand_source("music21:essenFolksong/altdeu10.abc")
    >>> len(pieces), pieces[0].id, pieces[0].number
    (313, 'music21/essenFolksong/altdeu10.abc#1', 1)
    >>> expand_source("scores/*.mxl")
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.ParameterError: source 'scores/*.mxl' matches no score file (.xml, .musicxml, .mxl, .abc, .krn, .mei); use music21:<glob> for the bundled corpus or a local file, folder or glob
    """
    files: list[tuple[Path, str]] = []
    if spec.startswith("music21:"):
        root = music21_corpus_root()
        pattern = spec[len("music21:"):].strip("/")
        for p in sorted(root.glob(pattern)):
            candidates = sorted(p.rglob("*")) if p.is_dir() else [p]
            for f in candidates:
                if f.is_file() and f.suffix.lower() in SCORE_SUFFIXES:
                    files.append((f, "music21/" + f.relative_to(root).as_posix()))
    else:
        base = Path(spec).expanduser()
        if base.is_dir():
            for f in sorted(base.rglob("*")):
                if f.is_file() and f.suffix.lower() in SCORE_SUFFIXES:
                    # the folder's own name, also for "." (resolved: never an empty name)
                    files.append((f, f"local/{base.resolve().name}/{f.relative_to(base).as_posix()}"))
        else:
            for name in sorted(glob.glob(os.path.expanduser(spec), recursive=True)):
                f = Path(name)
                if f.is_file() and f.suffix.lower() in SCORE_SUFFIXES:
                    files.append((f, f"local/{f.resolve().parent.name}/{f.name}"))
    if not files:
        raise ParameterError(
            f"source {spec!r} matches no score file ({', '.join(SCORE_SUFFIXES)}); "
            "use music21:<glob> for the bundled corpus or a local file, folder or glob"
        )
    pieces = [piece for f, pid in files for piece in _pieces_of_file(f, pid)]
    # One piece per id (a .mxl and an .xml of the same work stay distinct by suffix).
    unique = {p.id: p for p in pieces}
    return [unique[k] for k in sorted(unique)]


def select(pieces: Sequence[ScoreSource], limit: int | None) -> list[ScoreSource]:
    """At most ``limit`` pieces, spread evenly over the sorted list (deterministic).

    Examples
    --------
    >>> pieces = expand_source("music21:essenFolksong/altdeu10.abc")
    >>> [p.number for p in select(pieces, 3)]  # first, middle and last id
    [1, 24, 99]
    >>> len(select(pieces, None)), len(select(pieces, 1000))
    (313, 313)
    """
    if limit is None or limit >= len(pieces):
        return list(pieces)
    if limit < 1:
        raise ParameterError(f"limit must be >= 1, got {limit}")
    idx = np.unique(np.linspace(0, len(pieces) - 1, limit).round().astype(int))
    return [pieces[i] for i in idx]


def piece_slug(piece_id: str) -> str:
    """A file-system-safe folder name for a piece id, one-to-one.

    The readable form (``/`` → ``__``, ``#`` → ``--``, anything else unsafe →
    ``_``) is used as it is when it reads back as the id; otherwise — the id
    had characters that were replaced, or ``__`` / ``--`` of its own, or is
    very long — a ``~`` and 10 hex digits of the id's SHA-1 are added.  ``~``
    never appears in a readable slug, so two ids never share a folder (before,
    ``col a.xml`` and ``col_a.xml`` did).

    Examples
    --------
    >>> piece_slug("music21/essenFolksong/altdeu10.abc#12")
    'music21__essenFolksong__altdeu10.abc--12'
    >>> piece_slug("local/my scores/sonata.mxl")
    'local__my_scores__sonata.mxl~5d6a382adc'
    >>> len({piece_slug(f"local/{n}") for n in ("col a.xml", "col_a.xml", "col#b.xml", "col--b.xml")})
    4
    """
    slug = re.sub(r"[^A-Za-z0-9._#-]", "_", piece_id.replace("/", "__")).replace("#", "--")
    if slug.replace("--", "#").replace("__", "/") != piece_id or len(slug) > 150:
        digest = hashlib.sha1(piece_id.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        slug = f"{slug[:120]}~{digest}"
    return slug
