"""The ``lilypond`` renderer: engraving with LilyPond, as MSMD and seed 001 did.

* LilyPond is the binary of the pip ``lilypond`` wheel (works offline), or
  ``$AST_LILYPOND`` / a ``lilypond`` on ``PATH``.
* music21 reads the score (as for ``verovio``: one ABC tune, lyrics removed,
  more than two parts on two staves), writes MusicXML, and the wheel's
  ``musicxml2ly`` converts it.  ``musicxml2ly`` switches point-and-click off; it
  is switched back on, so every note head in the SVG is wrapped in a
  ``textedit://file.ly:LINE:COL:…`` link.
* A small Scheme engraver (in the spirit of LilyPond's ``event-listener.ly``,
  which prints neither voices nor ties) writes one line per performed note:
  voice, musical moment, MIDI pitch, length, whether it starts a tie, and the
  input location.  Notes and note heads are joined on (line, column).  A tied
  continuation is merged into the note it continues.
* Repeats: when the score has any, LilyPond runs a second time on the same text
  with ``\\unfoldRepeats`` around the score, without output pages; its events
  carry the same input locations, so a repeated note names the note head it
  plays, exactly like the ``verovio`` renderer.
* Musical time (whole notes) becomes seconds with ``qpm`` when given, else the
  score's first metronome mark, else 120 (Verovio's default).
* Note-head boxes come from the glyph outlines in the SVG; systems are the
  staff-line extents of each system (staves grouped by the score's staff count).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

from toolkit.errors import ParameterError
from toolkit.interfaces import Renderer
from toolkit.types import NoteEvent, NoteHead, RenderedScore, ScoreSource, SystemBox

from .engraving import rasterize_svg, score_qpm, score_to_musicxml

__all__ = ["LilyPondRenderer", "find_lilypond"]

_SVG = "{http://www.w3.org/2000/svg}"
_XLINK = "{http://www.w3.org/1999/xlink}href"
_TRANSLATE = re.compile(r"translate\(\s*([-\d.eE]+)[ ,]+([-\d.eE]+)\s*\)")
_SCALE = re.compile(r"scale\(\s*([-\d.eE]+)[ ,]+([-\d.eE]+)\s*\)")
_HREF = re.compile(r"textedit://.*?:(\d+):(\d+):(\d+)$")

#: Staff size in points that makes one staff space 10 px on an 835-px-wide A4 page.
_STAFF_SIZE_AT_10PX = 28.5

# One line per note event: "note VOICE MAIN_NUM MAIN_DEN GRACE_NUM GRACE_DEN PITCH
# LEN_NUM LEN_DEN TIED LINE CHAR", and "tie VOICE MAIN_NUM MAIN_DEN" for a tie
# on a whole chord.
_LISTENER = r"""
#(define ast-events-port (open-file "ast-events.txt" "w"))
#(define (ast-voice engraver)
   (let ((id (ly:context-id (ly:translator-context engraver))))
     (if (string-null? id) "voice" id)))
#(define (ast-moment engraver)
   (ly:context-current-moment (ly:translator-context engraver)))
