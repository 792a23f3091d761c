"""Building an on-disk dataset: engrave, perform, synthesize, align (``ast data render``).

Layout of a dataset folder (format :data:`FORMAT`, version :data:`FORMAT_VERSION`)::

    DIR/
      dataset.json            name, format and version, the dataset plugin that reads
                              it, toolkit version, the full spec
      manifest.json           every piece: id, folder, split, source file, tune number
      failures.json           pieces that failed: id, file, reason
      .complete               written last, once every selected piece was attempted
      pieces/<slug>/
        score.json            note heads, systems, performed events (score tempo)
        page_000.png ...      grayscale page images
        renditions/<r>/
          audio.flac          mono, 22,050 Hz
          spectrogram.npy     float16 [n_bins, n_frames]
          rendition.json      soundfont, tempo, frame rate, events with their frame
        checksums.json        sha256 of every file above
        .complete             written last

A piece is built in ``pieces/.partial-<slug>`` and renamed into place when
complete, so a killed run never leaves a folder that looks finished; the next run
removes partial folders and redoes those pieces, and skips finished ones.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import json
import multiprocessing
import os
import sys
import shutil
import time
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__, plugins
from ..catalog import DatasetSpec, Registry, RenditionSpec, SourceSpec, apply_preset
from ..errors import IntegrityError, ParameterError, RenderError
from ..io import read_json, sha256, write_json, writes_folder
from ..progress import Progress, Reporter
from ..types import RenderedScore, ScoreSource
from .sources import expand_source, piece_slug, select

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "PlannedPiece",
    "Failure",
    "BuildReport",
    "plan_dataset",
    "assign_splits",
    "render_dataset",
    "render",
    "build_piece",
    "dataset_spec",
    "dataset_stats",
    "validate_dataset",
    "iter_pieces",
]

#: The format a dataset folder written here has (``dataset.json``'s ``"format"``);
#: a dataset plugin that reads it declares ``reads = FORMAT``.
FORMAT = "ast data render"
FORMAT_VERSION = 1
COMPLETE = ".complete"
PARTIAL_PREFIX = ".partial-"


@dataclass(frozen=True)
class PlannedPiece:
    """One piece to build: where it comes from, its split and its renditions.

    Examples
    --------
    >>> source = ScoreSource("music21/essenFolksong/altdeu10.abc#12", Path("altdeu10.abc"), 12)
    >>> piece = PlannedPiece(source, "test", (RenditionSpec("MuseScore_General"),))
    >>> piece.slug
    'music21__essenFolksong__altdeu10.abc--12'
    """

    source: ScoreSource
    split: str
    renditions: tuple[RenditionSpec, ...]

    @property
    def slug(self) -> str:
        return piece_slug(self.source.id)


@dataclass(frozen=True)
class Failure:
    """A piece that could not be built.

    Examples
    --------
    >>> failure = Failure("music21/bach/bwv1.6.mxl", "bach/bwv1.6.mxl",
    ...                   "RenderError: the score has no notes")
    >>> dataclasses.asdict(failure)  # an entry of failures.json
    {'piece': 'music21/bach/bwv1.6.mxl', 'file': 'bach/bwv1.6.mxl', 'reason': 'RenderError: the score has no notes'}
    """

    piece: str
    file: str
    reason: str


@dataclass
class BuildReport:
    """What a build did.

    Examples
    --------
    >>> report = BuildReport(Path("data/demo"), built=["music21/bach/bwv1.6.mxl"])
    >>> report.ok
    True
    >>> report.failed.append(Failure("music21/bach/bwv99.6.mxl", "bach/bwv99.6.mxl",
    ...                              "RenderError: the score has no notes"))
    >>> report.ok, len(report.built)
    (False, 1)
    """

    out: Path
    built: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


# --- planning -----------------------------------------------------------------------


def assign_splits(ids: Sequence[str], spec_split, *, seed: int) -> dict[str, str]:
    """Deterministic piece-level split: a seeded permutation cut by the fractions.

    Examples
    --------
    >>> from ast_toolkit.catalog import SplitSpec
    >>> ids = [f"tune{i}" for i in range(10)]
    >>> splits = assign_splits(ids, SplitSpec(train=0.7, valid=0.1, test=0.2), seed=0)
    >>> sorted((split, pid) for pid, split in splits.items() if split != "train")
    [('test', 'tune4'), ('test', 'tune6'), ('valid', 'tune2')]
    >>> assign_splits(reversed(ids), SplitSpec(), seed=0) == splits  # same seed, same split
    True
    """
    ids = sorted(ids)
    rng = np.random.default_rng(seed)
    order = [ids[i] for i in rng.permutation(len(ids))]
    n = len(order)
    n_test = int(round(n * spec_split.test))
    n_valid = int(round(n * spec_split.valid))
    if n >= 3:  # every split gets a piece when there are enough pieces
        n_test = max(n_test, 1 if spec_split.test > 0 else 0)
        n_valid = max(n_valid, 1 if spec_split.valid > 0 else 0)
    out = {}
    for i, pid in enumerate(order):
        out[pid] = "test" if i < n_test else "valid" if i < n_test + n_valid else "train"
    return out


def plan_dataset(spec: DatasetSpec, *, limit: int | None = None) -> list[PlannedPiece]:
    """The pieces of ``spec``, with splits and renditions.

    Each source is split on its own (so a mixed dataset such as ``demo`` has folk
    tunes and chorales in every split).  ``limit`` caps the total, taking pieces
    evenly from every source.

    Examples
    --------
    >>> from ast_toolkit.catalog import load_registry
    >>> for piece in plan_dataset(load_registry(env=False).dataset("demo"), limit=4):
    ...     print(piece.split, len(piece.renditions), piece.source.id)
    train 3 music21/bach/bwv1.6.mxl
    valid 3 music21/essenFolksong/altdeu10.abc#1
    train 3 music21/essenFolksong/erk30.abc#48
    test 1 music21/essenFolksong/zuccal0.abc#99
    """
    per_source = []
    for src in spec.sources:
        pieces = select(expand_source(src.path), src.limit)
        per_source.append(pieces)
    if limit is not None:
        if limit < 1:
            raise ParameterError(f"--limit must be >= 1, got {limit}")
        total = sum(len(p) for p in per_source)
        if limit < total:
            quotas = [max(1, round(limit * len(p) / total)) for p in per_source]
            while sum(quotas) > limit:
                quotas[int(np.argmax(quotas))] -= 1
            per_source = [select(p, q) for p, q in zip(per_source, quotas) if q > 0]
    planned: dict[str, PlannedPiece] = {}
    for pieces in per_source:
        splits = assign_splits([p.id for p in pieces], spec.split, seed=spec.split.seed)
        for p in pieces:
            renditions = tuple(r for r in spec.synthesis.renditions if splits[p.id] in r.splits)
            planned.setdefault(p.id, PlannedPiece(p, splits[p.id], renditions))
    return [planned[k] for k in sorted(planned)]


# --- building one piece --------------------------------------------------------------


def _rendition_name(i: int, r: RenditionSpec) -> str:
    font = "".join(c if c.isalnum() else "_" for c in Path(r.soundfont).stem)
    return f"{i:02d}_{font}_t{r.tempo:.2f}"


def _save_png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(np.asarray(image, dtype=np.uint8), mode="L").save(path, optimize=False)


def build_piece(
    piece: PlannedPiece,
    spec: DatasetSpec,
    pieces_dir: Path,
    renderer: Any,
    synthesizer: Any,
) -> None:
    """Build one piece folder under ``pieces_dir`` (atomically).

    Raises whatever the renderer or synthesizer raises; the partial folder is
    removed in that case.

    Examples
    --------
    >>> from ast_toolkit.catalog import load_registry
    >>> spec = dataset_spec(load_registry(env=False), "music21:essenFolksong/altdeu10.abc")
    >>> piece = plan_dataset(spec, limit=1)[0]
    >>> renderer, synth = plugins.create("renderers", "verovio"), plugins.create("synthesizers", "fluidsynth")
    >>> build_piece(piece, spec, Path("data/altdeu10/pieces"), renderer, synth)  # doctest: +SKIP
    >>> sorted(p.name for p in Path("data/altdeu10/pieces", piece.slug).iterdir())  # doctest: +SKIP
    ['.complete', 'checksums.json', 'page_000.png', 'renditions', 'score.json']
    """
    import soundfile

    from .spectrogram import spectrogram_of

    final = pieces_dir / piece.slug
    work = pieces_dir / f"{PARTIAL_PREFIX}{piece.slug}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        rendered: RenderedScore = renderer.render(piece.source, qpm=spec.render.qpm)
        if not rendered.noteheads or not rendered.events:
            raise RenderError("the score has no notes")
        pages = []
        for i, page in enumerate(rendered.pages):
            name = f"page_{i:03d}.png"
            _save_png(work / name, page)
            pages.append(name)
        score = {
            "id": piece.source.id,
            "file": str(piece.source.path),
            "number": piece.source.number,
            "split": piece.split,
            "meta": rendered.meta,
            "pages": pages,
            "page_sizes": [list(p.shape) for p in rendered.pages],
            "noteheads": [[n.id, n.page, n.system, *map(float, n.bbox), n.pitch]
                          for n in rendered.noteheads],
            "systems": [[s.index, s.page, *map(float, s.bbox)] for s in rendered.systems],
            "events": [[e.onset, e.duration, e.pitch, e.velocity, e.notehead]
                       for e in rendered.events],
        }
        write_json(work / "score.json", score)

        sp = spec.spectrogram
        played = rendered.events
        if spec.synthesis.velocity is not None:
            played = [dataclasses.replace(e, velocity=spec.synthesis.velocity) for e in played]
        for i, rend in enumerate(piece.renditions):
            rdir = work / "renditions" / _rendition_name(i, rend)
            rdir.mkdir(parents=True)
            audio = synthesizer.synthesize(played, soundfont=rend.soundfont, tempo_factor=rend.tempo)
            sr = synthesizer.sample_rate
            soundfile.write(rdir / "audio.flac", audio, sr, format="FLAC", subtype="PCM_16")
            if sr != sp.sample_rate:
                raise ParameterError(f"the synthesizer plays at {sr} Hz; the spectrogram settings "
                                     f"expect {sp.sample_rate} Hz")
            spec_arr = spectrogram_of(audio, sp)
            if not np.isfinite(audio).all() or not np.isfinite(spec_arr).all():
                raise RenderError(f"the synthesizer returned non-finite audio for {rend.soundfont}")
            np.save(rdir / "spectrogram.npy", spec_arr.astype(np.float16))
            events = []
            for e in rendered.events:
                onset = e.onset / rend.tempo
                events.append([onset, e.duration / rend.tempo, e.pitch, e.notehead,
                               sp.frame_of(onset)])
            write_json(rdir / "rendition.json", {
                "soundfont": rend.soundfont,
                "tempo": rend.tempo,
                "sample_rate": sr,
                "fps": sp.fps,
                "n_frames": int(spec_arr.shape[1]),
                "duration": len(audio) / sr,
                "events": events,  # onset s, duration s, pitch, note head, frame
            })
        sums = {
            p.relative_to(work).as_posix(): sha256(p)
            for p in sorted(work.rglob("*")) if p.is_file()
        }
        write_json(work / "checksums.json", sums)
        (work / COMPLETE).write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(work, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


# --- the whole dataset --------------------------------------------------------------

_worker: dict[str, Any] = {}


def _make_plugins(spec: DatasetSpec) -> tuple[Any, Any]:
    # The constructor keywords of the Renderer and Synthesizer interfaces.
    renderer = plugins.create("renderers", spec.render.renderer,
                              page_width=spec.render.page_width,
                              staff_space=spec.render.staff_space)
    synthesizer = plugins.create("synthesizers", spec.synthesis.synthesizer,
                                 sample_rate=spec.synthesis.sample_rate,
                                 program=spec.synthesis.program, gain=spec.synthesis.gain)
    return renderer, synthesizer


def _end_with_parent() -> None:
    """Linux: this worker gets SIGTERM when the process that started it dies (a render
    killed with -9 left its workers rendering for minutes)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not glibc: workers end when their queue closes


