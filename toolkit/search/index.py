"""Embedding indexes of whole pieces: ``ast index``.

An index holds every piece of a collection as two embedding sequences — sheet
windows slid along the unrolled systems (every 50 px, as [Carvalho & Widmer
2021], :data:`~ast_toolkit.references.CARVALHO2021`) and spectrogram excerpts
slid over a recording (every 0.5 s) — with what each row is and the model that
made them.  Any :class:`~ast_toolkit.interfaces.Dataset` gives the sides its
pieces have: a rendered dataset both, a user's recordings
(:class:`~ast_toolkit.data.recordings.Recordings`) the audio side only.

Layout (format :data:`INDEX_FORMAT`)::

    INDEX/index.json        format, model (folder, encoder, sha256 of its weights),
                            source (dataset folder and split, or audio files),
                            settings (hops, excerpt length, spectrogram), pieces:
                            id, row ranges [start, end) of each modality, duration, file
    INDEX/sheet.npy         float32 [n_sheet_rows, dim]   (memory-mapped when read)
    INDEX/sheet_rows.npy    float32 [n_sheet_rows, 3]     page, system, x (page pixels)
    INDEX/audio.npy         float32 [n_audio_rows, dim]
    INDEX/audio_rows.npy    float32 [n_audio_rows]        seconds (excerpt centre)
    INDEX/failures.json     pieces that could not be indexed: id, file, reason
    INDEX/.complete         written last

While it is built, each piece's embeddings go to ``INDEX/.parts/<slug>.npz``
(a temporary name, then a rename), so a killed run resumes where it stopped;
the arrays are assembled, written under temporary names and renamed, and the
completion marker comes last.  A run never leaves a partial index that a later
run or ``ast match`` would take for complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__, plugins, schemas
from ..catalog import Registry, resolve_model_dir
from ..data.datasets import (dataset_of_model, open_dataset, resolve_piece,
                             warn_on_training_pieces)
from ..data.collections import Joined, reopen, user_collection
from ..data.recordings import Recordings
from ..data.sheets import PDF_DPI, Sheets
from ..data.sources import piece_slug
from ..errors import IntegrityError, ParameterError, ToolkitError
from ..interfaces import Dataset
from ..io import (atomic_path, atomic_write_text, read_json, read_npy, save_npy, sha256,
                  verify_enabled, writes_folder)
from ..learn.modelfile import load_encoder, model_fingerprint, model_sheet_scale, model_spectrogram
from ..progress import Progress, Reporter
from ..types import Collection, SpectrogramSpec

__all__ = ["INDEX_FORMAT", "MODALITIES", "DIRECTIONS", "IndexReport", "Index", "build_index",
           "collection_index", "cache_root", "damaged_pieces"]

INDEX_FORMAT = 1
MODALITIES = ("sheet", "audio")
#: direction -> (query modality, collection modality)
DIRECTIONS = {"a2s": ("audio", "sheet"), "s2a": ("sheet", "audio")}
COMPLETE = ".complete"
PARTS = ".parts"


@dataclass
class IndexReport:
    """What a build did.

    Examples
    --------
    >>> report = build_index("models/demo-cnn", "indexes/demo", dataset="demo")  # doctest: +SKIP
    >>> len(report.built), len(report.resumed), report.already_complete  # doctest: +SKIP
    (14, 0, False)
    >>> build_index("models/demo-cnn", "indexes/demo", dataset="demo").already_complete  # doctest: +SKIP
    True
    >>> IndexReport(Path("indexes/demo")).failed
    []
    """

    out: Path
    built: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    already_complete: bool = False
    #: pieces of a complete index found damaged and embedded again (the rest kept)
    repaired: list[str] = field(default_factory=list)
    #: why the index was rebuilt, when it was (a damaged ``index.json`` or arrays)
    rebuilt: str = ""
    seconds: float = 0.0


def _save_part(path: Path, **arrays: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)


# --- building ---------------------------------------------------------------------------


def _plan_dataset(ds, split: str) -> list[str]:
    if split == "all":
        return ds.piece_ids()
    ids: list[str] = []
    for s in split.split(","):
        ids += ds.piece_ids(s.strip())
    return sorted(set(ids))


@writes_folder("out", what="ast index")
def build_index(model: str | os.PathLike | None, out: str | os.PathLike, *,
                dataset: str | os.PathLike | Dataset | None = None, split: str = "test",
                audio: Sequence[str | os.PathLike] | None = None,
                sheets: Sequence[str | os.PathLike] | None = None,
                manifest: str | os.PathLike | None = None, reader: str = "classical",
                dpi: int = PDF_DPI, sheet_hop: int = 50,
                audio_hop: float = 0.5, rendition: str | None = None, overwrite: bool = False,
                registry: Registry | None = None, progress: Progress | None = None) -> IndexReport:
    """Embed every piece of a collection into an index folder (resuming a killed run).

    Parameters
    ----------
    model : str, path or None
        A model folder (``ast fit``) or a registered model name; None: the
        registry's default model.
    out : path
        The index folder.
    dataset : str, path, Dataset or None
        A dataset folder or registry name (opened with the plugin its
        ``dataset.json`` names), or an open dataset; None takes the one the
        model was trained on (unless ``audio`` is given).
    split : str
        ``train``, ``valid``, ``test``, a comma-separated list, or ``all``.
    audio : sequence of paths or None
        Audio files and folders (searched recursively) to index instead of a
        dataset: pieces with an audio side.
    sheets : sequence of paths or None
        Scans, photos and PDFs, and folders of them, to index instead of a
        dataset (with ``audio`` or alone): pieces with a sheet side, read by
        ``reader`` and rescaled to the model's staff space
        (:mod:`ast_toolkit.data.sheets` says which files make a piece).
    manifest : path or None
        A CSV ``file,piece[,page]`` grouping the sheet files into pieces.
    reader : str
        The page reader plugin (``ast.readers``).
    dpi : int
        Resolution PDF pages are rasterised at.
    sheet_hop : int
        Pixels between sheet windows (as [Carvalho & Widmer 2021]: 50).
    audio_hop : float
        Seconds between excerpt centres (rounded to whole frames; about 0.5).
    rendition : str or None
        Which performance of each dataset piece; None takes the first.
    overwrite : bool
        Replace an index of other settings in ``out``.
    progress : Progress or None
        A step per piece (task ``"index"``).

    Returns
    -------
    IndexReport

    Examples
    --------
    >>> report = build_index("models/demo-cnn", "indexes/demo", dataset="demo")  # doctest: +SKIP
    >>> len(report.built), report.failed  # doctest: +SKIP
    (14, [])
    """
    t0 = time.perf_counter()
    out = Path(out)
    model_dir = resolve_model_dir(model, registry)
    encoder, cfg = load_encoder(model_dir, registry)
    if sheet_hop < 1:
        raise ParameterError(f"--sheet-hop must be >= 1 pixel, got {sheet_hop}")
    if (audio is not None or sheets is not None) and dataset is not None:
        raise ParameterError("index either a dataset or your own files (--sheets, --audio), not both")

    if sheets is not None:
        # a user's scans and recordings: pages rescaled to the model's staff space,
        # recordings turned into its spectrogram
        staff_space, margin = model_sheet_scale(cfg)
        ds: Dataset = user_collection(
            sheets=sheets, audio=audio, spectrogram=model_spectrogram(cfg),
            reader=plugins.create("readers", reader), staff_space=staff_space,
            system_margin=margin, manifest=manifest, dpi=dpi,
            sheet_window=tuple(encoder.sheet_window), audio_context=encoder.audio_shape[1])
        plan = ds.piece_ids()
        parts = ds.parts if isinstance(ds, Joined) else [ds]
        source: dict[str, Any] = {
            "kind": "files", "reader": reader, "staff_space": staff_space, "system_margin": margin,
            "dpi": int(dpi), "manifest": str(Path(manifest).resolve()) if manifest else None,
            "sheet_pieces": {pid: [[str(f), p] for f, p in part.files(pid)]
                             for part in parts if isinstance(part, Sheets) for pid in part.piece_ids()},
            "audio_pieces": {pid: str(part.file(pid)) for part in parts
                             if isinstance(part, Recordings) for pid in part.piece_ids()}}
    elif audio is not None:
        # recordings get the model's spectrogram
        ds = Recordings(audio, model_spectrogram(cfg), audio_context=encoder.audio_shape[1])
        plan = ds.piece_ids()
        source = {"kind": "audio", "files": [ds.source(p) for p in plan]}
    else:
        ds = dataset if isinstance(dataset, Dataset) else \
            dataset_of_model(cfg, dataset, encoder=encoder, registry=registry)
        plan = _plan_dataset(ds, split)
        if not plan:
            raise ParameterError(f"{ds.root}: no pieces in split {split!r}")
        source = {"kind": "dataset", "root": str(ds.root.resolve()), "name": ds.name,
                  "split": split, "rendition": rendition}
        warn_on_training_pieces(cfg, plan)
    spec = ds.spectrogram
    if not (np.isfinite(audio_hop) and audio_hop > 0):
        raise ParameterError(f"--audio-hop must be a number of seconds > 0, got {audio_hop}")
    hop_frames = int(round(audio_hop * spec.fps))
    if hop_frames < 1:
        raise ParameterError(f"--audio-hop {audio_hop} s is shorter than one frame (1/{spec.fps:g} s)")
    settings = {
        "format": INDEX_FORMAT,
        "model": {"folder": str(model_dir.resolve()), "encoder": cfg["encoder"],
                  "sha256": model_fingerprint(model_dir), "dim": int(encoder.dim),
                  "sheet_window": list(encoder.sheet_window),
                  "audio_shape": list(encoder.audio_shape)},
        "source": source,
        "sheet_hop": int(sheet_hop),
        "audio_hop": hop_frames,
        "audio_context": int(encoder.audio_shape[1]),
        "spectrogram": spec.to_dict(),
    }

    report = IndexReport(out)
    salvage: tuple[dict[str, Any], set[str]] | None = None
    if (out / COMPLETE).is_file():
        # a complete index is checked before it is called complete: a damaged
        # one is repaired (damaged pieces embedded again, the rest kept)
        try:
            old: dict[str, Any] | None = _read_meta(out)
        except IntegrityError as exc:
            old, report.rebuilt = None, str(exc)
        if old is not None and old["settings"] == settings:
            damaged = damaged_pieces(out, old)
            if not damaged:
                # leftovers of a run killed after its marker (we hold the lock)
                shutil.rmtree(out / PARTS, ignore_errors=True)
                _remove_stale(out)
                report.already_complete = True
                if (out / "failures.json").is_file():  # what the build could not index
                    report.failed = read_json(out / "failures.json", schema=schemas.Failures)
                report.seconds = time.perf_counter() - t0
                return report
            report.repaired = sorted(damaged)
            salvage = (old, damaged)
        elif old is not None and not overwrite:
            raise ParameterError(
                f"{out} holds an index made with other settings (model {old['settings']['model']['folder']}, "
                f"source {old['settings']['source'].get('root') or 'audio files'}); pass --overwrite "
                "or choose another --out")
    if out.exists() and not overwrite and any(out.iterdir()) and not (out / PARTS).is_dir() \
            and not (out / "index.json").exists():
        raise ParameterError(f"{out} exists and is not an index folder; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    (out / COMPLETE).unlink(missing_ok=True)  # first: a half-rebuilt index never looks complete
    parts = out / PARTS
    stamp = parts / "settings.json"
    if parts.is_dir():
        try:
            same = read_json(stamp, schema=schemas.IndexSettings) == settings
        except IntegrityError:
            same = False
        if not same:
            shutil.rmtree(parts)  # parts of another build (or a damaged stamp): start afresh
    parts.mkdir(exist_ok=True)
    atomic_write_text(stamp, json.dumps(settings, indent=1))
    _remove_stale(parts)
    _remove_stale(out)
    if salvage is not None:
        _salvage(out, parts, *salvage)

    failures: dict[str, dict[str, str]] = {}
    files = {pid: ds.source(pid) for pid in plan} if source["kind"] in ("audio", "files") else {}
    job = Reporter(progress, "index", total=len(plan), unit="pieces")
    for pid in plan:
        part = parts / f"{piece_slug(pid)}.npz"
        if part.is_file():
            report.resumed.append(pid)
        else:
            try:
                arrays = _embed_piece(encoder, ds, pid, sheet_hop, hop_frames, rendition)
                notes = ds.notes(pid)
                if notes:  # skipped pages, corrections: kept beside the piece
                    arrays["notes"] = np.array(notes)
                _save_part(part, **arrays)
                report.built.append(pid)
            except Exception as exc:  # one bad piece never stops the batch: reported, file named
                where = ds.source(pid)
                reason = str(exc).replace(f"{where}: ", "")
                if not isinstance(exc, ToolkitError):
                    reason = f"{type(exc).__name__}: {reason}"
                failures[pid] = {"piece": pid, "file": where, "reason": reason.splitlines()[0][:500]}
        job.advance(failed=pid in failures)
    report.failed = [failures[k] for k in sorted(failures)]
    done = [pid for pid in plan if pid not in failures]
    if not done:
        raise ParameterError(f"no piece could be indexed; the first failure: "
                             f"{report.failed[0]['file']}: {report.failed[0]['reason']}")
    _assemble(out, parts, done, settings, files, report.failed)
    shutil.rmtree(parts, ignore_errors=True)
    report.seconds = time.perf_counter() - t0
    return report


#: Folder of indexes made on the fly (``ast match --sheets/--audio``): ``$AST_CACHE``,
#: else ``$XDG_CACHE_HOME/ast``, else ``~/.cache/ast``.
CACHE_ENV = "AST_CACHE"


def cache_root() -> Path:
    """Where indexes made on the fly are kept.

    Examples
    --------
    >>> os.environ["AST_CACHE"] = "/tmp/ast-cache"
    >>> cache_root().as_posix()
    '/tmp/ast-cache'
    >>> del os.environ["AST_CACHE"]
    """
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "ast"


def collection_index(*, sheets: Sequence[str | os.PathLike] | None = None,
                     audio: Sequence[str | os.PathLike] | None = None,
                     model: str | os.PathLike | None = None, reader: str = "classical",
                     dpi: int = PDF_DPI, registry: Registry | None = None,
                     progress: Progress | None = None) -> tuple[Path, IndexReport]:
    """An index of a user's scans and recordings, made once and kept in :func:`cache_root`.

    The folder is named by the model's weights, the files' absolute paths, the
    reader and the resolution; a later call with the same ones finds it complete
    (a changed collection, e.g. a file added to a folder, is indexed again).
    Returns the folder and what the build did.
    """
    if not sheets and not audio:
        raise ParameterError("nothing to search: give scans (--sheets) or recordings (--audio)")
    model_dir = resolve_model_dir(model, registry)
    key = json.dumps({"model": model_fingerprint(model_dir),
                      "sheets": sorted(str(Path(p).expanduser().resolve()) for p in sheets or ()),
                      "audio": sorted(str(Path(p).expanduser().resolve()) for p in audio or ()),
                      "reader": reader, "dpi": int(dpi)}, sort_keys=True)
    out = cache_root() / "indexes" / hashlib.sha256(key.encode()).hexdigest()[:16]
    report = build_index(model_dir, out, sheets=list(sheets) if sheets else None,
                         audio=list(audio) if audio else None, reader=reader, dpi=dpi,
                         overwrite=True, registry=registry, progress=progress)
    return out, report


def _embed_piece(encoder: Any, ds: Dataset, pid: str, sheet_hop: int, audio_hop: int,
                 performance: str | None) -> dict[str, np.ndarray]:
    """A piece's embedding sequences, their positions, duration and performance."""
    seq = ds.sequence(pid, sheet_hop=sheet_hop, audio_hop=audio_hop, performance=performance)
    if not seq.sides:
        raise ParameterError("the piece has neither a sheet nor an audio side")
    arrays: dict[str, np.ndarray] = {}
    if "sheet" in seq.sides:
        arrays["sheet"] = encoder.embed_sheet(seq.sheet)
        arrays["sheet_rows"] = seq.sheet_positions.astype(np.float32)
    if "audio" in seq.sides:
        arrays["audio"] = encoder.embed_audio(seq.audio)
        arrays["audio_rows"] = seq.audio_times.astype(np.float32)
    for side in ("sheet", "audio"):
        if side in arrays and not np.isfinite(arrays[side]).all():
            bad = int((~np.isfinite(arrays[side])).any(axis=1).sum())
            raise IntegrityError(f"{bad} of {len(arrays[side])} {side} embeddings are not finite "
                                 "(NaN or inf): the model's weights or this piece's input are "
                                 "damaged; nothing of it is indexed")
    arrays["duration"] = np.float32(seq.duration)
    if seq.performance is not None:
        arrays["rendition"] = np.array(seq.performance)
    return arrays


