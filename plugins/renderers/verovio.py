"""The ``verovio`` renderer: engraving with Verovio (pip only).

* Pages: Verovio SVG, rasterised with resvg to ``page_width`` pixels.
* Note heads: the ``svgBoundingBoxes`` box of each ``g.note`` (Verovio draws
  stems, accidentals and dots as separate children, so the note box is the
  head).  Ids are Verovio's, made stable with ``xmlIdSeed``.
* Systems: the union of the staff boxes inside each ``g.system`` — Verovio's own
  system box covers only the opening barline.
* Performed notes: Verovio's timemap, not its MIDI (tied notes are merged
  there).  The timemap plays repeats; a repeated note's id carries ``-rendN``,
  mapped back to the notated note with ``getNotatedIdForElement`` — so the audio
  keeps the repeat and each of its events names the note head it plays.
* Tempo: ``qpm`` when given (tempo changes inside the score are then ignored),
  else the score's own marking, else Verovio's default of 120.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

from ast_toolkit.errors import RenderError
from ast_toolkit.interfaces import Renderer
from ast_toolkit.types import NoteEvent, NoteHead, RenderedScore, ScoreSource, SystemBox

from .engraving import rasterize_svg, score_qpm, score_to_musicxml

__all__ = ["VerovioRenderer"]

_SVG = "{http://www.w3.org/2000/svg}"
_TRANSLATE = re.compile(r"translate\(\s*([-\d.]+)[ ,]+([-\d.]+)\s*\)")
#: Verovio's staff space in SVG pixels at scale 100.
_STAFF_SPACE_UNITS = 18.0
_TIE = re.compile(r"<tie\b[^>]*>")
_ATTR = re.compile(r'(\w+)="([^"]*)"')


class VerovioRenderer(Renderer):
    """Engrave with Verovio.

    Parameters
    ----------
    page_width : int
        Width of the page images in pixels (MSMD: 835).
    staff_space : float
        Distance between staff lines in page pixels; with ``page_width`` it
        fixes Verovio's page size (A4 proportions).
    max_staves : int
        Scores with more parts are reduced to this many staves.
    """

    def __init__(self, page_width: int = 835, staff_space: float = 7.0, max_staves: int = 2):
        super().__init__(page_width=page_width, staff_space=staff_space)
        self.max_staves = int(max_staves)
        self._svg_width = int(round(_STAFF_SPACE_UNITS * page_width / staff_space))

    def _toolkit(self):
        import verovio

        verovio.enableLog(verovio.LOG_OFF)
        tk = verovio.toolkit()
        tk.setOptions({
            "pageWidth": self._svg_width,
            "pageHeight": int(round(self._svg_width * math.sqrt(2))),
            "adjustPageHeight": False,
            "scale": 100,
            "header": "none",
            "footer": "none",
            "breaks": "auto",
            "svgBoundingBoxes": True,
            "xmlIdSeed": 1,
        })
        return tk

    def prepare(self) -> None:
        # imported once in the parent of the per-piece workers (music21 alone takes ~1 s)
        import music21  # noqa: F401
        import verovio  # noqa: F401
        import resvg_py  # noqa: F401

    def render(self, score: ScoreSource, *, qpm: float | None = None) -> RenderedScore:
        parsed, xml = score_to_musicxml(score, max_staves=self.max_staves,
                                         max_notes=self.max_notes)
        tk = self._toolkit()
        if not tk.loadData(xml):
            raise RenderError(f"{score.path}: Verovio cannot load the score")
        n_pages = tk.getPageCount()
        if n_pages < 1:
            raise RenderError(f"{score.path}: Verovio engraved no page")

        # the timemap first: it also makes getMIDIValuesForElement answer pitches
        timemap = tk.renderToTimemap({"includeRests": False, "includeMeasures": False})
        pages, noteheads, systems = [], [], []
        for p in range(n_pages):
            svg = tk.renderToSVG(p + 1)
            pages.append(rasterize_svg(svg, self.page_width))
            self._parse_page(svg, p, tk, noteheads, systems)
        if not noteheads:
            raise RenderError(f"{score.path}: Verovio engraved no note heads")

        events = self._events(tk, timemap, {n.id for n in noteheads}, qpm)
        return RenderedScore(
            pages=pages,
            noteheads=noteheads,
            systems=systems,
            events=events,
            meta={
                "renderer": "verovio",
                "version": tk.getVersion(),
                "qpm": qpm if qpm is not None else (score_qpm(parsed) or 120.0),
                "staff_space_px": self.staff_space,
                "notated_notes": len(noteheads),
            },
        )

    # --- SVG ----------------------------------------------------------------------

    def _parse_page(self, svg: str, page: int, tk, noteheads: list, systems: list) -> None:
        root = ET.fromstring(svg)
        inner = root.find(f"{_SVG}svg")
        view = [float(v) for v in inner.get("viewBox").split()]
        scale = self.page_width / view[2]
        margin = inner.find(f"{_SVG}g")
        m = _TRANSLATE.search(margin.get("transform", "")) if margin is not None else None
        ox, oy = (float(m.group(1)), float(m.group(2))) if m else (0.0, 0.0)

        def to_px(x0, y0, x1, y1):
            return ((x0 + ox) * scale, (y0 + oy) * scale, (x1 + ox) * scale, (y1 + oy) * scale)

        for system in _iter_class(root, "system"):
            index = len(systems)
            staff_boxes = [b for staff in _iter_class(system, "staff") if (b := _bbox(staff))]
            if not staff_boxes:
                continue
            box = (min(b[0] for b in staff_boxes), min(b[1] for b in staff_boxes),
                   max(b[2] for b in staff_boxes), max(b[3] for b in staff_boxes))
            systems.append(SystemBox(index, page, to_px(*box)))
            for note in _iter_class(system, "note"):
                box = _bbox(note)
                nid = note.get("id")
                if box is None or not nid:
                    continue
                pitch = tk.getMIDIValuesForElement(nid).get("pitch", -1)
                noteheads.append(NoteHead(nid, page, index, to_px(*box), int(pitch)))

    # --- timemap -----------------------------------------------------------------

    def _events(self, tk, timemap: list, known: set[str], qpm: float | None) -> list[NoteEvent]:
        """Performed notes from the timemap, ties merged, repeats mapped back."""
        # The timemap starts a tied continuation note like any other: merge it
        # into the note its tie starts from (tie end -> tie start, from the MEI).
        tie_start = {}
        for tie in _TIE.finditer(tk.getMEI()):
            attrs = dict(_ATTR.findall(tie.group(0)))
            if "startid" in attrs and "endid" in attrs:
                tie_start[attrs["endid"].lstrip("#")] = attrs["startid"].lstrip("#")

        def seconds(entry) -> float:
            if qpm is not None:
                return float(entry["qstamp"]) * 60.0 / qpm
            return float(entry["tstamp"]) / 1000.0

        events: list[list] = []  # [onset, end, notated id, performed id]
        sounding: dict[str, int] = {}  # performed id -> event index
        latest: dict[str, int] = {}  # notated id -> index of its latest event
        for entry in timemap:
            t = seconds(entry)
            for nid in entry.get("off", []):
                if (i := sounding.pop(nid, None)) is not None:
                    events[i][1] = t
            for nid in entry.get("on", []):
                notated = nid if nid in known else (tk.getNotatedIdForElement(nid) or nid)
                if notated not in known:
                    continue  # performed but not engraved
                start = tie_start.get(notated)
                if start is not None and start in latest:
                    i = latest[start]
                    events[i][1] = None
                else:
                    i = len(events)
                    events.append([t, None, notated, nid])
                sounding[nid] = i
                latest[notated] = i
        end = seconds(timemap[-1]) if timemap else 0.0
        out = []
        for onset, stop, notated, nid in events:
            stop = stop if stop is not None else max(end, onset + 0.25)
            pitch = tk.getMIDIValuesForElement(nid).get("pitch", -1)
            out.append(NoteEvent(onset, max(stop - onset, 0.01), int(pitch), 80, notated))
        out.sort(key=lambda e: (e.onset, e.pitch))
        return out


def _classes(elem) -> list[str]:
    return (elem.get("class") or "").split()


def _iter_class(root, name: str):
    """Elements whose class list contains ``name`` (bounding-box groups excluded)."""
    for elem in root.iter(f"{_SVG}g"):
        cls = _classes(elem)
        if name in cls and "bounding-box" not in cls:
            yield elem


def _bbox(elem) -> tuple[float, float, float, float] | None:
    """The ``svgBoundingBoxes`` rectangle of an element, as (x0, y0, x1, y1)."""
    for child in elem:
        if child.tag == f"{_SVG}g" and "bounding-box" in _classes(child):
            rect = child.find(f"{_SVG}rect")
            if rect is None:
                return None
            x, y = float(rect.get("x")), float(rect.get("y"))
            w, h = float(rect.get("width")), float(rect.get("height"))
            if w <= 0 or h <= 0:
                return None
            return (x, y, x + w, y + h)
    return None