def _init_worker(spec: DatasetSpec) -> None:
    # One renderer and one synthesizer per worker process: soundfonts stay loaded.
    _worker["spec"] = spec
    _worker["plugins"] = _make_plugins(spec)


def _init_pool_worker(spec: DatasetSpec) -> None:
    _end_with_parent()
    _init_worker(spec)


def _build_in_worker(piece: PlannedPiece, pieces_dir: Path) -> tuple[str, str | None]:
    spec = _worker["spec"]
    renderer, synthesizer = _worker["plugins"]
    try:
        build_piece(piece, spec, pieces_dir, renderer, synthesizer)
    except Exception as exc:  # reported, never stops the run
        reason = f"{type(exc).__name__}: {exc}".strip()
        if not str(exc):
            reason += " " + traceback.format_exc(limit=-1).strip().splitlines()[-1]
        return piece.source.id, reason.splitlines()[0][:500]
    return piece.source.id, None


def _is_complete_piece(folder: Path) -> bool:
    return (folder / COMPLETE).is_file() and (folder / "checksums.json").is_file()


@writes_folder("out", what="ast data render")
def render_dataset(
    spec: DatasetSpec,
    out: str | os.PathLike,
    *,
    workers: int = 1,
    limit: int | None = None,
    progress: Progress | None = None,
) -> BuildReport:
    """Render every piece of ``spec`` into ``out``, resuming a previous run.

    Parameters
    ----------
    spec : DatasetSpec
        The dataset: sources, renderer, synthesizer, renditions, spectrogram, split.
    out : path
        Dataset folder (created).
    workers : int
        Processes building pieces in parallel.
    limit : int or None
        Build at most this many pieces (taken evenly from every source).
    progress : Progress or None
        Receives a :class:`~ast_toolkit.progress.Step` per piece (task ``"render"``).

    Returns
    -------
    BuildReport
        Built, skipped (already complete) and failed pieces.

    Examples
    --------
    >>> import tempfile
    >>> from ast_toolkit.catalog import load_registry
    >>> spec = dataset_spec(load_registry(env=False), "music21:essenFolksong/altdeu10.abc",
    ...                     soundfonts=["TimGM6mb"])
    >>> report = render_dataset(spec, tempfile.mkdtemp(), limit=2)  # doctest: +SKIP
    >>> len(report.built), report.failed  # doctest: +SKIP
    (2, [])
    """
    from .datasets import reader_of
    t0 = time.perf_counter()
    out = Path(out)
    pieces_dir = out / "pieces"
    if workers < 1:
        raise ParameterError(f"--workers must be >= 1, got {workers}")
    _, synth = _make_plugins(spec)  # unknown plugins or soundfonts fail before any work
    for font in sorted({r.soundfont for r in spec.synthesis.renditions}):
        synth.check_soundfont(font)
    pieces_dir.mkdir(parents=True, exist_ok=True)
    reader = reader_of(FORMAT)  # the installed dataset plugin that will read the folder
    previous = out / "dataset.json"
    if previous.is_file():
        old = read_json(previous)
        if not isinstance(old, dict) or old.get("name") != spec.name \
                or old.get("spec") != _spec_dict(spec):
            hint = ""
            if isinstance(old, dict) and isinstance(old.get("spec"), dict):
                made_with = old["spec"].get("preset", "ast-v1")  # older folders: ast-v1
                if made_with != spec.preset:
                    hint = f" (preset {made_with!r}, not {spec.preset!r}: add --preset {made_with} to finish it)"
            raise ParameterError(
                f"{out} holds dataset {old.get('name') if isinstance(old, dict) else None!r} made "
                f"with other settings{hint}; choose another --out folder or delete it"
            )
    (out / COMPLETE).unlink(missing_ok=True)
    write_json(previous, {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "plugin": reader,
        "name": spec.name,
        "toolkit_version": __version__,
        "spec": _spec_dict(spec),
    })
    for stale in pieces_dir.glob(PARTIAL_PREFIX + "*"):
        shutil.rmtree(stale, ignore_errors=True)

    planned = plan_dataset(spec, limit=limit)
    report = BuildReport(out)
    todo = []
    for p in planned:
        if _is_complete_piece(pieces_dir / p.slug):
            report.skipped.append(p.source.id)
        else:
            todo.append(p)
    failed_ids: dict[str, Failure] = {}
    job = Reporter(progress, "render", description=f"render {spec.name}", total=len(planned),
                   unit="pieces", done=len(report.skipped))

    def note(pid: str, reason: str | None, piece: PlannedPiece) -> None:
        if reason is None:
            report.built.append(pid)
        else:
            failed_ids[pid] = Failure(pid, str(piece.source.path), reason)
        job.advance(failed=reason is not None)
    if todo and workers == 1:
        _init_worker(spec)
        for p in todo:
            note(*_build_in_worker(p, pieces_dir), p)
    elif todo:
        ctx = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
        with cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_pool_worker,
                                    initargs=(spec,)) as pool:
            futures = {pool.submit(_build_in_worker, p, pieces_dir): p for p in todo}
            for fut in cf.as_completed(futures):
                p = futures[fut]
                try:
                    pid, reason = fut.result()
                except Exception as exc:  # a worker died (e.g. a crash in a C library)
                    pid, reason = p.source.id, f"worker crashed: {type(exc).__name__}: {exc}"
                note(pid, reason, p)
    report.failed = [failed_ids[k] for k in sorted(failed_ids)]

    manifest = {
        "format_version": FORMAT_VERSION,
        "name": spec.name,
        "pieces": [
            {"id": p.source.id, "folder": f"pieces/{p.slug}", "split": p.split,
             "file": str(p.source.path), "number": p.source.number}
            for p in planned if p.source.id not in failed_ids
        ],
    }
    write_json(out / "manifest.json", manifest)
    write_json(out / "failures.json", [dataclasses.asdict(f) for f in report.failed])
    (out / COMPLETE).write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"))
    report.seconds = time.perf_counter() - t0
    return report


