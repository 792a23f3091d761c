"""Helpers shared by the renderer plugins: reading a score, rasterising SVG.

Both engravers read the score through music21 so that they see the same notes:
one tune of a multi-tune ABC file, lyrics and chord symbols removed, and more than two staves (a
four-part chorale) reduced to two staves of two voices each, like a piano score.
"""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import numpy as np

from ast_toolkit.errors import RenderError
from ast_toolkit.types import ScoreSource

__all__ = ["load_score", "score_to_musicxml", "notated_note_count", "score_qpm", "rasterize_svg"]


#: Tempo marks outside this range (quarter notes per minute) are refused: 0.01 or
#: 10^9 made performances of years or of zero length.
QPM_RANGE = (10.0, 1000.0)
#: The longest single note or rest, in quarter notes (64 whole notes): a note of
#: 10^9 divisions made engraving hang.
MAX_NOTE_QUARTERS = 256.0


def load_score(source: ScoreSource, *, max_staves: int = 2, max_notes: int | None = None):
    """Parse ``source`` with music21 into a :class:`music21.stream.Score`.

    See :func:`_load_score`; music21 failing on a damaged file anywhere in the
    reading (not only in its parser) is a :class:`RenderError` naming the file.
    """
    try:
        return _load_score(source, max_staves=max_staves, max_notes=max_notes)
    except RenderError:
        raise
    except MemoryError:
        raise RenderError(f"{source.path}: reading it needed more memory than the budget per "
                          "piece (ast data render --max-memory)") from None
    except Exception as exc:  # music21 raises many unrelated types on bad input
        raise RenderError(f"{source.path}: cannot read score: {_failure(exc)}") from None


#: Tempo values in the markup that music21 drops without a word when it cannot use
#: them (MusicXML's sound tempo and metronome per-minute; MEI's midi.bpm, which its
#: reader ignores altogether): checked on the text before parsing.
_TEMPO_MARKUP = re.compile(r'(?:\btempo="([^"]*)"|<per-minute>\s*([^<]*?)\s*</per-minute>'
                           r'|\bmidi\.bpm="([^"]*)")')


def _check_tempo_markup(path: Path) -> None:
    if path.suffix.lower() not in (".xml", ".musicxml", ".mei"):
        return
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return  # the parser names the problem
    for match in _TEMPO_MARKUP.finditer(text):
        value = next(g for g in match.groups() if g is not None)
        try:
            qpm = float(value)
        except ValueError:
            if match.group(2) is not None:
                continue  # per-minute may be text ("c. 60")
            qpm = float("nan")
        if not QPM_RANGE[0] <= qpm <= QPM_RANGE[1]:
            raise RenderError(f"{path}: tempo {value!r} ({match.group(0)[:40]}) is outside "
                              f"{QPM_RANGE[0]:g}-{QPM_RANGE[1]:g} quarter notes per minute")


