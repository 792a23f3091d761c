"""Benchmark: fuzzing the command line with malformed inputs.

Generates malformed inputs — scores, audio, images and PDFs, damaged
dataset / model / index / training-run folders — runs each through the real
``ast`` command in a subprocess with a timeout, and reports a table of
outcomes per category::

    .venv/bin/python benchmarks/fuzz.py [--quick] [--only scores,audio] [--timeout 60]
        [--workers 2] [--work DIR] [--json benchmarks/results/fuzz.json] [--no-sheets]

Every generator is deterministic (``numpy.random.default_rng`` with a fixed
seed).  A small good dataset (essenFolksong tunes, one soundfont), a tiny
model, an interrupted training run and an index are made once in ``--work``
(kept there, so a second run starts at once) and damaged copy by copy.

The oracle, per case (one input through one command):

``hang``          the command ran past the timeout (or its memory grew past ``--memory`` GB);
``crash``         it was killed by a signal;
``traceback``     a Python traceback in its output (or in a reason it wrote);
``clean error``   exit status ≠ 0 and one ``Error:`` line naming the file — or, for a batch
                  (``data render``, ``index``), the file listed in its failures with a
                  one-line reason while the rest of the batch was done;
``vague error``   refused, but the message is missing, several lines, or does not name
                  the file;
``ok``            exit status 0 and the result equals the one on the undamaged input
                  (``--json`` output, the index's arrays), or the command warned;
``silent wrong``  exit status 0, no warning, and a result that differs from the undamaged
                  one — or a damaged input accepted where it must be refused (a
                  random-bytes score built into a piece, a damaged folder validated).

``lost`` counts good inputs refused or dropped ("nothing good is lost"): a valid
score of a batch not built, a valid recording refused, a good piece missing from
an index after a damaged one.  Images and PDFs are read as sheet music (``ast
match -q page.png``): a valid page is a query, the rest is refused with one line;
``--no-sheets`` judges them as before there was a reader (every one refused).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
AST = Path(sys.executable).parent / "ast"

#: Outcomes, in table order.
OUTCOMES = ("ok", "clean error", "vague error", "traceback", "hang", "crash", "silent wrong")
#: Expectations of good inputs: refusing one loses it.
GOOD = ("same", "similar", "valid")
#: Outcomes that are failures of the product (the target is 0 of each).
FAILURES = ("traceback", "hang", "crash", "silent wrong")
CATEGORIES = ("scores", "audio", "audio-batch", "images", "dataset", "model", "index", "run")

SCORE_SUFFIXES = (".xml", ".musicxml", ".mxl", ".abc", ".krn", ".mei")
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".aif", ".aiff")
SOUNDFONT = "TimGM6mb"
SEED = 20261203
SR = 22050
#: Seconds for a score of absurd size: more than the render budget of 300 s per piece.
BIG_TIMEOUT = 420.0

# -- cases and outcomes -------------------------------------------------------------------


@dataclass
class Case:
    """One malformed input and what must happen to it.

    ``expect``: ``refuse`` (a clean error, or a warning), ``same`` (the result of
    the undamaged input), ``similar`` (the same best piece), ``either`` (any
    answer or a clean error), ``valid`` (a good input: any answer; refusing it
    loses it).
    """

    category: str
    name: str
    description: str
    expect: str = "refuse"
    input: Path | None = None        # the file (scores, audio, images)
    folder: str | None = None        # dataset | model | index | run: the base folder damaged
    rel: str | None = None           # the damaged file inside it
    damage: tuple = ()               # ("flip", positions) | ("cut", size) | ("delete",) | ("put", bytes)
    consumer: str | None = None      # the command that reads the damaged folder
    future: str | None = None        # images: what a sheet reader must do (page | refuse)
    timeout: float | None = None     # seconds, when the case needs more than --timeout


@dataclass
class Result:
    category: str
    name: str
    description: str
    outcome: str
    message: str = ""
    lost: bool = False
    command: str = ""
    seconds: float = 0.0

    def line(self) -> str:
        lost = " [lost]" if self.lost else ""
        return f"{self.category}/{self.name}: {self.outcome}{lost}: {self.message}  ({self.command})"


@dataclass
class Run:
    """What one subprocess did."""

    rc: int | None
    out: str
    err: str
    seconds: float
    status: str = "done"     # done | timeout | memory
    argv: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.out + "\n" + self.err


# -- running the command line -----------------------------------------------------------

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and every process below it (read from /proc)."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0
    for d in entries:
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as fh:
                ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm", "rb") as fh:
                total += int(fh.read().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            pass
        todo += children.get(p, [])
    return total


def cli_env() -> dict[str, str]:
    """The environment of every ``ast`` run: wide plain output, one thread per process."""
    env = {k: v for k, v in os.environ.items() if k != "AST_REGISTRY"}
    env.update(COLUMNS="400", NO_COLOR="1", TERM="dumb", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1", NUMBA_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return env


def run_ast(args: Sequence[str | os.PathLike], *, timeout: float, cwd: Path | None = None,
            memory_gb: float = 6.0, interrupt_when: Callable[[], bool] | None = None) -> Run:
    """Run ``ast ARGS`` in its own process group; kill the group on timeout or memory.

    ``interrupt_when`` (polled): send SIGINT once it returns True (Ctrl-C).
    """
    argv = [str(AST), *[os.fspath(a) for a in args]]
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
                            env=cli_env(), start_new_session=True)
    status, interrupted = "done", False
    while True:
        try:
            out, err = proc.communicate(timeout=0.2 if interrupt_when else 0.5)
            break
        except subprocess.TimeoutExpired:
            pass
        if interrupt_when is not None and not interrupted and interrupt_when():
            proc.send_signal(signal.SIGINT)
            interrupted = True
        over_time = time.monotonic() - t0 > timeout
        over_memory = _tree_rss(proc.pid) > memory_gb * 2**30
        if over_time or over_memory:
            status = "timeout" if over_time else "memory"
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            out, err = proc.communicate()
            break
    return Run(proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
               time.monotonic() - t0, status, [shown(a) for a in argv[1:]])


def shown(path: str | os.PathLike) -> str:
    """A path or argument as printable text (undecodable bytes as \\xNN)."""
    raw = os.fsencode(path)
    return raw.decode("utf-8", "backslashreplace").replace("\n", "\\n")


def has_traceback(text: str) -> bool:
    return "Traceback (most recent call last)" in text


def error_lines(run: Run) -> list[str]:
    return [ln.strip() for ln in run.err.splitlines() if ln.strip().startswith("Error:")]


def warned(run: Run) -> bool:
    return re.search(r"\bwarning\b", run.text, re.IGNORECASE) is not None


def first_line(text: str, limit: int = 300) -> str:
    for ln in text.splitlines():
        if ln.strip():
            return ln.strip()[:limit]
    return ""


def traceback_summary(text: str) -> str:
    """The exception line of the last traceback in ``text`` and where it was raised."""
    lines = text.splitlines()
    start = max(i for i, ln in enumerate(lines) if "Traceback (most recent call last)" in ln)
    tail = [ln for ln in lines[start + 1:] if ln.strip()]
    where = [ln.strip() for ln in tail if ln.strip().startswith("File ")]
    exc = next((ln.strip() for ln in tail if not ln.startswith(" ") and ln.strip()), "?")
    return f"{exc[:200]} (at {where[-1][:160] if where else '?'})"


def name_forms(path: str | os.PathLike) -> list[list[str]]:
    """Ways a message may name a file: each entry is a list of parts that must all appear."""
    raw = os.fsencode(path)
    base = os.path.basename(raw.rstrip(b"/")) or raw
    forms = []
    try:
        forms.append([base.decode("utf-8")])
    except UnicodeDecodeError:
        # Not UTF-8: accept any rendering that keeps the decodable pieces around the bad bytes.
        forms.append([p.decode("ascii") for p in re.split(rb"[\x80-\xff\n]+", base) if p])
    if b"\n" in base:
        forms.append([p.decode("utf-8", "replace") for p in base.split(b"\n") if p])
    return forms


def names_file(text: str, *paths: str | os.PathLike) -> bool:
    return any(all(part in text for part in form) for p in paths for form in name_forms(p))


#: Exceptions that mean the code did not expect the input: a reason naming one is vague.
_INTERNAL = re.compile(r"\b(IndexError|KeyError|TypeError|AttributeError|ZeroDivisionError|AssertionError|"
                       r"RecursionError|UnboundLocalError|NameError|OverflowError|MemoryError|"
                       r"NotImplementedError|StopIteration)\b")


def internal(reason: str) -> str | None:
    """The internal exception a message gives as its reason, if any."""
    m = _INTERNAL.search(reason)
    return m.group(1) if m else None


def judge_failure(run: Run, targets: Sequence[str | os.PathLike]) -> tuple[str, str]:
    """Outcome and message of a run that did not end with exit status 0."""
    if run.status == "timeout":
        return "hang", f"no answer after {run.seconds:.0f} s"
    if run.status == "memory":
        return "hang", f"killed after {run.seconds:.0f} s: memory above the limit"
    if has_traceback(run.text):
        return "traceback", traceback_summary(run.text)
    if run.rc is not None and run.rc < 0:
        return "crash", f"killed by signal {-run.rc} ({first_line(run.err)})"
    errors = error_lines(run)
    if not errors:
        return "vague error", f"exit {run.rc} without an Error: line: {first_line(run.text)}"
    if len(errors) > 1:
        return "vague error", f"{len(errors)} error lines: {errors[0]}"
    if targets and not names_file(run.text, *targets):
        return "vague error", f"does not name {shown(targets[0])}: {errors[0]}"
    if internal(errors[0]):
        return "vague error", f"an internal {internal(errors[0])} as the reason: {errors[0]}"
    return "clean error", errors[0]


def judge(case: Case, run: Run, targets: Sequence[str | os.PathLike],
          compare: Callable[[Run], str | None]) -> tuple[str, str, bool]:
    """Outcome, message and ``lost`` of a single case.  ``compare`` returns None when the
    result equals the undamaged input's, else what differs."""
    if run.rc != 0 or run.status != "done":
        outcome, message = judge_failure(run, targets)
        return outcome, message, outcome in ("clean error", "vague error") and case.expect in GOOD
    if has_traceback(run.text):
        return "traceback", traceback_summary(run.text), False
    if case.expect == "refuse":
        if warned(run):
            return "ok", "accepted with a warning: " + first_line(
                next(ln for ln in run.text.splitlines() if "warning" in ln.lower())), False
        diff = compare(run)
        return "silent wrong", "exit 0, no warning: accepted a damaged input" + (
            f" ({diff})" if diff else " (answered as for the undamaged input)"), False
    if case.expect in ("either", "valid"):
        diff = compare(run)
        return "ok", ("answered" + (f" ({diff})" if diff else "")), False
    diff = compare(run)
    if diff is None:
        return "ok", "same result as the undamaged input", False
    if warned(run):
        return "ok", f"differs, with a warning ({diff})", False
    return "silent wrong", f"exit 0, no warning, result differs: {diff}", False


# -- damaging bytes -------------------------------------------------------------------------


def flipped(data: bytes, positions: Iterable[int]) -> bytes:
    buf = bytearray(data)
    for p in positions:
        if 0 <= p < len(buf):
            buf[p] ^= 0xFF
    return bytes(buf)


