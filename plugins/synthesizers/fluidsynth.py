"""The ``fluidsynth`` synthesizer: FluidSynth (pyfluidsynth on libfluidsynth3).

Soundfonts are named (``FluidR3_GM``, ``TimGM6mb``, ``MuseScore_General``) or
given as paths.  Names are looked up in ``$AST_SOUNDFONT_PATH`` (folders
separated by ``:``), the Debian soundfont folders (``fluid-soundfont-gm``,
``timgm6mb-soundfont``, ``musescore-general-soundfont``) and the pretty_midi
wheel, which ships ``TimGM6mb.sf2``.

Loading a soundfont dominates the cost (about 4 s for the ``.sf3``), so one
synthesizer keeps every soundfont it has loaded and reuses it for later pieces.
Rendering is offline and deterministic: the events are turned into note-on /
note-off messages and FluidSynth is asked for exactly the samples between
consecutive messages.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ast_toolkit.errors import ParameterError, RenderError, did_you_mean
from ast_toolkit.interfaces import Synthesizer
from ast_toolkit.types import NoteEvent

__all__ = ["FluidSynthesizer", "find_soundfont", "available_soundfonts"]

_SUFFIXES = (".sf2", ".sf3")
#: Seconds of audio kept after the last note ends (release and reverb tail).
TAIL = 1.0
#: FluidSynth renders in blocks of this many samples (FLUID_BUFSIZE) and applies
#: note-ons at block boundaries.
BLOCK = 64


def _search_dirs() -> list[Path]:
    dirs = [Path(d) for d in os.environ.get("AST_SOUNDFONT_PATH", "").split(":") if d]
    dirs += [Path("/usr/share/sounds/sf2"), Path("/usr/share/sounds/sf3"),
             Path("/usr/share/soundfonts")]
    spec = importlib.util.find_spec("pretty_midi")
    if spec and spec.origin:
        dirs.append(Path(spec.origin).parent)
    return [d for d in dirs if d.is_dir()]


def available_soundfonts() -> dict[str, Path]:
    """Soundfont name -> file, for every soundfont found (first found wins)."""
    found: dict[str, Path] = {}
    for d in _search_dirs():
        for f in sorted(d.iterdir()):
            if f.suffix.lower() in _SUFFIXES and f.is_file():
                found.setdefault(f.stem, f.resolve())
    return found


def find_soundfont(name: str) -> Path:
    """The file of soundfont ``name`` (a name or a path).

    Raises
    ------
    ParameterError
        No such soundfont; the message lists close names and how to install them.
    """
    path = Path(name).expanduser()
    if path.suffix.lower() in _SUFFIXES or os.sep in name:
        if not path.is_file():
            raise ParameterError(f"soundfont {name!r}: no such file")
        return path
    found = available_soundfonts()
    lower = {k.lower(): v for k, v in found.items()}
    if name.lower() in lower:
        return lower[name.lower()]
    raise ParameterError(
        did_you_mean(name, found, what="soundfont") + ". Install the Debian packages with "
        "`apt-get install fluid-soundfont-gm timgm6mb-soundfont musescore-general-soundfont` "
        "(./setup.sh does), or give a path to an .sf2/.sf3 file"
    )


class FluidSynthesizer(Synthesizer):
    """Render note events with FluidSynth.

    Parameters
    ----------
    sample_rate : int
        Output samples per second (MSMD: 22,050).
    program : int
        General MIDI program set on every channel (0 = acoustic grand piano).
    soundfont : str
        Default soundfont name or path.
    gain : float
        FluidSynth's master gain (MSMD: 0.2, FluidSynth's default; four-part
        chorales at velocity 64 peak near 0.05).
    """

    def __init__(self, sample_rate: int = 22050, program: int = 0, gain: float = 0.2,
                 soundfont: str = "FluidR3_GM"):
        super().__init__(sample_rate=sample_rate, program=program, gain=gain)
        self.default_soundfont = soundfont
        self._synth = None
        self._sfids: dict[Path, int] = {}
        self._clock = 0  # samples rendered by this synthesizer so far

    def _samples(self, synth, n: int) -> np.ndarray:
        self._clock += n
        return synth.get_samples(n) if n > 0 else np.zeros(0, np.int16)

    def _get_synth(self):
        if self._synth is None:
            try:
                # pyfluidsynth prints where it found the library when $CI is set;
                # keep stdout clean for --json output
                with contextlib.redirect_stdout(io.StringIO()):
                    import fluidsynth
            except (ImportError, OSError) as exc:
                raise RenderError(
                    f"cannot load FluidSynth ({exc}); install Debian's libfluidsynth3 "
                    "(./setup.sh does) and pyfluidsynth"
                ) from None
            self._synth = fluidsynth.Synth(gain=self.gain, samplerate=float(self.sample_rate))
        return self._synth

    def check_soundfont(self, soundfont: str) -> None:
        find_soundfont(soundfont)

    def _select(self, soundfont: str) -> None:
        synth = self._get_synth()
        path = find_soundfont(soundfont)
        if path not in self._sfids:
            sfid = synth.sfload(str(path))
            if sfid < 0:
                raise RenderError(f"{path}: FluidSynth cannot load this soundfont")
            self._sfids[path] = sfid
        sfid = self._sfids[path]
        for chan in range(16):
            bank = 128 if chan == 9 else 0
            program = 0 if chan == 9 else self.program
            synth.program_select(chan, sfid, bank, program)

    def synthesize(self, events: Sequence[NoteEvent], *, soundfont: str | None = None,
                   tempo_factor: float = 1.0) -> np.ndarray:
        if tempo_factor <= 0:
            raise ParameterError(f"tempo factor must be > 0, got {tempo_factor}")
        synth = self._get_synth()
        # A worker of `ast data render` plays many pieces on one synthesizer, so that
        # a piece sounds (nearly) the same whichever pieces came before: back to the
        # initial voices and controllers, and the piece starts on FluidSynth's
        # 64-sample block grid — note-ons take effect at block boundaries of the
        # synthesizer's running clock, so a piece starting mid-block had every
        # note shifted by up to 63 samples (amplitude differences up to 0.1).  The
        # modulated reverb and chorus still carry ~0.003 of history; only a fresh
        # synthesizer (reloading the soundfonts) would remove that.
        synth.system_reset()
        self._samples(synth, (-self._clock) % BLOCK)
        self._select(soundfont or self.default_soundfont)
        sr = self.sample_rate
        # (sample, order, pitch, velocity): note-offs (order 0) before note-ons at
        # the same sample, so a repeated pitch is re-struck, not cut.
        messages = []
        for e in events:
            if not 0 <= e.pitch <= 127:
                continue
            start = int(round(e.onset / tempo_factor * sr))
            stop = max(start + 1, int(round((e.onset + e.duration) / tempo_factor * sr)))
            messages.append((start, 1, e.pitch, int(np.clip(e.velocity, 1, 127))))
            messages.append((stop, 0, e.pitch, 0))
        messages.sort()
        end = (messages[-1][0] if messages else 0) + int(TAIL * sr)
        chunks, now = [], 0
        sounding: dict[int, int] = {}
        for sample, kind, pitch, velocity in messages:
            if sample > now:
                chunks.append(self._samples(synth, sample - now))
                now = sample
            if kind == 1:
                if sounding.get(pitch, 0) > 0:
                    synth.noteoff(0, pitch)  # re-strike a pitch still held by another voice
                synth.noteon(0, pitch, velocity)
                sounding[pitch] = sounding.get(pitch, 0) + 1
            elif sounding.get(pitch, 0) > 0:
                sounding[pitch] -= 1
                if sounding[pitch] == 0:
                    synth.noteoff(0, pitch)
        if end > now:
            chunks.append(self._samples(synth, end - now))
        stereo = np.concatenate(chunks).astype(np.float32).reshape(-1, 2) / 32768.0
        # silence and flush every voice so the next piece starts from silence
        synth.all_sounds_off(0)
        self._samples(synth, int(0.2 * sr))
        return np.clip(stereo.mean(axis=1), -1.0, 1.0)

    def __del__(self):
        synth = getattr(self, "_synth", None)
        if synth is not None:
            try:
                synth.delete()
            except Exception:
                pass