def _spec_dict(spec: DatasetSpec) -> dict[str, Any]:
    d = dataclasses.asdict(spec)
    d.pop("origin", None)
    return json.loads(json.dumps(d, default=str))


def validate_dataset(root: str | os.PathLike) -> tuple[list[str], list[str]]:
    """Check every piece's files of a rendered folder against its checksums.

    Returns
    -------
    missing, corrupt : list of str
        Paths relative to ``root``.

    Examples
    --------
    >>> validate_dataset("data/demo")  # doctest: +SKIP
    ([], [])
    >>> import tempfile
    >>> validate_dataset(tempfile.mkdtemp())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.IntegrityError: ...: not a complete dataset (no .complete marker); run `ast data render` with this --out folder to finish it
    """
    root = Path(root)
    manifest = _read_manifest(root)
    missing, corrupt = [], []
    owners: dict[str, str] = {}
    for entry in manifest["pieces"]:
        folder = root / entry["folder"]
        sums_file = folder / "checksums.json"
        # the manifest against the folders: one folder per piece, holding that piece
        if entry["folder"] in owners:
            corrupt.append(f"{entry['folder']} (shared by {owners[entry['folder']]} and {entry['id']})")
            continue
        owners[entry["folder"]] = entry["id"]
        if not (folder / COMPLETE).is_file() or not sums_file.is_file():
            missing.append(f"{entry['folder']}/{COMPLETE}")
            continue
        try:
            holds = read_json(folder / "score.json").get("id")
        except (IntegrityError, AttributeError):
            holds = None
        if holds != entry["id"]:
            corrupt.append(f"{entry['folder']}/score.json (holds {holds!r}, not {entry['id']!r})")
        for rel, digest in read_json(sums_file).items():
            path = folder / rel
            if not path.is_file():
                missing.append(f"{entry['folder']}/{rel}")
            elif sha256(path) != digest:
                corrupt.append(f"{entry['folder']}/{rel}")
    return missing, corrupt


