"""Rendition augmentations: variants of a whole training rendition made once, before
training, from its waveform and notes (a lossy codec, another instrument).

A variant keeps the rendition's timing, so it shares its onset frames; the
trainer caches variants in the model folder (``augmented/``) and draws from
them as from the dataset's own renditions.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ast_toolkit import plugins
from ast_toolkit.errors import ParameterError
from ast_toolkit.interfaces import Augmentation
from ast_toolkit.types import NoteEvent

__all__ = ["Codec", "Soundfont"]

#: libsndfile's lossy codecs offered.  Not Opus (8–48 kHz steps only, not 22,050 Hz) and
#: not Vorbis: libsndfile 1.2.2's Vorbis encoder crashed the process (a segmentation
#: fault) on some of our renditions, in memory and on disk alike.
_CODECS = {"mp3": ("MP3", "MPEG_LAYER_III")}


class Codec(Augmentation):
    """``codec``: a lossy round trip — MP3 (LAME and mpg123 through libsndfile), in memory —
    at a compression level of ``low``–``high`` (0.99 = the lowest bit rate, about 32 kbit/s
    at 22,050 Hz): the artefacts of streamed and downloaded recordings."""

    name = "codec"
    modality = "audio"
    stage = "rendition"

    @dataclass(frozen=True)
    class Config:
        p: float = 1.0
        low: float = 0.5
        high: float = 0.99
        formats: tuple[str, ...] = ("mp3",)

    def __init__(self, **params) -> None:
        super().__init__(**params)
        c = self.config
        if not 0.0 <= c.low <= c.high <= 0.99:  # LAME refuses level 1.0
            raise ParameterError(f"augmentation 'codec': need 0 <= low <= high <= 0.99, got "
                                 f"low={c.low!r}, high={c.high!r}")
        unknown = [f for f in c.formats if f not in _CODECS]
        if unknown or not c.formats:
            raise ParameterError(f"augmentation 'codec': formats must be some of "
                                 f"{', '.join(_CODECS)}, got {list(c.formats)}")

    def vary(self, audio: np.ndarray, sample_rate: int, events: Sequence[NoteEvent],
             rng: np.random.Generator) -> np.ndarray:
        import soundfile as sf

        fmt, subtype = _CODECS[self.config.formats[int(rng.integers(len(self.config.formats)))]]
        level = float(rng.uniform(self.config.low, self.config.high))
        buf = io.BytesIO()
        peak = float(np.abs(audio).max()) if len(audio) else 0.0
        scale = 0.9 / peak if peak > 0.9 else 1.0  # the codec clips outside [-1, 1]
        sf.write(buf, np.asarray(audio, np.float32) * scale, sample_rate, format=fmt,
                 subtype=subtype, compression_level=level)
        buf.seek(0)
        back, _ = sf.read(buf, dtype="float32", always_2d=False)
        back = back / scale
        out = np.zeros(len(audio), np.float32)  # libsndfile removes the codec delay
        out[: min(len(back), len(out))] = back[: len(out)]
        return out


class Soundfont(Augmentation):
    """``soundfont``: the rendition played again on another instrument — an installed
    soundfont (every one but ``exclude``, the soundfonts kept for testing) and a General
    MIDI program among ``programs`` (pianos, electric pianos, harpsichord, clavinet) —
    with the same notes at the same times."""

    name = "soundfont"
    modality = "audio"
    stage = "rendition"

    @dataclass(frozen=True)
    class Config:
        p: float = 1.0
        programs: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7)
        exclude: tuple[str, ...] = ("MuseScore_General", "MuseScore_General_Full")
        synthesizer: str = "fluidsynth"

    def __init__(self, **params) -> None:
        super().__init__(**params)
        if not self.config.programs or not all(0 <= p <= 127 for p in self.config.programs):
            raise ParameterError(f"augmentation 'soundfont': programs must be General MIDI "
                                 f"programs 0-127, got {list(self.config.programs)}")
        self._synths: dict[tuple[int, int], object] = {}

    def soundfonts(self) -> list[str]:
        """The installed soundfonts it plays (sorted names)."""
        from ast_toolkit_plugins.synthesizers.fluidsynth import available_soundfonts

        names = sorted(n for n in available_soundfonts() if n not in self.config.exclude
                       and not n.startswith("default-"))
        if not names:
            raise ParameterError("augmentation 'soundfont': no installed soundfont outside "
                                 f"{list(self.config.exclude)} (./setup.sh installs some)")
        return names

    def vary(self, audio: np.ndarray, sample_rate: int, events: Sequence[NoteEvent],
             rng: np.random.Generator) -> np.ndarray:
        fonts = self.soundfonts()
        font = fonts[int(rng.integers(len(fonts)))]
        program = int(self.config.programs[int(rng.integers(len(self.config.programs)))])
        key = (program, sample_rate)
        if key not in self._synths:
            self._synths[key] = plugins.create("synthesizers", self.config.synthesizer,
                                               sample_rate=sample_rate, program=program)
        out = np.asarray(self._synths[key].synthesize(list(events), soundfont=font), np.float32)
        fitted = np.zeros(len(audio), np.float32)
        fitted[: min(len(out), len(audio))] = out[: len(audio)]
        return fitted
