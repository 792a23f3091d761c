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

import dataclasses
import json
import math
import multiprocessing
import multiprocessing.connection
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
from ..errors import IntegrityError, ParameterError, RenderError, ToolkitError
from .. import schemas
from ..io import read_json, sha256, write_json, writes_folder
from ..progress import Progress, Reporter
from ..types import RenderedScore, ScoreSource
from .sources import expand_source, piece_slug, select

__all__ = [
    "Budget",
    "check_performance",
    "repair_dataset",
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
class Budget:
    """Per-piece limits of ``ast data render``: a piece over one goes to
    ``failures.json`` with the reason, and the batch goes on.

    Attributes
    ----------
    notes : int
        Most note heads in a score (checked as soon as the score is read).
    minutes : float
        Longest performance, in minutes at tempo factor 1.
    seconds : float
        Most wall-clock seconds to build one piece (engrave, synthesize every
        rendition, spectrograms); the worker building it is killed past that.
    memory : float
        Most GiB of memory one piece's worker may add (Linux: an address-space
        limit; a score that made music21 grow to 1.6 GB fails instead).

    Examples
    --------
    >>> Budget().notes, Budget().minutes, Budget().seconds, Budget().memory
    (20000, 30.0, 300.0, 4.0)
    >>> Budget(seconds=0)
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.ParameterError: --piece-timeout must be a number of seconds > 0, got 0
    """

    notes: int = 20_000
    minutes: float = 30.0
    seconds: float = 300.0
    memory: float = 4.0

    def __post_init__(self) -> None:
        for name, value, option in (("notes", self.notes, "--max-notes"),
                                    ("minutes", self.minutes, "--max-minutes"),
                                    ("seconds", self.seconds, "--piece-timeout"),
                                    ("memory", self.memory, "--max-memory")):
            unit = "an integer" if name == "notes" else "a number"
            what = {"notes": "", "minutes": " of minutes", "seconds": " of seconds",
                    "memory": " of GiB"}[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value <= 0 \
                    or (name == "notes" and not float(value).is_integer()):
                raise ParameterError(f"{option} must be {unit}{what} > 0, got {value!r}")


def check_performance(rendered: RenderedScore, budget: Budget) -> None:
    """Refuse a rendered score whose notes are not physical or over the budget.

    The core's check at the renderer boundary, whatever the renderer: MIDI
    pitches 0–127 (-1: a note head without pitch, not played), finite onsets
    >= 0, durations > 0, at most ``budget.notes`` notes and
    ``budget.minutes`` of music.

    Examples
    --------
    >>> from ast_toolkit.types import NoteEvent
    >>> ok = RenderedScore(pages=[], noteheads=[], systems=[], events=[NoteEvent(0.0, 0.5, 60, 80, "n1")])
    >>> check_performance(ok, Budget())
    >>> bad = dataclasses.replace(ok, events=[NoteEvent(0.0, 0.5, 252, 80, "n1")])
    >>> check_performance(bad, Budget())
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.RenderError: the renderer performed a note of MIDI pitch 252, outside 0-127
    """
    events = rendered.events
    if len(events) > budget.notes:
        raise RenderError(f"{len(events):,} notes, more than the budget of {budget.notes:,} per "
                          "piece (--max-notes)")
    for e in events:
        if not -1 <= e.pitch <= 127:
            raise RenderError(f"the renderer performed a note of MIDI pitch {e.pitch}, outside 0-127")
        if not (math.isfinite(e.onset) and e.onset >= 0 and math.isfinite(e.duration)
                and e.duration > 0):
            raise RenderError(f"the renderer performed a note at {e.onset} s lasting "
                              f"{e.duration} s: onsets must be finite and >= 0, durations > 0")
    end = max((e.onset + e.duration for e in events), default=0.0)
    if end > budget.minutes * 60:
        raise RenderError(f"the performance lasts {end / 60:,.1f} minutes, more than the budget "
                          f"of {budget.minutes:g} per piece (--max-minutes)")
    if len(events) > 1 and end < 0.05 * len(events) ** 0.5:
        raise RenderError(f"{len(events)} notes performed in {end:.3g} s: the tempo is not "
                          "physical")


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
    budget: Budget = Budget(),
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
        check_performance(rendered, budget)
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


def _build_one(piece: PlannedPiece, pieces_dir: Path, spec: DatasetSpec, budget: Budget,
               made: tuple[Any, Any]) -> str | None:
    """Build a piece; the reason it failed (one line), or None."""
    renderer, synthesizer = made
    try:
        build_piece(piece, spec, pieces_dir, renderer, synthesizer, budget)
    except MemoryError:
        return (f"needed more than the budget of {budget.memory:g} GiB of memory per piece "
                "(--max-memory)")
    except ToolkitError as exc:  # reported, never stops the run
        return f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:500]
    except Exception as exc:  # a bug in a plugin: reported with where it happened
        where = traceback.format_exc(limit=-1).strip().splitlines()
        return (f"{piece.source.path}: failed unexpectedly ({type(exc).__name__}: {exc}; at "
                f"{where[-3].strip() if len(where) >= 3 else '?'}); please report it")[:500]
    return None


def _child(piece: PlannedPiece, pieces_dir: Path, spec: DatasetSpec, budget: Budget,
           made: tuple[Any, Any], conn: Any) -> None:
    _end_with_parent()
    try:
        os.setpgid(0, 0)  # a group of its own: killing it also ends an engraver it started
    except OSError:
        pass
    _limit_memory(budget.memory)
    try:
        conn.send(_build_one(piece, pieces_dir, spec, budget, made))
    finally:
        conn.close()


def _limit_memory(gib: float) -> None:
    """Let this process grow by at most ``gib`` GiB of address space (Linux)."""
    try:
        import resource

        with open("/proc/self/statm") as fh:
            now = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        want = now + int(gib * 2**30)
        if hard != resource.RLIM_INFINITY:
            want = min(want, hard)
        resource.setrlimit(resource.RLIMIT_AS, (want, hard))
    except (ImportError, OSError, ValueError):
        pass  # not Linux: the wall-time budget still holds


def _kill(proc: Any) -> None:
    """End a piece's worker and whatever it started (an engraver subprocess)."""
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        proc.kill()
    proc.join()


def _run_pieces(todo: list[PlannedPiece], spec: DatasetSpec, pieces_dir: Path, workers: int,
                budget: Budget, note: Any) -> None:
    """Build ``todo``, each piece in a process of its own, ``workers`` at a time.

    A process per piece (forked from this one, which has loaded the renderer and
    the soundfonts once) is what makes the per-piece wall-time budget hold: an
    engraver stuck inside C code cannot be interrupted, only killed.  It also
    makes every piece start from the same synthesizer state, whatever was
    built before it.  Where fork is not available (Windows) pieces are built in
    this process, one after the other, without the wall-time limit.
    """
    made = _make_plugins(spec)
    made[0].max_notes = budget.notes
    # what every piece needs, loaded here once rather than in every forked worker:
    # the renderer's libraries, the spectrogram's (librosa) and its filterbank
    made[0].prepare()
    import soundfile  # noqa: F401

    from .spectrogram import spectrogram_of
    spectrogram_of(np.zeros(spec.spectrogram.sample_rate, np.float32), spec.spectrogram)
    for font in sorted({r.soundfont for r in spec.synthesis.renditions}):
        made[1].synthesize([], soundfont=font)  # loads the soundfont here, once, for every child
    if "fork" not in multiprocessing.get_all_start_methods():
        for p in todo:
            note(p.source.id, _build_one(p, pieces_dir, spec, budget, made), p)
        return
    ctx = multiprocessing.get_context("fork")
    queue = list(reversed(todo))
    running: dict[Any, tuple[Any, PlannedPiece, float]] = {}
    try:
        while queue or running:
            while queue and len(running) < workers:
                p = queue.pop()
                receive, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_child, args=(p, pieces_dir, spec, budget, made, send),
                                   daemon=True)
                proc.start()
                send.close()
                running[receive] = (proc, p, time.monotonic())
            # wake by the first deadline, so a piece over its budget is stopped, not waited for
            first = min(started + budget.seconds for _, _, started in running.values())
            wait_s = min(0.5, max(0.0, first - time.monotonic()))
            for conn in multiprocessing.connection.wait(list(running), timeout=wait_s):
                proc, p, _ = running.pop(conn)
                try:
                    reason = conn.recv()
                except (EOFError, OSError):
                    proc.join()
                    reason = f"the worker building it died (exit code {proc.exitcode}: a crash " \
                             "in the engraver or synthesizer, or out of its memory budget, " \
                             "--max-memory)"
                conn.close()
                proc.join()
                shutil.rmtree(pieces_dir / f"{PARTIAL_PREFIX}{p.slug}", ignore_errors=True)
                note(p.source.id, reason, p)
            now = time.monotonic()
            for conn, (proc, p, started) in list(running.items()):
                if now - started > budget.seconds:
                    _kill(proc)
                    conn.close()
                    del running[conn]
                    shutil.rmtree(pieces_dir / f"{PARTIAL_PREFIX}{p.slug}", ignore_errors=True)
                    note(p.source.id, f"took longer than the budget of {budget.seconds:g} s per "
                         "piece (--piece-timeout); stopped", p)
    finally:
        for conn, (proc, p, _) in running.items():  # interrupted: no worker outlives the run
            _kill(proc)
            conn.close()
            shutil.rmtree(pieces_dir / f"{PARTIAL_PREFIX}{p.slug}", ignore_errors=True)


