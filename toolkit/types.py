"""Plain data exchanged between plugins.

Units everywhere: seconds for time, frames for spectrogram columns, pixels for
image coordinates (origin top-left, x to the right, y down).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .errors import ParameterError

__all__ = [
    "BBox",
    "SpectrogramSpec",
    "ScoreSource",
    "NoteHead",
    "SystemBox",
    "NoteEvent",
    "PageReading",
    "RenderedScore",
    "SnippetPair",
    "PairTable",
    "Performance",
    "PieceSequence",
    "Collection",
    "Match",
]

#: A bounding box ``(x0, y0, x1, y1)`` in page pixels, ``x0 <= x1``, ``y0 <= y1``.
BBox = tuple[float, float, float, float]

_EMPTY_F = np.zeros(0, dtype=np.float64)
_EMPTY_I = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class SpectrogramSpec:
    """Log-frequency spectrogram settings (defaults: MSMD's, 92 bins at 20 frames/s).

    Attributes
    ----------
    sample_rate : int
        Samples per second the audio is resampled to.
    frame_size : int
        STFT window in samples.
    fps : float
        Frames per second.
    bands_per_octave : int
        Logarithmic filterbank resolution.
    fmin, fmax : float
        Filterbank range in Hz.
    frame_origin : {"start", "centre"}
        Where frame ``i`` sits: ``"start"`` — its samples begin at ``i / fps``
        seconds (MSMD's: madmom's ``origin='future'``); ``"centre"`` — it is
        centred there (the setting of ``ast`` before the ``msmd`` preset).
    onset_frame : {"ceil", "round"}
        The frame of an onset at ``t`` seconds: ``ceil(t * fps)`` (MSMD's: the
        first frame starting at or after the onset) or ``round(t * fps)``.

    Examples
    --------
    >>> SpectrogramSpec().fps, SpectrogramSpec().frame_of(0.51)
    (20.0, 11)
    >>> SpectrogramSpec(frame_origin="centre", onset_frame="round").frame_of(0.51)
    10
    >>> SpectrogramSpec.from_dict({"fps": 31.25, "bands_per_octave": 24, "fmax": 8000})
    SpectrogramSpec(sample_rate=22050, frame_size=2048, fps=31.25, bands_per_octave=24, fmin=30.0, fmax=8000.0, frame_origin='centre', onset_frame='round')

    A recorded setting without ``frame_origin`` / ``onset_frame`` (a folder
    written before they existed) reads as ``centre`` / ``round``, which is
    what it was made with.
    """

    sample_rate: int = 22050
    frame_size: int = 2048
    fps: float = 20.0
    bands_per_octave: int = 16
    fmin: float = 30.0
    fmax: float = 6000.0
    frame_origin: Literal["start", "centre"] = "start"
    onset_frame: Literal["ceil", "round"] = "ceil"

    def __post_init__(self) -> None:
        for name in ("sample_rate", "frame_size", "fps", "bands_per_octave", "fmin", "fmax"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not np.isfinite(value) or value <= 0:
                raise ParameterError(f"spectrogram {name} must be a number > 0, got {value!r}")
        if self.fmin >= self.fmax:
            raise ParameterError(f"spectrogram fmin ({self.fmin}) must be below fmax ({self.fmax})")
        if self.frame_origin not in ("start", "centre"):
            raise ParameterError(f"frame_origin must be 'start' or 'centre', got {self.frame_origin!r}")
        if self.onset_frame not in ("ceil", "round"):
            raise ParameterError(f"onset_frame must be 'ceil' or 'round', got {self.onset_frame!r}")

    def frame_of(self, seconds: float) -> int:
        """The spectrogram frame of an onset at ``seconds`` (see ``onset_frame``)."""
        x = float(seconds) * self.fps
        # 1e-6: an onset exactly on a frame boundary stays on it despite float error
        return int(np.ceil(x - 1e-6)) if self.onset_frame == "ceil" else int(round(x))

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> SpectrogramSpec:
        """From the dict a dataset, model or index folder records (missing keys: defaults,
        except the frame timing, which defaults to the setting older folders were made with)."""
        data = data or {}
        d = cls()
        return cls(int(data.get("sample_rate", d.sample_rate)),
                   int(data.get("frame_size", d.frame_size)), float(data.get("fps", d.fps)),
                   int(data.get("bands_per_octave", d.bands_per_octave)),
                   float(data.get("fmin", d.fmin)), float(data.get("fmax", d.fmax)),
                   str(data.get("frame_origin", "centre")), str(data.get("onset_frame", "round")))

    def to_dict(self) -> dict[str, Any]:
        """The settings as a dict, as folders record them."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class ScoreSource:
    """One piece of a score collection, before rendering.

    Attributes
    ----------
    id : str
        Stable piece id, e.g. ``"music21/essenFolksong/altdeu10.abc#12"``.
    path : Path
        The score file (MusicXML, MXL, ABC, Humdrum kern or MEI).
    number : int or None
        Tune / movement number inside a multi-piece file (ABC ``X:``), else None.

    Examples
    --------
    >>> score = ScoreSource("essenFolksong/altdeu10.abc#12", Path("altdeu10.abc"), number=12)
    >>> score.path.suffix, score.number
    ('.abc', 12)
    >>> ScoreSource("bach/bwv66.6", Path("bwv66.6.mxl")).number is None
    True
    """

    id: str
    path: Path
    number: int | None = None


@dataclass(frozen=True)
class NoteHead:
    """One engraved note head.

    Attributes
    ----------
    id : str
        Identifier, stable across runs of the same renderer.
    page : int
        0-based page index.
    system : int
        0-based system index, counted over the whole piece in reading order.
    bbox : BBox
        The note head's box in page pixels.
    pitch : int
        MIDI pitch.

    Examples
    --------
    >>> head = NoteHead("note-0007", page=0, system=1, bbox=(212.0, 431.0, 224.0, 441.0),
    ...                 pitch=67)
    >>> x0, y0, x1, y1 = head.bbox
    >>> (x0 + x1) / 2, (y0 + y1) / 2  # its centre in page pixels
    (218.0, 436.0)
    """

    id: str
    page: int
    system: int
    bbox: BBox
    pitch: int


@dataclass(frozen=True)
class SystemBox:
    """One system (all staves played together), in reading order.

    Attributes
    ----------
    index : int
        0-based system index over the whole piece.
    page : int
        0-based page index.
    bbox : BBox
        Union of the system's staff boxes, in page pixels.

    Examples
    --------
    >>> system = SystemBox(index=1, page=0, bbox=(38.0, 402.0, 797.0, 478.0))
    >>> head = NoteHead("note-0007", 0, 1, (212.0, 431.0, 224.0, 441.0), 67)
    >>> head.system == system.index and system.bbox[1] <= head.bbox[1] <= system.bbox[3]
    True
    """

    index: int
    page: int
    bbox: BBox


@dataclass(frozen=True)
class PageReading:
    """What a page reader found on one page image.

    Coordinates are pixels of :attr:`image`: the page after the reader's own
    corrections (deskewed, and straightened when photographed at a slant), at
    the resolution it came in.  :func:`ast_toolkit.data.sheets.normalise_page`
    rescales image and boxes so that the staff space equals a model's.

    Attributes
    ----------
    image : np.ndarray [shape=(height, width)], uint8
        The corrected page, 255 = paper.
    staff_space : float
        Distance between the centres of two adjacent staff lines, in pixels.
    line_thickness : float
        Thickness of a staff line, in pixels.
    skew : float
        Degrees the page was turned back by (counter-clockwise positive).
    staves : list of BBox
        Every staff (top line to bottom line), top to bottom.
    systems : list of SystemBox
        Staves played together, in reading order (``page`` is the page number
        given to the reader); ``bbox`` is the union of their staff boxes, as the
        renderers' systems are.
    staves_per_system : list of int
    warnings : list of str
        What the reader corrected or doubts but did not refuse (e.g. a slant).

    Examples
    --------
    >>> reading = PageReading(np.full((100, 100), 255, np.uint8), 7.0, 1.0, 0.0,
    ...                       [(10.0, 20.0, 90.0, 48.0)], [SystemBox(0, 0, (10.0, 20.0, 90.0, 48.0))], [1])
    >>> reading.scaled(2.0).systems[0].bbox, reading.scaled(2.0).staff_space
    ((20.0, 40.0, 180.0, 96.0), 14.0)
    """

    image: np.ndarray
    staff_space: float
    line_thickness: float
    skew: float
    staves: list[BBox]
    systems: list[SystemBox]
    staves_per_system: list[int]
    warnings: list[str] = field(default_factory=list)

    def scaled(self, factor: float, image: np.ndarray | None = None) -> PageReading:
        """The same reading with every length multiplied by ``factor`` (and ``image`` as
        the already-resized page, when given)."""
        def box(b: BBox) -> BBox:
            return tuple(float(v) * factor for v in b)  # type: ignore[return-value]
        return PageReading(
            self.image if image is None else image, self.staff_space * factor,
            self.line_thickness * factor, self.skew, [box(b) for b in self.staves],
            [SystemBox(s.index, s.page, box(s.bbox)) for s in self.systems],
            list(self.staves_per_system), list(self.warnings))


@dataclass(frozen=True)
class NoteEvent:
    """One performed note.

    Attributes
    ----------
    onset : float
        Seconds from the start of the performance.
    duration : float
        Seconds.
    pitch : int
        MIDI pitch.
    velocity : int
        MIDI velocity, 1–127.
    notehead : str or None
        Id of the note head this event plays; a repeated passage gives several
        events with the same note head.  None for a note with no note head.

    Examples
    --------
    >>> event = NoteEvent(onset=1.5, duration=0.25, pitch=67, notehead="note-0007")
    >>> event.velocity, event.onset + event.duration
    (80, 1.75)
    >>> NoteEvent(2.0, 0.5, 60).notehead is None  # a note the score does not show
    True
    """

    onset: float
    duration: float
    pitch: int
    velocity: int = 80
    notehead: str | None = None


@dataclass
class RenderedScore:
    """What a :class:`~ast_toolkit.interfaces.Renderer` makes of one score.

    Attributes
    ----------
    pages : list of np.ndarray [shape=(height, width)], uint8
        Grayscale page images, 0 = black ink, 255 = white paper.
    noteheads : list of NoteHead
    systems : list of SystemBox
    events : list of NoteEvent
        Performed notes at the tempo the score was rendered for, sorted by onset.
    meta : dict
        Renderer name and version, tempo, and anything else worth recording.

    Examples
    --------
    >>> page = np.full((1181, 835), 255, np.uint8)  # one blank page, 835 pixels wide
    >>> head = NoteHead("note-0001", 0, 0, (212.0, 431.0, 224.0, 441.0), 67)
    >>> rendered = RenderedScore([page], [head], [SystemBox(0, 0, (38.0, 402.0, 797.0, 478.0))],
    ...                          [NoteEvent(0.0, 0.5, 67, notehead="note-0001")], {"qpm": 120})
    >>> len(rendered.pages), rendered.pages[0].shape, rendered.events[0].notehead
    (1, (1181, 835), 'note-0001')
    """

    pages: list[np.ndarray]
    noteheads: list[NoteHead]
    systems: list[SystemBox]
    events: list[NoteEvent]
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SnippetPair:
    """An aligned (sheet snippet, audio excerpt) pair.

    Attributes
    ----------
    sheet : np.ndarray [shape=(height, width)], float32
        Sheet-image snippet in pixels, values in [0, 1], 1 = ink.
    audio : np.ndarray [shape=(n_bins, n_frames)], float32
        Spectrogram excerpt.
    piece : str
        Piece id.
    notehead : str
        The note head at the snippet's centre.
    onset : float
        Seconds: the onset at the excerpt's centre.

    Examples
    --------
    >>> pair = SnippetPair(np.zeros((160, 200), np.float32), np.zeros((92, 42), np.float32),
    ...                    piece="altdeu10", notehead="note-0007", onset=1.5)
    >>> pair.sheet.shape, pair.audio.shape, pair.onset
    ((160, 200), (92, 42), 1.5)
    """

    sheet: np.ndarray
    audio: np.ndarray
    piece: str
    notehead: str
    onset: float


@dataclass(frozen=True)
class PairTable:
    """The aligned (sheet window, spectrogram excerpt) pairs of a split, one row each.

    What ``ast fit`` samples batches from and ``ast eval snippets`` takes
    candidates from; the dataset that made it cuts the arrays
    (:meth:`~ast_toolkit.interfaces.Dataset.batch`).

    Attributes
    ----------
    pieces : tuple of str [n_pairs]
        The piece of each pair.
    sheet_id : np.ndarray [shape=(n_pairs,)], int
        Pairs with the same sheet window (a repeated passage played twice)
        share an id: for retrieval they are each other's correct answers.
    columns : dict of str to np.ndarray [shape=(n_pairs, ...)]
        The dataset's own per-pair data (where to cut the window and the excerpt).

    Examples
    --------
    >>> t = PairTable(("a", "a", "b"), np.array([0, 0, 1]), {"x": np.array([10.0, 10.0, 40.0])})
    >>> len(t), t.take(np.array([2])).pieces
    (3, ('b',))
    """

    pieces: tuple[str, ...]
    sheet_id: np.ndarray
    columns: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.sheet_id)
        if len(self.pieces) != n or any(len(c) != n for c in self.columns.values()):
            raise ParameterError("a pair table's pieces, ids and columns must have one length")

    def __len__(self) -> int:
        return len(self.sheet_id)

    def take(self, index: np.ndarray) -> PairTable:
        """The rows ``index``, in that order."""
        index = np.asarray(index, dtype=np.int64)
        return PairTable(tuple(self.pieces[i] for i in index), self.sheet_id[index],
                         {k: v[index] for k, v in self.columns.items()})


