"""Spectrogram-excerpt augmentations: what tempo, tuning, rooms, microphones and mixing do
to a performance, applied to the dataset's own spectrogram excerpts.

They act on a batch ``[n, 1, n_bins, frames]`` in the datasets' scale,
``log10(1 + magnitude)`` of a logarithmic filterbank, whose centre column is
the onset frame: one vectorised operation per batch instead of synthesising
and analysing audio again (``benchmarks/augment.py`` measures the cost).
Changes of loudness and spectrum are made on the magnitudes (``10**x - 1``)
and taken back to the log scale.  The approximations are named where they are
made: a tempo change resamples frames (the notes' own sounds are stretched
with them), a tuning shift moves the spectrum along the bins' centre
frequencies, and reverberation is the convolutive-transfer-function model —
each band's power convolved over frames with that band's power envelope of a
room impulse response, which pyroomacoustics generates.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ast_toolkit.errors import ParameterError
from ast_toolkit.interfaces import Augmentation
from ast_toolkit.types import SpectrogramSpec

__all__ = ["Tempo", "Tuning", "Reverb", "AudioNoise", "Equaliser", "room_impulse_response",
           "band_envelope"]


def _magnitude(x: torch.Tensor) -> torch.Tensor:
    return torch.pow(10.0, x.clamp(min=0.0)) - 1.0


def _log(m: torch.Tensor) -> torch.Tensor:
    return torch.log10(1.0 + m.clamp(min=0.0))


def _mask(x: torch.Tensor, pick: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(pick).to(x.device)[:, None, None, None]


@functools.lru_cache(maxsize=8)
def _frequencies(spec: SpectrogramSpec | None) -> np.ndarray:
    """The filterbank's centre frequencies (Hz) for these settings (None: MSMD's), cached."""
    from ast_toolkit.data.spectrogram import bin_frequencies

    spec = spec or SpectrogramSpec()
    return bin_frequencies(spec.sample_rate, spec.frame_size, spec.bands_per_octave, spec.fmin,
                           spec.fmax)


class Tempo(Augmentation):
    """``tempo``: the excerpt played ``low``–``high`` times as fast (log-uniform), about its
    onset; the frames are resampled, so an excerpt of the same length holds more (faster)
    or less (slower) music.  Needs ``high`` times the context."""

    name = "tempo"
    modality = "audio"

    @dataclass(frozen=True)
    class Config:
        p: float = 0.5
        low: float = 0.7
        high: float = 1.4

    def __init__(self, **params) -> None:
        super().__init__(**params)
        c = self.config
        if not (math.isfinite(c.low) and math.isfinite(c.high) and 0.1 <= c.low <= c.high <= 10):
            raise ParameterError(f"augmentation 'tempo': need 0.1 <= low <= high <= 10, got "
                                 f"low={c.low!r}, high={c.high!r}")

    def extent(self, before: int, after: int) -> tuple[int, int]:
        f = max(self.config.high, 1.0)
        return int(math.ceil(before * f)) + 1, int(math.ceil(after * f)) + 1

    def apply(self, x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        n, _, bins, frames = x.shape
        pick = self.chosen(n, rng)
        rate = np.where(pick, np.exp(rng.uniform(np.log(self.config.low),
                                                 np.log(self.config.high), n)), 1.0)
        centre = frames // 2
        out_t = np.arange(frames) - centre
        src = centre + out_t[None, :] * rate[:, None]  # input frame each output frame reads
        gx = (2.0 * src + 1.0) / frames - 1.0  # align_corners=False
        gy = (2.0 * np.arange(bins) + 1.0) / bins - 1.0
        grid = np.empty((n, bins, frames, 2), dtype=np.float32)
        grid[..., 0] = gx[:, None, :]
        grid[..., 1] = gy[None, :, None]
        out = F.grid_sample(x, torch.from_numpy(grid).to(x.device), mode="bilinear",
                            padding_mode="zeros", align_corners=False)
        return torch.where(_mask(x, pick), out, x)


class Tuning(Augmentation):
    """``tuning``: the spectrum moved by up to ±``semitones`` (an instrument tuned to A415
    or A446, a transposing performance), along the filterbank's centre frequencies."""

    name = "tuning"
    modality = "audio"

    @dataclass(frozen=True)
    class Config:
        p: float = 0.5
        semitones: float = 1.0

    def apply(self, x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        log_hz = np.log2(_frequencies(self.spectrogram))
        n, _, bins, frames = x.shape
        if bins != len(log_hz):
            raise ParameterError(f"augmentation 'tuning': excerpts have {bins} bins, the "
                                 f"spectrogram settings {len(log_hz)}")
        pick = self.chosen(n, rng)
        shift = rng.uniform(-self.config.semitones, self.config.semitones, n) * pick / 12.0
        # output bin b shows what sounded at its frequency / 2**shift
        src = np.stack([np.interp(log_hz - s, log_hz, np.arange(bins),
                                  left=-1.0, right=bins) for s in shift])
        gy = (2.0 * src + 1.0) / bins - 1.0
        gx = (2.0 * np.arange(frames) + 1.0) / frames - 1.0
        grid = np.empty((n, bins, frames, 2), dtype=np.float32)
        grid[..., 0] = gx[None, None, :]
        grid[..., 1] = gy[:, :, None]
        out = F.grid_sample(x, torch.from_numpy(grid).to(x.device), mode="bilinear",
                            padding_mode="zeros", align_corners=False)
        return torch.where(_mask(x, pick), out, x)


def room_impulse_response(rt60: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A room impulse response from pyroomacoustics: a shoebox room of random size whose
    wall absorption gives reverberation time ``rt60`` (Sabine), source and microphone at
    random places in it; the direct sound starts at sample 0.

    Examples
    --------
    >>> rir = room_impulse_response(0.4, 22050, np.random.default_rng(0))
    >>> rir.dtype, int(np.argmax(np.abs(rir))) < 50
    (dtype('float32'), True)
    """
    import pyroomacoustics as pra

    dims = np.array([rng.uniform(5, 20), rng.uniform(4, 15), rng.uniform(2.8, 8)])
    try:
        absorption, order = pra.inverse_sabine(rt60, dims)
    except ValueError:  # the room is too large for so short a time: a smaller room
        dims = dims / 2
        absorption, order = pra.inverse_sabine(rt60, dims)
    room = pra.ShoeBox(dims, fs=sample_rate, materials=pra.Material(absorption),
                       max_order=min(int(order), 40), use_rand_ism=False,
                       ray_tracing=False, air_absorption=True)
    margin = 0.5
    src = rng.uniform(margin, dims - margin)
    mic = rng.uniform(margin, dims - margin)
    room.add_source(src)
    room.add_microphone(mic)
    room.compute_rir()
    rir = np.asarray(room.rir[0][0], dtype=np.float64)
    start = max(int(np.argmax(np.abs(rir))) - 5, 0)
    rir = rir[start:]
    return (rir / (np.abs(rir).max() + 1e-12)).astype(np.float32)


def band_envelope(rir: np.ndarray, spec: SpectrogramSpec) -> np.ndarray:
    """Each filterbank band's power envelope of an impulse response, frame by frame:
    ``[n_bins, n_frames]``, the kernel of the convolutive transfer function.  Scaled so that
    the mean over bands of the total power is 1 (the room colours, it does not amplify).

    Examples
    --------
    >>> rir = room_impulse_response(0.6, 22050, np.random.default_rng(1))
    >>> k = band_envelope(rir, SpectrogramSpec())
    >>> k.shape[0], round(float(k.sum(axis=1).mean()), 3), bool(k[:, 0].mean() > k[:, -1].mean())
    (92, 1.0, True)
    """
    from ast_toolkit.data.spectrogram import spectrogram_of

    padded = np.concatenate([rir, np.zeros(spec.frame_size, np.float32)])
    mag = np.power(10.0, spectrogram_of(padded, spec).astype(np.float64)) - 1.0
    power = mag ** 2
    keep = max(int(np.flatnonzero(power.sum(axis=0) > 1e-6 * power.sum(axis=0).max())[-1]) + 1, 1)
    power = power[:, :keep]
    return (power / power.sum(axis=1).mean()).astype(np.float32)


class Reverb(Augmentation):
    """``reverb``: the performance heard in a room with a reverberation time of
    ``low``–``high`` seconds: a bank of ``bank`` impulse responses generated with
    pyroomacoustics (nothing downloaded) at set-up, applied as each band's power convolved
    with the response's band power envelope.  Needs the past: up to ``max_frames`` frames
    of tail before the excerpt."""

    name = "reverb"
    modality = "audio"

    @dataclass(frozen=True)
    class Config:
        p: float = 0.5
        low: float = 0.3
        high: float = 1.5
        bank: int = 24
        seed: int = 0
        max_frames: int = 30

    def __init__(self, **params) -> None:
        super().__init__(**params)
        c = self.config
        if not (0.05 <= c.low <= c.high <= 10) or c.bank < 1 or c.max_frames < 1:
            raise ParameterError(f"augmentation 'reverb': need 0.05 <= low <= high <= 10 s, "
                                 f"bank >= 1 and max_frames >= 1, got {c}")
        self._kernels: torch.Tensor | None = None

    def setup(self, *, spectrogram: SpectrogramSpec | None = None) -> None:
        super().setup(spectrogram=spectrogram)
        spec = spectrogram or SpectrogramSpec()
        rng = np.random.default_rng(self.config.seed)
        rt60 = rng.uniform(self.config.low, self.config.high, self.config.bank)
        kernels = np.zeros((self.config.bank, len(_frequencies(spec)), self.config.max_frames),
                           np.float32)
        for i, t in enumerate(rt60):
            k = band_envelope(room_impulse_response(float(t), spec.sample_rate, rng), spec)
            k = k[:, : self.config.max_frames]
            kernels[i, :, : k.shape[1]] = k
        self._kernels = torch.from_numpy(kernels)

    def extent(self, before: int, after: int) -> tuple[int, int]:
        return before + self.config.max_frames, after

    def apply(self, x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        if self._kernels is None:
            self.setup(spectrogram=self.spectrogram)
        n, _, bins, frames = x.shape
        pick = self.chosen(n, rng)
        which = rng.integers(0, len(self._kernels), n)
        kern = self._kernels[which].to(x.device)  # [n, bins, K]
        k = kern.shape[-1]
        power = _magnitude(x).reshape(1, n * bins, frames) ** 2
        # causal: frame t hears frames t, t-1, ..., t-K+1 (conv1d correlates: flip the kernel)
        wet = F.conv1d(F.pad(power, (k - 1, 0)), kern.reshape(n * bins, 1, k).flip(-1),
                       groups=n * bins)
        out = _log(wet.clamp(min=0.0).sqrt().reshape(n, 1, bins, frames))
        return torch.where(_mask(x, pick), out, x)


class AudioNoise(Augmentation):
    """``audio-noise``: noise at a signal-to-noise ratio of ``low``–``high`` dB (the
    excerpt's power over the noise's), coloured from white to pink-and-darker by a random
    slope, fluctuating frame to frame (an audience, a hissing tape, a noisy room); the
    magnitudes add in power."""

    name = "audio-noise"
    modality = "audio"

    @dataclass(frozen=True)
    class Config:
        p: float = 0.5
        low: float = 10.0
        high: float = 40.0

    def apply(self, x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        octaves = np.log2(_frequencies(self.spectrogram) / 1000.0)
        n, _, bins, frames = x.shape
        pick = self.chosen(n, rng)
        snr = rng.uniform(self.config.low, self.config.high, n)
        slope = rng.uniform(-6.0, 0.0, n)  # dB per octave: 0 white, -3 pink, -6 brown
        colour = 10.0 ** (slope[:, None] * octaves[None, :] / 20.0)  # [n, bins]
        shape = np.abs(rng.standard_normal((n, bins, frames))) * colour[:, :, None]
        m = _magnitude(x)[:, 0]
        signal = (m ** 2).mean(dim=(1, 2)).cpu().numpy()
        shape_power = (shape ** 2).mean(axis=(1, 2))
        gain = np.sqrt(signal / np.maximum(shape_power, 1e-20) / 10.0 ** (snr / 10.0))
        noise = torch.from_numpy((shape * gain[:, None, None]).astype(np.float32)).to(x.device)
        out = _log(torch.sqrt(m ** 2 + noise ** 2))[:, None]
        return torch.where(_mask(x, pick), out, x)


class Equaliser(Augmentation):
    """``eq``: the spectrum tilted by up to ±``tilt`` dB per octave about 1 kHz, with
    smooth bumps of up to ±``bumps`` dB, and the level changed by up to ±``gain`` dB
    (microphones, rooms, instruments; recordings louder or softer than the synthesis)."""

    name = "eq"
    modality = "audio"

    @dataclass(frozen=True)
    class Config:
        p: float = 0.5
        tilt: float = 3.0
        bumps: float = 4.0
        gain: float = 10.0

    def apply(self, x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        n = len(x)
        pick = self.chosen(n, rng)
        c = self.config
        octs = np.log2(_frequencies(self.spectrogram) / 1000.0)
        db = rng.uniform(-c.tilt, c.tilt, n)[:, None] * octs[None, :]
        db += rng.uniform(-c.gain, c.gain, n)[:, None]
        # smooth bumps: a few random values over the octaves, interpolated
        knots = np.linspace(octs.min(), octs.max(), 6)
        for i in range(n):
            db[i] += np.interp(octs, knots, rng.uniform(-c.bumps, c.bumps, len(knots)))
        gain = torch.from_numpy((10.0 ** (db / 20.0)).astype(np.float32)).to(x.device)
        out = _log(_magnitude(x) * gain[:, None, :, None])
        return torch.where(_mask(x, pick), out, x)
