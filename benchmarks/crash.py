"""Benchmark: crash and concurrency safety of ``ast data render``, ``ast fit`` and ``ast index``.

Each trial starts a command, kills it with SIGKILL — the parent process only,
as ``kill -9 PID`` does — at a point drawn from a seeded generator, runs the
same command again (``ast fit`` with ``--resume``, which continues from the
last checkpoint, starts afresh when the run was killed before its first one,
and reports a model that was finished before the kill) and checks what a crash must not
break:

- **rerun ok**: the rerun exits 0 and the folder is marked complete
  (``.complete``; a model's ``config.json``);
- **valid**: ``ast data validate`` passes for a dataset; ``ast eval snippets``
  runs on a model and gives finite numbers; an index opens, its arrays are
  finite and hold the rows its pieces name;
- **identical**: every file equals the uninterrupted run's (the baseline) by
  sha256, less time stamps (``.complete``, ``created``, training seconds) and
  less audio; a model by its weight tensors and its training log — ``ast fit``
  promises that a run stopped at any point and resumed ends with the weights
  of one that never stopped;
- **audio**: the rendered ``audio.flac`` and ``spectrogram.npy`` are compared
  apart.  Every piece is built in a process forked from one synthesizer state,
  so a resumed render plays every piece exactly as an uninterrupted one
  (FluidSynth's reverb and chorus no longer carry a trace of the pieces played
  before); two uninterrupted renders are checked to agree;
- **leftovers**: no file or folder that the baseline has not, inside the
  folder or beside it (``.partial-*``, ``*.tmp-*``, ``.parts``,
  ``checkpoint.pt``, the lock's ``.owner`` note);
- **orphans**: processes the killed one had started that still run 5 s later.

Kill points (``kind``): ``random`` — U(0, T), T the baseline's wall-clock
time; ``late`` — U(0.5 T, 0.95 T); ``midway`` — as soon as the first unit of
work is saved (a piece, a checkpoint, an index part); ``finish`` — as soon as
the finishing writes begin (a dataset's manifest, a model's log, an index's
arrays); ``twice`` — killed, the rerun killed again at U(0, T), then rerun;
``workers`` (render) — ``--workers 2``, killed 0.1–0.8 s after both workers started.

Concurrency: two identical writers started together on one folder; one must
stop at once with ``DIR is being written by process N`` (one line, no
traceback) or wait, the other finish, and the folder must validate and equal
the baseline.

The material is tiny so that a trial takes seconds: 4 essenFolksong tunes with
one rendition (TimGM6mb), a 4-epoch ``cnn`` of 8–16 filters, an index of every
piece.  Every command runs with one thread (``OMP_NUM_THREADS=1``).

    .venv/bin/python benchmarks/crash.py [--trials 24] [--seed 0] [--work DIR]
        [--commands render,fit,index] [--concurrent 2] [--json benchmarks/results/crash.json]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

AST = Path(sys.executable).parent / "ast"
SOURCE = "music21:essenFolksong/altdeu10.abc"
PIECES = 4
SOUNDFONT = "TimGM6mb"
FIT_OPTIONS = ("--epochs", "4", "--epoch-samples", "200", "--batch-size", "50",
               "--val-candidates", "50", "-p", "filters=[8,16,16,16]", "--seed", "0")
COMMANDS = ("render", "fit", "index")
KINDS = {
    "render": ("random", "late", "midway", "twice", "workers", "finish"),
    "fit": ("random", "late", "midway", "twice", "finish"),
    "index": ("random", "late", "midway", "twice", "finish"),
}
#: paths (globs under the output folder) whose appearance is the kill point of a kind
MIDWAY = {"render": ("pieces/[!.]*/.complete",), "fit": ("checkpoint.pt",),
          "index": (".parts/*.npz",)}
FINISHING = {"render": ("manifest.json", ".manifest.tmp-*"), "fit": ("log.jsonl", ".log.tmp-*"),
             "index": ("*.npy", ".*.tmp-*.npy")}
#: the file that marks a finished output folder
MARKER = {"render": ".complete", "fit": "config.json", "index": ".complete"}
AUDIO_FILES = ("audio.flac", "spectrogram.npy")
#: seconds the killed process's children get to end
ORPHAN_GRACE = 5.0
TIMEOUT = 600
BUSY = re.compile(r"is being written by (process \d+|another process)")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "COLUMNS": "200"}


# --- the commands --------------------------------------------------------------------------


def render_argv(out: Path, *, workers: int = 1) -> list[str]:
    """``ast data render`` of the tiny source into ``out``."""
    return [str(AST), "data", "render", SOURCE, "--out", str(out), "--limit", str(PIECES),
            "--soundfont", SOUNDFONT, "--tempo", "1.0", "--workers", str(workers)]


def fit_argv(data: Path, out: Path) -> list[str]:
    """A deterministic ``ast fit`` of a few seconds (no time limit)."""
    return [str(AST), "fit", "-d", str(data), "-o", str(out), *FIT_OPTIONS]


def index_argv(model: Path, data: Path, out: Path) -> list[str]:
    """``ast index`` of every piece of ``data``."""
    return [str(AST), "index", "-m", str(model), "-d", str(data), "--split", "all", "-o", str(out)]


def rerun_argv(command: str, argv: list[str], out: Path) -> list[str]:
    """The command a user runs after a crash: ``ast fit`` with ``--resume`` (whatever
    the kill left); the others resume by themselves."""
    if command == "fit":
        return [*argv, "--resume"]
    return list(argv)


def start(argv: list[str], log: Path) -> subprocess.Popen:
    """Start ``argv`` in a session of its own, stdout and stderr to ``log``.out / .err."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{log}.out", "w") as out, open(f"{log}.err", "w") as err:
        return subprocess.Popen(argv, stdout=out, stderr=err, env=ENV, start_new_session=True)