@dataclass(frozen=True)
class Performance:
    """One performance of a piece (the audio side): its spectrogram and, when known, its notes.

    Attributes
    ----------
    name : str
        Its name within the piece (a rendition folder, a file).
    spectrogram : np.ndarray [shape=(n_bins, n_frames)]
        Frame ``i`` is centred at ``i / fps`` seconds.
    fps : float
        Frames per second.
    onsets : np.ndarray [shape=(n_notes,)], float
        Seconds of every performed note (empty for a recording without annotations).
    frames : np.ndarray [shape=(n_notes,)], int
        The spectrogram frame of each onset.
    noteheads : tuple of (str or None) [n_notes]
        The note head each note plays.
    pitches : np.ndarray [shape=(n_notes,)], int
        MIDI pitches.
    label : str
        For people: the soundfont and tempo, or the file.

    Examples
    --------
    >>> p = Performance("take1", np.zeros((92, 40), np.float32), 20.0)
    >>> p.duration
    2.0
    """

    name: str
    spectrogram: np.ndarray
    fps: float
    onsets: np.ndarray = field(default_factory=lambda: _EMPTY_F)
    frames: np.ndarray = field(default_factory=lambda: _EMPTY_I)
    noteheads: tuple[str | None, ...] = ()
    pitches: np.ndarray = field(default_factory=lambda: _EMPTY_I)
    label: str = ""

    @property
    def duration(self) -> float:
        """Seconds covered by the spectrogram."""
        return self.spectrogram.shape[1] / float(self.fps)