def _assemble(out: Path, parts: Path, done: list[str], settings: dict[str, Any],
              file_of: dict[str, str], failures: list[dict[str, str]]) -> None:
    """Join the pieces' parts into the index's arrays and write ``index.json``, marker last."""
    dim = settings["model"]["dim"]
    seqs: dict[str, list[np.ndarray]] = {f"{m}{s}": [] for m in MODALITIES for s in ("", "_rows")}
    pieces = []
    counts = {m: 0 for m in MODALITIES}
    for pid in done:
        with np.load(parts / f"{piece_slug(pid)}.npz") as z:
            entry: dict[str, Any] = {"id": pid, "duration": float(z["duration"])}
            for m in MODALITIES:
                if m in z:
                    seqs[m].append(z[m])
                    seqs[f"{m}_rows"].append(z[f"{m}_rows"])
                    entry[m] = [counts[m], counts[m] + len(z[m])]
                    counts[m] += len(z[m])
            if "rendition" in z:
                entry["rendition"] = str(z["rendition"])
            if "notes" in z:
                entry["notes"] = [str(n) for n in z["notes"]]
            if pid in file_of:
                entry["file"] = file_of[pid]
            entry["sha256"] = _piece_digest({k: z[k] for k in z.files if k in _ROW_ARRAYS})
            pieces.append(entry)
    present = [m for m in MODALITIES if seqs[m]]
    for m in present:
        save_npy(out / f"{m}.npy", np.concatenate(seqs[m]).astype(np.float32))
        save_npy(out / f"{m}_rows.npy", np.concatenate(seqs[f"{m}_rows"]).astype(np.float32))
    for m in MODALITIES:
        if m not in present:
            for suffix in ("", "_rows"):
                (out / f"{m}{suffix}.npy").unlink(missing_ok=True)
    meta = {
        "format": INDEX_FORMAT,
        "toolkit_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "settings": settings,
        "modalities": present,
        "rows": {m: counts[m] for m in present},
        "dim": dim,
        "pieces": pieces,
        "arrays": {f"{m}{suffix}.npy": sha256(out / f"{m}{suffix}.npy")
                   for m in present for suffix in ("", "_rows")},
    }
    atomic_write_text(out / "failures.json", json.dumps(failures, indent=1))
    atomic_write_text(out / "index.json", json.dumps(meta, indent=1))
    (out / COMPLETE).write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"))


