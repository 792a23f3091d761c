"""The layout of every JSON file the toolkit writes into its folders.

One place lists what each internal file holds and with which types; every
such file is read through :func:`ast_toolkit.io.read_json` with its schema
here, so a damaged or hand-edited file gives one error naming the file, the
field and the type expected — never a traceback deep inside the code that uses
it.  Validation is pydantic's (strict: no silent coercion of ``"3"`` to 3),
over ``TypedDict`` classes: a file may hold more keys than listed (newer
toolkits add some); the listed ones must have the listed types.

Examples
--------
>>> import tempfile, json
>>> from pathlib import Path
>>> from ast_toolkit.io import read_json
>>> path = Path(tempfile.mkdtemp()) / "rendition.json"
>>> _ = path.write_text(json.dumps({"soundfont": "TimGM6mb", "tempo": "fast", "sample_rate": 22050,
...     "fps": 20.0, "n_frames": 10, "duration": 0.5, "events": []}))
>>> read_json(path, schema=Rendition)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ast_toolkit.errors.IntegrityError: .../rendition.json: field 'tempo': Input should be a valid number (got 'fast')
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from typing_extensions import NotRequired, TypedDict  # pydantic needs these before Python 3.12

from pydantic import Field, FiniteFloat

__all__ = [
    "DatasetMeta", "RenderedDatasetMeta", "Manifest", "ManifestPiece", "Failures", "Checksums",
    "Score", "Rendition", "ModelConfig", "IndexMeta", "IndexSettings", "IndexPiece",
]

Count = Annotated[int, Field(ge=0)]
Seconds = Annotated[FiniteFloat, Field(ge=0)]
Pitch = Annotated[int, Field(ge=-1, le=127)]  # -1: a note head the engraver could not pitch
Split = Literal["train", "valid", "test"]
Hex64 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


Positive = Annotated[FiniteFloat, Field(gt=0)]
PositiveInt = Annotated[int, Field(gt=0)]


class SpectrogramSettings(TypedDict):
    """A recorded :class:`~ast_toolkit.types.SpectrogramSpec` (older folders lack some keys)."""

    sample_rate: NotRequired[PositiveInt]
    frame_size: NotRequired[PositiveInt]
    fps: NotRequired[Positive]
    bands_per_octave: NotRequired[PositiveInt]
    fmin: NotRequired[Positive]
    fmax: NotRequired[Positive]
    frame_origin: NotRequired[Literal["start", "centre"]]
    onset_frame: NotRequired[Literal["ceil", "round"]]


class SnippetSettings(TypedDict):
    system_margin: NotRequired[Count]
    pairs: NotRequired[Literal["msmd", "onsets"]]


class DatasetRecord(TypedDict):
    """The settings a dataset folder was made with (``dataset.json``'s ``spec``)."""

    name: str
    spectrogram: NotRequired[SpectrogramSettings]
    snippets: NotRequired[SnippetSettings | None]


class TrainedOn(TypedDict):
    """What a model records of its training data."""

    spectrogram: NotRequired[SpectrogramSettings]
    #: the page scale (a user's scans are rescaled to it)
    staff_space: NotRequired[Annotated[float, Field(gt=0)]]
    system_margin: NotRequired[Annotated[int, Field(ge=0)]]


# --- dataset folders ------------------------------------------------------------------

class DatasetMeta(TypedDict):
    """``dataset.json`` of any dataset folder: which plugin reads it."""

    plugin: NotRequired[str]
    format: NotRequired[str]
    name: NotRequired[str]


class RenderedDatasetMeta(TypedDict):
    """``dataset.json`` of a folder made by ``ast data render``."""

    format: NotRequired[str]  # folders from before it was recorded lack it
    format_version: int
    plugin: NotRequired[str]
    name: str
    toolkit_version: NotRequired[str]
    spec: DatasetRecord


class ManifestPiece(TypedDict):
    id: Annotated[str, Field(min_length=1)]
    folder: Annotated[str, Field(pattern=r"^pieces/[^/\\]+$")]
    split: Split
    file: str
    number: int | None


class Manifest(TypedDict):
    """``manifest.json``: every piece of a rendered dataset."""

    format_version: int
    name: str
    pieces: list[ManifestPiece]


class Failure(TypedDict):
    piece: str
    file: str
    reason: str


#: ``failures.json`` of a dataset: pieces that could not be built.
Failures = list[Failure]

#: ``checksums.json`` of a piece folder: sha256 of every file, by relative path.
Checksums = dict[str, Hex64]


class Score(TypedDict):
    """A piece's ``score.json``: pages, note heads, systems and notated events."""

    id: str
    file: str
    number: int | None
    split: Split
    meta: dict[str, Any]
    pages: Annotated[list[Annotated[str, Field(pattern=r"^page_\d+\.png$")]], Field(min_length=1)]
    page_sizes: list[tuple[Count, Count]]
    #: id, page, system, x0, y0, x1, y1 (pixels), MIDI pitch
    noteheads: list[tuple[str, Count, Count, FiniteFloat, FiniteFloat, FiniteFloat, FiniteFloat,
                          Pitch]]
    #: index, page, x0, y0, x1, y1 (pixels)
    systems: list[tuple[Count, Count, FiniteFloat, FiniteFloat, FiniteFloat, FiniteFloat]]
    #: onset s, duration s, MIDI pitch, velocity, note head id
    events: list[tuple[Seconds, Seconds, Pitch, Annotated[int, Field(ge=0, le=127)], str | None]]


class Rendition(TypedDict):
    """A rendition's ``rendition.json``: how it was played and where each note sounds."""

    soundfont: str
    tempo: Annotated[FiniteFloat, Field(gt=0)]
    sample_rate: Annotated[int, Field(gt=0)]
    fps: Annotated[FiniteFloat, Field(gt=0)]
    n_frames: Count
    duration: Seconds
    #: onset s, duration s, MIDI pitch, note head id, spectrogram frame
    events: list[tuple[Seconds, Seconds, Pitch, str | None, Count]]


# --- model folders --------------------------------------------------------------------

class ModelConfig(TypedDict):
    """A model folder's ``config.json`` (the encoder's own part; training adds more)."""

    format: int
    encoder: Annotated[str, Field(min_length=1)]
    params: NotRequired[dict[str, Any]]
    head: NotRequired[str]
    sheet_window: NotRequired[tuple[Annotated[int, Field(gt=0)], Annotated[int, Field(gt=0)]]]
    audio_shape: NotRequired[tuple[Annotated[int, Field(gt=0)], Annotated[int, Field(gt=0)]]]
    dim: NotRequired[Annotated[int, Field(gt=0)]]
    weights_sha256: NotRequired[Hex64]
    dataset: NotRequired[TrainedOn]


# --- index folders --------------------------------------------------------------------

class IndexModel(TypedDict):
    folder: str
    encoder: str
    sha256: Hex64
    dim: Annotated[int, Field(gt=0)]
    sheet_window: tuple[Annotated[int, Field(gt=0)], Annotated[int, Field(gt=0)]]
    audio_shape: tuple[Annotated[int, Field(gt=0)], Annotated[int, Field(gt=0)]]


class IndexSource(TypedDict):
    kind: Literal["dataset", "audio", "files"]
    #: kind "files": a user's scans (piece -> [file, page or None]) and recordings
    sheet_pieces: NotRequired[dict[str, list[tuple[str, int | None]]]]
    audio_pieces: NotRequired[dict[str, str]]
    reader: NotRequired[str]
    staff_space: NotRequired[Annotated[float, Field(gt=0)]]
    system_margin: NotRequired[Annotated[int, Field(ge=0)]]
    dpi: NotRequired[Annotated[int, Field(gt=0)]]
    manifest: NotRequired[str | None]
    root: NotRequired[str]
    name: NotRequired[str]
    split: NotRequired[str | None]
    rendition: NotRequired[str | None]
    files: NotRequired[list[str]]


class IndexSettings(TypedDict):
    """What an index was made with (``index.json``'s ``settings``; also ``.parts/settings.json``)."""

    format: int
    model: IndexModel
    source: IndexSource
    sheet_hop: Annotated[int, Field(gt=0)]
    audio_hop: Annotated[int, Field(gt=0)]
    audio_context: Annotated[int, Field(gt=0)]
    spectrogram: SpectrogramSettings


class IndexPiece(TypedDict):
    id: str
    duration: Seconds
    sheet: NotRequired[tuple[Count, Count]]
    audio: NotRequired[tuple[Count, Count]]
    rendition: NotRequired[str]
    file: NotRequired[str]
    #: what was skipped or corrected reading the piece (pages without staves, a slant)
    notes: NotRequired[list[str]]
    #: sha256 of the piece's rows in every array (its embeddings and positions)
    sha256: NotRequired[Hex64]


class IndexMeta(TypedDict):
    """An index folder's ``index.json``."""

    format: int
    toolkit_version: NotRequired[str]
    created: NotRequired[str]
    settings: IndexSettings
    modalities: list[Literal["sheet", "audio"]]
    rows: dict[Literal["sheet", "audio"], Count]
    dim: Annotated[int, Field(gt=0)]
    pieces: list[IndexPiece]
    #: sha256 of each array file (``sheet.npy``, ...), checked by ``--verify``
    arrays: NotRequired[dict[str, Hex64]]