def _read_manifest(root: Path) -> dict[str, Any]:
    if not (root / COMPLETE).is_file():
        raise IntegrityError(
            f"{root}: not a complete dataset (no {COMPLETE} marker); "
            "run `ast data render` with this --out folder to finish it"
        )
    manifest = read_json(root / "manifest.json")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IntegrityError(
            f"{root}: dataset format {manifest.get('format_version')!r}, this toolkit "
            f"reads format {FORMAT_VERSION}; re-render it"
        )
    return manifest


def iter_pieces(root: str | os.PathLike) -> Iterable[dict[str, Any]]:
    """Manifest entries of a complete rendered dataset: id, folder, split, file, number.

    Examples
    --------
    >>> pieces = list(iter_pieces("data/demo"))  # doctest: +SKIP
    >>> pieces[0]["id"], pieces[0]["folder"], pieces[0]["split"]  # doctest: +SKIP
    ('music21/bach/bwv1.6.mxl', 'pieces/music21__bach__bwv1.6.mxl', 'train')
    >>> sum(p["split"] == "test" for p in pieces)  # doctest: +SKIP
    14
    """
    return _read_manifest(Path(root))["pieces"]


def dataset_spec(
    registry: Registry,
    name_or_source: str,
    *,
    renderer: str | None = None,
    soundfonts: Sequence[str] = (),
    tempos: Sequence[float] = (),
    preset: str | None = None,
) -> DatasetSpec:
    """The dataset to render: a name from the registry, or a source string.

    Parameters
    ----------
    registry : Registry
    name_or_source : str
        A dataset name (``demo``), or a source: ``music21:<glob>``, a score file,
        folder or glob; a source gets the default settings and is named after it.
    renderer : str or None
        Overrides the renderer plugin.
    soundfonts, tempos : sequence
        When either is given, the renditions become every (soundfont, tempo)
        combination, for every split (defaults: FluidR3_GM, 1.0).
    preset : str or None
        A data preset (:data:`ast_toolkit.catalog.PRESETS`: ``msmd``, ``ast-v1``)
        over the dataset's settings; None keeps the dataset's (``msmd`` unless
        its registry entry says otherwise).

    Examples
    --------
    >>> from ast_toolkit.catalog import load_registry
    >>> spec = dataset_spec(load_registry(env=False), "demo", tempos=[0.9, 1.1])
    >>> [(r.soundfont, r.tempo) for r in spec.synthesis.renditions]
    [('FluidR3_GM', 0.9), ('FluidR3_GM', 1.1)]
    >>> spec = dataset_spec(load_registry(env=False), "demo", preset="ast-v1")
    >>> spec.preset, spec.render.staff_space, spec.snippets.pairs
    ('ast-v1', 10.0, 'onsets')
    """
    if name_or_source in registry.datasets:
        spec = registry.datasets[name_or_source]
    elif ":" in name_or_source or os.sep in name_or_source or Path(name_or_source).exists():
        expand_source(name_or_source)  # fails early with a clear message
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in name_or_source).strip("_")
        spec = DatasetSpec(name=name, sources=(SourceSpec(name_or_source),))
    else:
        spec = registry.dataset(name_or_source)  # an unknown name raises, with close names
    if preset is not None:
        spec = apply_preset(spec, preset)
    if renderer is not None:
        spec = dataclasses.replace(spec, render=dataclasses.replace(spec.render, renderer=renderer))
    if soundfonts or tempos:
        for t in tempos:
            if not 0.25 <= t <= 4.0:
                raise ParameterError(f"--tempo must be a factor in 0.25..4, got {t}")
        renditions = tuple(
            RenditionSpec(sf, float(t)) for sf in (soundfonts or ("FluidR3_GM",))
            for t in (tempos or (1.0,))
        )
        spec = dataclasses.replace(
            spec, synthesis=dataclasses.replace(spec.synthesis, renditions=renditions))
    return spec