@dataclass(frozen=True)
class PieceSequence:
    """A whole piece as snippet sequences, for indexing and matching.

    A side the piece does not have (no score, no recording) is an empty array.

    Attributes
    ----------
    piece : str
        Piece id.
    sheet : np.ndarray [shape=(n_snippets, height, width)], float32
        Sheet snippets slid along the unrolled systems.
    sheet_positions : np.ndarray [shape=(n_snippets, 3)], float32
        ``(page, system, x)`` of each sheet snippet's centre, x in page pixels.
    audio : np.ndarray [shape=(n_excerpts, n_bins, n_frames)], float32
        Spectrogram excerpts slid over the recording.
    audio_times : np.ndarray [shape=(n_excerpts,)], float32
        Seconds at each excerpt's centre.
    duration : float
        Seconds of the performance the excerpts come from (0 without one).
    performance : str or None
        Its name (:attr:`Performance.name`).

    Examples
    --------
    >>> seq = PieceSequence("p", np.zeros((0, 160, 200), np.float32), np.zeros((0, 3), np.float32),
    ...                     np.zeros((5, 92, 42), np.float32), np.arange(5, dtype=np.float32) / 2)
    >>> seq.sides
    ('audio',)
    """

    piece: str
    sheet: np.ndarray
    sheet_positions: np.ndarray
    audio: np.ndarray
    audio_times: np.ndarray
    duration: float = 0.0
    performance: str | None = None

    @property
    def sides(self) -> tuple[str, ...]:
        """The modalities with at least one snippet: ``("sheet", "audio")``, or one of them."""
        return tuple(m for m, a in (("sheet", self.sheet), ("audio", self.audio)) if len(a))


