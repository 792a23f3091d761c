"""Abstract interfaces every ``ast`` plugin implements.

One entry-point group per interface (see :mod:`toolkit.plugins`).  Units: seconds
for time, frames for spectrogram columns, pixels for images.  Arrays are numpy
arrays so the core does not depend on any deep-learning framework.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .types import Collection, Match, NoteEvent, PieceSequence, RenderedScore, ScoreSource, SnippetPair

__all__ = ["Renderer", "Synthesizer", "Dataset", "Encoder", "Objective", "Matcher", "Metric"]


class Renderer(ABC):
    """Engraves a score: page images, note heads, systems and performed notes."""

    @abstractmethod
    def render(self, score: ScoreSource, *, qpm: float | None = None) -> RenderedScore:
        """Engrave ``score`` and perform it.

        Parameters
        ----------
        score : ScoreSource
            The piece to render.
        qpm : float or None
            Tempo of the performed note events in quarter notes per minute; None
            uses the score's own tempo marking (the renderer documents its default
            when the score has none).

        Returns
        -------
        RenderedScore
            Pages, note heads (id, page, system, bbox), systems (page, bbox), and
            note events whose ``notehead`` names the note head they play.
        """


class Synthesizer(ABC):
    """Turns performed note events into a waveform."""

    #: Samples per second of the returned audio.
    sample_rate: int

    @abstractmethod
    def synthesize(
        self,
        events: Sequence[NoteEvent],
        *,
        soundfont: str | None = None,
        tempo_factor: float = 1.0,
    ) -> np.ndarray:
        """Play ``events``.

        Parameters
        ----------
        events : sequence of NoteEvent
            Onsets and durations in seconds.
        soundfont : str or None
            Instrument sound set (name or path); None uses the plugin's default.
        tempo_factor : float
            > 1 plays faster: onsets and durations are divided by it.

        Returns
        -------
        np.ndarray [shape=(n_samples,)], float32
            Mono audio at :attr:`sample_rate`, in [-1, 1].
        """

    def check_soundfont(self, soundfont: str) -> None:
        """Raise a :class:`~toolkit.errors.ToolkitError` if ``soundfont`` cannot be used.

        Called once per soundfont before a long run, so a typo fails at once
        rather than on every piece.  The default accepts everything.
        """


class Dataset(ABC):
    """A collection of rendered pieces with train / valid / test splits."""

    #: The splits a dataset knows.
    SPLITS: ClassVar[tuple[str, ...]] = ("train", "valid", "test")

    @abstractmethod
    def piece_ids(self, split: str | None = None) -> list[str]:
        """Ids of the pieces in ``split`` (every piece when None), sorted."""

    @abstractmethod
    def pairs(self, split: str, **options: Any) -> Iterator[SnippetPair]:
        """Aligned (sheet snippet, audio excerpt) pairs, one per performed onset."""

    @abstractmethod
    def sequence(self, piece: str, **options: Any) -> PieceSequence:
        """Piece ``piece`` as sheet and audio snippet sequences, for matching."""

    def validate(self) -> tuple[list[str], list[str]]:
        """Check files against the checksums on record.

        Returns
        -------
        missing, corrupt : list of str
            Relative paths of missing files and of files whose checksum differs.
        """
        return [], []


class Encoder(ABC):
    """Two pathways embedding sheet snippets and spectrogram excerpts into one space."""

    #: Plugin name, recorded in saved models.
    name: ClassVar[str] = ""
    #: Sheet window ``(height, width)`` in pixels that :meth:`embed_sheet` takes.
    sheet_window: tuple[int, int]
    #: Sheet input ``(height, width)`` in pixels, after the encoder's own resizing.
    sheet_shape: tuple[int, int]
    #: Audio input ``(n_bins, n_frames)``.
    audio_shape: tuple[int, int]
    #: Dimension of the shared embedding space.
    dim: int

    @abstractmethod
    def embed_sheet(self, images: np.ndarray) -> np.ndarray:
        """Embed sheet snippets.

        Parameters
        ----------
        images : np.ndarray [shape=(n, height, width)], float32
            Windows of :attr:`sheet_window` pixels, values in [0, 1], 1 = ink.

        Returns
        -------
        np.ndarray [shape=(n, dim)], float32
            L2-normalised rows.
        """

    @abstractmethod
    def embed_audio(self, spectrograms: np.ndarray) -> np.ndarray:
        """Embed spectrogram excerpts.

        Parameters
        ----------
        spectrograms : np.ndarray [shape=(n, n_bins, n_frames)], float32

        Returns
        -------
        np.ndarray [shape=(n, dim)], float32
            L2-normalised rows.
        """

    @abstractmethod
    def save(self, path: Path) -> None:
        """Write configuration and weights to the folder ``path``."""

    @classmethod
    @abstractmethod
    def load(cls, path: Path) -> Encoder:
        """Read an encoder written by :meth:`save`."""


class Objective(ABC):
    """A training objective on the two pathways' outputs (framework tensors).

    The interface stays framework-free; the bundled objectives are torch modules
    (learnable parameters such as a temperature are trained with the encoder).
    """

    #: Plugin name.
    name: ClassVar[str] = ""
    #: How the objective uses a CCA projection head on the encoder: ``"none"``;
    #: ``"train"`` — a CCA layer inside the model during training (seed 003);
    #: ``"refit"`` — CCA fitted on a large training sample after training (seed 001).
    #: Either way the trainer refits the head on a large sample at the end.
    cca: ClassVar[str] = "none"

    @abstractmethod
    def loss(self, sheet: Any, audio: Any) -> Any:
        """Scalar loss of a batch.

        Parameters
        ----------
        sheet, audio : tensor [shape=(n, dim)]
            Row ``i`` of both is an aligned pair; the other rows are negatives.
            After the CCA layer when :attr:`cca` is ``"train"``; not normalised.
        """


class Matcher(ABC):
    """Ranks indexed pieces for a query embedding sequence.

    The collection holds one modality (sheet snippets or audio excerpts) and
    the query is usually the other: audio -> score (A2S) or score -> audio
    (S2A).  Scores are comparable within one query only.
    """

    #: Plugin name.
    name: ClassVar[str] = ""
    #: How many answers of a full ranking (``top=None``) are located (start, end, path).
    LOCATED: ClassVar[int] = 10

    @abstractmethod
    def fit(self, collection: Collection) -> None:
        """Index a collection (embedding sequences in playing / reading order)."""

    @abstractmethod
    def match(self, query: np.ndarray, *, top: int | None = 10,
              candidates: Sequence[int] | None = None, rate: float = 1.0) -> list[Match]:
        """Rank the indexed pieces for ``query``.

        Parameters
        ----------
        query : np.ndarray [shape=(n_rows, dim)], float32
            The query's embedding sequence, L2-normalised rows.
        top : int or None
            How many pieces to return; None ranks every (candidate) piece, and
            only the first :attr:`LOCATED` are then located.
        candidates : sequence of int or None
            Positions in the collection of the only pieces to score (a
            prefilter's shortlist); None scores every piece.
        rate : float
            Collection rows expected per query row: the two modalities are
            sampled at different rates (an audio excerpt every 0.5 s, a sheet
            window every 50 px).  Matchers that warp time may ignore it.

        Returns
        -------
        list of Match
            Best first.
        """


class Metric(ABC):
    """A stateful metric in the torchmetrics style.

    A subclass declares its state with :meth:`add_state` in ``__init__`` and
    implements :meth:`update` and :meth:`compute`; the base class owns
    :meth:`reset` and :meth:`merge`.  Every metric has a plain-function twin.
    """

    #: Whether a larger value is better.
    higher_is_better: ClassVar[bool] = True

    def __init__(self) -> None:
        self._defaults: dict[str, list] = {}

    def add_state(self, name: str, default: list) -> None:
        """Declare a list state ``name``; :meth:`reset` restores ``default``."""
        if not hasattr(self, "_defaults"):
            self._defaults = {}
        self._defaults[name] = copy.deepcopy(default)
        setattr(self, name, copy.deepcopy(default))

    @abstractmethod
    def update(self, *args: Any, **kwargs: Any) -> None:
        """Accumulate a batch."""

    @abstractmethod
    def compute(self) -> float:
        """The metric over everything accumulated since the last :meth:`reset`."""

    def reset(self) -> None:
        """Forget everything accumulated."""
        for name, default in self._defaults.items():
            setattr(self, name, copy.deepcopy(default))

    def merge(self, other: Metric) -> None:
        """Add ``other``'s accumulated state (e.g. from another worker) to this one."""
        if type(other) is not type(self):
            raise TypeError(f"cannot merge {type(other).__name__} into {type(self).__name__}")
        for name in self._defaults:
            getattr(self, name).extend(getattr(other, name))

    def __call__(self, *args: Any, **kwargs: Any) -> float:
        """Update with one batch and return the metric over everything so far."""
        self.update(*args, **kwargs)
        return self.compute()