def _is_complete_piece(folder: Path) -> bool:
    return (folder / COMPLETE).is_file() and (folder / "checksums.json").is_file()


@writes_folder("out", what="ast data render")
def render_dataset(
    spec: DatasetSpec,
    out: str | os.PathLike,
    *,
    workers: int = 1,
    limit: int | None = None,
    budget: Budget = Budget(),
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
    budget : Budget
        Per-piece limits on notes, performed minutes and wall-clock seconds.
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
        old = read_json(previous, schema=schemas.RenderedDatasetMeta)
        if old.get("name") != spec.name \
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
    for stale in out.glob(".*.tmp-*"):  # a killed run's temporary files (we hold the lock)
        stale.unlink(missing_ok=True)

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
    if todo:
        _run_pieces(todo, spec, pieces_dir, workers, budget, note)
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


@writes_folder("root", what="ast data validate --repair")
def repair_dataset(root: str | os.PathLike, *, workers: int = 1, budget: Budget = Budget(),
                   progress: Progress | None = None) -> tuple[list[str], BuildReport]:
    """Re-render the damaged pieces of a rendered folder (``ast data validate --repair``).

    Every piece with a missing or corrupt file (:func:`validate_dataset`) is
    deleted and built again from its score, with the settings the folder
    records, into the same place; the others are kept as they are.

    Returns
    -------
    damaged : list of str
        Ids of the pieces re-rendered (or tried).
    report : BuildReport
        What the re-rendering did; a piece that still fails is in ``failed``
        (its score may have moved: the reason names the file).

    Examples
    --------
    >>> damaged, report = repair_dataset("data/demo")  # doctest: +SKIP
    >>> damaged, report.failed  # doctest: +SKIP
    ([], [])
    """
    from ..catalog import dataset_spec_of_record

    t0 = time.perf_counter()
    root = Path(root)
    meta = read_json(root / "dataset.json", schema=schemas.RenderedDatasetMeta)
    spec = dataset_spec_of_record(meta["spec"], root / "dataset.json")
    manifest = _read_manifest(root)
    missing, corrupt = validate_dataset(root)
    bad_folders = {"/".join(rel.split(" ")[0].split("/")[:2]) for rel in missing + corrupt}
    entries = [e for e in manifest["pieces"] if e["folder"] in bad_folders]
    report = BuildReport(root)
    if not entries:
        return [], report
    pieces_dir = root / "pieces"
    todo = []
    for e in entries:
        shutil.rmtree(root / e["folder"], ignore_errors=True)
        renditions = tuple(r for r in spec.synthesis.renditions if e["split"] in r.splits)
        todo.append(PlannedPiece(ScoreSource(e["id"], Path(e["file"]), e["number"]), e["split"],
                                 renditions))
    job = Reporter(progress, "render", description=f"re-render damaged pieces of {root}",
                   total=len(todo), unit="pieces")

    def note(pid: str, reason: str | None, piece: PlannedPiece) -> None:
        if reason is None:
            report.built.append(pid)
        else:
            report.failed.append(Failure(pid, str(piece.source.path), reason))
        job.advance(failed=reason is not None)
    _run_pieces(todo, spec, pieces_dir, workers, budget, note)
    report.seconds = time.perf_counter() - t0
    return [e["id"] for e in entries], report


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
    for name, schema in (("dataset.json", schemas.RenderedDatasetMeta),
                         ("failures.json", schemas.Failures)):
        try:
            read_json(root / name, schema=schema)
        except IntegrityError as exc:
            (missing if not (root / name).exists() else corrupt).append(
                f"{name} ({str(exc).split(': ', 1)[-1]})")
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
            sums = read_json(sums_file, schema=schemas.Checksums)
        except IntegrityError as exc:
            corrupt.append(f"{entry['folder']}/checksums.json ({str(exc).split(': ', 1)[-1]})")
            continue
        try:
            holds = read_json(folder / "score.json", schema=schemas.Score)["id"]
        except IntegrityError:
            holds = None  # the checksum below names the file
        if holds is not None and holds != entry["id"]:
            corrupt.append(f"{entry['folder']}/score.json (holds {holds!r}, not {entry['id']!r})")
        for rel, digest in sums.items():
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
    manifest = read_json(root / "manifest.json", schema=schemas.Manifest)
    if manifest["format_version"] != FORMAT_VERSION:
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
        score = read_json(folder / "score.json", schema=schemas.Score)
        row["pieces"] += 1
        row["pages"] += len(score["pages"])
        row["noteheads"] += len(score["noteheads"])
        # the renditions the piece was built with (its checksums list them): a
        # deleted one is an error, not a smaller count
        sums = read_json(folder / "checksums.json", schema=schemas.Checksums)
        for rel in sorted(r for r in sums if r.startswith("renditions/")
                          and r.endswith("/rendition.json")):
            rend = read_json(folder / rel, schema=schemas.Rendition)
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
           preset: str | None = None, budget: Budget = Budget(),
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
    return spec, render_dataset(spec, out, workers=workers, limit=limit, budget=budget,
                                progress=progress)