def run(argv: list[str], log: Path) -> tuple[int, float]:
    """Run ``argv`` to its end: exit status, seconds."""
    t0 = time.monotonic()
    proc = start(argv, log)
    try:
        rc = proc.wait(TIMEOUT)
    finally:
        _end_group(proc)
    return rc, time.monotonic() - t0


def last_line(log: Path) -> str:
    """The last non-empty line of a run's stderr (else stdout)."""
    for suffix in (".err", ".out"):
        with contextlib.suppress(OSError):
            lines = [ln.strip() for ln in Path(f"{log}{suffix}").read_text().splitlines()
                     if ln.strip()]
            if lines:
                return lines[-1][:300]
    return ""


# --- processes -----------------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children…), from /proc."""
    parent_of = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent_of[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    found, frontier = [], [pid]
    while frontier:
        kids = [c for c, p in parent_of.items() if p == frontier[-1]]
        frontier.pop()
        found += kids
        frontier += kids
    return sorted(found)


def running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie has ended: only its exit status waits to be read)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _end_group(proc: subprocess.Popen) -> None:
    # whatever is left of the session started for this command (its own id)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


def run_and_kill(argv: list[str], log: Path,
                 wait: Callable[[subprocess.Popen], None]) -> tuple[float | None, list[int]]:
    """Start ``argv``, ``wait(proc)``, then SIGKILL the parent process only.

    Returns
    -------
    at : float or None
        Seconds from the start to the kill; None when the command ended first.
    orphans : list of int
        Processes it had started that still ran ``ORPHAN_GRACE`` seconds later
        (they are killed afterwards).
    """
    t0 = time.monotonic()
    proc = start(argv, log)
    try:
        wait(proc)
        if proc.poll() is not None:
            return None, []
        kids = descendants(proc.pid)
        at = time.monotonic() - t0
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + ORPHAN_GRACE
        while time.monotonic() < deadline and any(running(k) for k in kids):
            time.sleep(0.1)
        return at, [k for k in kids if running(k)]
    finally:
        _end_group(proc)