def _remove_stale(folder: Path) -> None:
    """Temporary files of a killed run (the caller holds the folder's lock)."""
    for stale in folder.glob(".*.tmp-*"):
        stale.unlink(missing_ok=True)


_ROW_ARRAYS = ("sheet", "sheet_rows", "audio", "audio_rows")


def _piece_digest(arrays: dict[str, np.ndarray]) -> str:
    """sha256 of a piece's rows in every array (float32, in a fixed order)."""
    h = hashlib.sha256()
    for name in _ROW_ARRAYS:
        if name in arrays:
            h.update(name.encode())
            h.update(np.ascontiguousarray(arrays[name], dtype=np.float32).tobytes())
    return h.hexdigest()


def damaged_pieces(folder: str | os.PathLike, meta: dict[str, Any] | None = None) -> set[str]:
    """Ids of the pieces of a complete index whose rows differ from their checksums.

    Reads every array once (a content check, as ``ast --verify`` and a repeated
    ``ast index`` do); arrays of the wrong size or shape damage every piece.

    Examples
    --------
    >>> damaged_pieces("indexes/demo")  # doctest: +SKIP
    set()
    """
    folder = Path(folder)
    meta = meta if meta is not None else _read_meta(folder)
    try:
        arrays = _check_layout(folder, meta)
    except IntegrityError:
        return {p["id"] for p in meta["pieces"]}
    damaged = set()
    for p in meta["pieces"]:
        if "sha256" not in p:
            continue  # an index from before per-piece checksums
        rows = {}
        for m in MODALITIES:
            if m in p:
                a, b = p[m]
                rows[m], rows[f"{m}_rows"] = arrays[m][a:b], arrays[f"{m}_rows"][a:b]
        if _piece_digest(rows) != p["sha256"]:
            damaged.add(p["id"])
    return damaged


