"""Users' recordings: reading audio files and cutting them into excerpts.

Any sample rate and channel count is accepted: channels are averaged to mono
and the signal is resampled (soxr, through librosa) to the rate the model's
spectrograms were computed at.  soundfile (libsndfile 1.2) reads WAV, FLAC,
MP3, Ogg Vorbis / Opus and AIFF.  Every failure is a
:class:`~ast_toolkit.errors.AudioError` naming the file and the reason.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AudioError, ParameterError, TruncatedAudioWarning

__all__ = ["AUDIO_SUFFIXES", "SILENCE_DBFS", "load_audio", "find_audio_files",
           "excerpt_centres", "excerpts", "check_audible"]

#: Suffixes taken as audio when a folder is searched.
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".aif", ".aiff")

#: A recording whose peak stays below this level (dB re full scale) is silent.
SILENCE_DBFS = -60.0


#: Headers of common files that are not audio: refused before any decoder runs.
_NOT_AUDIO = ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"%PDF", "a PDF document"),
              (b"PK\x03\x04", "a ZIP archive (MusicXML .mxl?)"), (b"GIF8", "a GIF image"),
              (b"<?xml", "an XML file"))


def _sniff(head: bytes) -> str | None:
    """What a file is when its first bytes say it is not audio, else None."""
    for magic, what in _NOT_AUDIO:
        if head.startswith(magic):
            return what
    if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return "a text file"
    return None


@contextlib.contextmanager
def _captured_stderr() -> Iterator[list[str]]:
    """Capture what C libraries (libmpg123 in libsndfile) write to file descriptor 2."""
    lines: list[str] = []
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to redirect
        yield lines
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            lines += [ln.strip() for ln in tmp.read().decode("utf-8", "replace").splitlines()
                      if ln.strip()]


def load_audio(path: str | os.PathLike, sample_rate: int) -> np.ndarray:
    """Read an audio file as mono float32 at ``sample_rate``.

    Returns
    -------
    np.ndarray [shape=(n_samples,)], float32

    Raises
    ------
    AudioError
        The file is missing, empty, not audio, damaged, or holds no samples.

    Examples
    --------
    >>> import tempfile, soundfile
    >>> path = Path(tempfile.mkdtemp()) / "take.wav"
    >>> soundfile.write(path, np.stack([np.full(22050, 0.5), np.zeros(22050)], axis=1), 22050)
    >>> audio = load_audio(path, 22050)  # stereo: the two channels are averaged
    >>> audio.shape, audio.dtype, float(audio[0])
    ((22050,), dtype('float32'), 0.25)
    >>> load_audio(path.with_suffix(".flac"), 22050)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.AudioError: .../take.flac: no such file
    """
    import soundfile

    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: the file is empty (0 bytes)")
    suffixes = ", ".join(x.lstrip(".") for x in AUDIO_SUFFIXES)
    try:
        with open(path, "rb") as fh:
            what = _sniff(fh.read(64))
    except OSError as exc:
        raise AudioError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if what:
        raise AudioError(f"{path}: not a readable audio file (it is {what}; expected {suffixes})")
    _check_wav_header(path)
    try:
        # through a file object: libsndfile cannot open a name that is not valid
        # UTF-8 (a Latin-1 name from an old disk), Python can
        with _captured_stderr() as chatter, open(path, "rb") as fh:
            declared = soundfile.info(fh).frames
            fh.seek(0)
            data, sr = _read_blocks(soundfile, fh, path)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        reason = str(getattr(exc, "error_string", "") or exc).strip().rstrip(".")
        if "not a regular file" in reason or "Format not recognised" in reason:
            reason = "format not recognised"  # libsndfile's words for unknown content
        if chatter:
            reason += f"; the decoder said: {chatter[0].rstrip('.')}"
        raise AudioError(f"{path}: not a readable audio file ({reason}; expected {suffixes}, "
                         "whole and undamaged)") from None
    except OSError as exc:
        raise AudioError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if data.size == 0:
        raise AudioError(f"{path}: the file holds no audio samples")
    _warn_if_truncated(path, len(data), declared, sr, chatter)
    mono = data.mean(axis=1)
    if not np.isfinite(mono).all():
        raise AudioError(f"{path}: the audio holds NaN or infinite samples")
    if sr != sample_rate:
        import librosa

        mono = librosa.resample(mono, orig_sr=sr, target_sr=sample_rate, res_type="soxr_hq")
    return np.ascontiguousarray(mono, dtype=np.float32)


#: The longest recording read (a header may declare 2^36 frames: 256 GiB).
MAX_HOURS = 6.0


def _read_blocks(soundfile: Any, fh: Any, path: Path) -> tuple[np.ndarray, int]:
    """Read in blocks of a minute, whatever length the header declares, up to
    :data:`MAX_HOURS`: a damaged header cannot make the reader allocate it."""
    with soundfile.SoundFile(fh) as f:
        sr, channels = f.samplerate, f.channels
        if sr <= 0 or channels <= 0:
            raise AudioError(f"{path}: not a readable audio file (its header declares {sr} Hz "
                             f"and {channels} channels)")
        block, limit = 60 * sr, int(MAX_HOURS * 3600 * sr)
        parts, total = [], 0
        while True:
            part = f.read(block, dtype="float32", always_2d=True)
            if not len(part):
                break
            parts.append(part)
            total += len(part)
            if total > limit:
                raise AudioError(f"{path}: longer than {MAX_HOURS:g} hours; cut it into parts")
    data = np.concatenate(parts) if parts else np.zeros((0, channels), np.float32)
    return data, sr


def _check_wav_header(path: Path) -> None:
    """Refuse a PCM WAV whose header declares a sample size libsndfile would misread
    (7 bits per sample was decoded as 8, giving noise without a word)."""
    with open(path, "rb") as fh:
        head = fh.read(36)
    if len(head) == 36 and head[:4] == b"RIFF" and head[8:16] == b"WAVEfmt ":
        tag = int.from_bytes(head[20:22], "little")
        bits = int.from_bytes(head[34:36], "little")
        if tag == 1 and (bits == 0 or bits % 8 or bits > 32):
            raise AudioError(f"{path}: not a readable audio file (its header declares "
                             f"{bits}-bit PCM samples; a damaged header?)")


def _warn_if_truncated(path: Path, frames: int, declared: int, sample_rate: int,
                       chatter: list[str]) -> None:
    """Warn when a file holds less audio than its header declares (a cut-off download
    or copy): it is used, but the user should know."""
    short = ""
    with open(path, "rb") as fh:
        head = fh.read(12)
    written = None
    # libsndfile counts a truncated WAV's or AIFF's frames from what is there; the
    # RIFF / FORM header still says how long the file was written
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        written = int.from_bytes(head[4:8], "little") + 8
    elif head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        written = int.from_bytes(head[4:8], "big") + 8
    size = path.stat().st_size
    if written is not None and written > size:
        short = f"{size:,} of the {written:,} bytes its header declares"
    elif declared > 0 and frames < 0.99 * declared:
        short = (f"{frames / sample_rate:.1f} s of the {declared / sample_rate:.1f} s its header "
                 "declares")
    if short:
        warnings.warn(TruncatedAudioWarning(
            f"{path}: the file seems truncated (it holds {short}); using what is there"
            + (f"; the decoder said: {chatter[0].rstrip('.')}" if chatter else "")), stacklevel=3)


def check_audible(audio: np.ndarray, path: str | os.PathLike, *, min_seconds: float,
                  sample_rate: int, what: str = "one excerpt") -> None:
    """Refuse silence and recordings shorter than ``min_seconds``.

    Examples
    --------
    >>> tone = 0.1 * np.sin(2 * np.pi * 440 * np.arange(66150) / 22050)  # 3 s
    >>> check_audible(tone, "take.wav", min_seconds=2.1, sample_rate=22050)  # passes
    >>> check_audible(tone[:22050], "take.wav", min_seconds=2.1, sample_rate=22050)
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.AudioError: take.wav: 1.00 s of audio is shorter than one excerpt (2.1 s)
    >>> check_audible(np.zeros(66150), "take.wav", min_seconds=2.1, sample_rate=22050)
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.AudioError: take.wav: the audio is silent (peak -inf dBFS, below -60 dBFS)
    """
    duration = len(audio) / sample_rate
    if duration < min_seconds:
        raise AudioError(f"{path}: {duration:.2f} s of audio is shorter than {what} "
                         f"({min_seconds:.1f} s)")
    # the peak around the mean: a constant (DC) offset is no sound either
    peak = float(np.max(np.abs(audio - np.mean(audio)))) if len(audio) else 0.0
    if peak <= 10 ** (SILENCE_DBFS / 20):
        level = "-inf" if peak == 0 else f"{20 * np.log10(peak):.0f}"
        raise AudioError(f"{path}: the audio is silent (peak {level} dBFS, below "
                         f"{SILENCE_DBFS:.0f} dBFS)")


def find_audio_files(paths: Iterable[str | os.PathLike]) -> list[tuple[str, Path]]:
    """Audio files named or found (recursively) in folders, with a stable id each.

    Returns
    -------
    list of (str, Path)
        ``(id, file)``: the id is the path relative to the folder it was found
        in (prefixed with the folder's name), or the file name; sorted by id.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp()) / "takes"
    >>> (folder / "day1").mkdir(parents=True)
    >>> for name in ("day1/a.wav", "b.flac", "cover.png"):
    ...     _ = (folder / name).write_bytes(b"")
    >>> [file_id for file_id, _ in find_audio_files([folder])]
    ['takes/b.flac', 'takes/day1/a.wav']
    """
    out: dict[str, Path] = {}
    for p in paths:
        p = Path(p).expanduser()
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES:
                    out[f"{p.name}/{f.relative_to(p).as_posix()}"] = f
        elif p.exists():
            out[p.name] = p
        else:
            raise ParameterError(f"{p}: no such file or folder")
    if not out:
        raise ParameterError("no audio files found (looked for "
                             + ", ".join(s.lstrip(".") for s in AUDIO_SUFFIXES) + ")")
    return sorted(out.items())


def excerpt_centres(n_frames: int, context: int, hop: int) -> np.ndarray:
    """Centre frames of excerpts slid over a spectrogram: every ``hop`` frames from
    ``context // 2`` (the first excerpt starts at frame 0).

    Examples
    --------
    >>> excerpt_centres(100, context=42, hop=20)
    array([21, 41, 61, 81])
    >>> excerpt_centres(100, context=42, hop=0)
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.ParameterError: hop and context must be >= 1 frame, got 0 and 42
    """
    if hop < 1 or context < 1:
        raise ParameterError(f"hop and context must be >= 1 frame, got {hop} and {context}")
    return np.arange(context // 2, max(n_frames, 1), hop)


def excerpts(spectrogram: np.ndarray, context: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """Spectrogram excerpts slid along the time axis, zero-padded past the end.

    Parameters
    ----------
    spectrogram : np.ndarray [shape=(n_bins, n_frames)]
    context : int
        Frames per excerpt.
    hop : int
        Frames between excerpt centres.

    Returns
    -------
    excerpts : np.ndarray [shape=(n, n_bins, context)], float32
    centres : np.ndarray [shape=(n,)], int
        Centre frame of each.

    Examples
    --------
    >>> spec = np.ones((92, 100), np.float32)
    >>> windows, centres = excerpts(spec, context=42, hop=20)
    >>> windows.shape, centres.tolist()
    ((4, 92, 42), [21, 41, 61, 81])
    >>> windows[-1, 0, -3:]  # the last excerpt runs past the end: zero-padded
    array([1., 0., 0.], dtype=float32)
    """
    centres = excerpt_centres(spectrogram.shape[1], context, hop)
    padded = np.zeros((spectrogram.shape[0], spectrogram.shape[1] + 2 * context), np.float32)
    padded[:, context:context + spectrogram.shape[1]] = spectrogram
    starts = centres - context // 2 + context
    out = np.stack([padded[:, s:s + context] for s in starts]) if len(starts) else \
        np.zeros((0, spectrogram.shape[0], context), np.float32)
    return out, centres
