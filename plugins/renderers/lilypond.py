"""The ``lilypond`` renderer: engraving with LilyPond, as MSMD and [Dorfer et al. 2016] did
(:data:`~ast_toolkit.references.DORFER2018_TISMIR`, :data:`~ast_toolkit.references.DORFER2016`).

* LilyPond is the binary given to the renderer, else ``$AST_LILYPOND``, else the
  binary of the pip ``lilypond`` wheel (works offline), else a ``lilypond`` on
  ``PATH``; ``musicxml2ly`` is taken from the same folder.
* music21 reads the score exactly as for the ``verovio`` renderer
  (:mod:`plugins.engraving`: one ABC tune, lyrics removed, more than two parts
  reduced to two staves of two voices each) and writes MusicXML; pickups and
  end repeats without a start repeat are made explicit
  (:func:`_prepare_musicxml`), and ``musicxml2ly`` converts it, leaving beams,
  line and page breaks to LilyPond.
* Pages: A4, no titles, headers, footers, page numbers or tagline, last system
  ragged; the staff size gives ``staff_space`` pixels between staff lines at
  ``page_width`` (the measured spacing is recorded in ``meta``).  LilyPond's SVG
  backend writes the pages; resvg rasterises them.
* Note heads and staves are tagged by LilyPond itself: ``output-attributes``
  wraps every ``NoteHead`` grob in ``<g class="ast-notehead">`` carrying its
  system, MIDI pitch and input location (line, column), and every staff in
  ``<g class="ast-staff">`` carrying its system.  No glyph-size guessing tells
  heads from accidentals, dots or flags, and no vertical-gap heuristic groups
  staves into systems.  (Point-and-click is switched back on — musicxml2ly
  switches it off — and each head's ``textedit://`` link is checked against
  the tag; the links alone would not do: they carry the same input location
  but wrap every grob a note causes.)  A note head's box
  is the exact bounding box of its glyph outline; a head merged into another
  voice's head (a unison) shares that head's box.
* Performed notes: in the same LilyPond run the music is also interpreted with
  ``\\unfoldRepeats`` for ``\\midi`` only (no engraving), and a small Scheme
  performer (like LilyPond's ``event-listener.ly``, which prints neither ties
  nor input locations) writes each note's voice, moment, MIDI pitch, length,
  tie and input location.  Events join note heads on (line, column), so a
  repeated note names the note head it plays, as with the ``verovio``
  renderer.  A tied continuation is merged into the note it continues and gets
  no event of its own.  Grace notes are played just before the beat, for a
  quarter of their written length (about what LilyPond's own MIDI output does).
* LilyPond times each voice by adding up its durations.  When the unfolded
  voices end at different moments (``musicxml2ly`` put their repeats in
  different places), the music is performed as written, repeats once
  (``meta["repeats_played"]`` is False); when even those disagree, the
  measures do not add up and the score is refused.
* Musical time (whole notes) becomes seconds with ``qpm`` when given, else the
  score's first metronome mark, else ``qpm_default``; tempo changes inside the
  score are ignored.
"""

from __future__ import annotations

import functools
from importlib import resources
import math
import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

from ast_toolkit.errors import ParameterError, RenderError
from ast_toolkit.interfaces import Renderer
from ast_toolkit.types import NoteEvent, NoteHead, RenderedScore, ScoreSource, SystemBox

from .engraving import rasterize_svg, score_qpm, score_to_musicxml

__all__ = ["LilyPondRenderer", "find_lilypond"]

_SVG = "{http://www.w3.org/2000/svg}"
_XLINK = "{http://www.w3.org/1999/xlink}href"
_HREF = re.compile(r"textedit://.*:(\d+):(\d+):\d+$")
#: Millimetres per TeX point (LilyPond's staff size unit).
_MM_PER_PT = 25.4 / 72.27
#: A4 paper width in millimetres.
_A4_WIDTH_MM = 210.0