def pause(seconds: float) -> Callable[[subprocess.Popen], None]:
    """Wait ``seconds`` (or until the process ends)."""
    def wait(proc: subprocess.Popen) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(max(seconds, 0.0))
    return wait


def until_path(out: Path, patterns: tuple[str, ...]) -> Callable[[subprocess.Popen], None]:
    """Wait until a path matching one of ``patterns`` appears under ``out`` (polled every 2 ms)."""
    def wait(proc: subprocess.Popen) -> None:
        while proc.poll() is None:
            if out.is_dir() and any(next(out.glob(p), None) for p in patterns):
                return
            time.sleep(0.002)
    return wait


def until_workers(n: int, then: float) -> Callable[[subprocess.Popen], None]:
    """Wait until the process has ``n`` children, then ``then`` seconds more."""
    def wait(proc: subprocess.Popen) -> None:
        while proc.poll() is None and len(descendants(proc.pid)) < n:
            time.sleep(0.02)
        pause(then)(proc)
    return wait


# --- what a folder holds --------------------------------------------------------------------


def tree(folder: Path) -> set[str]:
    """Relative paths of every file and folder under ``folder``, hidden ones included."""
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")} if folder.is_dir() else set()


def beside(folder: Path) -> set[str]:
    """What lies beside ``folder`` under its name: ``.NAME.lock`` -> ``lock``."""
    head = f".{folder.name}."
    return {p.name[len(head):] for p in folder.parent.iterdir() if p.name.startswith(head)}


def remove(folder: Path) -> None:
    """``folder`` and what lies beside it under its name."""
    shutil.rmtree(folder, ignore_errors=True)
    if folder.parent.is_dir():
        for rest in beside(folder):
            with contextlib.suppress(OSError):
                (folder.parent / f".{folder.name}.{rest}").unlink()


def describe(command: str, out: Path) -> str:
    """What a killed command had written."""
    if not out.is_dir() or not any(out.iterdir()):
        return "nothing written"
    have = []
    if command == "render":
        pieces = out / "pieces"
        done = sum(1 for p in pieces.glob("[!.]*/.complete"))
        partial = sum(1 for _ in pieces.glob(".partial-*"))
        have.append(f"{done}/{PIECES} pieces" + (f", {partial} partial" if partial else ""))
        have += [n for n in ("manifest.json", ".complete") if (out / n).exists()]
    elif command == "fit":
        if (out / "checkpoint.pt").exists():
            from ast_toolkit.learn.encoder import read_checkpoint

            epoch = read_checkpoint(out / "checkpoint.pt")["state"]["epoch"]
            have.append(f"checkpoint of epoch {epoch}")
        else:
            have.append("no checkpoint")
        have += [n for n in ("log.jsonl", "weights.pt", "config.json") if (out / n).exists()]
    else:
        parts = sum(1 for _ in out.glob(".parts/*.npz"))
        have.append(f"{parts}/{PIECES} parts" if (out / ".parts").is_dir() else "no .parts")
        have += sorted(p.name for p in out.iterdir() if p.name != ".parts")
    tmp = sorted(p.name for p in out.rglob("*.tmp-*"))
    return ", ".join(have + [f"tmp {t}" for t in tmp])


# --- comparing with the baseline ------------------------------------------------------------


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _json_without(path: Path, drop: Callable[[Any], None]) -> Any:
    data = json.loads(path.read_text())
    drop(data)
    return data


def _drop_created(meta: dict) -> None:
    meta.pop("created", None)


def _drop_seconds(config: dict) -> None:
    config.get("training", {}).pop("seconds", None)
    # the sha256 of weights.pt: torch.save names the archive's records after the file it
    # writes (a temporary name with the process id) and adds a random serialization id,
    # so equal tensors never give equal bytes; the tensors are compared instead
    config.pop("weights_sha256", None)