def _check_layout(folder: Path, meta: dict[str, Any]) -> dict[str, np.ndarray]:
    """Memory-map the arrays, checking their shapes and the pieces' row ranges against
    ``index.json`` (cheap: headers and sizes only)."""
    arrays = {}
    index_json = folder / "index.json"
    for m in meta["modalities"]:
        n = meta["rows"].get(m)
        if n is None:
            raise IntegrityError(f"{index_json}: no row count for the {m} side")
        arrays[m] = read_npy(folder / f"{m}.npy", shape=(n, meta["dim"]), dtype=np.float32,
                             mmap=True)
        arrays[f"{m}_rows"] = read_npy(folder / f"{m}_rows.npy",
                                       shape=(n, 3) if m == "sheet" else (n,), mmap=True)
        end = 0
        for p in meta["pieces"]:
            if m not in p:
                continue
            a, b = p[m]
            if a != end or b < a or b > n:
                raise IntegrityError(f"{index_json}: piece {p['id']!r} has {m} rows {a}..{b}, "
                                     f"expected to start at {end} and end by {n}")
            end = b
        if end != n:
            raise IntegrityError(f"{index_json}: the pieces' {m} rows end at {end}, the array "
                                 f"has {n}")
    return arrays


VERIFIED = ".verified.json"