def dataset_stats(root: str | os.PathLike) -> dict[str, dict[str, float]]:
    """Pieces, pages, renditions, pairs and hours of audio per split of a rendered folder.

    A pair is one performed onset of one rendition.  Reads only the JSON
    files, so it is quick on large datasets.

    Examples
    --------
    >>> stats = dataset_stats("data/demo")  # doctest: +SKIP
    >>> {split: row["pieces"] for split, row in stats.items()}  # doctest: +SKIP
    {'train': 49, 'valid': 7, 'test': 14, 'all': 70}
    >>> stats["train"]["renditions"], stats["test"]["renditions"]  # doctest: +SKIP
    (147, 14)
    """
    root = Path(root)
    stats: dict[str, dict[str, float]] = {}
    for entry in iter_pieces(root):
        folder = root / entry["folder"]
        row = stats.setdefault(entry["split"], dict(pieces=0, pages=0, noteheads=0,
                                                    renditions=0, pairs=0, hours=0.0))
        score = read_json(folder / "score.json")
        row["pieces"] += 1
        row["pages"] += len(score["pages"])
        row["noteheads"] += len(score["noteheads"])
        for rjson in sorted((folder / "renditions").glob("*/rendition.json")):
            rend = read_json(rjson)
            row["renditions"] += 1
            row["pairs"] += sum(1 for e in rend["events"] if e[3] is not None)
            row["hours"] += rend["duration"] / 3600.0
    order = {s: i for i, s in enumerate(("train", "valid", "test"))}
    stats = dict(sorted(stats.items(), key=lambda kv: order.get(kv[0], 99)))
    if stats:
        stats["all"] = {k: sum(r[k] for r in stats.values()) for k in next(iter(stats.values()))}
    return stats


def render(name_or_source: str, out: str | os.PathLike, *, registry: Registry,
           renderer: str | None = None, soundfonts: Sequence[str] = (),
           tempos: Sequence[float] = (), workers: int = 1, limit: int | None = None,
           preset: str | None = None,
           progress: Progress | None = None) -> tuple[DatasetSpec, BuildReport]:
    """``ast data render``: the dataset :func:`dataset_spec` names, built by :func:`render_dataset`.

    Examples
    --------
    >>> from ast_toolkit.catalog import load_registry
    >>> spec, report = render("demo", "data/demo", registry=load_registry(), workers=2)  # doctest: +SKIP
    >>> spec.name, len(report.built) + len(report.skipped)  # doctest: +SKIP
    ('demo', 70)
    """
    spec = dataset_spec(registry, name_or_source, renderer=renderer, soundfonts=soundfonts,
                        tempos=tempos, preset=preset)
    return spec, render_dataset(spec, out, workers=workers, limit=limit, progress=progress)