def _log_entries(path: Path) -> list[dict]:
    timing = ("seconds", "pairs_per_s", "train_seconds")
    return [{k: v for k, v in json.loads(ln).items() if k not in timing}
            for ln in path.read_text().splitlines() if ln.strip()]


def _same_weights(a: Path, b: Path) -> bool:
    import torch
    from ast_toolkit.learn.encoder import read_checkpoint

    x, y = read_checkpoint(a), read_checkpoint(b)
    if "model" in x:  # a training checkpoint: its weights
        x, y = x["model"], y.get("model", {})
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


def _without_audio(sums: Path) -> dict[str, str]:
    return {k: v for k, v in json.loads(sums.read_text()).items() if not k.endswith(AUDIO_FILES)}


def _same(a: Path, b: Path) -> bool:
    """Whether file ``b`` equals the baseline's ``a``, less time stamps."""
    name = a.name
    if name in (".complete", ".verified.json"):
        return True  # a time stamp; when the arrays were last verified (sizes and times)
    if name == "index.json":
        return _json_without(a, _drop_created) == _json_without(b, _drop_created)
    if name == "config.json":
        return _json_without(a, _drop_seconds) == _json_without(b, _drop_seconds)
    if name == "log.jsonl":
        return _log_entries(a) == _log_entries(b)
    if name.endswith(".pt"):
        return _same_weights(a, b)
    if name == "checksums.json":  # its audio entries are compared with the audio
        return _without_audio(a) == _without_audio(b)
    return _sha(a) == _sha(b)


def compare(out: Path, reference: Path) -> dict[str, Any]:
    """``out`` against the baseline folder ``reference``.

    Returns
    -------
    dict
        ``identical`` (bool: every file but the audio), ``differ`` and
        ``missing`` (relative paths), ``audio_identical`` (bool, or None
        without audio), ``audio_differ`` (paths), ``spectrogram_max_diff``
        (largest absolute difference of a spectrogram bin, log units).
    """
    import numpy as np

    differ, missing, audio_differ = [], [], []
    n_audio, worst = 0, 0.0
    for rel in sorted(tree(reference)):
        a, b = reference / rel, out / rel
        if a.is_dir():
            if not b.is_dir():
                missing.append(rel)
            continue
        if not b.is_file():
            missing.append(rel)
            continue
        if a.name in AUDIO_FILES:
            n_audio += 1
            if _sha(a) != _sha(b):
                audio_differ.append(rel)
                if a.name == "spectrogram.npy":
                    x, y = np.load(a).astype(np.float32), np.load(b).astype(np.float32)
                    worst = max(worst, float(np.abs(x - y).max()) if x.shape == y.shape else math.inf)
            continue
        if not _same(a, b):
            differ.append(rel)
    return {"identical": not differ and not missing, "differ": differ, "missing": missing,
            "audio_identical": (not audio_differ) if n_audio else None,
            "audio_differ": audio_differ, "spectrogram_max_diff": round(worst, 5)}