def _verify_arrays(folder: Path, meta: dict[str, Any], *, always: bool = False) -> None:
    """Check the arrays' content checksums (``index.json``'s ``arrays``).

    Hashing a large index on every query would cost more than the query, so a
    successful check is remembered in ``.verified.json`` by each file's size and
    modification time, and repeated only when a file changed (or ``always``:
    ``ast --verify``, which also finds damage that left the time stamp alone).
    """
    digests = meta.get("arrays") or {}
    stamp_file = folder / VERIFIED
    stats = {}
    for name in digests:
        st = (folder / name).stat()
        stats[name] = [st.st_size, st.st_mtime_ns]
    if not always:
        try:
            if json.loads(stamp_file.read_text()) == stats:
                return
        except (OSError, ValueError):
            pass
    for name, digest in digests.items():
        if sha256(folder / name) != digest:
            raise IntegrityError(
                f"{folder / name}: content differs from its checksum in index.json (the file "
                "is damaged); run the same `ast index` command again: it embeds the damaged "
                "pieces again")
    try:
        atomic_write_text(stamp_file, json.dumps(stats))
    except OSError:
        pass  # a read-only index is checked on every open


def _salvage(out: Path, parts: Path, meta: dict[str, Any], damaged: set[str]) -> None:
    """Put the intact pieces of a damaged index back into parts, so only the damaged
    ones are embedded again."""
    try:
        arrays = _check_layout(out, meta)
    except IntegrityError:
        return  # nothing can be trusted: every piece is embedded again
    for p in meta["pieces"]:
        part = parts / f"{piece_slug(p['id'])}.npz"
        if p["id"] in damaged or part.is_file():
            continue
        rows: dict[str, np.ndarray] = {}
        for m in MODALITIES:
            if m in p:
                a, b = p[m]
                rows[m] = np.asarray(arrays[m][a:b])
                rows[f"{m}_rows"] = np.asarray(arrays[f"{m}_rows"][a:b])
        if "sha256" not in p or _piece_digest(rows) != p["sha256"]:
            continue
        extra = {"rendition": np.array(p["rendition"])} if "rendition" in p else {}
        if p.get("notes"):
            extra["notes"] = np.array(p["notes"])
        _save_part(part, **rows, duration=np.float32(p["duration"]), **extra)