# Added in front of musicxml2ly's output (LilyPond input with our Scheme: SVG
# speed-up, note-head and staff tags, the performer that writes every played
# note).  Settings come first: a score's \layout copies the defaults current
# when the score is read.
_PREAMBLE = "\n" + (resources.files(__package__) / "lilypond_preamble.ly").read_text(encoding="utf-8")

#: musicxml2ly's score block, ``\score { MUSIC \layout {} ...}``, ends its output.
_SCORE_BLOCK = re.compile(r"\\score\s*\{(?P<music>.*)\\layout\s*\{\s*\}", re.S)
#: musicxml2ly's page settings (from MusicXML ``<defaults>``), replaced by ours.
_PAPER_BLOCK = re.compile(r"\\paper\s*\{[^{}]*\}")
_STAFF_SIZE = re.compile(r"#\(set-global-staff-size\s+[\d.]+\s*\)")
#: Grace notes sound for this fraction of their written length, just before the
#: beat (LilyPond's own MIDI output plays them for about a quarter of it).
_GRACE_SCALE = Fraction(1, 4)


@functools.lru_cache(maxsize=8)
def find_lilypond(binary: str | None = None) -> Path:
    """The LilyPond binary.

    Parameters
    ----------
    binary : str or None
        A path to use; None tries ``$AST_LILYPOND``, the pip ``lilypond`` wheel,
        then ``lilypond`` on ``PATH``.

    Raises
    ------
    ParameterError
        The binary given does not exist, or none is found.
    """
    for given, what in ((binary, "lilypond"), (os.environ.get("AST_LILYPOND"), "$AST_LILYPOND")):
        if given:
            found = Path(given) if Path(given).is_file() else shutil.which(given)
            if not found:
                raise ParameterError(f"{what}={given}: no such file")
            return Path(found)
    try:
        import lilypond

        return Path(lilypond.executable())
    except ImportError:
        pass
    found = shutil.which("lilypond")
    if found:
        return Path(found)
    raise RenderError("LilyPond not found: `pip install lilypond` (a dependency of ast), "
                         "or set $AST_LILYPOND to a lilypond binary")


@functools.lru_cache(maxsize=8)
def _version(binary: Path) -> str:
    """``2.25.12`` from ``GNU LilyPond 2.25.12 (running Guile 3.0)``."""
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    m = re.search(r"LilyPond\s+(\S+)", out.stdout)
    return m.group(1) if m else "unknown"