def validate(command: str, out: Path, base: Baselines, log: Path) -> tuple[bool, str]:
    """Whether the finished folder is valid: a dataset validates, a model evaluates, an
    index opens with finite arrays that hold its pieces' rows.  (ok, why not)."""
    import numpy as np

    if command == "render":
        rc, _ = run([str(AST), "data", "validate", str(out)], log)
        return rc == 0, "" if rc == 0 else f"ast data validate: exit {rc}: {last_line(log)}"
    if command == "fit":
        argv = [str(AST), "eval", "snippets", "-m", str(out), "-d", str(base.data), "--split",
                "valid", "-n", "50", "--json"]
        rc, _ = run(argv, log)
        if rc != 0:
            return False, f"ast eval snippets: exit {rc}: {last_line(log)}"
        numbers = [v for d in json.loads(Path(f"{log}.out").read_text())["directions"].values()
                   for v in d.values()]
        if not all(math.isfinite(v) for v in numbers):
            return False, f"ast eval snippets: non-finite metrics {numbers}"
        return True, ""
    from ast_toolkit.errors import ToolkitError
    from ast_toolkit.search.index import Index

    try:
        index = Index(out)
        for m in index.modalities:
            rows = 0
            for i in range(len(index)):
                seq = index.sequence(m, i)
                if not np.isfinite(seq).all() or len(index.positions(m, i)) != len(seq):
                    return False, f"piece {index.ids[i]}: {m} rows damaged"
                rows += len(seq)
            stored = len(np.load(out / f"{m}.npy", mmap_mode="r"))
            if rows != index.meta["rows"][m] or rows != stored:
                return False, f"{m}: {rows} rows in pieces, {stored} in {m}.npy"
    except (ToolkitError, OSError, ValueError, KeyError) as exc:  # what a reader would meet
        return False, f"{type(exc).__name__}: {exc}"
    return True, ""


def check(command: str, out: Path, base: Baselines, rc: int, log: Path) -> dict[str, Any]:
    """Every check of a finished (re)run of ``command`` into ``out``."""
    reference = base.reference(command)
    row: dict[str, Any] = {"rerun_rc": rc, "complete": (out / MARKER[command]).is_file()}
    row["valid"], why = validate(command, out, base, log.with_name(log.name + "-validate")) \
        if rc == 0 else (False, "not checked: the rerun failed")
    cmp = compare(out, reference)
    row.update(identical=cmp["identical"], audio_identical=cmp["audio_identical"],
               spectrogram_max_diff=cmp["spectrogram_max_diff"] if cmp["audio_differ"] else 0.0)
    row["leftovers"] = sorted(tree(out) - tree(reference)) \
        + sorted(f"../.{out.name}.{s}" for s in beside(out) - beside(reference))
    problems = []
    if rc != 0:
        problems.append(f"rerun exit {rc}: {last_line(log)}")
    if not row["complete"]:
        problems.append(f"no {MARKER[command]}")
    if not row["valid"]:
        problems.append(f"not valid: {why}")
    if not cmp["identical"]:
        problems.append("differs from the baseline: "
                        + ", ".join(cmp["differ"][:4] + [f"missing {m}" for m in cmp["missing"][:4]]))
    if row["leftovers"]:
        problems.append("leftovers: " + ", ".join(row["leftovers"][:6]))
    row["problems"] = problems
    return row


# --- baselines ------------------------------------------------------------------------------


@dataclass
class Baselines:
    """Uninterrupted runs in a work folder, and how long each took."""

    work: Path
    data: Path
    model: Path | None = None
    index: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    #: two uninterrupted one-worker renders (fits) agree bit for bit
    audio_deterministic: bool | None = None
    fit_deterministic: bool | None = None

    def argv(self, command: str, out: Path, *, workers: int = 1) -> list[str]:
        if command == "render":
            return render_argv(out, workers=workers)
        if command == "fit":
            return fit_argv(self.data, out)
        return index_argv(self.model, self.data, out)

    def reference(self, command: str) -> Path:
        return {"render": self.data, "fit": self.model, "index": self.index}[command]


