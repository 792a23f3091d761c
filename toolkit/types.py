"""Plain data exchanged between plugins.

Units everywhere: seconds for time, frames for spectrogram columns, pixels for
image coordinates (origin top-left, x to the right, y down).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ParameterError

__all__ = [
    "BBox",
    "ScoreSource",
    "NoteHead",
    "SystemBox",
    "NoteEvent",
    "RenderedScore",
    "SnippetPair",
    "PieceSequence",
    "Collection",
    "Match",
]

#: A bounding box ``(x0, y0, x1, y1)`` in page pixels, ``x0 <= x1``, ``y0 <= y1``.
BBox = tuple[float, float, float, float]


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
    """

    index: int
    page: int
    bbox: BBox


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
    """

    onset: float
    duration: float
    pitch: int
    velocity: int = 80
    notehead: str | None = None


@dataclass
class RenderedScore:
    """What a :class:`~toolkit.interfaces.Renderer` makes of one score.

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
    """

    sheet: np.ndarray
    audio: np.ndarray
    piece: str
    notehead: str
    onset: float


@dataclass(frozen=True)
class PieceSequence:
    """A whole piece as two snippet sequences, for matching.

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
    """

    piece: str
    sheet: np.ndarray
    sheet_positions: np.ndarray
    audio: np.ndarray
    audio_times: np.ndarray


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
    """One ranked answer of a :class:`~toolkit.interfaces.Matcher`.

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
    """

    piece: str
    score: float
    start: int = 0
    end: int = 0
    path: np.ndarray | None = field(default=None, compare=False, repr=False)