#(define (ast-note engraver event)
   (let* ((m (ast-moment engraver))
          (pitch (ly:event-property event 'pitch))
          (len (ly:duration-length (ly:event-property event 'duration)))
          (origin (ly:input-file-line-char-column (ly:event-property event 'origin)))
          (tied (any (lambda (a) (ly:in-event-class? a 'tie-event))
                     (ly:event-property event 'articulations '()))))
     (if (ly:pitch? pitch)
         (format ast-events-port "note ~a ~a ~a ~a ~a ~a ~a ~a ~a ~a ~a\n"
                 (ast-voice engraver)
                 (ly:moment-main-numerator m) (ly:moment-main-denominator m)
                 (ly:moment-grace-numerator m) (ly:moment-grace-denominator m)
                 (+ 60 (ly:pitch-semitones pitch))
                 (ly:moment-main-numerator len) (ly:moment-main-denominator len)
                 (if tied 1 0) (cadr origin) (caddr origin)))))
#(define (ast-tie engraver event)
   (let ((m (ast-moment engraver)))
     (format ast-events-port "tie ~a ~a ~a\n" (ast-voice engraver)
             (ly:moment-main-numerator m) (ly:moment-main-denominator m))))
#(define ast-listener
   (make-engraver (listeners (note-event . ast-note) (tie-event . ast-tie))))
\layout { \context { \Voice \consists #ast-listener } }
"""


@functools.lru_cache(maxsize=1)
def find_lilypond() -> Path:
    """The LilyPond binary: ``$AST_LILYPOND``, the pip wheel's, or one on PATH."""
    env = os.environ.get("AST_LILYPOND")
    if env:
        if not Path(env).is_file():
            raise ParameterError(f"$AST_LILYPOND={env}: no such file")
        return Path(env)
    try:
        import lilypond

        return Path(lilypond.executable())
    except Exception:
        pass
    found = shutil.which("lilypond")
    if found:
        return Path(found)
    raise ParameterError("LilyPond not found: `pip install lilypond` (a dependency of ast), "
                         "or set $AST_LILYPOND to a lilypond binary")


class LilyPondRenderer(Renderer):
    """Engrave with LilyPond.

    Parameters
    ----------
    page_width : int
        Width of the page images in pixels (MSMD: 835).
    staff_space : float
        Distance between staff lines in page pixels (A4 pages).
    max_staves : int
        Scores with more parts are reduced to this many staves.
    timeout : float
        Seconds one LilyPond run may take.
    """

    def __init__(self, page_width: int = 835, staff_space: float = 10.0, max_staves: int = 2,
                 timeout: float = 120.0):
        if page_width < 100:
            raise ParameterError(f"page_width must be >= 100 pixels, got {page_width}")
        if not 2.0 <= staff_space <= page_width / 20:
            raise ParameterError(f"staff_space must be between 2 and {page_width / 20:g} pixels, got {staff_space}")
        self.page_width = int(page_width)
        self.staff_space = float(staff_space)
        self.max_staves = int(max_staves)
        self.timeout = float(timeout)
        # staff space scales with staff size; the page is A4 at any pixel width
        self._staff_size = _STAFF_SIZE_AT_10PX * staff_space / 10.0 * 835.0 / page_width

    # --- running LilyPond ----------------------------------------------------------

    def _run(self, args: list[str], cwd: Path, what: str, path: Path) -> None:
        binary = find_lilypond()
        env = {**os.environ, "PATH": f"{binary.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        try:
            proc = subprocess.run([str(binary if what == "lilypond" else binary.parent / what), *args],
                                  cwd=cwd, capture_output=True, text=True, timeout=self.timeout, env=env)
        except subprocess.TimeoutExpired:
            raise ParameterError(f"{path}: {what} took more than {self.timeout:g} s") from None
        if proc.returncode != 0:
            lines = [ln for ln in proc.stderr.splitlines() if "error" in ln.lower()] or proc.stderr.splitlines()[-1:]
            raise ParameterError(f"{path}: {what} failed: {(lines[0] if lines else 'exit ' + str(proc.returncode)).strip()[:300]}")

    def _lily_source(self, parsed, xml: str, work: Path, path: Path) -> str:
        # music21 writes a pickup (or any short measure) as implicit="no", and
        # musicxml2ly then pads it with silence; implicit="yes" gives \partial
        short = _short_measures(parsed)
        xml = re.sub(r'<measure implicit="no" number="([^"]+)"',
                     lambda m: f'<measure implicit="{"yes" if m.group(1) in short else "no"}" number="{m.group(1)}"',
                     xml)
        (work / "score.xml").write_text(xml)
        self._run(["--no-beaming", "-o", "score.ly", "score.xml"], work, "musicxml2ly", path)
        text = (work / "score.ly").read_text()
        text = text.replace("\\pointAndClickOff", "\\pointAndClickOn")
        # no titles, page numbers or tagline: pages hold only music, like MSMD's
        text = re.sub(r"\\header\s*\{.*?\n\s*\}\n", "", text, count=1, flags=re.S)
        text = re.sub(r"#\(set-global-staff-size [\d.]+\)", "", text)
        head = (f"#(set-global-staff-size {self._staff_size:.3f})\n"
                "\\header { tagline = ##f }\n"
                "\\paper { print-page-number = ##f  print-first-page-number = ##f }\n")
        # settings first: a score's \layout copies the defaults current when it is read
        return head + _LISTENER + "\n" + text

    def render(self, score: ScoreSource, *, qpm: float | None = None) -> RenderedScore:
        parsed, xml = score_to_musicxml(score, max_staves=self.max_staves)
        n_staves = max(1, len(parsed.parts))
        with tempfile.TemporaryDirectory(prefix="ast-lily-") as tmp:
            work = Path(tmp)
            source = self._lily_source(parsed, xml, work, score.path)
            (work / "engrave.ly").write_text(source)
            self._run(["-dbackend=svg", "-dpoint-and-click=#t", "-o", "engrave", "engrave.ly"],
                      work, "lilypond", score.path)
            svgs = sorted(work.glob("engrave*.svg"), key=_page_number)
            if not svgs:
                raise ParameterError(f"{score.path}: LilyPond wrote no page")
            events_text = (work / "ast-events.txt").read_text()
            note_locations = {(int(f[10]), int(f[11])) for f in map(str.split, events_text.splitlines())
                              if f and f[0] == "note"}
            if "\\repeat" in source:
                unfolded = re.sub(r"\\score\s*\{", r"\\score { \\unfoldRepeats ", source, count=1)
                (work / "perform.ly").write_text(unfolded)
                self._run(["-dno-print-pages", "-o", "perform", "perform.ly"], work, "lilypond", score.path)
                events_text = (work / "ast-events.txt").read_text()
            pages, noteheads, systems = [], [], []
            for p, svg_file in enumerate(svgs):
                svg = svg_file.read_text()
                pages.append(rasterize_svg(svg, self.page_width))
                self._parse_page(svg, p, n_staves, note_locations, noteheads, systems)
        if not noteheads:
            raise ParameterError(f"{score.path}: LilyPond engraved no note heads")
        tempo = qpm if qpm is not None else (score_qpm(parsed) or 120.0)
        events = _events(events_text, noteheads, tempo)
        return RenderedScore(
            pages=pages, noteheads=noteheads, systems=systems, events=events,
            meta={"renderer": "lilypond", "version": _version(), "qpm": tempo,
                  "staff_space_px": self.staff_space, "notated_notes": len(noteheads)},
        )

    # --- SVG ------------------------------------------------------------------------

    def _parse_page(self, svg: str, page: int, n_staves: int, note_locations: set,
                    noteheads: list, systems: list) -> None:
        root = ET.fromstring(svg)
        view = [float(v) for v in root.get("viewBox").split()]
        scale = self.page_width / view[2]

        def px(x, y):
            return ((x - view[0]) * scale, (y - view[1]) * scale)

        # staff lines: long horizontal <line>s (ledger lines are short)
        lines = []
        for g in root.iter(f"{_SVG}g"):
            line = g.find(f"{_SVG}line")
            if line is None or len(g) != 1:
                continue
            tx, ty = _translate(g)
            x1, x2 = tx + float(line.get("x1")), tx + float(line.get("x2"))
            y = ty + float(line.get("y1"))
            if float(line.get("y1")) == float(line.get("y2")) and x2 - x1 > 8:
                lines.append((y, x1, x2))
        staves = _staves(lines)
        page_systems = []
        for i in range(0, len(staves) - len(staves) % n_staves, n_staves):
            group = [ln for staff in staves[i:i + n_staves] for ln in staff]
            x0, y0 = px(min(ln[1] for ln in group), min(ln[0] for ln in group))
            x1, y1 = px(max(ln[2] for ln in group), max(ln[0] for ln in group))
            box = SystemBox(len(systems), page, (x0, y0, x1, y1))
            systems.append(box)
            page_systems.append(box)
        if not page_systems:
            return

        # note heads: glyphs linked to a note's input location, about one staff
        # space high (accidentals, dots and flags of the same note are taller or
        # smaller; grace-note heads are a little smaller)
        found: dict[tuple[int, int], tuple] = {}
        for a in root.iter(f"{_SVG}a"):
            m = _HREF.search(a.get(_XLINK, ""))
            if not m:
                continue
            for g in a.iter(f"{_SVG}g"):
                path = g.find(f"{_SVG}path")
                if path is None:
                    continue
                tx, ty = _translate(g)
                sx, sy = _scale(path)
                bx0, by0, bx1, by1 = _path_bbox(path.get("d", ""))
                xs = sorted((tx + bx0 * sx, tx + bx1 * sx))
                ys = sorted((ty + by0 * sy, ty + by1 * sy))
                w, h = xs[1] - xs[0], ys[1] - ys[0]
                key = (int(m.group(1)), int(m.group(2)))
                if key in note_locations and 0.5 <= h <= 1.3 and 0.8 <= w <= 2.6:
                    found.setdefault(key, (*px(xs[0], ys[0]), *px(xs[1], ys[1])))
        for (line, col), box in sorted(found.items(), key=lambda kv: (kv[1][0], kv[1][1])):
            cy = (box[1] + box[3]) / 2
            system = min(page_systems, key=lambda s: max(s.bbox[1] - cy, cy - s.bbox[3], 0))
            noteheads.append(NoteHead(f"l{line}c{col}", page, system.index, box, -1))


def _events(text: str, noteheads: list[NoteHead], qpm: float) -> list[NoteEvent]:
    """Performed notes from the listener's lines, ties merged, joined to note heads."""
    by_location = {h.id: i for i, h in enumerate(noteheads)}
    notes, chord_ties, pitch_at = [], set(), {}
    for line in text.splitlines():
        f = line.split()
        if f and f[0] == "note":
            voice, mn, md, gn, gd, pitch, ln, ld, tied, row, col = f[1:]
            pitch_at[f"l{row}c{col}"] = int(pitch)
            if int(gn) != 0:
                continue  # grace notes take no time in LilyPond's moments
            notes.append([voice, Fraction(int(mn), int(md)), int(pitch),
                          Fraction(int(ln), int(ld)), tied == "1", f"l{row}c{col}"])
        elif f and f[0] == "tie":
            chord_ties.add((f[1], Fraction(int(f[2]), int(f[3]))))
    notes.sort(key=lambda n: (n[1], n[2]))
    merged: list[list] = []
    open_ties: dict[tuple[str, int, Fraction], int] = {}  # (voice, pitch, end) -> merged index
    for voice, start, pitch, length, tied, head in notes:
        key = (voice, pitch, start)
        if key in open_ties:
            i = open_ties.pop(key)
            merged[i][1] += length
        else:
            i = len(merged)
            merged.append([start, length, pitch, head])
        if tied or (voice, start) in chord_ties:
            open_ties[(voice, pitch, start + length)] = i
    seconds_per_whole = 4 * 60.0 / qpm
    out = [
        NoteEvent(float(start) * seconds_per_whole, float(length) * seconds_per_whole, pitch, 80, head)
        for start, length, pitch, head in merged if head in by_location
    ]
    for i, h in enumerate(noteheads):  # every head's pitch, grace notes and tied ones included
        noteheads[i] = NoteHead(h.id, h.page, h.system, h.bbox, pitch_at.get(h.id, -1))
    out.sort(key=lambda e: (e.onset, e.pitch))
    return out


def _staves(lines: list[tuple[float, float, float]]) -> list[list[tuple[float, float, float]]]:
    """Group horizontal lines (y, x0, x1) into staves: five lines, one staff space
    apart, with the same extent; other long lines (volta brackets) are dropped."""
    lines = sorted(lines)
    staves, i = [], 0
    while i + 5 <= len(lines):
        group = lines[i:i + 5]
        gaps = [b[0] - a[0] for a, b in zip(group, group[1:])]
        same_extent = all(abs(g[1] - group[0][1]) < 0.05 and abs(g[2] - group[0][2]) < 0.05 for g in group)
        if same_extent and all(abs(gap - 1.0) < 0.05 for gap in gaps):
            staves.append(group)
            i += 5
        else:
            i += 1
    return staves


def _short_measures(score) -> set[str]:
    """Numbers of the measures shorter than their time signature (pickups)."""
    import music21

    short = set()
    for part in score.parts[:1]:
        for m in part.getElementsByClass(music21.stream.Measure):
            try:
                if m.duration.quarterLength < m.barDuration.quarterLength - 1e-6:
                    short.add(str(m.number))
            except Exception:  # no time signature: nothing to compare with
                continue
    return short


def _page_number(path: Path) -> int:
    m = re.search(r"-(\d+)\.svg$", path.name)
    return int(m.group(1)) if m else 0


def _translate(elem) -> tuple[float, float]:
    m = _TRANSLATE.search(elem.get("transform", ""))
    return (float(m.group(1)), float(m.group(2))) if m else (0.0, 0.0)


def _scale(elem) -> tuple[float, float]:
    m = _SCALE.search(elem.get("transform", ""))
    return (float(m.group(1)), float(m.group(2))) if m else (1.0, 1.0)


_PATH_TOKEN = re.compile(r"[MmLlHhVvCcSsQqTtZzAa]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_ARITY = {"M": 2, "L": 2, "H": 1, "V": 1, "C": 6, "S": 4, "Q": 4, "T": 2, "A": 7, "Z": 0}


@functools.lru_cache(maxsize=4096)
def _path_bbox(d: str) -> tuple[float, float, float, float]:
    """Bounding box of an SVG path, control points included (a slight overestimate).

    Hand-written on purpose: LilyPond's glyphs need only this, and an SVG
    library would be a dependency for thirty lines.
    """
    tokens = _PATH_TOKEN.findall(d)
    xs, ys = [], []
    x = y = 0.0
    start = (0.0, 0.0)
    cmd, i = "M", 0
    while i < len(tokens):
        if tokens[i].isalpha():
            cmd = tokens[i]
            i += 1
            if cmd in "Zz":
                x, y = start
                continue
        n = _ARITY[cmd.upper()]
        args = [float(t) for t in tokens[i:i + n]]
        i += n
        if len(args) < n:
            break
        rel = cmd.islower()
        up = cmd.upper()
        if up == "H":
            x = args[0] + (x if rel else 0)
        elif up == "V":
            y = args[0] + (y if rel else 0)
        elif up == "A":
            x, y = args[5] + (x if rel else 0), args[6] + (y if rel else 0)
        else:
            pts = [(args[k] + (x if rel else 0), args[k + 1] + (y if rel else 0)) for k in range(0, n, 2)]
            xs += [p[0] for p in pts[:-1]]
            ys += [p[1] for p in pts[:-1]]
            x, y = pts[-1]
        if up == "M":
            start = (x, y)
            cmd = "l" if rel else "L"  # further pairs after M are line-tos
        xs.append(x)
        ys.append(y)
    if not xs:
        return (0.0, 0.0, 0.0, 0.0)
    return (min(xs), min(ys), max(xs), max(ys))


@functools.lru_cache(maxsize=1)
def _version() -> str:
    try:
        out = subprocess.run([str(find_lilypond()), "--version"], capture_output=True, text=True, timeout=60)
        return out.stdout.split("\n", 1)[0].replace("GNU LilyPond", "").strip()
    except Exception:
        return "unknown"