def byte_damages(size: int, rng: np.random.Generator, *, head: int = 64) -> list[tuple[str, str, tuple]]:
    """(name, description, damage) of the byte-level damages of a file of ``size`` bytes."""
    out = [("delete", "deleted", ("delete",)),
           ("empty", "truncated to 0 bytes", ("cut", 0))]
    if size > 1:
        out += [("cut-half", f"truncated to {size // 2} of {size} bytes", ("cut", size // 2)),
                ("cut-last", "last byte cut off", ("cut", size - 1)),
                ("flip-head", "a byte of its first 64 flipped", ("flip", (int(rng.integers(0, min(head, size))),))),
                ("flip-mid", "the middle byte flipped", ("flip", (size // 2,))),
                ("flip-tail", "the last byte flipped", ("flip", (size - 1,))),
                ("flip-3", "3 random bytes flipped", ("flip", tuple(int(x) for x in rng.integers(0, size, 3))))]
    if size > 10:
        out.append(("cut-90", f"truncated to 90% ({size * 9 // 10} of {size} bytes)", ("cut", size * 9 // 10)))
    return out


_WRONG = {
    str: [7, None, [], {"x": 1}],
    bool: ["true", None, 2],
    int: ["7", None, [], -1, 1e308],
    float: ["0.5", None, [], -1.0, float("nan")],
    list: ["x", 7, None, {}],
    dict: [[], "x", 7, None],
    type(None): ["x", 7, []],
}


def _leaves(obj: Any, path: tuple = (), depth: int = 0) -> Iterable[tuple]:
    """Paths of a JSON document's values (lists: their first and last element), depth <= 4."""
    yield path
    if depth >= 4:
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, path + (k,), depth + 1)
    elif isinstance(obj, list) and obj:
        for i in sorted({0, len(obj) - 1}):
            yield from _leaves(obj[i], path + (i,), depth + 1)


def _get(obj: Any, path: tuple) -> Any:
    for k in path:
        obj = obj[k]
    return obj


def _put(obj: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    copy = json.loads(json.dumps(obj))
    parent = _get(copy, path[:-1])
    parent[path[-1]] = value
    return copy


def json_damages(data: bytes, rng: np.random.Generator, limit: int) -> list[tuple[str, str, tuple]]:
    """Wrong types in a JSON file: every value (sampled to ``limit``) replaced by one of
    another type, and a few documents that are not what the file should hold."""
    try:
        doc = json.loads(data)
    except ValueError:
        return []
    out = []
    for path in _leaves(doc):
        value = _get(doc, path)
        for wrong in _WRONG.get(type(value), []):
            key = "/".join(str(k) for k in path) or "<root>"
            name = f"json-{key}={json.dumps(wrong)}"
            out.append((re.sub(r"[^A-Za-z0-9_.=/<>\[\]{}\"-]", "_", name)[:120],
                        f"{key}: {type(value).__name__} {json.dumps(value)[:40]} → {json.dumps(wrong)}",
                        ("put", json.dumps(_put(doc, path, wrong), indent=1).encode())))
    if len(out) > limit:
        keep = sorted(rng.choice(len(out), limit, replace=False))
        out = [out[i] for i in keep]
    out += [("json-invalid", "not JSON (a brace missing)", ("put", data.rstrip()[:-1])),
            ("json-text", "plain text", ("put", b"this is not json\n")),
            ("json-nul", "NUL bytes", ("put", b"\x00" * 16))]
    return out


def apply_damage(path: Path, damage: tuple) -> None:
    """Damage the file at ``path`` (a fresh copy: write a new file, never in place)."""
    kind = damage[0]
    if kind == "delete":
        path.unlink()
        return
    data = path.read_bytes()
    path.unlink()  # the copy may be a hard link to the good file
    if kind == "cut":
        path.write_bytes(data[:damage[1]])
    elif kind == "flip":
        path.write_bytes(flipped(data, damage[1]))
    elif kind == "put":
        path.write_bytes(damage[1])
    else:
        raise ValueError(kind)


# -- scores -----------------------------------------------------------------------------------


def music21_corpus() -> Path:
    from music21 import common

    return Path(common.getCorpusFilePath())


MEI = """<?xml version="1.0" encoding="UTF-8"?>
<mei xmlns="http://www.music-encoding.org/ns/mei" meiversion="4.0.0">
  <meiHead><fileDesc><titleStmt><title>fuzz</title></titleStmt><pubStmt/></fileDesc></meiHead>
  <music><body><mdiv><score>
    <scoreDef meter.count="4" meter.unit="4" key.sig="0"{scoredef}>
      <staffGrp><staffDef n="1" lines="5" clef.shape="G" clef.line="2"/></staffGrp>
    </scoreDef>
    <section>
{measures}
    </section>
  </score></mdiv></body></music>
</mei>
"""


def mei(notes: Sequence[str], *, scoredef: str = "") -> str:
    """An MEI document, four notes (``<note .../>`` strings) per measure."""
    measures = []
    for m in range(0, len(notes), 4):
        body = "".join(notes[m:m + 4])
        measures.append(f'      <measure n="{m // 4 + 1}"><staff n="1"><layer n="1">{body}'
                        "</layer></staff></measure>")
    return MEI.format(scoredef=scoredef, measures="\n".join(measures))


def mei_note(pname: str = "c", oct: str = "4", dur: str = "4", extra: str = "") -> str:
    return f'<note pname="{pname}" oct="{oct}" dur="{dur}"{extra}/>'


def musicxml(notes: Sequence[str], *, divisions: str = "1", tempo: str | None = "120",
             beats: str = "4", beat_type: str = "4", fifths: str = "0", clef: str = "<sign>G</sign><line>2</line>",
             parts: int = 1, per_measure: int = 4) -> str:
    """A partwise MusicXML document, ``per_measure`` notes (``<note>`` strings) per measure."""
    direction = "" if tempo is None else (
        '<direction placement="above"><direction-type><metronome><beat-unit>quarter</beat-unit>'
        f"<per-minute>{tempo}</per-minute></metronome></direction-type><sound tempo=\"{tempo}\"/></direction>")
    part_list = "".join(f'<score-part id="P{p + 1}"><part-name>Fuzz {p + 1}</part-name></score-part>'
                        for p in range(parts))
    body = []
    for p in range(parts):
        measures = []
        for m in range(0, max(len(notes), 1), per_measure):
            attrs = ""
            if m == 0:
                attrs = (f"<attributes><divisions>{divisions}</divisions><key><fifths>{fifths}</fifths></key>"
                         f"<time><beats>{beats}</beats><beat-type>{beat_type}</beat-type></time>"
                         f"<clef>{clef}</clef></attributes>{direction}")
            measures.append(f'<measure number="{m // per_measure + 1}">{attrs}'
                            + "".join(notes[m:m + per_measure]) + "</measure>")
        body.append(f'<part id="P{p + 1}">' + "\n".join(measures) + "</part>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<score-partwise version="3.1">\n'
            f"<part-list>{part_list}</part-list>\n" + "\n".join(body) + "\n</score-partwise>\n")


def xml_note(step: str = "C", octave: str = "4", duration: str = "1", kind: str = "quarter",
             alter: str | None = None, extra: str = "") -> str:
    alter_xml = "" if alter is None else f"<alter>{alter}</alter>"
    return (f"<note><pitch><step>{step}</step>{alter_xml}<octave>{octave}</octave></pitch>"
            f"<duration>{duration}</duration><type>{kind}</type>{extra}</note>")


def abc(body: str, *, header: str = "M:4/4\nL:1/8\nQ:1/4=120\nK:C", number: int = 1) -> str:
    return f"X:{number}\nT:fuzz {number}\n{header}\n{body}\n"


def kern(tokens: Sequence[str], *, header: str = "*M4/4\n*MM120") -> str:
    lines = ["**kern", header]
    for i in range(0, len(tokens), 4):
        lines.append(f"={i // 4 + 1}")
        lines += tokens[i:i + 4]
    lines.append("*-")
    return "\n".join(lines) + "\n"


def _random_pitches(rng: np.random.Generator, n: int, letters: str) -> list[str]:
    return [letters[i] for i in rng.integers(0, len(letters), n)]


def score_seeds(folder: Path) -> dict[str, Path]:
    """Small valid scores, one per suffix: two essenFolksong tunes (ABC), a Bach chorale
    (MXL, and its MusicXML as .xml and .musicxml), a Palestrina movement (kern), an MEI
    melody (written here: the corpus has no MEI)."""
    folder.mkdir(parents=True, exist_ok=True)
    corpus = music21_corpus()
    text = (corpus / "essenFolksong" / "altdeu10.abc").read_text("latin-1")
    tunes = re.split(r"(?m)^(?=X:)", text)
    tunes = [t for t in tunes if t.startswith("X:")]
    seeds = {".abc": folder / "seed.abc", ".mxl": folder / "seed.mxl", ".xml": folder / "seed.xml",
             ".musicxml": folder / "seed.musicxml", ".krn": folder / "seed.krn",
             ".mei": folder / "seed.mei"}
    seeds[".abc"].write_text("".join(tunes[:2]), "latin-1")
    shutil.copyfile(corpus / "bach" / "bwv66.6.mxl", seeds[".mxl"])
    with zipfile.ZipFile(seeds[".mxl"]) as z:
        inner = next(n for n in z.namelist() if n.endswith(".xml") and not n.startswith("META-INF"))
        xml = z.read(inner)
    seeds[".xml"].write_bytes(xml)
    seeds[".musicxml"].write_bytes(xml)
    shutil.copyfile(corpus / "palestrina" / "Gloria_69_c.krn", seeds[".krn"])
    seeds[".mei"].write_text(mei([mei_note(p, "4") for p in "cdefgabc"] * 2))
    return seeds


def mxl_bytes(members: dict[str, bytes], *, container: str | None = "score.xml") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        if container is not None:
            z.writestr("META-INF/container.xml",
                       '<?xml version="1.0" encoding="UTF-8"?><container><rootfiles>'
                       f'<rootfile full-path="{container}"/></rootfiles></container>')
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def score_cases(folder: Path, seeds: dict[str, Path], *, big: bool = True) -> list[Case]:
    """Malformed scores, written into ``folder`` (one file each).

    ``big``: also the absurd sizes (20,000–100,000 notes), which take minutes to render.
    """
    rng = np.random.default_rng([SEED, 1])
    folder.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []

    def add(name: str, suffix: str, data: bytes | str, description: str, expect: str = "refuse",
            timeout: float | None = None) -> None:
        path = folder / f"{name}{suffix}"
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        cases.append(Case("scores", f"{name}{suffix}", description, expect, input=path,
                          timeout=timeout))

    seed_bytes = {s: p.read_bytes() for s, p in seeds.items()}
    # Truncated XML, MEI and MXL are broken documents; truncated ABC and kern are shorter
    # pieces that may still be complete, so either answer is right.
    cut_expect = {".xml": "refuse", ".musicxml": "refuse", ".mxl": "refuse", ".mei": "refuse",
                  ".abc": "either", ".krn": "either"}
    for suffix in SCORE_SUFFIXES:
        tag = suffix.lstrip(".")
        add(f"empty-{tag}", suffix, b"", "an empty file")
        add(f"space-{tag}", suffix, b"   \n\n\t\n", "only white space")
        for size in (16, 4096, 200_000):
            add(f"random{size}-{tag}", suffix, rng.bytes(size), f"{size} random bytes")
        text = "".join(chr(c) for c in rng.integers(32, 127, 3000))
        add(f"ascii-{tag}", suffix, text, "3,000 random printable characters")
        data = seed_bytes[suffix]
        for frac in (0.01, 0.05, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 0.95, 0.99):
            n = int(len(data) * frac)
            add(f"cut{int(frac * 100):02d}-{tag}", suffix, data[:n],
                f"the seed truncated to {frac:.0%} ({n} of {len(data)} bytes)", cut_expect[suffix])
        add(f"cut-last-{tag}", suffix, data[:-1], "the seed without its last byte",
            "either" if suffix != ".mxl" else "refuse")
        for k in range(4):
            pos = rng.integers(0, len(data), 1 + 2 * k)
            add(f"flip{k}-{tag}", suffix, flipped(data, pos), f"{len(pos)} bytes of the seed flipped",
                "either" if suffix != ".mxl" else "refuse")
        add(f"nul-{tag}", suffix, data[: len(data) // 2] + b"\x00" * 64 + data[len(data) // 2:],
            "64 NUL bytes inserted in the middle", "either" if suffix in (".abc", ".krn") else "refuse")
    # The wrong content for the suffix.
    for src, dst in ((".abc", ".xml"), (".xml", ".abc"), (".mxl", ".xml"), (".krn", ".mei"),
                     (".mei", ".krn"), (".xml", ".mxl"), (".abc", ".krn"), (".krn", ".abc")):
        add(f"as-{src.lstrip('.')}-in-{dst.lstrip('.')}", dst, seed_bytes[src],
            f"a valid {src} score named {dst}", "either")
    for what, data in (("png", png_bytes(np.full((8, 8), 255, np.uint8))), ("wav", wav_pcm16(np.zeros(100))),
                       ("pdf", pdf_document([PDF_BLANK_PAGE]))):
        add(f"{what}-as-xml", ".xml", data, f"a {what.upper()} file named .xml")
    # Encodings.
    xml_text = seed_bytes[".xml"].decode("utf-8")
    add("utf16-xml", ".xml", xml_text.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16"),
        "MusicXML in UTF-16 with a BOM", "valid")
    add("bom-xml", ".xml", b"\xef\xbb\xbf" + seed_bytes[".xml"], "MusicXML with a UTF-8 BOM", "valid")
    add("crlf-abc", ".abc", seed_bytes[".abc"].replace(b"\n", b"\r\n"), "ABC with CRLF line ends", "valid")
    add("latin1-declared-utf8-xml", ".xml",
        xml_text.replace("<work-title>", "<work-title>Grüße ", 1).encode("latin-1", "replace"),
        "MusicXML declared UTF-8 holding Latin-1 bytes", "either")
    add("deep-xml", ".xml", '<?xml version="1.0"?><score-partwise>' + "<a>" * 50_000 + "</a>" * 50_000
        + "</score-partwise>", "50,000 nested elements")
    laughs = '<?xml version="1.0"?><!DOCTYPE s [<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "' + f"&{chr(97 + i)};" * 10 + '">' for i in range(8)) + \
        ']><score-partwise><part-list><score-part id="P1"><part-name>&i;</part-name></score-part>' \
        '</part-list></score-partwise>'
    add("entities-xml", ".xml", laughs, "nested entities expanding to 10^9 characters (billion laughs)")
    add("doctype-file-xml", ".xml", '<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<score-partwise><part-list><score-part id="P1"><part-name>&x;</part-name></score-part>'
        "</part-list></score-partwise>", "an external entity naming /etc/passwd")
    add("partwise-empty-xml", ".xml", '<?xml version="1.0"?><score-partwise version="3.1"><part-list/>'
        "</score-partwise>", "a MusicXML score with no parts")
    add("timewise-xml", ".xml", '<?xml version="1.0"?><score-timewise version="3.1"><part-list>'
        '<score-part id="P1"><part-name>x</part-name></score-part></part-list><measure number="1">'
        '<part id="P1">' + xml_note() + "</part></measure></score-timewise>", "a timewise MusicXML score", "either")
    # MXL archives.
    score_xml = musicxml([xml_note(s) for s in "CDEFGABC"]).encode()
    add("mxl-empty-zip", ".mxl", mxl_bytes({}, container=None), "an empty zip archive")
    add("mxl-no-container", ".mxl", mxl_bytes({"score.xml": score_xml}, container=None),
        "a zip without META-INF/container.xml", "either")
    add("mxl-missing-member", ".mxl", mxl_bytes({}, container="score.xml"),
        "container.xml names a member that is missing")
    add("mxl-random-member", ".mxl", mxl_bytes({"score.xml": rng.bytes(5000)}), "the score member is random bytes")
    add("mxl-cut-member", ".mxl", mxl_bytes({"score.xml": score_xml[: len(score_xml) // 2]}),
        "the score member is truncated XML")
    add("mxl-bad-container", ".mxl", mxl_bytes({"META-INF/container.xml": b"<container><rootfiles>",
                                                "score.xml": score_xml}, container=None),
        "container.xml is truncated (the score member is whole)", "either")
    add("mxl-traversal", ".mxl", mxl_bytes({"score.xml": score_xml}, container="../../etc/passwd"),
        "container.xml points outside the archive (../../etc/passwd), the archive holds a score", "either")
    add("mxl-nested", ".mxl", mxl_bytes({"score.mxl": seed_bytes[".mxl"]}, container="score.mxl"),
        "the member is itself an MXL archive")
    if big:
        add("mxl-huge-member", ".mxl", mxl_bytes({"score.xml": score_xml.replace(
            b"<part-list>", b"<!--" + b" " * 300_000_000 + b"--><part-list>")}),
            "a member inflating to 300 MB (a comment of spaces)", "either")
    add("mxl-two-rootfiles", ".mxl", mxl_bytes({"a.xml": score_xml, "b.xml": b"<x/>"}, container="a.xml"),
        "two members, the container naming the good one", "valid")
    # MusicXML values.
    notes = [xml_note(s) for s in "CDEFGABCDEFG"]
    for tempo, expect in (("0.01", "either"), ("-5", "refuse"), ("0", "refuse"), ("1e9", "refuse"),
                          ("NaN", "refuse"), ("inf", "refuse"), ("abc", "either")):
        add(f"tempo-{tempo}-xml", ".xml", musicxml(notes, tempo=tempo), f"tempo mark {tempo} quarter notes per minute",
            expect)
    for dur, expect, what in (("1000000000", "refuse", "a note of 1e9 divisions"),
                              ("0", "either", "a note of duration 0"), ("-4", "refuse", "a negative duration"),
                              ("1e400", "refuse", "a duration of 1e400"), ("x", "refuse", "a duration 'x'")):
        add(f"duration-{dur[:6]}-xml", ".xml",
            musicxml(notes[:3] + [xml_note("D", duration=dur)] + notes[4:]), what, expect)
    for div, expect in (("0", "refuse"), ("-1", "refuse"), ("1000000000", "either"), ("0.001", "either")):
        add(f"divisions-{div}-xml", ".xml", musicxml(notes, divisions=div), f"<divisions>{div}</divisions>", expect)
    for octave, expect in (("20", "refuse"), ("-5", "refuse"), ("10", "refuse"), ("9", "either")):
        add(f"octave{octave}-xml", ".xml", musicxml(notes[:4] + [xml_note("C", octave)] + notes[5:]),
            f"a note in octave {octave}", expect)
    add("step-H-xml", ".xml", musicxml(notes[:4] + [xml_note("H")] + notes[5:]), "a note of step H")
    add("alter100-xml", ".xml", musicxml(notes[:4] + [xml_note("C", alter="100")] + notes[5:]),
        "a note altered by 100 semitones")
    add("zero-notes-xml", ".xml", musicxml([xml_note(s, duration="0") for s in "CDEFGABC"]),
        "every note of duration 0")
    add("no-pitch-xml", ".xml", musicxml(["<note><duration>1</duration></note>"] * 8),
        "notes with neither pitch nor rest", "either")
    add("rests-only-xml", ".xml", musicxml(["<note><rest/><duration>1</duration></note>"] * 8),
        "a score of rests only")
    for beats, beat_type in (("0", "0"), ("7", "0"), ("1000", "1")):
        add(f"time-{beats}-{beat_type}-xml", ".xml", musicxml(notes, beats=beats, beat_type=beat_type),
            f"time signature {beats}/{beat_type}", "either")
    add("fifths100-xml", ".xml", musicxml(notes, fifths="100"), "key signature of 100 sharps", "either")
    add("clef99-xml", ".xml", musicxml(notes, clef="<sign>G</sign><line>99</line>"), "a clef on line 99", "either")
    add("parts300-xml", ".xml", musicxml(notes[:4], parts=300), "300 parts", "either")
    add("chord1000-xml", ".xml", musicxml([xml_note("C")] + [xml_note(s, extra="")[:6] + "<chord/>"
                                                             + xml_note(s)[6:] for s in "CDEFGAB" * 140],
                                          per_measure=1000), "a chord of 981 notes", "either")
    # ABC values.
    body = "CDEF GABc|cBAG FEDC|" * 2
    for q, expect in (("1/4=0.01", "either"), ("1/4=-5", "refuse"), ("1/4=0", "refuse"), ("1/4=1000000000", "refuse"),
                      ("1/4=abc", "either")):
        add(f"tempo-{q.split('=')[1]}-abc", ".abc", abc(body, header=f"M:4/4\nL:1/8\nQ:{q}\nK:C"), f"Q:{q}", expect)
    for header, name, expect in (("M:4/4\nL:1/0\nK:C", "L-1-0", "refuse"), ("M:0/0\nL:1/8\nK:C", "M-0-0", "either"),
                                 ("M:4/4\nL:1/8\nK:nonsense", "K-nonsense", "either"),
                                 ("L:1/8", "no-K", "either")):
        add(f"{name}-abc", ".abc", abc(body, header=header), f"header {header!r}", expect)
    add("octave20-abc", ".abc", abc("C D E F|c" + "'" * 20 + " B A G|"), "a note 20 octaves up", "refuse")
    add("octave-down-abc", ".abc", abc("C D E F|C" + "," * 20 + " B A G|"), "a note 20 octaves down", "refuse")
    add("long-rest-abc", ".abc", abc("C D E F|z1000000|"), "a rest of 1,000,000 eighths", "refuse")
    add("long-note-abc", ".abc", abc("C D E F|c1000000000|"), "a note of 10^9 eighths", "refuse")
    add("zero-length-abc", ".abc", abc("C0 D0 E0 F0|G0 A0 B0 c0|"), "notes of length 0", "refuse")
    add("no-X-abc", ".abc", f"T:no number\nM:4/4\nL:1/8\nK:C\n{body}\n", "no X: line", "either")
    add("dup-X-abc", ".abc", abc(body) + "\n" + abc("GABc|"), "two tunes with the same X:", "either")
    add("tunes5-abc", ".abc", "\n".join(abc("CDEF|GABc|", number=i) for i in range(1, 6)),
        "5 tiny tunes in one file", "valid")
    add("no-notes-abc", ".abc", abc(""), "a tune without notes")
    add("bad-chars-abc", ".abc", abc("C D \x00 E F | \x7f G A | \xff B c|".encode("latin-1").decode("latin-1")),
        "control characters among the notes", "either")
    # Humdrum kern values.
    toks = ["4c", "4d", "4e", "4f", "4g", "4a", "4b", "4cc"]
    for mm, expect in (("0.01", "either"), ("-5", "refuse"), ("0", "refuse"), ("1e9", "refuse")):
        add(f"tempo-{mm}-krn", ".krn", kern(toks, header=f"*M4/4\n*MM{mm}"), f"*MM{mm}", expect)
    add("pitch-high-krn", ".krn", kern(toks[:4] + ["4" + "c" * 25] + toks[5:]), "a note 24 octaves up", "refuse")
    add("dur0-krn", ".krn", kern(["0c"] * 8), "breves of breves (duration token 0)", "either")
    add("dur-tiny-krn", ".krn", kern(["100000c"] * 8), "notes of a 100000th", "refuse")
    add("no-terminator-krn", ".krn", kern(toks)[:-3], "no *- spine terminator", "either")
    add("spines-krn", ".krn", "**kern\t**kern\n4c\n4d\t4e\t4f\n*-\t*-\n", "rows with more tokens than spines")
    # MEI values.
    melody = [mei_note(p) for p in "cdefgabc"]
    for attr, what, expect in (('dur="0"', "duration 0", "refuse"), ('oct="20"', "octave 20", "refuse"),
                               ('oct="-3"', "octave -3", "refuse"), ('dur="100000"', "a 100000th note", "refuse"),
                               ('pname="h"', "pitch name h", "refuse")):
        key = attr.split("=")[0]
        bad = melody[:3] + [re.sub(rf'{key}="[^"]*"', attr, melody[3])] + melody[4:]
        add(f"{key}-{attr.split(chr(34))[1]}-mei", ".mei", mei(bad), f"a note of {what}", expect)
    for bpm, expect in (("0.01", "either"), ("-5", "refuse"), ("1e9", "refuse")):
        add(f"tempo-{bpm}-mei", ".mei", mei(melody, scoredef=f' midi.bpm="{bpm}"'), f"midi.bpm={bpm}", expect)
    # Names.
    for raw, what in ((b"non-utf8-\xff\xfe-name.abc", "a file name that is not UTF-8"),
                      ("name with spaces & ümlaut.abc".encode(), "spaces and non-ASCII in the name"),
                      (b"line\nbreak.abc", "a newline in the file name")):
        path = folder / os.fsdecode(raw)
        path.write_bytes(seed_bytes[".abc"])
        cases.append(Case("scores", shown(raw), what, "valid", input=path))
    if big:
        # Above the render budget of 20,000 note heads per piece; minutes each.
        letters = "CDEFGAB"
        for n, fmt, expect in ((100_000, ".abc", "either"), (25_000, ".xml", "either")):
            pitches = _random_pitches(rng, n, letters)
            if fmt == ".abc":
                bars = ["".join(pitches[i:i + 4]) + "|" + ("\n" if i % 32 == 28 else "") for i in range(0, n, 4)]
                data = abc("".join(bars), header="M:4/4\nL:1/4\nQ:1/4=120\nK:C")
            elif fmt == ".xml":
                data = musicxml([xml_note(p) for p in pitches])
            else:
                data = kern(["4" + p.lower() for p in pitches])
            add(f"size{n // 1000}k-{fmt.lstrip('.')}", fmt, data, f"{n:,} notes", expect, timeout=BIG_TIMEOUT)
    return cases


# -- audio -----------------------------------------------------------------------------------


def wav_header(*, channels: int = 1, rate: int = SR, bits: int = 16, fmt: int = 1,
               data_size: int = 0, riff_size: int | None = None) -> bytes:
    block = channels * bits // 8
    riff = 36 + data_size if riff_size is None else riff_size
    return (b"RIFF" + struct.pack("<I", riff & 0xFFFFFFFF) + b"WAVE" + b"fmt "
            + struct.pack("<IHHIIHH", 16, fmt, channels, rate & 0xFFFFFFFF, (rate * block) & 0xFFFFFFFF,
                          block & 0xFFFF, bits) + b"data" + struct.pack("<I", data_size & 0xFFFFFFFF))


def wav_pcm16(x: np.ndarray, rate: int = SR) -> bytes:
    x = np.asarray(x, np.float64)
    channels = 1 if x.ndim == 1 else x.shape[1]
    pcm = np.clip(np.round(x * 32768), -32768, 32767).astype("<i2").tobytes()  # exact for 16-bit input
    return wav_header(channels=channels, rate=rate, data_size=len(pcm)) + pcm


def wav_float(x: np.ndarray, rate: int = SR, dtype: str = "<f4") -> bytes:
    data = np.asarray(x, dtype).tobytes()
    return wav_header(rate=rate, bits=8 * np.dtype(dtype).itemsize, fmt=3, data_size=len(data)) + data


def encoded(x: np.ndarray, rate: int, fmt: str, subtype: str | None = None) -> bytes:
    import soundfile

    buf = io.BytesIO()
    soundfile.write(buf, x, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def audio_cases(folder: Path, query: Path, *, big: bool = True) -> list[Case]:
    """Malformed recordings, written into ``folder``; ``query`` is a good one (the
    undamaged input every ``same`` / ``similar`` case is compared with).

    ``big``: also the large files (20 minutes, 192 and 384 kHz, 8 channels).
    """
    import soundfile

    rng = np.random.default_rng([SEED, 2])
    folder.mkdir(parents=True, exist_ok=True)
    x, rate = soundfile.read(query, dtype="float64")
    if x.ndim > 1:
        x = x.mean(axis=1)
    cases: list[Case] = []

    def add(name: str, data: bytes, description: str, expect: str = "refuse") -> None:
        path = folder / name
        path.write_bytes(data)
        cases.append(Case("audio", shown(name), description, expect, input=path))

    formats = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"), ".mp3": ("MP3", None),
               ".ogg": ("OGG", "VORBIS"), ".aiff": ("AIFF", "PCM_16")}
    good = {s: encoded(x, rate, f, st) for s, (f, st) in formats.items()}
    for suffix, data in good.items():
        add(f"good{suffix}", data, f"the query as {suffix.lstrip('.').upper()}",
            "same" if suffix in (".wav", ".flac", ".aiff") else "similar")
    add("good.oga", good[".ogg"], "Ogg Vorbis named .oga", "similar")
    add("good.aif", good[".aiff"], "AIFF named .aif", "same")
    add("opus.opus", encoded(x, 48000, "OGG", "OPUS") if rate == 48000 else
        encoded(np.interp(np.arange(int(len(x) * 48000 / rate)) * rate / 48000, np.arange(len(x)), x),
                48000, "OGG", "OPUS"), "the query as Opus at 48 kHz", "similar")
    for suffix in AUDIO_SUFFIXES:
        tag = suffix.lstrip(".")
        add(f"empty.{tag}", b"", "an empty file")
        for size in (16, 4096, 300_000):
            add(f"random{size}.{tag}", rng.bytes(size), f"{size} random bytes")
        add(f"text.{tag}", b"these are liner notes, not audio\n" * 20, "a text file")
    for name, data, what in (("png.wav", png_bytes(np.zeros((4, 4), np.uint8)), "a PNG image"),
                             ("pdf.flac", pdf_document([PDF_BLANK_PAGE]), "a PDF"),
                             ("zip.mp3", mxl_bytes({"a": b"b"}), "a zip archive"),
                             ("xml.ogg", b'<?xml version="1.0"?><a/>', "an XML file"),
                             ("html.wav", b"<!DOCTYPE html><html><body>404</body></html>", "an HTML error page"),
                             ("gzip.wav", zlib.compress(good[".wav"]), "a zlib-compressed WAV")):
        add(name, data, f"{what} named {Path(name).suffix}")
    # Silence, near silence, very short.
    for seconds in (0.1, 10.0):
        zeros = np.zeros(int(seconds * SR))
        for suffix in (".wav", ".flac", ".mp3", ".ogg"):
            add(f"silent{seconds:g}s{suffix}", encoded(zeros, SR, *formats[suffix]),
                f"{seconds:g} s of digital silence")
    add("hiss-70dB.wav", wav_pcm16(rng.normal(0, 10 ** (-70 / 20), 10 * SR)),
        "10 s of noise at -70 dBFS RMS (peaks near -57 dBFS)", "either")
    add("dc.wav", wav_pcm16(np.full(10 * SR, 0.5)), "10 s of a constant (DC) signal: a silent spectrogram")
    add("one-sample.wav", wav_pcm16(np.array([0.5])), "a single sample")
    add("stereo-cancel.wav", wav_pcm16(np.stack([x, -x], axis=1)), "stereo whose channels cancel in the mono mix")
    for seconds in (0.1, 1.0, 2.0, 2.2):
        add(f"short{seconds:g}s.wav", wav_pcm16(x[: int(seconds * rate)], rate), f"the first {seconds:g} s",
            "refuse" if seconds < 2.1 else "either")
    add("noise-30s.wav", wav_pcm16(rng.normal(0, 0.3, 30 * SR)), "30 s of white noise", "either")
    if big:
        add("long-20min.flac", encoded(np.tile(x, int(np.ceil(1200 * rate / len(x))))[: 1200 * rate], rate,
                                       "FLAC", "PCM_16"), "the query looped to 20 minutes", "valid")
    add("clipped.wav", wav_pcm16(np.clip(x * 50, -1, 1), rate), "the query amplified 50x and clipped", "either")
    # Truncated.
    for suffix, data in good.items():
        for frac in (0.001, 0.01, 0.1, 0.5, 0.9, 0.999):
            n = max(1, int(len(data) * frac))
            add(f"cut{frac * 100:g}pct{suffix}", data[:n], f"truncated to {frac:.1%} ({n} of {len(data)} bytes)",
                "refuse" if suffix in (".wav", ".flac", ".aiff") or frac < 0.05 else "either")
    add("header-only.wav", good[".wav"][:44], "a WAV header declaring data, no samples")
    # Wrong headers.
    pcm = good[".wav"][44:]
    add("wav-header-on-mp3.wav", wav_header(data_size=len(good[".mp3"])) + good[".mp3"],
        "a PCM WAV header on MP3 data", "either")
    add("wav-mp3-format.wav", wav_header(fmt=0x55, data_size=len(good[".mp3"])) + good[".mp3"],
        "a WAV header of format 0x55 (MPEG) on MP3 data", "either")
    add("mp3-as-flac.flac", good[".mp3"], "MP3 data named .flac", "similar")
    add("ogg-as-wav.wav", good[".ogg"], "Ogg Vorbis named .wav", "similar")
    add("flac-as-mp3.mp3", good[".flac"], "FLAC named .mp3", "same")
    add("flac-magic-random.flac", b"fLaC" + rng.bytes(5000), "fLaC followed by random bytes")
    add("riff-random.wav", b"RIFF" + rng.bytes(5000), "RIFF followed by random bytes")
    add("id3-only.mp3", b"ID3\x04\x00\x00\x00\x00\x00\x00", "an ID3 tag and nothing else")
    add("wav-0-channels.wav", wav_header(channels=0, data_size=len(pcm)) + pcm, "a WAV header of 0 channels")
    add("wav-rate-0.wav", wav_header(rate=0, data_size=len(pcm)) + pcm, "a WAV header of rate 0")
    add("wav-bits-7.wav", wav_header(bits=7, data_size=len(pcm)) + pcm, "a WAV header of 7 bits per sample")
    add("wav-format-99.wav", wav_header(fmt=99, data_size=len(pcm)) + pcm, "a WAV header of format code 99")
    add("wav-huge-data.wav", wav_header(data_size=0xFFFFFFF0) + pcm, "a data chunk declaring 4 GB", "either")
    add("wav-huge-riff.wav", wav_header(data_size=len(pcm), riff_size=0xFFFFFFFF) + pcm,
        "a RIFF chunk declaring 4 GB", "either")
    add("wav-data-0.wav", wav_header(data_size=0) + pcm, "a data chunk declaring 0 bytes before the samples")
    add("wav-65535-channels.wav", wav_header(channels=65535, data_size=len(pcm)) + pcm,
        "a WAV header of 65,535 channels")
    flac = bytearray(good[".flac"])
    flac[21] |= 0x0F
    flac[22:26] = b"\xff\xff\xff\xff"
    add("flac-huge-total.flac", bytes(flac), "FLAC STREAMINFO declaring 2^36 samples", "either")
    # Non-finite and absurd samples.
    for dtype in ("<f4", "<f8"):
        bits = 8 * np.dtype(dtype).itemsize
        for what, mutate in (("nan-all", lambda y: np.full_like(y, np.nan)),
                             ("nan-one", lambda y: np.where(np.arange(len(y)) == len(y) // 2, np.nan, y)),
                             ("inf", lambda y: np.where(np.arange(len(y)) == 1000, np.inf, y)),
                             ("neg-inf", lambda y: np.where(np.arange(len(y)) == 1000, -np.inf, y))):
            add(f"{what}-float{bits}.wav", wav_float(mutate(x.copy()), rate, dtype),
                f"float{bits} WAV, {what.replace('-', ' ')} samples")
        add(f"huge-float{bits}.wav", wav_float(x * 1e30, rate, dtype), f"float{bits} WAV with samples of 1e30",
            "either")
        add(f"float{bits}.wav", wav_float(x, rate, dtype), f"float{bits} WAV", "same")
    add("denormal-float32.wav", wav_float(x * 1e-40, rate), "float32 WAV of denormal samples")
    # Rates, channels, encodings.
    for new_rate, expect in ((1, "refuse"), (100, "either"), (8000, "either"), (11025, "similar"),
                             (44100, "similar"), (48000, "similar"), (96000, "similar"), (192000, "similar"),
                             (384000, "similar")):
        if new_rate > 96000 and not big:
            continue
        n = max(1, round(len(x) * new_rate / rate))
        y = np.interp(np.arange(n) * rate / new_rate, np.arange(len(x)), x)
        add(f"rate{new_rate}.wav", wav_pcm16(y, new_rate), f"resampled to {new_rate} Hz", expect)
    add("rate-lie-44100.wav", wav_pcm16(x, 44100), "22,050 Hz samples declared as 44,100 Hz", "either")
    for channels in (2, 3, 8) if big else (2,):
        add(f"channels{channels}.wav", wav_pcm16(np.repeat(x[:, None], channels, axis=1), rate),
            f"{channels} identical channels", "same")
    add("channels2.flac", encoded(np.stack([x, x], axis=1), rate, "FLAC", "PCM_16"), "stereo FLAC", "same")
    if big:
        add("channels8.flac", encoded(np.repeat(x[:, None], 8, axis=1), rate, "FLAC", "PCM_16"), "8-channel FLAC",
            "same")
    add("left-only.wav", wav_pcm16(np.stack([x, np.zeros_like(x)], axis=1), rate),
        "stereo, the right channel silent", "similar")
    for subtype, expect in (("PCM_U8", "either"), ("PCM_24", "same"), ("PCM_32", "same"), ("ULAW", "similar"),
                            ("ALAW", "similar"), ("IMA_ADPCM", "similar"), ("MS_ADPCM", "similar")):
        add(f"{subtype.lower()}.wav", encoded(x, rate, "WAV", subtype), f"WAV {subtype}", expect)
    add("flac24.flac", encoded(x, rate, "FLAC", "PCM_24"), "24-bit FLAC", "same")
    add("rf64.wav", encoded(x, rate, "RF64", "PCM_16"), "RF64 (64-bit WAV) named .wav", "same")
    add("w64.wav", encoded(x, rate, "W64", "PCM_16"), "Sony Wave64 named .wav", "same")
    add("caf.aiff", encoded(x, rate, "CAF", "PCM_16"), "Core Audio (CAF) named .aiff", "same")
    add("au.wav", encoded(x, rate, "AU", "PCM_16"), "Sun AU named .wav", "same")
    # Names.
    for raw, data, what, expect in ((b"non-utf8-\xff\xfe.wav", good[".wav"], "a good WAV whose name is not UTF-8", "same"),
                                    (b"non-utf8-\xe9t\xe9.flac", good[".flac"], "a good FLAC named in Latin-1", "same"),
                                    (b"non-utf8-empty-\xff.wav", b"", "an empty file whose name is not UTF-8", "refuse"),
                                    (b"line\nbreak.wav", good[".wav"], "a newline in the file name", "same"),
                                    ("ü n i c ø d e.wav".encode(), good[".wav"], "spaces and non-ASCII", "same"),
                                    (b"-q.wav", good[".wav"], "a name that looks like an option", "same")):
        path = folder / os.fsdecode(raw)
        path.write_bytes(data)
        cases.append(Case("audio", shown(raw), what, expect, input=path))
    special = folder / "special"
    special.mkdir(exist_ok=True)
    (special / "folder.wav").mkdir(exist_ok=True)
    cases.append(Case("audio", "folder.wav", "a folder named .wav", "refuse", input=special / "folder.wav"))
    link = special / "dangling.wav"
    if not link.is_symlink():
        link.symlink_to(special / "no-such-target.wav")
    cases.append(Case("audio", "dangling.wav", "a symbolic link to nothing", "refuse", input=link))
    fifo = special / "fifo.wav"
    if not fifo.exists():
        os.mkfifo(fifo)
    cases.append(Case("audio", "fifo.wav", "a named pipe nobody writes to", "refuse", input=fifo))
    return cases


# -- images and PDFs --------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(gray: np.ndarray, *, width: int | None = None, height: int | None = None) -> bytes:
    """A grayscale PNG; ``width`` / ``height`` override what the header declares."""
    h, w = gray.shape
    raw = b"".join(b"\x00" + row.tobytes() for row in np.asarray(gray, np.uint8))
    ihdr = struct.pack(">IIBBBBB", width or w, height or h, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(raw))
            + _png_chunk(b"IEND", b""))


def image_bytes(gray: np.ndarray, fmt: str) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(gray, np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


def tiff_huge() -> bytes:
    """A TIFF header declaring 100,000 × 100,000 pixels over 16 bytes of data."""
    entries = [(256, 4, 1, 100_000), (257, 4, 1, 100_000), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 8 + 2 + 12 * 8 + 4), (277, 3, 1, 1), (279, 4, 1, 16)]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", tag, typ, count, value) if typ == 4 else struct.pack("<HHIHH", tag, typ, count, value, 0)
        for tag, typ, count, value in entries) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\x00" * 16


def jpeg_huge(jpeg: bytes) -> bytes:
    """``jpeg`` with its frame header (SOF0) declaring 65,535 × 65,535 pixels."""
    i = jpeg.find(b"\xff\xc0")
    return jpeg if i < 0 else jpeg[:i + 5] + b"\xff\xff\xff\xff" + jpeg[i + 9:]


PDF_BLANK_PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>"


def pdf_document(pages: Sequence[bytes], *, count: int | None = None, extra_objects: Sequence[bytes] = (),
                 trailer: bytes = b"", content: bytes = b"") -> bytes:
    """A PDF with a correct cross-reference table.  Objects: 1 catalog, 2 page tree,
    3 … the ``pages`` (each a dictionary naming ``/Parent 2 0 R``), then ``4`` the
    shared content stream (placed after the pages), then ``extra_objects``."""
    n_pages = len(pages)
    kids = " ".join(f"{3 + i} 0 R" for i in range(n_pages))
    content_id = 3 + n_pages
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               f"<< /Type /Pages /Kids [{kids}] /Count {n_pages if count is None else count} >>".encode()]
    objects += [p.replace(b"/Contents 4 0 R", f"/Contents {content_id} 0 R".encode()) for p in pages]
    objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    objects += list(extra_objects)
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R " % (len(objects) + 1) + trailer + b">>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def pdf_with_image(jpeg: bytes, width: int, height: int) -> bytes:
    """One A4 page showing a grayscale JPEG (an engraved page) across its width."""
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R " \
           b"/Resources << /XObject << /Im0 5 0 R >> >> >>"
    image = (b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
             b"/BitsPerComponent 8 /Filter /DCTDecode /Length %d >>\nstream\n" % (width, height, len(jpeg))
             + jpeg + b"\nendstream")
    h = 595 * height / width
    return pdf_document([page], content=b"q 595 0 0 %.1f 0 %.1f cm /Im0 Do Q" % (h, 842 - h),
                        extra_objects=[image])


def image_cases(folder: Path, page_png: Path) -> list[Case]:
    """Malformed images and PDFs, written into ``folder``; ``page_png`` is an engraved page.

    ``future`` says what a sheet-image reader must do with each: ``page`` (a valid
    query) or ``refuse``.
    """
    from PIL import Image

    rng = np.random.default_rng([SEED, 3])
    folder.mkdir(parents=True, exist_ok=True)
    page = np.asarray(Image.open(page_png).convert("L"))
    blank = np.full((842, 595), 255, np.uint8)
    cases: list[Case] = []

    def add(name: str, data: bytes, description: str, future: str = "refuse") -> None:
        path = folder / name
        path.write_bytes(data)
        cases.append(Case("images", shown(name), description, "refuse", input=path, future=future))

    jpeg_page = image_bytes(page, "JPEG")
    valid = {"png": png_bytes(page), "jpg": jpeg_page, "tif": image_bytes(page, "TIFF"),
             "pdf": pdf_with_image(jpeg_page, page.shape[1], page.shape[0])}
    for fmt, data in valid.items():
        add(f"page.{fmt}", data, f"an engraved page as {fmt.upper()}", "page")
        add(f"empty.{fmt}", b"", "an empty file")
        for size in (16, 50_000):
            add(f"random{size}.{fmt}", rng.bytes(size), f"{size} random bytes")
        for frac in (0.05, 0.5, 0.9, 0.999):
            n = max(1, int(len(data) * frac))
            add(f"cut{frac * 100:g}pct.{fmt}", data[:n], f"the page truncated to {frac:.1%}")
        add(f"flip.{fmt}", flipped(data, rng.integers(len(data) // 4, len(data), 3)), "3 bytes of the page flipped",
            "either")
    for fmt, key in (("png", "PNG"), ("jpg", "JPEG"), ("tif", "TIFF")):
        add(f"blank.{fmt}", image_bytes(blank, key), f"a blank white A4 page as {key}")
        add(f"pixel.{fmt}", image_bytes(np.zeros((1, 1), np.uint8), key), "a 1 × 1 pixel image")
        add(f"black.{fmt}", image_bytes(np.zeros((842, 595), np.uint8), key), "an all-black page")
    for fmt in ("BMP", "GIF", "WEBP"):
        add(f"page.{fmt.lower()}", image_bytes(page, fmt), f"an engraved page as {fmt}", "page")
    add("rgba-page.png", image_bytes(np.stack([page] * 3 + [np.full_like(page, 128)], axis=-1), "PNG"),
        "an engraved page, RGBA, half transparent", "page")
    add("page16bit.png", image_bytes((page.astype(np.uint16) * 257).astype(np.uint16), "PNG"),
        "an engraved page, 16-bit gray", "page")
    add("huge-header.png", png_bytes(np.zeros((4, 4), np.uint8), width=100_000, height=100_000),
        "a PNG header declaring 100,000 × 100,000 pixels over a 4 × 4 image")
    add("huge-header.jpg", jpeg_huge(image_bytes(np.zeros((8, 8), np.uint8), "JPEG")),
        "a JPEG frame header declaring 65,535 × 65,535 pixels")
    add("huge-header.tif", tiff_huge(), "a TIFF declaring 100,000 × 100,000 pixels over 16 bytes")
    add("huge-real.png", png_bytes(np.full((20_000, 5_000), 255, np.uint8)), "a real 5,000 × 20,000 white PNG")
    add("blank.pdf", pdf_document([PDF_BLANK_PAGE]), "a blank one-page PDF")
    add("zero-pages.pdf", pdf_document([]), "a PDF with zero pages")
    add("count-lies.pdf", pdf_document([PDF_BLANK_PAGE], count=5), "a page tree declaring 5 pages over 1")
    add("pages1000.pdf", pdf_document([PDF_BLANK_PAGE] * 1000), "1,000 blank pages")
    add("huge-mediabox.pdf", pdf_document([PDF_BLANK_PAGE.replace(b"595 842", b"1e9 1e9")]),
        "a page of 10^9 × 10^9 points")
    add("encrypted.pdf", pdf_document(
        [PDF_BLANK_PAGE], extra_objects=[b"<< /Filter /Standard /V 1 /R 2 /O <" + b"00" * 32 + b"> /U <"
                                         + b"00" * 32 + b"> /P -4 >>"],
        trailer=b"/Encrypt 5 0 R /ID [<0123456789abcdef0123456789abcdef><0123456789abcdef0123456789abcdef>] "),
        "an encrypted PDF (standard security handler)")
    add("no-xref.pdf", pdf_document([PDF_BLANK_PAGE]).split(b"xref")[0], "a PDF without its cross-reference table")
    add("header-only.pdf", b"%PDF-1.7\n", "a PDF header and nothing else")
    add("loop.pdf", pdf_document([PDF_BLANK_PAGE.replace(b"/Parent 2 0 R", b"/Parent 3 0 R")]),
        "a page that is its own parent")
    add("page.png.wav", valid["png"], "an engraved page named .wav", "page")
    add("page.pdf.flac", valid["pdf"], "a PDF page named .flac", "page")
    path = folder / os.fsdecode(b"non-utf8-\xff.png")
    path.write_bytes(valid["png"])
    cases.append(Case("images", shown(path.name), "an engraved page whose name is not UTF-8", "refuse",
                      input=path, future="page"))
    return cases


# -- the good folders ---------------------------------------------------------------------------


@dataclass
class Base:
    """The undamaged inputs: a dataset, a model, an interrupted training run, an index, a
    query recording — and the result of every command on them."""

    root: Path
    ds: Path
    model: Path
    run: Path
    idx: Path
    query: Path
    page: Path
    seeds: dict[str, Path]
    fit_args: list[str]
    resume_args: list[str]
    baselines: dict[str, Any] = field(default_factory=dict)


def _fit_settings(quick: bool) -> tuple[list[str], list[str]]:
    model = ["-e", "cnn", "-p", "filters=[8,16,16,16]", "--loss", "infonce", "--batch-size", "16",
             "--val-candidates", "40", "--refinements", "0", "--patience", "100", "--seed", "0",
             "--epochs", "2" if quick else "10", "--epoch-samples", "64" if quick else "320"]
    resume = ["-e", "cnn", "-p", "filters=[8,16,16,16]", "--loss", "infonce", "--batch-size", "16",
              "--val-candidates", "20", "--refinements", "0", "--seed", "0", "--epochs", "2",
              "--epoch-samples", "800"]
    return model, resume


def _must(run: Run, what: str) -> Run:
    if run.rc != 0 or run.status != "done":
        raise SystemExit(f"fuzz: cannot make the good {what} ({run.status}, exit {run.rc}):\n"
                         f"ast {' '.join(run.argv)}\n{run.out[-3000:]}\n{run.err[-3000:]}")
    return run


def build_base(root: Path, *, pieces: int = 5, quick: bool = False, timeout: float = 600,
               consumers: Iterable[str] | None = None) -> Base:
    """Make (or find) the good inputs in ``root``: render ``pieces`` essenFolksong tunes
    with one soundfont, train a tiny model, index every piece, interrupt a second
    training run after its first epoch (when ``resume`` is among ``consumers``), and
    record the result of every consumer (default: all) on them."""
    consumers = list(CONSUMERS if consumers is None else consumers)
    root.mkdir(parents=True, exist_ok=True)
    fit_args, resume_args = _fit_settings(quick)
    ds, model, run, idx = root / "ds", root / "model", root / "run", root / "idx"
    if not (ds / ".complete").exists():
        _must(run_ast(["data", "render", "music21:essenFolksong/altdeu10.abc", "--out", ds, "--limit", str(pieces),
                       "--soundfont", SOUNDFONT, "--workers", "2", "--json"], timeout=timeout), "dataset")
    if not (model / "config.json").exists():
        _must(run_ast(["fit", "-d", ds, *fit_args, "-o", model, "--json"], timeout=timeout), "model")
    if "resume" in consumers and (not (run / "checkpoint.pt").exists() or (run / "config.json").exists()):
        shutil.rmtree(run, ignore_errors=True)
        marker = run / "checkpoint.pt"
        r = run_ast(["fit", "-d", ds, *resume_args, "-o", run], timeout=timeout,
                    interrupt_when=marker.exists)
        if r.rc != 130 or not marker.exists() or (run / "config.json").exists():
            raise SystemExit(f"fuzz: could not interrupt a training run after its first epoch (exit {r.rc}):\n"
                             f"{r.out[-2000:]}\n{r.err[-2000:]}")
    if not (idx / ".complete").exists():
        _must(run_ast(["index", "-m", model, "-d", ds, "--split", "all", "--out", idx, "--json"],
                      timeout=timeout), "index")
    manifest = json.loads((ds / "manifest.json").read_text())
    first = root / "ds" / manifest["pieces"][0]["folder"]
    query = root / "query.flac"
    if not query.exists():
        shutil.copyfile(next(first.glob("renditions/*/audio.flac")), query)
    seeds = score_seeds(root / "seeds")
    base = Base(root, ds, model, run, idx, query, first / "page_000.png", seeds, fit_args, resume_args)
    cache = root / "baselines.json"
    base.baselines = json.loads(cache.read_text()) if cache.exists() else {}
    missing = [c for c in consumers if c not in base.baselines]
    if missing:
        with ThreadPoolExecutor(max_workers=2) as pool:
            for name, digest in zip(missing, pool.map(lambda c: _baseline(base, c, timeout), missing)):
                base.baselines[name] = digest
        cache.write_text(json.dumps(base.baselines, indent=1))
    return base


# -- consumers of the folders: the commands, how their results are compared --------------------


def _consumer_args(base: Base, consumer: str, target: Path, out: Path) -> list[Any]:
    """``ast`` arguments of ``consumer`` reading ``target`` (a copy of a base folder)."""
    if consumer == "validate":
        return ["data", "validate", target]
    if consumer == "stats":
        return ["data", "stats", target, "--json"]
    if consumer == "index-dataset":
        return ["index", "-m", base.model, "-d", target, "--split", "all", "--out", out, "--json"]
    if consumer == "fit-dataset":
        return ["fit", "-d", target, *base.resume_args[:-4], "--epochs", "1", "--epoch-samples", "32",
                "-o", out, "--json"]
    if consumer == "index-model":
        return ["index", "-m", target, "-d", base.ds, "--split", "all", "--out", out, "--json"]
    if consumer == "match-model":
        return ["match", "-i", base.idx, "-m", target, "-q", base.query, "--json"]
    if consumer == "match-index":
        return ["match", "-i", target, "-q", base.query, "--json"]
    if consumer == "eval-index":
        return ["eval", "pieces", "-i", target, "-M", "vote,dtw", "--json"]
    if consumer == "resume":
        return ["fit", "-d", base.ds, *base.resume_args, "-o", target, "--resume", "--json"]
    raise ValueError(consumer)


#: consumer → the base folder it reads
CONSUMERS = {"validate": "ds", "stats": "ds", "index-dataset": "ds", "fit-dataset": "ds",
             "index-model": "model", "match-model": "model", "match-index": "idx", "eval-index": "idx",
             "resume": "run"}
#: consumer → the category of its cases
CATEGORY_OF = {c: {"ds": "dataset", "model": "model", "idx": "index", "run": "run"}[f] for c, f in CONSUMERS.items()}


def _json_of(run: Run) -> Any:
    text = run.out
    start = text.find("{")
    if start < 0:
        return None
    try:
        return json.loads(text[start:])
    except ValueError:
        return None


def result_digest(consumer: str, run: Run, out: Path) -> Any:
    """What a consumer answered, reduced to what must not change (no paths, no times)."""
    data = _json_of(run)
    if consumer == "validate":
        return {"rc": run.rc}
    if consumer == "stats":
        return None if data is None else {"splits": data.get("splits"), "failed": data.get("failed")}
    if consumer in ("index-dataset", "index-model"):
        if not (out / "index.json").exists():
            return None
        meta = json.loads((out / "index.json").read_text())
        arrays = {}
        for name in ("sheet", "audio", "sheet_rows", "audio_rows"):
            if (out / f"{name}.npy").exists():
                a = np.load(out / f"{name}.npy")
                arrays[name] = [list(a.shape), float(np.round(np.nansum(np.abs(a.astype(np.float64))), 3)),
                                float(np.round(np.nansum(a.astype(np.float64) * np.arange(a.size).reshape(a.shape)
                                                         % 7), 3))]
        return {"pieces": [[p["id"], p.get("sheet"), p.get("audio")] for p in meta.get("pieces", [])],
                "arrays": arrays, "failed": (data or {}).get("failed")}
    if consumer in ("match-model", "match-index"):
        if data is None:
            return None
        return {"rows": data.get("query_rows"),
                "results": [[r["piece"], round(float(r["score"]), 4)] for r in data.get("results", [])]}
    if consumer == "eval-index":
        if data is None:
            return None
        return [[r["matcher"], r["direction"], r.get("ranks")] for r in data.get("results", [])]
    if consumer in ("resume", "fit-dataset"):
        if data is None:
            return None
        return {"epochs": data.get("epochs"), "valid": {k: round(v, 6) for k, v in (data.get("valid") or {}).items()}}
    raise ValueError(consumer)


def _differs(a: Any, b: Any) -> str | None:
    """None when two digests agree (numbers to 1e-4), else a short description."""
    def close(x: Any, y: Any) -> bool:
        if isinstance(x, (int, float)) and isinstance(y, (int, float)) and not isinstance(x, bool):
            return math.isclose(x, y, rel_tol=1e-4, abs_tol=1e-4) or (math.isnan(x) and math.isnan(y))
        if isinstance(x, list) and isinstance(y, list):
            return len(x) == len(y) and all(close(p, q) for p, q in zip(x, y))
        if isinstance(x, dict) and isinstance(y, dict):
            return x.keys() == y.keys() and all(close(x[k], y[k]) for k in x)
        return x == y
    if close(a, b):
        return None
    text_a, text_b = json.dumps(a, default=str), json.dumps(b, default=str)
    i = next((k for k in range(min(len(text_a), len(text_b))) if text_a[k] != text_b[k]), 0)
    return f"got …{text_a[max(0, i - 40):i + 60]}… expected …{text_b[max(0, i - 40):i + 60]}…"


def _copy_folder(src: Path, dst: Path, *, written: bool = False) -> None:
    """A copy; its files are hard links (damage replaces a file, never writes into it)
    unless the command ``written`` into the folder (``fit --resume``)."""
    shutil.copytree(src, dst, copy_function=shutil.copy2 if written else os.link)


def _baseline(base: Base, consumer: str, timeout: float) -> Any:
    folder = getattr(base, CONSUMERS[consumer])
    with tempfile.TemporaryDirectory(dir=base.root) as tmp:
        target = Path(tmp) / folder.name
        _copy_folder(folder, target, written=consumer == "resume")
        out = Path(tmp) / "out"
        run = _must(run_ast(_consumer_args(base, consumer, target, out), timeout=timeout), f"baseline of {consumer}")
        return result_digest(consumer, run, out)


def folder_cases(base: Base, *, json_limit: int = 12) -> list[Case]:
    """Damaged copies of the good dataset, model, index and training run: every file
    flipped, truncated, deleted; every JSON value of another type; each case paired with
    a command that reads the folder."""
    rng = np.random.default_rng([SEED, 4])
    cases: list[Case] = []
    plans = (("dataset", base.ds), ("model", base.model), ("index", base.idx), ("run", base.run))
    for category, folder in plans:
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        pieces = sorted({p.relative_to(folder).parts[1] for p in files
                         if p.relative_to(folder).parts[0] == "pieces"})
        # Every top-level file; the files of two pieces (the others are alike).
        files = [p for p in files if p.relative_to(folder).parts[0] != "pieces"
                 or p.relative_to(folder).parts[1] in pieces[:2]]
        first_piece = f"pieces/{pieces[0]}/" if pieces else "-"
        for path in files:
            rel = path.relative_to(folder).as_posix()
            data = path.read_bytes()
            damages = byte_damages(len(data), rng)
            if path.name == ".complete":  # a marker: its presence is what counts
                damages = damages[:1]
            if path.suffix in (".json", ".jsonl") or rel == "index.json":
                damages += json_damages(data, rng, json_limit)
            for name, description, damage in damages:
                for consumer in _consumers_of(category, rel, name, first_piece):
                    expect = _expectation(category, consumer, rel, name)
                    cases.append(Case(category, f"{rel}:{name}:{consumer}", f"{rel}: {description}", expect,
                                      folder=category, rel=rel, damage=damage, consumer=consumer))
    return cases


#: The byte damages that the slow commands see (the cheap ones see all of them).
CORE_DAMAGES = ("delete", "cut-half", "flip-mid", "flip-3")
INVALID_JSON = ("json-invalid", "json-text", "json-nul")


def _consumers_of(category: str, rel: str, damage: str, first_piece: str = "") -> list[str]:
    """Which commands read a damaged file: the cheap ones every damage, the slow ones
    the main damages of the files they read."""
    typed = damage.startswith("json-") and damage not in INVALID_JSON
    if category == "dataset":
        # `data validate` checks bytes, not what JSON values mean.
        out = ["stats"] if typed else ["validate", "stats"]
        if not rel.endswith("audio.flac") and (rel.count("/") == 0 or rel.startswith(first_piece)) \
                and (damage in CORE_DAMAGES or damage.startswith("json-")):
            out.append("index-dataset")
        trained_on = rel in ("dataset.json", "manifest.json") or \
            rel.endswith("spectrogram.npy") and rel.startswith(first_piece)
        if trained_on and damage in ("delete", "cut-half", "flip-mid", "json-invalid"):
            out.append("fit-dataset")
        return out
    if category == "model":
        return ["index-model", "match-model"]
    if category == "index":
        return ["match-index", "eval-index"]
    return ["resume"] if damage in CORE_DAMAGES + ("empty", "cut-last", "flip-head") else []


def _expectation(category: str, consumer: str, rel: str, damage: str) -> str:
    """What must happen: ``ast data validate`` must notice every damaged byte and every
    file that is not JSON where JSON belongs (``refuse``); every other command may refuse
    the folder but must not change its answer silently (``unchanged``)."""
    if consumer == "validate":
        return "refuse"
    return "unchanged"


# -- running the cases ------------------------------------------------------------------------


def _single(case: Case, args: list[Any], timeout: float, compare: Callable[[Run], str | None],
            targets: Sequence[Any], work: Path) -> Result:
    run = run_ast(args, timeout=timeout, cwd=work)
    outcome, message, lost = judge(case, run, targets, compare)
    return Result(case.category, case.name, case.description, outcome, message, lost,
                  "ast " + " ".join(run.argv), round(run.seconds, 2))


def run_file_case(case: Case, base: Base, timeout: float, work: Path, sheets: bool = True) -> Result:
    """An audio file or an image through ``ast match -q FILE``."""
    expect = case.future if sheets and case.future else case.expect
    if expect == "page":
        expect = "valid"
    case = Case(**{**asdict(case), "expect": expect})
    baseline = base.baselines["match-index"]

    def compare(run: Run) -> str | None:
        got = result_digest("match-index", run, work)
        if got is None:
            return "no JSON result"
        if case.expect == "similar":
            if got["results"][:1] and baseline["results"][:1] and got["results"][0][0] == baseline["results"][0][0]:
                return None
            return f"best piece {got['results'][0][0] if got['results'] else None!r}, " \
                   f"undamaged {baseline['results'][0][0]!r}"
        if case.expect == "same":
            return _differs(got["results"], baseline["results"])
        best = got["results"][0] if got["results"] else None
        return f"best piece {best[0]!r}, score {best[1]}" if best else "no piece ranked"

    return _single(case, ["match", "-i", base.idx, "-q", case.input, "--json"], timeout, compare,
                   [case.input], work)


def run_folder_case(case: Case, base: Base, timeout: float, work: Path) -> Result:
    folder = getattr(base, CONSUMERS[case.consumer])
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        target = Path(tmp) / folder.name
        _copy_folder(folder, target, written=case.consumer == "resume")
        apply_damage(target / case.rel, case.damage)
        out = Path(tmp) / "out"
        args = _consumer_args(base, case.consumer, target, out)
        baseline = base.baselines[case.consumer]
        run = run_ast(args, timeout=timeout, cwd=work)
        damaged = target / case.rel
        targets = [damaged, damaged.parent] if damaged.parent != target else [damaged]
        if run.rc == 3 and run.status == "done" and not has_traceback(run.text):
            result = _judge_partial(case, run, out, targets, baseline)
        else:
            outcome, message, lost = judge(
                case, run, targets, lambda r: _differs(result_digest(case.consumer, r, out), baseline))
            result = Result(case.category, case.name, case.description, outcome, message, lost)
        result.command = "ast " + " ".join(run.argv).replace(tmp, "DAMAGED").replace(str(base.root), "BASE")
        result.seconds = round(run.seconds, 2)
        return result


def _judge_partial(case: Case, run: Run, out: Path, targets: Sequence[Path], baseline: Any) -> Result:
    """Exit status 3 of ``ast index``: some pieces failed, the others must be there."""
    data = _json_of(run) or {}
    failed = data.get("failed") or []
    reasons = [f"{f.get('piece')}: {f.get('reason')}" for f in failed]
    lost = False
    if baseline and (out / "index.json").exists():
        meta = json.loads((out / "index.json").read_text())
        lost = len(meta.get("pieces", [])) + len(failed) < len(baseline.get("pieces", []))
    if not failed:
        outcome, message = "vague error", "exit 3 without failures listed"
    elif any("\n" in str(f.get("reason", "")) for f in failed):
        outcome, message = "vague error", "a failure reason of several lines: " + first_line(reasons[0])
    elif not names_file(json.dumps(failed, ensure_ascii=False), *targets):
        outcome, message = "vague error", f"the failures do not name {shown(targets[0].name)}: {reasons[0][:200]}"
    else:
        outcome, message = "clean error", "failed piece: " + reasons[0][:250]
    if lost:
        message += " — and good pieces are missing from the index"
    return Result(case.category, case.name, case.description, outcome, message, lost)


def _batch_verdict(case: Case, built: bool, failure: dict | None, output: str = "") -> tuple[str, str, bool]:
    """Outcome of one file in a batch from what the batch wrote about it (and printed:
    ``output``, where a warning may name it)."""
    if failure is not None:
        reason = str(failure.get("reason", ""))
        if has_traceback(reason):
            return "traceback", first_line(reason), False
        lost = case.expect in GOOD
        if not reason.strip() or "\n" in reason.strip():
            return "vague error", f"reason of {len(reason.splitlines())} lines: {first_line(reason)}", lost
        if not names_file(json.dumps(failure, ensure_ascii=False) + str(failure.get("file")), case.input):
            return "vague error", f"the failure does not name the file: {reason[:250]}", lost
        if internal(reason):
            return "vague error", f"an internal {internal(reason)} as the reason: {reason[:250]}", lost
        return "clean error", reason[:300], lost
    if built:
        if case.expect == "refuse":
            warning = next((ln.strip() for ln in output.splitlines()
                            if "warning" in ln.lower() and names_file(ln, case.input)), None)
            if warning:
                return "ok", f"accepted with a warning: {warning[:250]}", False
            return "silent wrong", "built into the dataset without a word", False
        return "ok", "built", False
    return "silent wrong", "neither built nor listed in the failures: silently skipped", \
        case.expect in GOOD


def _same_file(a: Any, b: Path) -> bool:
    try:
        return os.path.realpath(os.fsencode(str(a))) == os.path.realpath(os.fsencode(b))
    except (TypeError, ValueError):
        return False


def run_score_batch(cases: Sequence[Case], base: Base, timeout: float, work: Path, key: str) -> list[Result]:
    """Render the cases' files in one ``ast data render`` of a folder holding them and two
    good pieces; fall back to one render per file when the batch fails as a whole."""
    batch = work / "batches" / key
    shutil.rmtree(batch, ignore_errors=True)
    src = batch / "scores"
    src.mkdir(parents=True)
    files = {}
    for case in cases:
        dst = src / os.fsdecode(os.fsencode(case.input.name))
        shutil.copyfile(case.input, dst)
        files[case.name] = dst
    goods = [src / f"good-{key}.abc", src / f"good-{key}.mxl"]
    shutil.copyfile(base.seeds[".abc"], goods[0])
    shutil.copyfile(base.seeds[".mxl"], goods[1])
    # each piece has a wall-time budget of `timeout` (--piece-timeout), so the batch
    # always progresses; its own limit leaves room for every file and a multi-tune one
    limit = max([timeout * (len(cases) + 2) + 120] + [c.timeout or 0 for c in cases])
    run = run_ast(["data", "render", src, "--out", batch / "out", "--soundfont", SOUNDFONT, "--workers", "1",
                   "--piece-timeout", str(timeout), "--json"], timeout=limit, cwd=work)
    report = _json_of(run)
    command = "ast " + " ".join(run.argv).replace(str(work), "WORK")
    results = []
    if run.status != "done" or has_traceback(run.text) or report is None or run.rc not in (0, 3):
        if len(cases) == 1:
            case = cases[0]
            outcome, message = judge_failure(run, [case.input]) if run.rc != 0 or run.status != "done" \
                else ("traceback", traceback_summary(run.text)) if has_traceback(run.text) \
                else ("vague error", f"no JSON report: {first_line(run.text)}")
            shutil.rmtree(batch, ignore_errors=True)
            return [Result(case.category, case.name, case.description, outcome, message,
                           case.expect == "valid" and outcome == "clean error", command, round(run.seconds, 2))]
        shutil.rmtree(batch, ignore_errors=True)
        for i, case in enumerate(cases):
            results += run_score_batch([case], base, timeout, work, f"{key}-{i}")
        why = judge_failure(run, [])[1] if run.rc != 0 or run.status != "done" else first_line(run.text)
        for r in results:
            r.message += f"  [its batch of {len(cases)} failed as a whole: {why}]"
        return results
    manifest_path = batch / "out" / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"pieces": []}
    built_files = [p.get("file") for p in manifest.get("pieces", [])]
    failures = report.get("failed") or []
    for case in cases:
        path = files[case.name]
        failure = next((f for f in failures if _same_file(f.get("file"), path)), None)
        built = any(_same_file(f, path) for f in built_files)
        outcome, message, lost = _batch_verdict(Case(**{**asdict(case), "input": path}), built, failure,
                                                run.text)
        results.append(Result(case.category, case.name, case.description, outcome, message, lost, command,
                              round(run.seconds / len(cases), 2)))
    good_built = all(any(_same_file(f, g) for f in built_files) for g in goods)
    if not good_built:
        for r in results:
            r.lost = True
            r.message += "  [a good score of its batch was not built]"
    if failures and run.rc != 3 or not failures and run.rc != 0:
        for r in results:
            r.message += f"  [batch exit status {run.rc} with {len(failures)} failures]"
    shutil.rmtree(batch, ignore_errors=True)
    return results


def run_audio_batch(cases: Sequence[Case], base: Base, timeout: float, work: Path, key: str) -> list[Result]:
    """Index the cases' recordings in one ``ast index --audio FOLDER``; one by one when the
    batch fails as a whole."""
    batch = work / "batches" / key
    shutil.rmtree(batch, ignore_errors=True)
    src = batch / "audio"
    src.mkdir(parents=True)
    files = {}
    for i, case in enumerate(cases):
        dst = src / f"{i:03d}-{case.input.name}"
        shutil.copyfile(case.input, dst)
        files[case.name] = dst
    good = src / f"good-{key}.flac"
    shutil.copyfile(base.query, good)
    limit = max(timeout, 10 * len(cases))
    run = run_ast(["index", "-m", base.model, "--audio", src, "--out", batch / "out", "--json"], timeout=limit,
                  cwd=work)
    report = _json_of(run)
    command = "ast " + " ".join(run.argv).replace(str(work), "WORK").replace(str(base.root), "BASE")
    if run.status != "done" or has_traceback(run.text) or report is None or run.rc not in (0, 3):
        if len(cases) == 1:
            case = cases[0]
            outcome, message = judge_failure(run, [case.input]) if run.rc != 0 or run.status != "done" \
                else ("traceback", traceback_summary(run.text)) if has_traceback(run.text) \
                else ("vague error", f"no JSON report: {first_line(run.text)}")
            if outcome == "clean error" and run.rc == 1:
                # One bad file stops `ast index --audio` for every file: the batch does not go on.
                outcome, message = "vague error", "the whole index refused for one file: " + message
            shutil.rmtree(batch, ignore_errors=True)
            return [Result(case.category, case.name, case.description, outcome, message,
                           case.expect in GOOD, command, round(run.seconds, 2))]
        shutil.rmtree(batch, ignore_errors=True)
        results = []
        for i, case in enumerate(cases):
            results += run_audio_batch([case], base, timeout, work, f"{key}-{i}")
        why = judge_failure(run, [])[1] if run.rc != 0 or run.status != "done" else first_line(run.text)
        for r in results:
            r.message += f"  [its batch of {len(cases)} failed as a whole: {why}]"
        return results
    meta_path = batch / "out" / "index.json"
    indexed = [p["id"] for p in json.loads(meta_path.read_text()).get("pieces", [])] if meta_path.exists() else []
    failures = report.get("failed") or []
    results = []
    for case in cases:
        path = files[case.name]
        failure = next((f for f in failures if _same_file(f.get("file"), path)
                        or names_file(str(f.get("piece")), path)), None)
        built = any(names_file(pid, path) for pid in indexed)
        outcome, message, lost = _batch_verdict(Case(**{**asdict(case), "input": path}), built and failure is None,
                                                failure, run.text)
        results.append(Result("audio-batch", case.name, case.description, outcome,
                              message.replace("built into the dataset", "indexed"), lost, command,
                              round(run.seconds / len(cases), 2)))
    if not any(names_file(pid, good) for pid in indexed):
        for r in results:
            r.lost = True
            r.message += "  [the good recording of its batch was not indexed]"
    shutil.rmtree(batch, ignore_errors=True)
    return results


def make_jobs(cases: Sequence[Case], base: Base, timeout: float, work: Path, *, sheets: bool = True,
              batch_size: int = 16) -> list[tuple[float, Callable[[], list[Result]]]]:
    """(estimated seconds, job) pairs: batches of scores and recordings, single cases."""
    jobs: list[tuple[float, Callable[[], list[Result]]]] = []
    scores = [c for c in cases if c.category == "scores"]
    big = [c for c in scores if c.timeout]
    small = [c for c in scores if not c.timeout]
    for i, case in enumerate(big):
        jobs.append((case.timeout, lambda c=case, k=f"big{i}": run_score_batch([c], base, timeout, work, k)))
    for i in range(0, len(small), batch_size):
        chunk = small[i:i + batch_size]
        jobs.append((3.0 * len(chunk), lambda c=chunk, k=f"scores{i}": run_score_batch(c, base, timeout, work, k)))
    batch_audio = [c for c in cases if c.category == "audio-batch"]
    for i in range(0, len(batch_audio), 2 * batch_size):
        chunk = batch_audio[i:i + 2 * batch_size]
        jobs.append((1.0 * len(chunk), lambda c=chunk, k=f"audio{i}": run_audio_batch(c, base, timeout, work, k)))
    for case in cases:
        if case.category in ("audio", "images"):
            jobs.append((4.0, lambda c=case: [run_file_case(c, base, timeout, work, sheets)]))
        elif case.folder:
            cost = {"fit-dataset": 12.0, "resume": 12.0, "index-dataset": 7.0, "index-model": 7.0}.get(
                case.consumer, 3.0)
            jobs.append((cost, lambda c=case: [run_folder_case(c, base, timeout, work)]))
    return jobs


def run_jobs(jobs: Sequence[tuple[float, Callable[[], list[Result]]]], workers: int,
             progress: Callable[[int, int, list[Result]], None] | None = None) -> list[Result]:
    """Run the jobs, the longest first, ``workers`` at a time."""
    order = sorted(jobs, key=lambda j: -j[0])
    results: list[Result] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(job) for _, job in order]
        for done, fut in enumerate(as_completed(futures), start=1):
            got = fut.result()
            results += got
            if progress:
                progress(done, len(futures), got)
    return results


def generate(work: Path, base: Base, *, quick: bool = False, only: Sequence[str] = CATEGORIES) -> list[Case]:
    """Every case of the categories in ``only`` (files written under ``work/inputs``)."""
    inputs = work / "inputs"
    cases: list[Case] = []
    if "scores" in only:
        cases += score_cases(inputs / "scores", base.seeds, big=not quick)
    if "audio" in only or "audio-batch" in only:
        audio = audio_cases(inputs / "audio", base.query, big=not quick)
        if "audio" in only:
            cases += audio
        if "audio-batch" in only:
            cases += [Case(**{**asdict(c), "category": "audio-batch"}) for c in audio
                      if c.input.is_file() and not c.input.is_symlink()]
    if "images" in only:
        cases += image_cases(inputs / "images", base.page)
    if any(c in only for c in ("dataset", "model", "index", "run")):
        cases += [c for c in folder_cases(base, json_limit=3 if quick else 6) if c.category in only]
    if quick:
        cases = sample(cases, 8)
    return cases


def sample(cases: Sequence[Case], per_category: int) -> list[Case]:
    """At most ``per_category`` cases of each category, spread evenly (deterministic)."""
    out = []
    for cat in dict.fromkeys(c.category for c in cases):
        group = [c for c in cases if c.category == cat]
        idx = np.unique(np.linspace(0, len(group) - 1, min(per_category, len(group))).round().astype(int))
        out += [group[i] for i in idx]
    return out


# -- the report ---------------------------------------------------------------------------------


def tally(results: Sequence[Result]) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for r in results:
        row = table.setdefault(r.category, {"cases": 0, **{o: 0 for o in OUTCOMES}, "lost": 0})
        row["cases"] += 1
        row[r.outcome] += 1
        row["lost"] += int(r.lost)
    table = {c: table[c] for c in sorted(table, key=lambda c: CATEGORIES.index(c) if c in CATEGORIES else 99)}
    if table:
        table["all"] = {k: sum(row[k] for row in table.values()) for k in next(iter(table.values()))}
    return table


def markdown(table: dict[str, dict[str, int]]) -> str:
    cols = ["cases", *OUTCOMES, "lost"]
    lines = ["| category | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for cat, row in table.items():
        cells = [f"{row[c]:,}" if cat != "all" else f"**{row[c]:,}**" for c in cols]
        lines.append(f"| {cat if cat != 'all' else '**all**'} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a small sample of every category")
    ap.add_argument("--only", default=",".join(CATEGORIES), help=f"comma-separated: {', '.join(CATEGORIES)}")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per command (batches: more)")
    ap.add_argument("--workers", type=int, default=2, help="commands run in parallel")
    ap.add_argument("--work", type=Path, help="cache folder for the good inputs (default: a temporary one)")
    ap.add_argument("--json", dest="json_out", type=Path, default=ROOT / "benchmarks" / "results" / "fuzz.json")
    ap.add_argument("--no-sheets", dest="sheets", action="store_false",
                    help="images: judge as before there was a sheet reader (every image refused)")
    args = ap.parse_args(argv)
    # Started in the background, the harness ignores SIGINT, and so would the commands it
    # runs (an ignored signal stays ignored across exec): the training run it interrupts
    # must see Ctrl-C.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    only = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = sorted(set(only) - set(CATEGORIES))
    if unknown:
        ap.error(f"unknown categories {unknown}; known: {', '.join(CATEGORIES)}")
    tmp = None
    if args.work is None:
        tmp = tempfile.TemporaryDirectory(prefix="ast-fuzz-")
        args.work = Path(tmp.name)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    print(f"# {platform.machine()}, {os.cpu_count()} cores, {args.workers} workers, timeout {args.timeout:g} s; "
          f"work folder {work}", flush=True)
    needed = {c for c in CONSUMERS if CATEGORY_OF[c] in only} | {"match-index"}  # match-index: audio, images
    base = build_base(work / ("base-quick" if args.quick else "base"), pieces=3 if args.quick else 5,
                      quick=args.quick, consumers=needed)
    print(f"good inputs ready in {time.monotonic() - t0:.0f} s", flush=True)
    cases = generate(work, base, quick=args.quick, only=only)
    print(f"{len(cases):,} cases: " + ", ".join(f"{c} {sum(x.category == c for x in cases)}" for c in only), flush=True)
    jobs = make_jobs(cases, base, args.timeout, work, sheets=args.sheets)

    def progress(done: int, total: int, got: list[Result]) -> None:
        for r in got:
            if r.outcome in FAILURES or r.lost:
                print(f"  {r.line()}", flush=True)
        if done % 25 == 0 or done == total:
            print(f"[{done}/{total} jobs, {time.monotonic() - t0:.0f} s]", flush=True)

    results = run_jobs(jobs, args.workers, progress)
    seconds = time.monotonic() - t0
    table = tally(results)
    print()
    print(markdown(table))
    print(f"\n{len(results):,} cases in {seconds / 60:.1f} min; failures: "
          f"{sum(r.outcome in FAILURES for r in results)}, lost: {sum(r.lost for r in results)}")
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        order = {c: i for i, c in enumerate(CATEGORIES)}
        results.sort(key=lambda r: (order.get(r.category, 99), r.name))
        args.json_out.write_text(json.dumps({
            "machine": f"{platform.machine()}, {os.cpu_count()} cores", "workers": args.workers,
            "timeout": args.timeout, "quick": args.quick, "only": only, "seconds": round(seconds, 1),
            "table": table, "cases": [asdict(r) for r in results]}, indent=1) + "\n")
        print(f"written to {args.json_out}")
    if tmp is not None:
        tmp.cleanup()
    return 1 if any(r.outcome in FAILURES or r.lost for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