# --- reading ----------------------------------------------------------------------------


def _read_meta(folder: Path) -> dict[str, Any]:
    path = folder / "index.json"
    if not path.is_file():
        raise IntegrityError(f"{folder}: not an index (no index.json); make one with `ast index`")
    meta = read_json(path, schema=schemas.IndexMeta)
    if meta.get("format") != INDEX_FORMAT:
        raise IntegrityError(f"{path}: index format {meta.get('format')!r}; this toolkit "
                             f"({__version__}) reads format {INDEX_FORMAT}; rebuild it")
    return meta


class Index:
    """A complete index folder, its arrays memory-mapped.

    Parameters
    ----------
    folder : path
        Written by :func:`build_index` (``ast index``).

    Examples
    --------
    >>> index = Index("indexes/demo")  # doctest: +SKIP
    >>> len(index), index.modalities, index.meta["rows"]  # doctest: +SKIP
    (14, ['sheet', 'audio'], {'sheet': 721, 'audio': 709})
    >>> import tempfile
    >>> Index(tempfile.mkdtemp())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.IntegrityError: ...: not a complete index (no .complete marker); run the same `ast index` command again to finish it
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise IntegrityError(f"{self.folder}: no such index folder")
        if not (self.folder / COMPLETE).is_file():
            raise IntegrityError(
                f"{self.folder}: not a complete index (no {COMPLETE} marker); run the same "
                "`ast index` command again to finish it")
        self.meta = _read_meta(self.folder)
        # integrity on open: shapes and row ranges always; content checksums when an
        # array changed since it was last verified (or always, with --verify)
        self._arrays: dict[str, np.ndarray] = _check_layout(self.folder, self.meta)
        _verify_arrays(self.folder, self.meta, always=verify_enabled())
        self.settings = self.meta["settings"]
        self.pieces = self.meta["pieces"]
        self.ids = [p["id"] for p in self.pieces]
        self._pos = {pid: i for i, pid in enumerate(self.ids)}
        self._finite: set[str] = set()  # modalities whose arrays were checked for NaN / inf
        self._dataset: tuple[Dataset | None] | None = None  # opened once (a scan is read once)
        self._neighbourhoods: dict[tuple[str, int, bool], np.ndarray] = {}  # hubness correction's r

    def __len__(self) -> int:
        return len(self.pieces)

    @property
    def modalities(self) -> list[str]:
        return list(self.meta["modalities"])

    def has(self, modality: str) -> bool:
        return modality in self.meta["modalities"]

    def _array(self, name: str) -> np.ndarray:
        if name not in self._arrays:
            path = self.folder / f"{name}.npy"
            try:
                self._arrays[name] = np.load(path, mmap_mode="r")
            except (OSError, ValueError) as exc:
                raise IntegrityError(f"{path}: cannot read: {exc}") from None
        return self._arrays[name]

    def _check_modality(self, modality: str) -> None:
        if modality not in MODALITIES:
            raise ParameterError(f"modality must be sheet or audio, got {modality!r}")
        if not self.has(modality):
            raise ParameterError(f"{self.folder} has no {modality} side (it indexes "
                                 f"{', '.join(self.modalities)})")

    def piece(self, name: str) -> int:
        """Position of a piece: its id, a unique part of it, or its 0-based number."""
        if name in self._pos:
            return self._pos[name]
        return resolve_piece(name, self.ids, where=str(self.folder),
                             hint=f"`ast match --index {self.folder} --list`")

    def rows(self, modality: str, piece: int) -> tuple[int, int]:
        """Row range ``[start, end)`` of a piece's sequence."""
        self._check_modality(modality)
        a, b = self.pieces[piece].get(modality, (0, 0))
        return int(a), int(b)

    def sequence(self, modality: str, piece: int) -> np.ndarray:
        a, b = self.rows(modality, piece)
        rows = np.asarray(self._array(modality)[a:b], dtype=np.float32)
        self._check_finite(modality, rows, a)
        return rows

    def _check_finite(self, modality: str, rows: np.ndarray, start: int = 0) -> None:
        # flipped bytes that make NaN or inf would reach the search (faiss fails, a
        # distance becomes NaN): refused here, naming the file; finite damage is
        # what the checksums (`ast --verify`, `ast index` again) find
        bad = ~np.isfinite(rows).all(axis=1)
        if bad.any():
            first = start + int(np.argmax(bad))
            raise IntegrityError(
                f"{self.folder / (modality + '.npy')}: {int(bad.sum())} rows with non-finite values "
                f"(NaN or inf), the first row {first}: the file is damaged; run the same "
                "`ast index` command again: it embeds the damaged pieces again")

    def positions(self, modality: str, piece: int) -> np.ndarray:
        """What each row of a piece is: ``[n, 3]`` page, system, x — or ``[n]`` seconds."""
        a, b = self.rows(modality, piece)
        return np.asarray(self._array(f"{modality}_rows")[a:b])

    def collection(self, modality: str, pieces: Sequence[int] | None = None) -> Collection:
        """The pieces' sequences of one modality (memory-mapped unless a subset)."""
        self._check_modality(modality)
        have = [i for i in range(len(self.pieces)) if modality in self.pieces[i]]
        # the index writes each modality's rows piece after piece, in this order
        offsets = np.array([0] + [self.pieces[i][modality][1] for i in have], dtype=np.int64)
        if modality not in self._finite:
            array = self._array(modality)
            for a in range(0, len(array), 1 << 16):  # in blocks: the array may be memory-mapped
                self._check_finite(modality, np.asarray(array[a:a + (1 << 16)]), a)
            self._finite.add(modality)
        full = Collection([self.ids[i] for i in have], self._array(modality), offsets)
        if pieces is None:
            return full
        return full.subset([full.index(self.ids[i]) for i in pieces if modality in self.pieces[i]])

    def neighbourhood(self, modality: str, k: int, model: str | os.PathLike | None = None,
                      registry: Registry | None = None, *, reference: bool = False) -> np.ndarray:
        """CSLS's ``r`` of each ``modality`` row: its mean cosine to the ``k`` nearest
        rows of the other modality (:mod:`ast_toolkit.search.hubness`); computed once
        per index object.

        The other modality's rows are this index's; an index of one side measures
        against its model's reference rows (:mod:`ast_toolkit.learn.reference`;
        ``model``: the model at another path, checked by its weights' sha256);
        ``reference``: those even where the index has the other side (to compare).
        """
        from .hubness import neighbourhood

        self._check_modality(modality)
        other = "audio" if modality == "sheet" else "sheet"
        reference = reference or not self.has(other)
        key = (modality, int(k), reference)
        if key not in self._neighbourhoods:
            others = self.reference(other, model, registry) if reference else self._array(other)
            self._neighbourhoods[key] = neighbourhood(self._array(modality), others, k)
        return self._neighbourhoods[key]

    def reference(self, modality: str, model: str | os.PathLike | None = None,
                  registry: Registry | None = None) -> np.ndarray:
        """The index model's reference rows of ``modality`` (:mod:`ast_toolkit.learn.reference`)."""
        from ..learn.reference import read_reference

        folder = self.model_folder(model, registry)
        ref = read_reference(folder)
        if ref is None:
            raise ParameterError(
                f"{self.folder}: hubness reduction needs rows of {modality} to measure against; "
                f"the index has none and its model {folder} has no reference rows (run `ast model "
                f"reference {folder}`, index sheets and recordings together, or drop --hubness)")
        rows = ref[modality]
        if rows.shape[1] != self.settings["model"]["dim"]:
            raise IntegrityError(f"{folder}/reference.npz: rows of width {rows.shape[1]}, the index's "
                                 f"are {self.settings['model']['dim']}")
        return rows

    def search_modality(self, query_modality: str) -> str:
        """The side a query of ``query_modality`` searches: the other one, or the
        same when the index has only that (a recording against recordings)."""
        other = "sheet" if query_modality == "audio" else "audio"
        if self.has(other):
            return other
        if self.has(query_modality):
            return query_modality
        raise ParameterError(f"{self.folder} has no {other} side to search")

    def rate(self, query_modality: str) -> float:
        """Collection rows per query row: the median over pieces with both sides (1 without)."""
        other = "sheet" if query_modality == "audio" else "audio"
        ratios = [(p[other][1] - p[other][0]) / (p[query_modality][1] - p[query_modality][0])
                  for p in self.pieces if other in p and query_modality in p
                  and p[query_modality][1] > p[query_modality][0]]
        return float(np.median(ratios)) if ratios else 1.0

    def describe_row(self, modality: str, piece: int, row: int) -> dict[str, Any]:
        """A row of a piece as a position: page / system / x (1-based page and system) or seconds."""
        pos = self.positions(modality, piece)
        row = int(min(max(row, 0), len(pos) - 1))
        if modality == "audio":
            return {"seconds": round(float(pos[row]), 2)}
        page, system, x = pos[row]
        return {"page": int(page) + 1, "system": int(system) + 1, "x": int(round(float(x)))}

    @property
    def spectrogram(self) -> SpectrogramSpec:
        """The spectrogram settings of the indexed audio (a query recording gets the same)."""
        return SpectrogramSpec.from_dict(self.settings["spectrogram"])

    @property
    def dataset_root(self) -> Path | None:
        """The dataset folder the index was made from (None: a user's recordings)."""
        src = self.settings["source"]
        return Path(src["root"]) if src.get("kind") == "dataset" else None

    def dataset(self) -> Dataset | None:
        """The dataset the index was made from, opened with the index's window sizes
        (None: made from a user's recordings only, or the folder is gone); a user's
        scans and recordings (``--sheets``) are reopened from the files recorded.
        Opened once per :class:`Index`, so pictures of several matches read a scan once."""
        if self._dataset is None:
            self._dataset = (self._open_dataset(),)
        return self._dataset[0]

    def _open_dataset(self) -> Dataset | None:
        src = self.settings["source"]
        if src.get("kind") == "files":
            return reopen(src, spectrogram=self.spectrogram,
                          reader=plugins.create("readers", src.get("reader", "classical")),
                          sheet_window=tuple(self.settings["model"]["sheet_window"]),
                          audio_context=int(self.settings["audio_context"]))
        root = self.dataset_root
        if root is None or not root.is_dir():
            return None
        return open_dataset(root, sheet_window=tuple(self.settings["model"]["sheet_window"]),
                            audio_context=int(self.settings["audio_context"]))

    def listing(self) -> list[dict[str, Any]]:
        """Every piece: number, id, duration (s) and rows per side, for ``ast match --list``."""
        return [{"number": i, "id": p["id"], "duration": round(p["duration"], 1),
                 **{m: p[m][1] - p[m][0] for m in MODALITIES if m in p}}
                for i, p in enumerate(self.pieces)]

    def load_encoder(self, model: str | os.PathLike | None = None,
                     registry: Registry | None = None) -> tuple[Any, dict[str, Any]]:
        """The model that made the index (or ``model``, if it is the same one)."""
        return load_encoder(self.model_folder(model, registry), registry)

    def model_folder(self, model: str | os.PathLike | None = None,
                     registry: Registry | None = None) -> Path:
        """The folder of the model that made the index: where the index says, or
        ``model`` (a path or registered name), checked by its weights' sha256."""
        folder = resolve_model_dir(model or self.settings["model"]["folder"], registry)
        if model_fingerprint(folder) != self.settings["model"]["sha256"]:
            raise IntegrityError(
                f"{folder / 'weights.pt'}: not the weights this index was made with "
                f"({self.settings['model']['folder']}); its embeddings would not compare")
        return folder