def make_baselines(work: Path, commands: tuple[str, ...] = COMMANDS, *,
                   twice: bool = True) -> Baselines:
    """Render, fit and index once, uninterrupted, in ``work`` (what ``commands`` need);
    ``twice``: render and fit again to see whether audio and weights repeat."""
    work.mkdir(parents=True, exist_ok=True)
    logs = work / "logs"
    base = Baselines(work, work / "baseline-data")

    def once(name: str, argv: list[str], out: Path) -> float:
        remove(out)
        rc, seconds = run(argv, logs / name)
        if rc != 0:
            raise RuntimeError(f"baseline {' '.join(argv)} failed (exit {rc}): "
                               f"{last_line(logs / name)}")
        return seconds

    base.seconds["render"] = once("baseline-render", render_argv(base.data), base.data)
    if twice:
        again = work / "baseline-data-2"
        once("baseline-render-2", render_argv(again), again)
        cmp = compare(again, base.data)
        base.audio_deterministic = bool(cmp["identical"] and cmp["audio_identical"])
        remove(again)
    if "fit" in commands or "index" in commands:
        base.model = work / "baseline-model"
        base.seconds["fit"] = once("baseline-fit", fit_argv(base.data, base.model), base.model)
        if twice and "fit" in commands:
            again = work / "baseline-model-2"
            once("baseline-fit-2", fit_argv(base.data, again), again)
            base.fit_deterministic = compare(again, base.model)["identical"]
            remove(again)
    if "index" in commands:
        base.index = work / "baseline-index"
        base.seconds["index"] = once("baseline-index", index_argv(base.model, base.data, base.index),
                                     base.index)
    return base


# --- trials ---------------------------------------------------------------------------------


def kill_point(kind: str, command: str, out: Path, seconds: float,
               rng: random.Random) -> Callable[[subprocess.Popen], None]:
    """When a trial of ``kind`` kills (``seconds``: the baseline's duration)."""
    if kind == "late":
        return pause(rng.uniform(0.5 * seconds, 0.95 * seconds))
    if kind == "midway":
        return until_path(out, MIDWAY[command])
    if kind == "finish":
        return until_path(out, FINISHING[command])
    if kind == "workers":
        return until_workers(2, rng.uniform(0.1, 0.8))  # the pool renders for ~1-2 s
    return pause(rng.uniform(0.0, seconds))


def crash_trial(command: str, kind: str, base: Baselines, out: Path, *, seed: int = 0,
                keep: bool = False) -> dict[str, Any]:
    """Kill ``command`` (once, or twice for ``twice``) at a ``kind`` of point, rerun it,
    and check the result against the baseline.  ``out`` is removed unless the trial
    failed or ``keep``."""
    rng = random.Random(f"{seed}-{command}-{kind}-{out.name}")
    remove(out)
    logs = base.work / "logs" / out.name
    argv = base.argv(command, out, workers=2 if kind == "workers" else 1)
    kills, orphans, current = [], [], argv
    for round_ in range(2 if kind == "twice" else 1):
        wait = kill_point(kind if round_ == 0 else "random", command, out,
                          base.seconds[command], rng)
        at, left = run_and_kill(current, logs / f"killed-{round_}", wait)
        kills.append({"argv": current[1:], "at": None if at is None else round(at, 2),
                      "state": describe(command, out) if at is not None else "finished first",
                      "orphans": left})
        orphans += left
        current = rerun_argv(command, argv, out)
    rc, seconds = run(current, logs / "rerun")
    row = {"command": command, "kind": kind, "trial": out.name, "killed": kills,
           "killed_at": [k["at"] for k in kills], "rerun": current[1:],
           "rerun_seconds": round(seconds, 1), "orphans": len(orphans)}
    row.update(check(command, out, base, rc, logs / "rerun"))
    if orphans:
        row["problems"].append(f"{len(orphans)} process(es) still ran {ORPHAN_GRACE:g} s after "
                               f"their parent was killed: {orphans}")
    if all(k["at"] is None for k in kills):
        row["note"] = "the command finished before the kill"
    row["ok"] = not row["problems"]
    row["folder"] = str(out)
    if row["ok"] and not keep:
        remove(out)
    return row


