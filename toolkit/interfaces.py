"""Abstract interfaces every ``ast`` plugin implements.

One entry-point group per interface (see :mod:`ast_toolkit.plugins`).  Units: seconds
for time, frames for spectrogram columns, pixels for images.  Arrays are numpy
arrays so the core does not depend on any deep-learning framework.
"""

from __future__ import annotations

import copy
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .errors import ParameterError
from .types import (Collection, Match, NoteEvent, NoteHead, PageReading, PairTable, Performance,
                    PieceSequence, RenderedScore, ScoreSource, SpectrogramSpec, SystemBox)

__all__ = ["Renderer", "Synthesizer", "Reader", "Dataset", "Encoder", "Objective", "Matcher", "Metric",
           "Importer", "ImportedModel", "Augmentation"]


class Renderer(ABC):
    """Engraves a score: page images, note heads, systems and performed notes.

    Parameters
    ----------
    page_width : int
        Width of the page images in pixels (MSMD: 835).
    staff_space : float
        Distance between two staff lines in page pixels: the engraving scale
        (MSMD, LilyPond's default 20-pt staff at 150 dpi resized to 835 px:
        about 7; see :data:`ast_toolkit.catalog.PRESETS`).

    The core passes both (keywords) from a dataset's render settings; a plugin
    takes its own settings as further keywords and calls
    ``super().__init__(page_width=..., staff_space=...)``.

    Examples
    --------
    >>> from ast_toolkit import plugins
    >>> renderer = plugins.create("renderers", "verovio", page_width=835, staff_space=7.0)
    >>> renderer.page_width, renderer.staff_space
    (835, 7.0)
    """

    def __init__(self, *, page_width: int = 835, staff_space: float = 7.0) -> None:
        if isinstance(page_width, bool) or not isinstance(page_width, int) or page_width < 100:
            raise ParameterError(f"page_width must be an integer >= 100 pixels, got {page_width!r}")
        if isinstance(staff_space, bool) or not isinstance(staff_space, (int, float)) \
                or not 2.0 <= staff_space <= page_width / 20:
            raise ParameterError(f"staff_space must be between 2 and {page_width / 20:g} pixels "
                                 f"(page width / 20), got {staff_space!r}")
        #: Width of the page images in pixels.
        self.page_width = int(page_width)
        #: Distance between staff lines in page pixels.
        self.staff_space = float(staff_space)
        #: Most note heads a score may have: a renderer refuses a larger one (a
        #: :class:`RenderError`) as soon as it has counted them, before engraving
        #: (``ast data render --max-notes`` sets it; the core checks it again after).
        self.max_notes: int = 20_000

    def prepare(self) -> None:
        """Load what every score needs (libraries, fonts) once, before ``ast data
        render`` forks a worker per piece, so that no worker loads it again.
        The default does nothing."""

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
            Pages (``page_width`` pixels wide), note heads (id, page, system,
            bbox), systems (page, bbox), and note events whose ``notehead``
            names the note head they play.

        Raises
        ------
        RenderError
            The score cannot be read, the engraver fails, or it takes too long.
        """


class Synthesizer(ABC):
    """Turns performed note events into a waveform.

    Parameters
    ----------
    sample_rate : int
        Samples per second of the audio :meth:`synthesize` returns (MSMD:
        22,050).
    program : int
        General MIDI program of the instrument (0 = acoustic grand piano).
    gain : float
        Output level as FluidSynth's master gain (linear; MSMD: 0.2, FluidSynth's
        default).  A synthesizer of another kind scales its output so that
        the same gain gives about the same level.

    The core passes the three (keywords) from a dataset's synthesis settings;
    a plugin takes its own settings as further keywords and calls
    ``super().__init__(sample_rate=..., program=..., gain=...)``.

    Examples
    --------
    >>> from ast_toolkit import plugins
    >>> synth = plugins.create("synthesizers", "fluidsynth", sample_rate=16000, program=0, gain=0.2)
    >>> synth.sample_rate, synth.program, synth.gain
    (16000, 0, 0.2)
    """

    def __init__(self, *, sample_rate: int = 22050, program: int = 0, gain: float = 0.2) -> None:
        if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not 0 < gain <= 10:
            raise ParameterError(f"gain must be a number in (0, 10], got {gain!r}")
        #: Output level (FluidSynth's master gain).
        self.gain = float(gain)
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) \
                or not 8000 <= sample_rate <= 96000:
            raise ParameterError(f"sample_rate must be an integer in 8000..96000 Hz, got {sample_rate!r}")
        if isinstance(program, bool) or not isinstance(program, int) or not 0 <= program <= 127:
            raise ParameterError(f"program must be a General MIDI program 0..127, got {program!r}")
        #: Samples per second of the returned audio.
        self.sample_rate = int(sample_rate)
        #: General MIDI program.
        self.program = int(program)

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
            Mono audio at :attr:`sample_rate`, in [-1, 1]; sample
            ``round(onset / tempo_factor * sample_rate)`` is where a note starts.

        Raises
        ------
        RenderError
            The synthesizer fails.
        """

    def check_soundfont(self, soundfont: str) -> None:
        """Raise a :class:`~ast_toolkit.errors.ToolkitError` if ``soundfont`` cannot be used.

        Called once per soundfont before a long run, so a typo fails at once
        rather than on every piece.  The default accepts everything.
        """