class LilyPondRenderer(Renderer):
    """Engrave with LilyPond.

    Parameters
    ----------
    page_width : int
        Width of the page images in pixels (MSMD: 835); pages are A4.
    staff_space : float
        Distance between staff lines in page pixels.
    max_staves : int
        Scores with more parts are reduced to this many staves.
    qpm_default : float
        Tempo in quarter notes per minute for scores without a metronome mark
        (120, as the ``verovio`` renderer).
    timeout : float
        Seconds one run of ``musicxml2ly`` or LilyPond may take.
    lilypond : str or None
        The LilyPond binary; None finds one (:func:`find_lilypond`).
    """

    def __init__(self, page_width: int = 835, staff_space: float = 7.0, max_staves: int = 2,
                 qpm_default: float = 120.0, timeout: float = 120.0, lilypond: str | None = None):
        super().__init__(page_width=page_width, staff_space=staff_space)
        if max_staves < 1:
            raise ParameterError(f"max_staves must be >= 1, got {max_staves}")
        if not qpm_default > 0:
            raise ParameterError(f"qpm_default must be > 0 quarter notes per minute, got {qpm_default}")
        if not timeout > 0:
            raise ParameterError(f"timeout must be > 0 seconds, got {timeout}")
        self.max_staves = int(max_staves)
        self.qpm_default = float(qpm_default)
        self.timeout = float(timeout)
        self.binary = find_lilypond(lilypond)
        # LilyPond's staff size is four staff spaces in points
        mm_per_px = _A4_WIDTH_MM / self.page_width
        self._staff_size = 4 * self.staff_space * mm_per_px / _MM_PER_PT

    def prepare(self) -> None:
        # imported once in the parent of the per-piece workers (music21 alone takes ~1 s)
        import music21  # noqa: F401
        import resvg_py  # noqa: F401

    def render(self, score: ScoreSource, *, qpm: float | None = None) -> RenderedScore:
        if qpm is not None and not qpm > 0:
            raise ParameterError(f"{score.path}: qpm must be > 0 quarter notes per minute, got {qpm}")
        parsed, xml = score_to_musicxml(score, max_staves=self.max_staves,
                                         max_notes=self.max_notes)
        with tempfile.TemporaryDirectory(prefix="ast-lily-") as tmp:
            work = Path(tmp)
            (work / "score.xml").write_text(_prepare_musicxml(parsed, xml))
            # LilyPond's own beaming and line breaks (not the source's)
            self._run("musicxml2ly", ["--no-beaming", "--no-page-layout", "-o", "score.ly", "score.xml"],
                      work, score.path)
            (work / "engrave.ly").write_text(self._lily_source((work / "score.ly").read_text(), score.path))
            self._run("lilypond", ["-dbackend=svg", "-o", "engrave", "engrave.ly"], work, score.path)
            svgs = sorted(work.glob("engrave*.svg"), key=_page_index)
            if not svgs:
                raise RenderError(f"{score.path}: LilyPond wrote no page")
            performed = (work / "ast-events.txt").read_text()
            pages, noteheads, systems, gaps = [], [], [], []
            for p, svg_file in enumerate(svgs):
                svg = svg_file.read_text()
                pages.append(rasterize_svg(svg, self.page_width))
                self._parse_page(svg, p, noteheads, systems, gaps)
        if not noteheads:
            raise RenderError(f"{score.path}: LilyPond engraved no note heads")
        tempo = qpm if qpm is not None else (score_qpm(parsed) or self.qpm_default)
        events, repeats_played = _performance(performed, {n.id for n in noteheads}, tempo, score.path)
        return RenderedScore(
            pages=pages,
            noteheads=noteheads,
            systems=systems,
            events=events,
            meta={
                "renderer": "lilypond",
                "version": _version(self.binary),
                "qpm": tempo,
                "staff_space_px": round(sorted(gaps)[len(gaps) // 2], 3) if gaps else None,
                "notated_notes": len(noteheads),
                "repeats_played": repeats_played,
            },
        )

    # --- running LilyPond ----------------------------------------------------------

    def _run(self, program: str, args: list[str], cwd: Path, path: Path) -> None:
        """Run ``program`` (lilypond or musicxml2ly, from one folder) in ``cwd``."""
        executable = self.binary if program == "lilypond" else self.binary.parent / program
        try:
            proc = subprocess.run([str(executable), *args], cwd=cwd, capture_output=True, text=True,
                                  timeout=self.timeout)
        except subprocess.TimeoutExpired:
            raise RenderError(f"{path}: {program} took more than {self.timeout:g} s") from None
        except OSError as exc:
            raise RenderError(f"{path}: cannot run {executable}: {exc.strerror}") from None
        if proc.returncode != 0:
            lines = proc.stderr.splitlines()
            first = next((ln for ln in lines if "error" in ln.lower()), lines[-1] if lines else "")
            how = f"crashed (signal {-proc.returncode})" if proc.returncode < 0 else f"failed (exit {proc.returncode})"
            raise RenderError(f"{path}: {program} {how}: {first.strip()[:300]}")

    def _lily_source(self, text: str, path: Path) -> str:
        """musicxml2ly's output with our settings and tags, engraved once and performed.

        The performances keep the input locations of the engraved notes.  With
        repeats, the music is performed twice: unfolded, and as written (used
        when the unfolded voices fall out of step).
        """
        m = _SCORE_BLOCK.search(text)
        if not m:
            raise RenderError(f"{path}: musicxml2ly wrote no \\score {{ ... \\layout {{}} }} block")
        body = _STAFF_SIZE.sub("", _PAPER_BLOCK.sub("", text[:m.start()]))
        # musicxml2ly switches point-and-click off; the SVG keeps its
        # textedit:// links (a reader can click from a note head to its source)
        body = body.replace("\\pointAndClickOff", "\\pointAndClickOn")
        music = m.group("music").strip()
        performances = [("unfolded", "\\unfoldRepeats \\astMusic")]
        if "\\repeat" in text:
            performances.append(("folded", "\\astMusic"))
        return "".join([
            f"#(set-global-staff-size {self._staff_size:.4f})\n{_PREAMBLE}\n{body}\n",
            f"astMusic = {music}\n",
            "\\score { \\astMusic \\layout { } }\n",
            *(f'\\score {{ {expr} \\midi {{ \\context {{ \\Voice \\consists #(ast-performer "{tag}") }} }} }}\n'
              for tag, expr in performances),
        ])

    # --- SVG ------------------------------------------------------------------------

    def _parse_page(self, svg: str, page: int, noteheads: list[NoteHead], systems: list[SystemBox],
                    gaps: list[float]) -> None:
        """Append the page's note heads and systems; ``gaps`` collects staff-line spacings in pixels."""
        root = ET.fromstring(svg)
        vx, vy, vw, _ = (float(v) for v in root.get("viewBox").split())
        scale = self.page_width / vw

        def px(box):
            return ((box[0] - vx) * scale, (box[1] - vy) * scale, (box[2] - vx) * scale, (box[3] - vy) * scale)

        staves: dict[int, list[tuple]] = {}
        heads = []
        for elem, matrix in _walk(root):
            cls = elem.get("class")
            if cls == "ast-staff":
                ys, boxes = [], []
                for line, m in _walk(elem, matrix):
                    if line.tag == f"{_SVG}line":
                        box = _transformed_box(m, [(float(line.get("x1")), float(line.get("y1"))),
                                                   (float(line.get("x2")), float(line.get("y2")))])
                        boxes.append(box)
                        ys.append((box[1] + box[3]) / 2)
                if boxes:
                    staves.setdefault(int(elem.get("data-system")), []).append(_union(boxes))
                    ys.sort()
                    gaps += [(b - a) * scale for a, b in zip(ys, ys[1:])]
            elif cls == "ast-notehead":
                boxes = [_transformed_box(m, _path_points(p.get("d", "")))
                         for p, m in _walk(elem, matrix) if p.tag == f"{_SVG}path"]
                line, col = elem.get("data-origin").split(":")
                link = next((a.get(_XLINK, "") for a in elem.iter(f"{_SVG}a")), "")
                if (m_link := _HREF.search(link)) and m_link.groups()[:2] != (line, col):
                    raise RenderError(f"note head at {line}:{col} links to {link}: input locations disagree")
                heads.append((int(elem.get("data-system")), float(elem.get("data-x")), float(elem.get("data-y")),
                               _union(boxes) if boxes else None, f"l{line}c{col}", int(elem.get("data-pitch"))))
        index = {}  # LilyPond's system rank -> index over the piece
        for rank in sorted(staves):
            index[rank] = len(systems)
            systems.append(SystemBox(len(systems), page, px(_union(staves[rank]))))
        drawn: dict[int, list[tuple]] = {}  # system rank -> (x, y, box) of the heads drawn
        for rank, x, y, box, _, _ in heads:
            if box is not None:
                drawn.setdefault(rank, []).append((x, y, box))
        found = []
        for rank, x, y, box, nid, pitch in heads:
            if box is None:  # merged into the head of another voice (a unison): share its box
                twin = min(drawn.get(rank, []), default=None, key=lambda d: abs(d[0] - x) + abs(d[1] - y))
                if twin is None or abs(twin[0] - x) + abs(twin[1] - y) > 0.5:  # staff spaces
                    continue
                box = twin[2]
            found.append((rank, box, nid, pitch))
        seen = {n.id for n in noteheads}
        for rank, box, nid, pitch in sorted(found, key=lambda h: (h[0], h[1][0], h[1][1])):
            if rank not in index or nid in seen:
                continue  # an input location engraved twice cannot be told apart: keep the first
            seen.add(nid)
            noteheads.append(NoteHead(nid, page, index[rank], px(box), pitch))


def _page_index(svg: Path) -> int:
    """``engrave.svg`` (a single page) -> 0, ``engrave-3.svg`` -> 3."""
    m = re.search(r"-(\d+)\.svg$", svg.name)
    return int(m.group(1)) if m else 0


def _performance(text: str, heads: set[str], qpm: float, path: Path) -> tuple[list[NoteEvent], bool]:
    """The performed notes: repeats unfolded if the voices stay in step, else as written.

    LilyPond times each voice by adding up its durations, so a voice with a
    measure too long or too short, or (after ``musicxml2ly``) with its repeats
    in other places than the other voices, plays out of step from there on.

    Returns
    -------
    events : list of NoteEvent
    repeats_played : bool
    """
    performances: dict[str, list[list[str]]] = {}
    for tag, *fields in map(str.split, text.splitlines()):
        performances.setdefault(tag, []).append(fields)
    spans = []
    for tag in ("unfolded", "folded"):
        if tag in performances:
            events, ends = _events(performances[tag], heads, qpm)
            if len(set(ends.values())) <= 1:
                return events, tag == "unfolded"
            spans.append(f"{float(min(ends.values())):g} to {float(max(ends.values())):g}")
    if not spans:
        raise RenderError(f"{path}: LilyPond performed no notes")
    raise RenderError(f"{path}: the voices last from {spans[-1]} whole notes: some measures do not add up")


def _events(lines: list[list[str]], heads: set[str], qpm: float) -> tuple[list[NoteEvent], dict[str, Fraction]]:
    """Performed notes from one performance: ties merged, joined to note heads.

    Parameters
    ----------
    lines : list of list of str
        The performance's lines written by the Scheme performer in
        :data:`_PREAMBLE`, split into fields, without the tag.
    heads : set of str
        Ids of the engraved note heads (``l<line>c<column>``).
    qpm : float
        Quarter notes per minute.

    Returns
    -------
    events : list of NoteEvent
        Sorted by onset.
    ends : dict of str to Fraction
        Voice -> whole notes from the start to the end of its last note, rest or skip.
    """
    notes, chord_ties, ends = [], set(), {}
    for kind, voice, *fields in lines:
        if kind == "note":
            beat, grace, pitch, length, tied, line, col = fields
            beat, grace, length = Fraction(beat), Fraction(grace), Fraction(length)
            if grace:  # a grace note: its grace moment is negative, before the beat
                grace, length = grace * _GRACE_SCALE, length * _GRACE_SCALE
            notes.append((voice, beat + grace, int(pitch), length, tied == "1", f"l{line}c{col}", beat))
        elif kind == "tie":
            chord_ties.add((voice, Fraction(fields[0])))
        elif kind == "end":
            ends[voice] = Fraction(fields[0])
    notes.sort(key=lambda n: (n[1], n[2]))
    merged: list[list] = []  # [start, length, pitch, head]
    open_ties: dict[tuple[str, int, Fraction], int] = {}  # (voice, pitch, end) -> merged index
    for voice, start, pitch, length, tied, head, beat in notes:
        i = open_ties.pop((voice, pitch, start), None)
        if i is not None:
            merged[i][1] += length
        else:
            i = len(merged)
            merged.append([start, length, pitch, head])
        if tied or (voice, beat) in chord_ties:
            open_ties[(voice, pitch, start + length)] = i
    seconds_per_whole = 4 * 60.0 / qpm
    events = [NoteEvent(max(float(start), 0.0) * seconds_per_whole, float(length) * seconds_per_whole, pitch, 80, head)
              for start, length, pitch, head in merged if head in heads]
    events.sort(key=lambda e: (e.onset, e.pitch))
    return events, ends


def _prepare_musicxml(score, xml: str) -> str:
    """Adjust music21's MusicXML to what ``musicxml2ly`` expects.

    * Pickups: music21 writes every measure as ``implicit="no"``, and
      ``musicxml2ly`` then pads a pickup with silence; ``implicit="yes"`` on a
      measure shorter than its time signature gives a ``\\partial``.
    * Repeats: ``musicxml2ly`` takes an end repeat with no start repeat back to
      the beginning of the piece, nesting it around the repeats before it (the
      A part of an ABC ``|: A :| B :| C :|`` would play eight times).  The usual
      reading, a repeat back to just after the previous end repeat (and its
      last volta), is made explicit with a start repeat there.  A start repeat
      that no end repeat closes is dropped (``musicxml2ly`` would repeat the
      rest of the voice, with different extents in different voices).
    """
    import music21

    short = set()
    for part in score.parts[:1]:
        for m in part.getElementsByClass(music21.stream.Measure):
            try:
                if m.duration.quarterLength < m.barDuration.quarterLength - 1e-6:
                    short.add(str(m.number))
            except Exception:  # no time signature: nothing to compare with
                continue
    root = ET.fromstring(xml)
    first = root.find("part")
    add, drop = set(), set()  # indices of measures that gain / lose their start repeat
    section, open_starts = 0, []  # where the current repeat section begins; its start repeats
    for i, measure in enumerate(first.findall("measure") if first is not None else []):
        repeats = {r.get("direction") for r in measure.iter("repeat")}
        if "forward" in repeats:
            open_starts.append(i)
        if "backward" in repeats:
            if not open_starts and section > 0:
                add.add(section)
            section, open_starts = i + 1, []
        elif any(e.get("type") in ("stop", "discontinue") for e in measure.iter("ending")):
            section = i + 1  # the last volta of a repeat: the next section begins after it
    drop.update(open_starts)  # never closed: musicxml2ly would repeat to the end of the voice
    for part in root.iter("part"):
        for i, measure in enumerate(part.findall("measure")):
            if measure.get("implicit") == "no" and measure.get("number") in short:
                measure.set("implicit", "yes")
            left = next((b for b in measure.findall("barline") if b.get("location") == "left"), None)
            if i in add:
                if left is None:
                    left = ET.Element("barline", location="left")
                    measure.insert(0, left)
                ET.SubElement(left, "repeat", direction="forward")
            elif i in drop and left is not None:
                for repeat in left.findall("repeat"):
                    left.remove(repeat)
    return ET.tostring(root, encoding="unicode")


# --- SVG geometry ---------------------------------------------------------------------
# Affine matrices are (a, b, c, d, e, f): x' = a x + c y + e, y' = b x + d y + f.

_IDENTITY = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
_TRANSFORM = re.compile(r"(matrix|translate|scale|rotate)\s*\(([^)]*)\)")


def _multiply(m, n):
    """The matrix applying ``n`` first, then ``m``."""
    a, b, c, d, e, f = m
    a2, b2, c2, d2, e2, f2 = n
    return (a * a2 + c * b2, b * a2 + d * b2, a * c2 + c * d2, b * c2 + d * d2,
            a * e2 + c * f2 + e, b * e2 + d * f2 + f)


def _parse_transform(text: str):
    """The matrix of an SVG ``transform`` attribute (None or empty: identity)."""
    matrix = _IDENTITY
    for name, args in _TRANSFORM.findall(text or ""):
        v = [float(x) for x in re.split(r"[\s,]+", args.strip()) if x]
        if name == "matrix":
            step = tuple(v)
        elif name == "translate":
            step = (1.0, 0.0, 0.0, 1.0, v[0], v[1] if len(v) > 1 else 0.0)
        elif name == "scale":
            step = (v[0], 0.0, 0.0, v[1] if len(v) > 1 else v[0], 0.0, 0.0)
        else:  # rotate(angle [cx cy])
            r = math.radians(v[0])
            cx, cy = (v[1], v[2]) if len(v) == 3 else (0.0, 0.0)
            cos, sin = math.cos(r), math.sin(r)
            step = (cos, sin, -sin, cos, cx - cos * cx + sin * cy, cy - sin * cx - cos * cy)
        matrix = _multiply(matrix, step)
    return matrix


def _walk(elem, matrix=_IDENTITY):
    """Yield ``(descendant, matrix to page coordinates)``, depth first, ``elem`` excluded."""
    for child in elem:
        m = _multiply(matrix, _parse_transform(child.get("transform")))
        yield child, m
        yield from _walk(child, m)


def _transformed_box(m, points):
    """Bounding box ``(x0, y0, x1, y1)`` of ``points`` mapped by the matrix ``m``."""
    xs = [m[0] * x + m[2] * y + m[4] for x, y in points]
    ys = [m[1] * x + m[3] * y + m[5] for x, y in points]
    return (min(xs), min(ys), max(xs), max(ys))


def _union(boxes):
    """Smallest box holding every box of ``boxes``."""
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


_PATH_TOKEN = re.compile(r"[MmLlHhVvCcSsQqTtZzAa]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_ARITY = {"M": 2, "L": 2, "H": 1, "V": 1, "C": 6, "S": 4, "Q": 4, "T": 2, "A": 7, "Z": 0}


def _cubic_extrema(p: list[float]) -> list[float]:
    """Parameters in (0, 1) where a 1-D cubic Bézier ``p`` (four values) turns."""
    # B'(t) / 3 = a t^2 + b t + c
    a = -p[0] + 3 * p[1] - 3 * p[2] + p[3]
    b = 2 * (p[0] - 2 * p[1] + p[2])
    c = p[1] - p[0]
    if abs(a) < 1e-12:
        roots = [-c / b] if b else []
    elif (disc := b * b - 4 * a * c) >= 0:
        roots = [(-b + s * math.sqrt(disc)) / (2 * a) for s in (1, -1)]
    else:
        roots = []
    return [t for t in roots if 0 < t < 1]


def _cubic_at(p: list[float], t: float) -> float:
    u = 1 - t
    return u ** 3 * p[0] + 3 * u * u * t * p[1] + 3 * u * t * t * p[2] + t ** 3 * p[3]


@functools.lru_cache(maxsize=1024)
def _path_points(d: str) -> tuple[tuple[float, float], ...]:
    """Points whose bounding box is the exact bounding box of an SVG path.

    End points plus the turning points of every cubic Bézier segment (``C``,
    ``S``).  LilyPond's glyph outlines use only M, L, H, V, C, S and Z; other
    segments (Q, T, A) contribute their end points only.
    """
    tokens = _PATH_TOKEN.findall(d)
    points = []
    x = y = 0.0
    start = (0.0, 0.0)
    ctrl = None  # second control point of the last cubic, reflected by S
    cmd, i = "M", 0
    while i < len(tokens):
        if tokens[i].isalpha():
            cmd = tokens[i]
            i += 1
            if cmd in "Zz":
                x, y = start
                ctrl = None
                continue
        up, n = cmd.upper(), _ARITY[cmd.upper()]
        if n == 0 or i + n > len(tokens):
            break
        args = [float(t) for t in tokens[i:i + n]]
        i += n
        ox, oy = (x, y) if cmd.islower() else (0.0, 0.0)
        if up in "CS":
            pts = [(args[k] + ox, args[k + 1] + oy) for k in range(0, n, 2)]
            if up == "S":
                pts.insert(0, (2 * x - ctrl[0], 2 * y - ctrl[1]) if ctrl else (x, y))
            curve = [(x, y), *pts]
            for axis in (0, 1):
                for t in _cubic_extrema([q[axis] for q in curve]):
                    points.append((_cubic_at([q[0] for q in curve], t), _cubic_at([q[1] for q in curve], t)))
            ctrl = curve[2]
            x, y = curve[3]
        else:
            ctrl = None
            if up == "H":
                x = args[0] + ox
            elif up == "V":
                y = args[0] + oy
            else:  # M, L, and the end points of Q, T, A
                x, y = args[-2] + ox, args[-1] + oy
                if up == "M":
                    start = (x, y)
                    cmd = "l" if cmd.islower() else "L"  # further pairs after M are line-tos
        points.append((x, y))
    return tuple(points) or ((0.0, 0.0),)