class Collection:
    """The embedding sequences of indexed pieces, in one modality.

    Parameters
    ----------
    ids : sequence of str
        Piece ids, one per sequence.
    embeddings : np.ndarray [shape=(n_rows, dim)], float32
        L2-normalised rows of every piece, piece after piece, each in playing /
        reading order (a memory map is fine: it is read, never written).
    offsets : np.ndarray [shape=(n_pieces + 1,)], int
        Piece ``p`` owns rows ``offsets[p] .. offsets[p+1] - 1``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> pieces = Collection.from_mapping({"a": rng.normal(size=(3, 4)),
    ...                                   "b": rng.normal(size=(5, 4))})
    >>> len(pieces), pieces.dim, pieces.offsets.tolist(), pieces.sequence(pieces.index("b")).shape
    (2, 4, [0, 3, 8], (5, 4))
    >>> Collection(["a", "b"], np.zeros((8, 4), np.float32), [0, 3, 9])
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.ParameterError: offsets must rise from 0 to 8 rows in 3 steps
    """

    def __init__(self, ids, embeddings: np.ndarray, offsets: np.ndarray) -> None:
        self.ids = tuple(ids)
        self.embeddings = embeddings
        self.offsets = np.asarray(offsets, dtype=np.int64)
        if embeddings.ndim != 2:
            raise ParameterError(f"embeddings must be [n_rows, dim], got shape {embeddings.shape}")
        if (len(self.offsets) != len(self.ids) + 1 or self.offsets[0] != 0
                or self.offsets[-1] != len(embeddings) or (np.diff(self.offsets) < 0).any()):
            raise ParameterError(
                f"offsets must rise from 0 to {len(embeddings)} rows in {len(self.ids) + 1} steps")
        self._position = {pid: i for i, pid in enumerate(self.ids)}
        if len(self._position) != len(self.ids):
            raise ParameterError("piece ids must be unique")

    @classmethod
    def from_mapping(cls, mapping) -> Collection:
        """From ``{piece id: [n_rows, dim] embeddings}``."""
        ids = list(mapping)
        seqs = [np.asarray(mapping[k], dtype=np.float32) for k in ids]
        dim = seqs[0].shape[1] if seqs else 0
        emb = np.concatenate(seqs) if seqs else np.zeros((0, dim), np.float32)
        return cls(ids, emb, np.concatenate([[0], np.cumsum([len(x) for x in seqs])]))

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    @property
    def lengths(self) -> np.ndarray:
        """Rows of each piece: ``np.ndarray [shape=(n_pieces,)]``."""
        return np.diff(self.offsets)

    def index(self, piece: str) -> int:
        """Position of ``piece`` in :attr:`ids`; KeyError when it is not here."""
        return self._position[piece]

    def sequence(self, i: int) -> np.ndarray:
        """Rows of piece ``i``: ``np.ndarray [shape=(n, dim)]``."""
        return np.asarray(self.embeddings[self.offsets[i]:self.offsets[i + 1]], dtype=np.float32)

    def piece_of_rows(self) -> np.ndarray:
        """The piece of every row: ``np.ndarray [shape=(n_rows,)], int64``."""
        return np.repeat(np.arange(len(self.ids), dtype=np.int64), self.lengths)

    def subset(self, pieces) -> Collection:
        """The pieces at positions ``pieces`` (copied rows), in that order."""
        pieces = [int(i) for i in np.asarray(pieces, dtype=np.int64)]
        if not pieces:
            return Collection([], np.zeros((0, self.dim), np.float32), [0])
        return Collection.from_mapping({self.ids[i]: self.sequence(i) for i in pieces})


@dataclass(slots=True)
class Match:
    """One ranked answer of a :class:`~ast_toolkit.interfaces.Matcher`.

    Attributes
    ----------
    piece : str
        Piece id.
    score : float
        Higher is better (a cost is returned negated).
    start, end : int
        First and last matched row of the piece's indexed sequence; the index
        maps rows to ``(page, system, x)`` or to seconds.  -1 when the matcher
        did not locate the match (only beyond the first ten of a full ranking).
    path : np.ndarray [shape=(length, 2)], int or None
        ``(query row, piece row)`` pairs of an alignment, when the matcher
        computes one.

    Examples
    --------
    >>> match = Match("altdeu10", score=-0.31, start=4, end=17)
    >>> match
    Match(piece='altdeu10', score=-0.31, start=4, end=17)
    >>> match == Match("altdeu10", -0.31, 4, 17, path=np.zeros((14, 2), np.int64))  # path ignored
    True
    """

    piece: str
    score: float
    start: int = 0
    end: int = 0
    path: np.ndarray | None = field(default=None, compare=False, repr=False)