def concurrent_writers(command: str, base: Baselines, out: Path, *,
                       keep: bool = False) -> dict[str, Any]:
    """Two identical ``command``s started together on ``out``: one must refuse (one line
    naming the process) or wait, the other finish; the folder must check out."""
    remove(out)
    logs = base.work / "logs" / out.name
    argv = base.argv(command, out)
    procs = [start(argv, logs / "a"), start(argv, logs / "b")]
    try:
        rcs = [p.wait(TIMEOUT) for p in procs]
    finally:
        for p in procs:
            _end_group(p)
    errs = [Path(f"{logs / w}.err").read_text() for w in "ab"]
    refused = [i for i in (0, 1) if rcs[i] != 0 and BUSY.search(errs[i])]
    finished = [i for i in (0, 1) if rcs[i] == 0]
    message = errs[refused[0]].strip() if refused else ""
    outcome = ("one refused" if len(refused) == 1 and len(finished) == 1
               else "both finished" if len(finished) == 2 else f"exit {rcs}")
    winner = logs / "ab"[finished[0]] if finished else logs / "a"
    row = {"command": command, "trial": out.name, "exit": rcs, "outcome": outcome,
           "message": message[:300]}
    row.update(check(command, out, base, rcs[finished[0]] if finished else max(rcs), winner))
    if outcome == "both finished":
        row["problems"].append("both writers ran to the end: neither was refused")
    elif outcome != "one refused":
        row["problems"].append(f"exit statuses {rcs}: {last_line(logs / 'a')} | "
                               f"{last_line(logs / 'b')}")
    if refused:
        if len(message.splitlines()) != 1 or "Traceback" in message:
            row["problems"].append("the refusal is not one line: " + message[:200])
        if not re.search(r"is being written by process \d+", message):
            row["problems"].append(f"the refusal names no process: {message[:200]}")
    row["ok"] = not row["problems"]
    row["folder"] = str(out)
    if row["ok"] and not keep:
        remove(out)
    return row


# --- the report -----------------------------------------------------------------------------


def _count(rows: list[dict], key: str) -> str:
    return f"{sum(1 for r in rows if r[key])}/{len(rows)}"