class Reader(ABC):
    """Reads the layout of a page image of printed music: staff space, skew, staves, systems.

    A reader is what lets ``ast`` take a user's scans, photos and PDFs: it
    finds the same system geometry that the renderers produce for their own
    pages, so cutting windows, embedding, indexing and matching are shared.
    It never guesses: a page it cannot trust (no staves, strong perspective,
    a resolution too coarse to see staff lines) raises :class:`SheetError`
    with the reason.

    Examples
    --------
    >>> from ast_toolkit import plugins
    >>> reader = plugins.create("readers", "classical")
    >>> reader.read(np.full((1200, 900), 255, np.uint8), page=0)
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.SheetError: the page is blank (no ink)
    """

    @abstractmethod
    def read(self, image: np.ndarray, *, page: int = 0) -> PageReading:
        """Find the staves and systems of ``image``.

        Parameters
        ----------
        image : np.ndarray [shape=(height, width)], uint8
            A grayscale page, 255 = paper, at the resolution it was scanned at
            (orientation already applied).
        page : int
            The page number recorded in the systems.

        Returns
        -------
        PageReading
            Coordinates in pixels of the corrected page it holds.

        Raises
        ------
        SheetError
            The page cannot be read with confidence; the message says why.
        """


class Dataset(ABC):
    """A collection of pieces — each with a sheet side, an audio side, or both — in splits.

    The core uses a dataset only through this interface: :meth:`piece_ids`
    and :meth:`sequence` to index and match pieces (``ast index``, ``ast
    match``, ``ast eval pieces``); :meth:`pair_table` and :meth:`batch` to
    train and evaluate on aligned snippet pairs (``ast fit``, ``ast eval
    snippets``); the page, system, note-head and performance accessors for
    pictures; :meth:`validate` and :meth:`stats` for ``ast data``.  A folder
    names the plugin that reads it in its ``dataset.json`` (``"plugin"``);
    :func:`ast_toolkit.data.datasets.open_dataset` opens it with that plugin.

    A plugin must implement :attr:`spectrogram`, :meth:`piece_ids` and
    :meth:`sequence`; the other methods have defaults that say the dataset
    has no such data (no aligned pairs, no pages, no performances).

    Parameters
    ----------
    root : path
        The dataset folder.
    sheet_window : (int, int)
        Sheet window ``(height, width)`` in pixels that the encoder takes
        (MSMD: 160 × 200); the core passes the encoder's.
    audio_context : int
        Spectrogram excerpt length in frames (42 = 2.1 s at 20 frames/s); the
        core passes the encoder's.

    Attributes
    ----------
    root : Path
    name : str
        The dataset's name (its registry name, or the folder's).
    sheet_window : (int, int)
    audio_context : int

    Examples
    --------
    >>> from ast_toolkit import plugins
    >>> from ast_toolkit.data.datasets import open_dataset
    >>> encoder = plugins.create("encoders", "cnn")  # doctest: +SKIP
    >>> dataset = open_dataset("data/demo", encoder=encoder)  # doctest: +SKIP
    >>> seq = dataset.sequence(dataset.piece_ids("test")[0])  # doctest: +SKIP
    >>> seq.sides, seq.sheet.shape[1:], seq.audio.shape[1:]  # doctest: +SKIP
    (('sheet', 'audio'), (160, 200), (92, 42))
    """

    #: The splits a dataset knows.
    SPLITS: ClassVar[tuple[str, ...]] = ("train", "valid", "test")
    #: Pixels between staff lines on the dataset's pages, when it knows (a model
    #: records it, and a user's scans are rescaled to it); None: unknown.
    staff_space: float | None = None
    #: Page pixels kept left and right of each system when windows are cut.
    system_margin: int = 0
    #: The on-disk format this plugin reads when it reads one that the toolkit
    #: writes (``ast_toolkit.data.build.FORMAT``); None for a format of its own.
    reads: ClassVar[str | None] = None

    def __init__(self, root: str | Path, *, sheet_window: tuple[int, int] = (160, 200),
                 audio_context: int = 42) -> None:
        if len(sheet_window) != 2 or min(sheet_window) < 1:
            raise ParameterError(f"sheet_window must be (height, width) > 0 pixels, got {sheet_window}")
        if audio_context < 1:
            raise ParameterError(f"audio_context must be >= 1 frame, got {audio_context}")
        self.root = Path(root)
        self.name = self.root.name
        self.sheet_window = (int(sheet_window[0]), int(sheet_window[1]))
        self.audio_context = int(audio_context)

    # -- what every dataset has --------------------------------------------------------

    @property
    @abstractmethod
    def spectrogram(self) -> SpectrogramSpec:
        """The settings of the dataset's spectrograms (a query recording gets the same)."""

    @abstractmethod
    def piece_ids(self, split: str | None = None) -> list[str]:
        """Ids of the pieces in ``split`` (every piece when None), sorted."""

    @abstractmethod
    def sequence(self, piece: str, *, sheet_hop: int = 50, audio_hop: int = 10,
                 performance: str | None = None) -> PieceSequence:
        """Piece ``piece`` as snippet sequences, for indexing and matching.

        Parameters
        ----------
        piece : str
            A piece id.
        sheet_hop : int
            Pixels between sheet windows along the unrolled systems.
        audio_hop : int
            Frames between spectrogram excerpts.
        performance : str or None
            Which performance (:meth:`performances`); None takes the first.

        Returns
        -------
        PieceSequence
            :attr:`sheet_window` windows and :attr:`audio_context`-frame
            excerpts, with what each is (page, system, x or seconds); a side
            the piece lacks is empty.
        """

    def source(self, piece: str) -> str:
        """The file or folder a piece comes from, named in messages about it."""
        return str(self.root)

    def notes(self, piece: str) -> list[str]:
        """What was skipped or corrected while reading ``piece`` (e.g. a page without
        staves), after :meth:`sequence`; recorded beside it in an index.  Default: none."""
        return []

    def split_of(self, piece: str) -> str:
        """The split ``piece`` belongs to."""
        for split in self.SPLITS:
            if piece in self.piece_ids(split):
                return split
        raise ParameterError(f"{self.root}: no piece {piece!r}")

    # -- aligned pairs, for training and snippet retrieval --------------------------------

    def pair_table(self, split: str) -> PairTable:
        """The aligned (sheet window, spectrogram excerpt) pairs of ``split``.

        The default: the dataset has none (it cannot train a model).
        """
        raise ParameterError(f"{self.root}: a {type(self).__name__} has no aligned sheet/audio "
                             "pairs to train or evaluate snippets on")

    def batch(self, table: PairTable, rows: np.ndarray | None = None, *,
              rng: np.random.Generator | None = None,
              audio_jitter: int = 0, extent: tuple[int, int] | None = None,
              variants: Mapping[tuple[str, str], Sequence[np.ndarray]] | None = None,
              ) -> tuple[np.ndarray, np.ndarray]:
        """The arrays of some pairs of ``table``.

        Parameters
        ----------
        table : PairTable
            From :meth:`pair_table`.
        rows : np.ndarray [shape=(n,)], int or None
            Rows of ``table``; None takes every row.
        rng : np.random.Generator or None
            With a generator, each pair may take a random performance and its
            onset may move by up to ``audio_jitter`` frames (augmentation);
            without one the result is deterministic.
        audio_jitter : int
            Largest onset shift in frames.
        extent : (int, int) or None
            Cut excerpts of ``before + after`` frames with the onset at column
            ``before`` instead of :attr:`audio_context` frames about it (wider
            excerpts for audio augmentations that read beyond the excerpt).
        variants : mapping or None
            ``(piece, performance)`` -> extra spectrograms of that performance
            with its timing (rendition augmentations); with a generator a pair
            draws from the performance and its variants alike.

        Returns
        -------
        sheets : np.ndarray [shape=(n, height, width)], float32
            :attr:`sheet_window` windows, ink in [0, 1].
        audio : np.ndarray [shape=(n, n_bins, audio_context)], float32
        """
        raise ParameterError(f"{self.root}: a {type(self).__name__} has no aligned pairs")

    def performance_audio(self, piece: str, name: str) -> tuple[np.ndarray, int, list[NoteEvent]]:
        """The waveform of performance ``name`` of ``piece``, its sample rate and the notes it
        plays (for rendition augmentations); the default: the dataset keeps no audio."""
        raise ParameterError(f"{self.root}: a {type(self).__name__} keeps no audio of its "
                             "performances to make variants of")

    # -- what pictures draw -----------------------------------------------------------------

    def pages(self, piece: str) -> int:
        """How many score pages ``piece`` has (0: no sheet side)."""
        return 0

    def page(self, piece: str, index: int) -> np.ndarray:
        """Page ``index`` (0-based): ``np.ndarray [shape=(height, width)], uint8``, 255 = paper."""
        raise ParameterError(f"piece {piece!r} has no score pages in {self.root}")

    def systems(self, piece: str) -> list[SystemBox]:
        """The piece's systems in reading order (empty: no sheet side)."""
        return []

    def noteheads(self, piece: str) -> list[NoteHead]:
        """The piece's note heads, when the dataset knows them."""
        return []

    def performances(self, piece: str) -> list[str]:
        """Names of the piece's performances (empty: no audio side)."""
        return []

    def performance(self, piece: str, name: str | None = None) -> Performance:
        """One performance of ``piece`` (None: the first)."""
        raise ParameterError(f"piece {piece!r} has no performances in {self.root}")

    # -- integrity and counts -----------------------------------------------------------------

    def validate(self) -> tuple[list[str], list[str]]:
        """Check files against the checksums on record.

        Returns
        -------
        missing, corrupt : list of str
            Relative paths of missing files and of files whose checksum
            differs; the default knows no checksums and reports nothing.
        """
        return [], []

    def stats(self) -> dict[str, dict[str, float]]:
        """Pieces, pages, note heads, performances, pairs and hours of audio per split.

        ``"all"`` sums the splits.  The default counts through the accessors
        above (a plugin may count faster from its own files).
        """
        stats: dict[str, dict[str, float]] = {}
        for split in self.SPLITS:
            ids = self.piece_ids(split)
            if not ids:
                continue
            row = dict(pieces=0, pages=0, noteheads=0, renditions=0, pairs=0, hours=0.0)
            for piece in ids:
                row["pieces"] += 1
                row["pages"] += self.pages(piece)
                row["noteheads"] += len(self.noteheads(piece))
                for name in self.performances(piece):
                    perf = self.performance(piece, name)
                    row["renditions"] += 1
                    row["pairs"] += sum(1 for n in perf.noteheads if n is not None)
                    row["hours"] += perf.duration / 3600.0
            stats[split] = row
        if stats:
            stats["all"] = {k: sum(r[k] for r in stats.values()) for k in next(iter(stats.values()))}
        return stats


