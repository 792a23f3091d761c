"""Log-frequency spectrograms, MSMD settings by default.

MSMD ([Dorfer et al. 2018], :data:`ast_toolkit.references.DORFER2018_TISMIR`)
computes, with madmom: 22,050 Hz mono, frames of 2,048 samples at 20 frames per
second, magnitude STFT, a logarithmic triangular filterbank of 16 bands per
octave from 30 to 6,000 Hz whose duplicate filters (several bands falling on
the same FFT bin at low frequencies) are removed, and log10(1 + x).  That gives
92 bins (:data:`MSMD`).  [Dorfer et al. 2016]
(:data:`ast_toolkit.references.DORFER2016`) use 136 bins at 31.25 frames/s
(:data:`DORFER2016`).

Written here rather than taken from a library on purpose: librosa has no
filterbank with madmom's de-duplicated logarithmic bands, and its STFT needs an
integer hop while 22,050 / 20 = 1,102.5 samples; a rounded hop would drift
half a sample per frame (a whole frame after a minute), so frames start (or,
in the older ``centre`` setting, are centred) at exactly ``i * sample_rate / fps``.  librosa supplies the window and the FFT
bin frequencies.
"""

from __future__ import annotations

import functools

import numpy as np

from ..errors import ParameterError
from ..types import SpectrogramSpec

__all__ = ["log_filterbank", "bin_frequencies", "spectrogram", "spectrogram_of", "n_bins", "MSMD",
           "DORFER2016"]


#: MSMD's setting: 92 bins at 20 frames/s (the default everywhere).
MSMD = SpectrogramSpec()

#: [Dorfer et al. 2016]'s setting: 136 bins at 31.25 frames/s (24 bands/octave,
#: 30–8,000 Hz after de-duplication, at 22,050 Hz with 2,048-sample frames).
DORFER2016 = SpectrogramSpec(fps=31.25, bands_per_octave=24, fmax=8000.0)


def _log_frequencies(bands_per_octave: int, fmin: float, fmax: float, fref: float = 440.0) -> np.ndarray:
    left = np.floor(np.log2(fmin / fref) * bands_per_octave)
    right = np.ceil(np.log2(fmax / fref) * bands_per_octave)
    freqs = fref * 2.0 ** (np.arange(left, right) / bands_per_octave)
    return freqs[(freqs >= fmin) & (freqs <= fmax)]


@functools.lru_cache(maxsize=16)
def log_filterbank(
    sample_rate: int = 22050,
    frame_size: int = 2048,
    bands_per_octave: int = 16,
    fmin: float = 30.0,
    fmax: float = 6000.0,
) -> np.ndarray:
    """Triangular filters on a logarithmic frequency axis, duplicates removed.

    Returns
    -------
    np.ndarray [shape=(n_bins, frame_size // 2)], float32, read-only
        Each row is one area-normalised triangular filter over the FFT bins
        (cached: built once per setting, not once per recording).

    Examples
    --------
    >>> log_filterbank().shape
    (92, 1024)
    """
    import librosa

    if not 0 < fmin < fmax <= sample_rate / 2:
        raise ParameterError(f"need 0 < fmin < fmax <= sample_rate / 2, got fmin={fmin}, fmax={fmax}")
    n_fft_bins = frame_size // 2
    bin_freqs = librosa.fft_frequencies(sr=sample_rate, n_fft=frame_size)[:n_fft_bins]
    freqs = _log_frequencies(bands_per_octave, fmin, fmax)
    # each band's centre frequency -> nearest FFT bin; bands on one bin merge
    idx = np.clip(np.searchsorted(bin_freqs, freqs), 1, n_fft_bins - 1)
    idx -= (freqs - bin_freqs[idx - 1]) < (bin_freqs[idx] - freqs)
    bins = np.unique(idx)
    filters = []
    for start, centre, stop in zip(bins[:-2], bins[1:-1], bins[2:]):
        if stop - start < 2:
            centre, stop = start, start + 1
        f = np.zeros(n_fft_bins, dtype=np.float64)
        rise = centre - start
        f[start:centre] = np.linspace(0, 1, rise, endpoint=False)
        f[centre:stop] = np.linspace(1, 0, stop - centre, endpoint=False)
        filters.append(f / f.sum())
    out = np.asarray(filters, dtype=np.float32)
    out.flags.writeable = False  # cached and shared
    return out