def markdown(result: dict[str, Any]) -> str:
    """The summary, per-trial and concurrency tables."""
    rows, base = result["trials"], result["baseline"]
    out = [("| command | trials | kills | killed at (s) | baseline (s) | rerun ok | valid | "
            "identical | audio identical | leftovers | orphans |"),
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for command in result["commands"]:
        rs = [r for r in rows if r["command"] == command]
        if not rs:
            continue
        ats = [a for r in rs for a in r["killed_at"] if a is not None]
        kills = sum(1 for r in rs for a in r["killed_at"] if a is not None)
        audio = [r["audio_identical"] for r in rs if r["audio_identical"] is not None]
        out.append(
            f"| {command} | {len(rs)} | {kills} | "
            f"{min(ats, default=0):.1f}–{max(ats, default=0):.1f} | "
            f"{base['seconds'].get(command, 0):.1f} | "
            f"{sum(1 for r in rs if r['rerun_rc'] == 0 and r['complete'])}/{len(rs)} | "
            f"{_count(rs, 'valid')} | {_count(rs, 'identical')} | "
            + (f"{sum(audio)}/{len(audio)}" if audio else "—")
            + f" | {sum(1 for r in rs if r['leftovers'])} | {sum(r['orphans'] for r in rs)} |")
    out += ["", ("| trial | kind | killed at (s) | state when killed | rerun | valid | identical | "
                 "audio | leftovers | orphans |"), "|---|---|---|---|---|---|---|---|---|---|"]
    yes = {True: "yes", False: "**no**", None: "—"}
    for r in rows:
        at = ", ".join("finished" if a is None else f"{a:.2f}" for a in r["killed_at"])
        state = "; ".join(k["state"] for k in r["killed"])
        rerun = ("ok" if r["rerun_rc"] == 0 and r["complete"] else f"**exit {r['rerun_rc']}**") \
            + (" (--resume)" if "--resume" in r["rerun"] else "")
        audio = yes[r["audio_identical"]] if r["audio_identical"] is not False \
            else f"no (Δ ≤ {r['spectrogram_max_diff']:.3g})"
        out.append(f"| {r['trial']} | {r['kind']} | {at} | {state} | {rerun} | {yes[r['valid']]} | "
                   f"{yes[r['identical']]} | {audio} | {len(r['leftovers']) or '—'} | "
                   f"{r['orphans'] or '—'} |")
    if result["concurrency"]:
        out += ["", "| two writers | outcome | refusal | valid | identical | leftovers |",
                "|---|---|---|---|---|---|"]
        for r in result["concurrency"]:
            msg = r["message"].split(";")[0].replace("|", "/")
            out.append(f"| {r['command']} | {r['outcome']} | {msg or '—'} | {yes[r['valid']]} | "
                       f"{yes[r['identical']]} | {len(r['leftovers']) or '—'} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=24, help="kills, spread over the commands")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, help="work folder (default: a new temporary one)")
    ap.add_argument("--commands", default=",".join(COMMANDS))
    ap.add_argument("--concurrent", type=int, default=2,
                    help="two-writer trials per command")
    ap.add_argument("--keep", action="store_true", help="keep every trial folder")
    ap.add_argument("--json", dest="json_out", type=Path,
                    default=Path(__file__).resolve().parent / "results" / "crash.json")
    args = ap.parse_args()
    commands = tuple(c for c in args.commands.split(",") if c)
    unknown = set(commands) - set(COMMANDS)
    if unknown:
        ap.error(f"--commands: unknown {sorted(unknown)}; choose from {', '.join(COMMANDS)}")
    work = args.work or Path(tempfile.mkdtemp(prefix="ast-crash-"))
    t0 = time.monotonic()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"work folder {work}", flush=True)
    base = make_baselines(work, commands)
    print(f"baselines: {', '.join(f'{k} {v:.1f} s' for k, v in base.seconds.items())}; "
          f"audio repeats: {base.audio_deterministic}; fit repeats: {base.fit_deterministic}",
          flush=True)
    trials = []
    for i in range(args.trials):
        command = commands[i % len(commands)]
        kind = KINDS[command][(i // len(commands)) % len(KINDS[command])]
        row = crash_trial(command, kind, base, work / f"{command}-{i:02d}", seed=args.seed,
                          keep=args.keep)
        trials.append(row)
        print(f"{row['trial']:10} {kind:8} killed at {row['killed_at']} "
              f"({'; '.join(k['state'] for k in row['killed'])}): "
              f"{'ok' if row['ok'] else 'FAILED: ' + ' / '.join(row['problems'])}"
              + (f" [audio differs, max |Δ spectrogram| {row['spectrogram_max_diff']}]"
                 if row["audio_identical"] is False else ""), flush=True)
    concurrency = []
    for command in commands:
        for j in range(args.concurrent):
            row = concurrent_writers(command, base, work / f"{command}-two-{j}", keep=args.keep)
            concurrency.append(row)
            print(f"{row['trial']:14} {row['outcome']}: "
                  f"{'ok' if row['ok'] else 'FAILED: ' + ' / '.join(row['problems'])}", flush=True)
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "seed": args.seed, "commands": list(commands), "seconds": round(time.monotonic() - t0, 1),
        "baseline": {"seconds": {k: round(v, 2) for k, v in base.seconds.items()},
                     "audio_deterministic": base.audio_deterministic,
                     "fit_deterministic": base.fit_deterministic,
                     "source": SOURCE, "pieces": PIECES, "soundfont": SOUNDFONT,
                     "fit": list(FIT_OPTIONS)},
        "trials": trials, "concurrency": concurrency,
        "failures": [r for r in trials + concurrency if not r["ok"]],
    }
    print()
    print(markdown(result))
    print(f"\n{len(result['failures'])} of {len(trials) + len(concurrency)} trials failed; "
          f"{result['seconds']:.0f} s")
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
