"""A user's recordings as a collection: audio files, each one piece with an audio side.

``ast index --audio PATH...`` indexes them, and ``ast match -q FILE`` queries
with one, through the same :class:`~ast_toolkit.interfaces.Dataset`
interface as a rendered dataset; every piece is read with
:func:`~ast_toolkit.data.audio.load_audio` (any rate and channel count),
checked for silence and length, and turned into the model's spectrogram.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import ParameterError
from ..interfaces import Dataset
from ..types import Performance, PieceSequence, SpectrogramSpec
from .audio import check_audible, excerpts, find_audio_files, load_audio
from .spectrogram import spectrogram_of

__all__ = ["Recordings", "recording_excerpts"]


def recording_excerpts(path: str | os.PathLike, spec: SpectrogramSpec, *, context: int,
                       hop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A recording as spectrogram excerpts slid every ``hop`` frames.

    Parameters
    ----------
    path : path
        An audio file (wav, flac, mp3, ogg, aiff; any rate and channel count).
    spec : SpectrogramSpec
        The spectrogram the model was trained on.
    context : int
        Frames per excerpt.
    hop : int
        Frames between excerpt centres.

    Returns
    -------
    excerpts : np.ndarray [shape=(n, n_bins, context)], float32
    seconds : np.ndarray [shape=(n,)], float32
        Each excerpt's centre.
    spectrogram : np.ndarray [shape=(n_bins, n_frames)], float32

    Raises
    ------
    AudioError
        Missing, empty, unreadable, not audio, silent, or shorter than one excerpt.

    Examples
    --------
    >>> recording_excerpts("missing.wav", SpectrogramSpec(), context=42, hop=10)
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.AudioError: missing.wav: no such file
    """
    audio = load_audio(path, spec.sample_rate)
    check_audible(audio, path, min_seconds=context / spec.fps, sample_rate=spec.sample_rate,
                  what=f"one excerpt of this model: {context} frames at {spec.fps:g} frames/s")
    spec_arr = spectrogram_of(audio, spec)
    windows, centres = excerpts(spec_arr, context, hop)
    return windows, (centres / spec.fps).astype(np.float32), spec_arr


class Recordings(Dataset):
    """Audio files (or folders of them, searched recursively) as pieces with an audio side.

    Parameters
    ----------
    paths : sequence of path
        Files and folders.
    spectrogram : SpectrogramSpec
        The spectrogram every recording is turned into (the model's).
    audio_context : int
        Spectrogram excerpt length in frames.

    Every piece is in the ``test`` split; its id is its path relative to the
    folder it was found in (prefixed with the folder's name), or its file name.

    Examples
    --------
    >>> Recordings(["no/such/folder"], SpectrogramSpec())
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.ParameterError: no/such/folder: no such file or folder
    """

    def __init__(self, paths: Sequence[str | os.PathLike], spectrogram: SpectrogramSpec, *,
                 audio_context: int = 42) -> None:
        self._setup(dict(find_audio_files(paths)), spectrogram, audio_context)

    @classmethod
    def from_files(cls, files: dict[str, Path], spectrogram: SpectrogramSpec, *,
                   audio_context: int = 42) -> Recordings:
        """Pieces given as id -> audio file, as an index records them."""
        if not files:
            raise ParameterError("no recordings given")
        self = cls.__new__(cls)
        self._setup(files, spectrogram, audio_context)
        return self

    def _setup(self, files: dict[str, Path], spectrogram: SpectrogramSpec, audio_context: int) -> None:
        paths = [str(Path(f).resolve()) for f in files.values()]
        root = Path(os.path.commonpath(paths)) if paths else Path(".")
        super().__init__(root.parent if root.is_file() else root,
                         audio_context=audio_context)
        self.name = "recordings"
        self._files = {pid: Path(f).resolve() for pid, f in files.items()}  # messages name the whole path
        self._spectrogram = spectrogram

    @property
    def spectrogram(self) -> SpectrogramSpec:
        return self._spectrogram

    def piece_ids(self, split: str | None = None) -> list[str]:
        if split is not None and split not in self.SPLITS:
            raise ParameterError(f"unknown split {split!r}; known: {', '.join(self.SPLITS)}")
        return sorted(self._files) if split in (None, "test") else []

    def file(self, piece: str) -> Path:
        """The audio file of ``piece``."""
        try:
            return self._files[piece]
        except KeyError:
            raise ParameterError(f"no recording {piece!r} here") from None

    def source(self, piece: str) -> str:
        return str(self.file(piece))

    def performances(self, piece: str) -> list[str]:
        return [self.file(piece).name]

    def performance(self, piece: str, name: str | None = None) -> Performance:
        path = self.file(piece)
        audio = load_audio(path, self._spectrogram.sample_rate)
        return Performance(path.name, spectrogram_of(audio, self._spectrogram),
                           self._spectrogram.fps, label=str(path))

    def sequence(self, piece: str, *, sheet_hop: int = 50, audio_hop: int = 10,
                 performance: str | None = None) -> PieceSequence:
        windows, seconds, spec_arr = recording_excerpts(
            self.file(piece), self._spectrogram, context=self.audio_context, hop=audio_hop)
        return PieceSequence(piece, np.zeros((0, *self.sheet_window), np.float32),
                             np.zeros((0, 3), np.float32), windows, seconds,
                             duration=spec_arr.shape[1] / self._spectrogram.fps,
                             performance=None)