class Encoder(ABC):
    """Two pathways embedding sheet snippets and spectrogram excerpts into one space.

    Examples
    --------
    >>> from ast_toolkit import plugins
    >>> encoder = plugins.create("encoders", "cnn", filters=[8, 16, 16, 16])
    >>> sheet = encoder.embed_sheet(np.zeros((3, 160, 200), np.float32))  # sheet_window
    >>> audio = encoder.embed_audio(np.zeros((3, 92, 42), np.float32))  # audio_shape
    >>> sheet.shape, audio.shape, encoder.dim
    ((3, 32), (3, 32), 32)
    >>> bool(np.allclose(np.linalg.norm(audio, axis=1), 1.0))
    True
    """

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


class Augmentation(ABC):
    """A random change to training snippets that the world makes to real ones (``ast fit --augment``).

    An augmentation acts on one :attr:`modality` at one :attr:`stage`:

    * ``"batch"`` — on every batch, vectorised over its samples
      (:meth:`apply`): sheet windows ``[n, 1, height, width]`` with ink in
      [0, 1], or spectrogram excerpts ``[n, 1, n_bins, frames]`` in the
      dataset's ``log10(1 + magnitude)`` scale whose centre column is the
      onset frame.  An audio augmentation that needs frames beyond the
      excerpt (a tempo change reads further, a reverberation tail reads the
      past) says how many in :meth:`extent`; the trainer cuts wider excerpts
      and crops the result to the encoder's context.
    * ``"rendition"`` — once per training rendition, before training, on its
      waveform and notes (:meth:`vary`): a lossy codec, another instrument.
      The result is a variant of that rendition with the same onset frames;
      the trainer caches variants in the model folder and draws from them as
      from any rendition.

    Settings are a frozen dataclass, :attr:`Config`, checked by name and type
    (``--augment-param NAME.KEY=VALUE``); every augmentation has ``p``, the
    probability that a sample is changed.  The same generator gives the same
    result.

    Examples
    --------
    >>> import torch
    >>> from ast_toolkit import plugins
    >>> rotate = plugins.create("augmentations", "rotate", p=1.0, degrees=4.0)
    >>> rotate.modality, rotate.stage
    ('sheet', 'batch')
    >>> out = rotate.apply(torch.zeros(3, 1, 160, 200), np.random.default_rng(0))
    >>> tuple(out.shape)
    (3, 1, 160, 200)
    """

    #: Plugin name.
    name: ClassVar[str] = ""
    #: ``"sheet"`` or ``"audio"``.
    modality: ClassVar[str] = ""
    #: ``"batch"`` or ``"rendition"``.
    stage: ClassVar[str] = "batch"
    #: The settings (a frozen dataclass with at least ``p``).
    Config: ClassVar[type]

    def __init__(self, **params: Any) -> None:
        from .config import make_config

        self.config = make_config(self.Config, params, what=f"augmentation {self.name!r}")
        p = getattr(self.config, "p", None)
        if p is None or not 0.0 <= float(p) <= 1.0:
            raise ParameterError(f"augmentation {self.name!r}: p must be a probability in [0, 1], "
                                 f"got {p!r}")
        self.spectrogram: SpectrogramSpec | None = None

    def setup(self, *, spectrogram: SpectrogramSpec | None = None) -> None:
        """Called once before training with the dataset's spectrogram settings (for
        augmentations that need bin frequencies or the frame rate)."""
        self.spectrogram = spectrogram

    def extent(self, before: int, after: int) -> tuple[int, int]:
        """Frames of input needed before and after the centre for ``before`` /
        ``after`` frames of valid output (audio ``batch`` augmentations)."""
        return before, after

    def chosen(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Which of ``n`` samples to change (each with probability ``p``)."""
        return rng.random(n) < float(self.config.p)

    def apply(self, x: Any, rng: np.random.Generator) -> Any:
        """Change a batch (``stage == "batch"``); returns a tensor of the same shape."""
        raise NotImplementedError(f"augmentation {self.name!r} works on renditions (vary)")

    def vary(self, audio: np.ndarray, sample_rate: int, events: Sequence[NoteEvent],
             rng: np.random.Generator) -> np.ndarray:
        """A variant of one rendition's waveform (``stage == "rendition"``).

        Parameters
        ----------
        audio : np.ndarray [shape=(n_samples,)], float32
        sample_rate : int
        events : sequence of NoteEvent
            The notes it plays, in its seconds.
        rng : np.random.Generator

        Returns
        -------
        np.ndarray [shape=(n_samples,)], float32
            Same length and timing: onsets stay where they were.
        """
        raise NotImplementedError(f"augmentation {self.name!r} works on batches (apply)")


class Objective(ABC):
    """A training objective on the two pathways' outputs (framework tensors).

    The interface stays framework-free; the bundled objectives are torch modules
    (learnable parameters such as a temperature are trained with the encoder).

    Examples
    --------
    >>> import torch
    >>> from ast_toolkit import plugins
    >>> objective = plugins.create("objectives", "ranking", margin=0.7)
    >>> pairs = torch.eye(4)  # row i of both pathways: an aligned pair
    >>> float(objective.loss(pairs, pairs)), objective.cca
    (0.0, 'none')
    >>> round(float(objective.loss(pairs, pairs.flip(0))), 2)  # every pair mismatched
    6.2
    """

    #: Plugin name.
    name: ClassVar[str] = ""
    #: How the objective uses a CCA projection head on the encoder: ``"none"``;
    #: ``"train"`` — a CCA layer inside the model during training
    #: (:data:`~ast_toolkit.references.DORFER2018_IJMIR`);
    #: ``"refit"`` — CCA fitted on a large training sample after training
    #: (:data:`~ast_toolkit.references.DORFER2016`).
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

    Examples
    --------
    >>> from ast_toolkit import plugins
    >>> x = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    >>> x /= np.linalg.norm(x, axis=1, keepdims=True)
    >>> matcher = plugins.create("matchers", "dtw")
    >>> matcher.fit(Collection.from_mapping({"a": x[:20], "b": x[20:]}))
    >>> [(m.piece, m.start, m.end) for m in matcher.match(x[25:45], top=2)]
    [('b', 0, 29), ('a', 0, 19)]
    """

    #: Plugin name.
    name: ClassVar[str] = ""
    #: How many answers of a full ranking (``top=None``) are located (start, end, path).
    LOCATED: ClassVar[int] = 10
    #: Hyper-parameters this matcher takes when it is the prefilter of another
    #: (``dtw+vote:100``), unless the user sets them: a prefilter must keep the
    #: true piece on its shortlist, which may need other settings than ranking.
    prefilter_params: ClassVar[dict[str, Any]] = {}

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

    Examples
    --------
    >>> from ast_toolkit import plugins
    >>> mrr = plugins.create("metrics", "mrr")
    >>> mrr([0.9, 0.2], [True, False], [0, 0])  # query 0: the relevant piece first
    1.0
    >>> mrr([0.9, 0.2], [False, True], [1, 1])  # query 1: second; the mean of 1 and 1/2
    0.75
    >>> mrr.reset()
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


@dataclass(frozen=True)
class ImportedModel:
    """A model read from another code base's checkpoint by an :class:`Importer`.

    Attributes
    ----------
    encoder : Encoder
        The encoder plugin instance, weights loaded; it must be able to save
        itself as a model folder (``save(path, extra=...)``, as
        :class:`ast_toolkit.learn.encoder.TorchEncoder` does).
    dataset : dict
        What it was trained on, as ``config.json`` records it: at least
        ``name`` and ``spectrogram`` (a :class:`SpectrogramSpec` as a dict),
        and the data ``preset`` its inputs match.
    source : dict
        Where the weights come from: paper, code, licence, notes.
    """

    encoder: Encoder
    dataset: dict[str, Any]
    source: dict[str, Any]


class Importer(ABC):
    """Reads a model checkpoint written by another code base (``ast model import --format NAME``).

    An importer maps the checkpoint's layout onto an installed encoder plugin
    and refuses — never silently skips — a key it does not map, a tensor of
    another shape, or a file that is not such a checkpoint, with a message
    naming the file and the key.

    Examples
    --------
    >>> from ast_toolkit import plugins
    >>> importer = plugins.create("importers", "ucasr")
    >>> importer.read("no/such/file.pt")
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.IntegrityError: no/such/file.pt: no such file
    """

    @abstractmethod
    def read(self, file: str | os.PathLike) -> ImportedModel:
        """Read ``file`` into an encoder with its weights.

        Raises
        ------
        IntegrityError
            Not a readable checkpoint of this format; the message names the
            file and what is wrong (a missing or unknown key, a shape).
        """