def bin_frequencies(sample_rate: int = 22050, frame_size: int = 2048, bands_per_octave: int = 16,
                    fmin: float = 30.0, fmax: float = 6000.0) -> np.ndarray:
    """Centre frequency (Hz) of each bin of :func:`log_filterbank`: its peak.

    Examples
    --------
    >>> hz = bin_frequencies()
    >>> len(hz), round(float(hz[0])), round(float(hz[-1]))
    (92, 43, 5674)
    """
    import librosa

    fb = log_filterbank(sample_rate, frame_size, bands_per_octave, fmin, fmax)
    freqs = librosa.fft_frequencies(sr=sample_rate, n_fft=frame_size)[: frame_size // 2]
    return freqs[np.argmax(fb, axis=1)]


def n_bins(spec: SpectrogramSpec | None = None, **kwargs) -> int:
    """Number of frequency bins :func:`spectrogram` returns for these settings.

    Parameters
    ----------
    spec : SpectrogramSpec or None
        The settings; or give them as keywords (``sample_rate``, ``frame_size``,
        ``bands_per_octave``, ``fmin``, ``fmax``); the defaults are MSMD's.

    Examples
    --------
    >>> n_bins(), n_bins(DORFER2016)
    (92, 136)
    """
    if spec is not None:
        kwargs = {"sample_rate": spec.sample_rate, "frame_size": spec.frame_size,
                  "bands_per_octave": spec.bands_per_octave, "fmin": spec.fmin, "fmax": spec.fmax}
    return log_filterbank(**kwargs).shape[0]


def spectrogram(
    audio: np.ndarray,
    *,
    sample_rate: int = 22050,
    frame_size: int = 2048,
    fps: float = 20.0,
    bands_per_octave: int = 16,
    fmin: float = 30.0,
    fmax: float = 6000.0,
    frame_origin: str = "start",
) -> np.ndarray:
    """Log-filtered magnitude spectrogram.

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,)]
        Mono audio in [-1, 1] at ``sample_rate``.
    sample_rate, frame_size, fps, bands_per_octave, fmin, fmax
        See the module docstring; the defaults are MSMD's.
    frame_origin : {"start", "centre"}
        ``"start"``: frame ``i`` covers the ``frame_size`` samples from
        ``i / fps`` seconds on (MSMD's; madmom's ``origin='future'``);
        ``"centre"``: it is centred at ``i / fps`` (zero-padded at the start).

    Returns
    -------
    np.ndarray [shape=(n_bins, n_frames)], float32
        ``log10(1 + filtered magnitude)``;
        ``n_frames = ceil(n_samples * fps / sample_rate)``; samples past the end
        of the audio are zeros.

    Examples
    --------
    >>> t = np.arange(22050) / 22050
    >>> spec = spectrogram(np.sin(2 * np.pi * 440 * t))
    >>> spec.shape
    (92, 20)
    >>> round(float(bin_frequencies()[spec[:, 10].argmax()]))
    441
    """
    import librosa

    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ParameterError(f"audio must be mono (1-D), got shape {audio.shape}")
    if fps <= 0:
        raise ParameterError(f"fps must be > 0, got {fps}")
    if frame_origin not in ("start", "centre"):
        raise ParameterError(f"frame_origin must be 'start' or 'centre', got {frame_origin!r}")
    hop = sample_rate / float(fps)
    n_frames = int(np.ceil(len(audio) / hop))
    fb = log_filterbank(sample_rate, frame_size, bands_per_octave, fmin, fmax)
    if n_frames == 0:
        return np.zeros((fb.shape[0], 0), dtype=np.float32)
    half = frame_size // 2
    lead = half if frame_origin == "centre" else 0
    padded = np.pad(audio, (lead, 2 * frame_size))
    # frame i covers samples [round(i*hop) - lead, round(i*hop) - lead + frame_size)
    starts = np.round(np.arange(n_frames) * hop).astype(np.int64)
    window = librosa.filters.get_window("hann", frame_size, fftbins=False).astype(np.float32)
    out = np.empty((fb.shape[0], n_frames), dtype=np.float32)
    block = 512  # frames per FFT call: bounded memory for long recordings
    for b in range(0, n_frames, block):
        s = starts[b:b + block]
        frames = padded[s[:, None] + np.arange(frame_size)[None, :]] * window
        mag = np.abs(np.fft.rfft(frames, axis=1))[:, :half]
        out[:, b:b + block] = np.log10(1.0 + fb @ mag.T.astype(np.float32))
    return out


def spectrogram_of(audio: np.ndarray, spec: SpectrogramSpec) -> np.ndarray:
    """:func:`spectrogram` with the settings of ``spec``.

    Examples
    --------
    >>> spectrogram_of(np.zeros(22050, np.float32), DORFER2016).shape
    (136, 32)
    """
    return spectrogram(audio, sample_rate=spec.sample_rate, frame_size=spec.frame_size,
                       fps=spec.fps, bands_per_octave=spec.bands_per_octave, fmin=spec.fmin,
                       fmax=spec.fmax, frame_origin=spec.frame_origin)