def _load_score(source: ScoreSource, *, max_staves: int = 2, max_notes: int | None = None):
    """Parse ``source`` with music21 into a :class:`music21.stream.Score`.

    Parameters
    ----------
    source : ScoreSource
        File and, for a multi-tune ABC file, the tune number.
    max_staves : int
        Scores with more parts are reduced to ``max_staves`` staves, the parts
        becoming voices (``Score.partsToVoices``).
    max_notes : int or None
        Refuse a score with more note heads (before any engraving).

    Raises
    ------
    RenderError
        The file cannot be read or parsed, holds no notes or more than
        ``max_notes``, or values outside physical ranges: a MIDI pitch outside
        0–127, a tempo mark outside :data:`QPM_RANGE`, a note longer than
        :data:`MAX_NOTE_QUARTERS`.
    """
    import music21

    path = Path(source.path)
    if not path.is_file():
        raise RenderError(f"{path}: no such file")
    _check_tempo_markup(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if source.number is not None:
                parsed = music21.converter.parse(path, number=source.number, forceSource=True)
            else:
                parsed = music21.converter.parse(path, forceSource=True)
    except MemoryError:
        raise
    except Exception as exc:  # music21 raises many unrelated types on bad input
        raise RenderError(f"{path}: cannot parse score: {_failure(exc)}") from None
    if isinstance(parsed, music21.stream.Opus):
        scores = list(parsed.scores)
        if source.number is not None:
            scores = [s for s in scores if s.metadata and s.metadata.number in (source.number, str(source.number))] or scores
        if not scores:
            raise RenderError(f"{path}: no score inside")
        parsed = scores[0]
    if not isinstance(parsed, music21.stream.Score):
        score = music21.stream.Score()
        score.insert(0, parsed)
        parsed = score
    _check_ranges(parsed, path, max_notes)
    for n in parsed.recurse().notes:
        n.lyrics = []
    # chord symbols are text above the staff, not notes (music21 counts them as chords)
    for symbol in list(parsed.recurse().getElementsByClass(music21.harmony.Harmony)):
        symbol.activeSite.remove(symbol)
    parts = list(parsed.parts)
    if len(parts) > max_staves:
        allocation = -(-len(parts) // max_staves)
        parsed = parsed.partsToVoices(voiceAllocation=allocation, permitOneVoicePerPart=True)
        # partsToVoices numbers voices from 0; MusicXML (and Verovio) count from 1.
        for measure in parsed.recurse().getElementsByClass(music21.stream.Measure):
            for i, voice in enumerate(measure.voices):
                voice.id = str(i + 1)
        # each staff keeps the clef of its first part (a tenor's treble-8vb for
        # the lower staff of a chorale): choose treble or bass by the range
        for part in parsed.parts:
            pitches = [p.midi for n in part.recurse().notes for p in n.pitches]
            wanted = music21.clef.TrebleClef if np.median(pitches or [60]) >= 60 else music21.clef.BassClef
            for old in list(part.recurse().getElementsByClass(music21.clef.Clef)):
                old.activeSite.replace(old, wanted())
    if notated_note_count(parsed) == 0:
        raise RenderError(f"{path}: the score has no notes")
    return parsed


#: Python's own exception types, whose names mean nothing to a user: music21's
#: parser raises them on damaged files
_INTERNAL = (ZeroDivisionError, IndexError, KeyError, TypeError, AttributeError, OverflowError,
             AssertionError, UnboundLocalError, RecursionError)


def _failure(exc: Exception) -> str:
    """What music21 said, as a reason a user can act on."""
    text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    if isinstance(exc, _INTERNAL):
        return ("the file is damaged or uses notation music21 cannot handle (music21 failed"
                + (f": {text}" if text else "") + ")")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _check_ranges(score, path: Path, max_notes: int | None) -> None:
    """Refuse what no performance can be made of, naming the first bad value."""
    import music21

    count = notated_note_count(score)
    if max_notes is not None and count > max_notes:
        raise RenderError(f"{path}: {count:,} notes, more than the budget of {max_notes:,} per "
                          "piece (ast data render --max-notes)")
    for n in score.recurse().notesAndRests:
        if n.isRest:
            if n.quarterLength > MAX_NOTE_QUARTERS:  # z1000000 in ABC: a rest of 35 hours
                raise RenderError(f"{path}: a rest of {float(n.quarterLength):g} quarter notes, "
                                  f"longer than {MAX_NOTE_QUARTERS:g}")
            continue
        where = f"measure {n.measureNumber}" if n.measureNumber is not None else "a note"
        for p in n.pitches:
            if not 0 <= p.ps <= 127:  # .midi folds octaves back into range; .ps does not
                raise RenderError(f"{path}: pitch {p.nameWithOctave} (MIDI {p.ps:g}) at {where} "
                                  "is outside the MIDI range 0-127")
        if n.quarterLength < 0:
            raise RenderError(f"{path}: a note of negative length ({float(n.quarterLength):g} "
                              f"quarter notes) at {where}")
        if n.quarterLength > MAX_NOTE_QUARTERS:
            raise RenderError(f"{path}: a note of {float(n.quarterLength):g} quarter notes at "
                              f"{where}, longer than {MAX_NOTE_QUARTERS:g}")
    for mark in score.recurse().getElementsByClass(music21.tempo.MetronomeMark):
        try:
            qpm = mark.getQuarterBPM()
        except Exception:  # music21 fails on some malformed marks
            qpm = None
        if qpm is not None and not QPM_RANGE[0] <= qpm <= QPM_RANGE[1]:
            raise RenderError(f"{path}: tempo mark of {qpm:g} quarter notes per minute, outside "
                              f"{QPM_RANGE[0]:g}-{QPM_RANGE[1]:g}")


def score_to_musicxml(source: ScoreSource, *, max_staves: int = 2,
                      max_notes: int | None = None):
    """Load ``source`` (:func:`load_score`) and export it as MusicXML text.

    music21 fails to export a few reduced scores (duplicate measures left by
    ``partsToVoices``, e.g. Bach's BWV 119.9); those are exported with one
    staff per part instead.

    Returns
    -------
    score : music21.stream.Score
    xml : str
    """
    from music21 import musicxml

    errors = []
    for staves in (max_staves, 10_000):
        score = load_score(source, max_staves=staves, max_notes=max_notes)
        try:
            return score, musicxml.m21ToXml.GeneralObjectExporter(score).parse().decode("utf-8")
        except Exception as exc:  # music21's exporter raises many types
            errors.append(_failure(exc))
    raise RenderError(f"{source.path}: cannot export to MusicXML: {errors[-1]}")


def notated_note_count(score) -> int:
    """Note heads a score notates: every note and every pitch of a chord."""
    count = 0
    for n in score.recurse().notes:
        count += len(n.pitches) if n.isChord else 1
    return count


def score_qpm(score) -> float | None:
    """The score's first metronome mark in quarter notes per minute, if any."""
    import music21

    for mark in score.recurse().getElementsByClass(music21.tempo.MetronomeMark):
        qpm = mark.getQuarterBPM()
        if qpm:
            return float(qpm)
    return None


def rasterize_svg(svg: str, width: int) -> np.ndarray:
    """Render SVG markup to a grayscale page (uint8, 0 = ink, 255 = paper).

    resvg (through ``resvg_py``) does the rendering; system fonts are skipped:
    the engravers draw music with embedded glyph paths, so only free text
    (titles, tempo words) would need them, and skipping them keeps it fast and
    identical on every machine.
    """
    import resvg_py
    from PIL import Image

    try:
        # dpi: LilyPond sizes pages in mm, which resvg_py cannot resolve at its default of 0
        png = resvg_py.svg_to_bytes(svg_string=svg, width=int(width), background="#ffffff", dpi=96.0,
                                    skip_system_fonts=True)
    except ValueError as exc:
        raise RenderError(f"cannot rasterise the engraved page: {exc}") from None
    image = Image.open(io.BytesIO(bytes(png))).convert("L")
    return np.asarray(image, dtype=np.uint8)
