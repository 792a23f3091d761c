"""Renderers, synthesizer and spectrogram on real corpus pieces.

Every registered renderer is held to the same contract: one note head per
notated note, onsets that grow with x inside a system, and agreement with the
other renderers on the same piece.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from ast_toolkit import plugins
from ast_toolkit.errors import ParameterError, ToolkitError
from ast_toolkit.data.sources import expand_source
from ast_toolkit.data.spectrogram import DORFER2016, bin_frequencies, n_bins, spectrogram
from ast_toolkit.types import ScoreSource

RENDERERS = plugins.names("renderers")

#: A monophonic folk tune with ties, a four-part chorale, a reel with repeats.
PIECES = {
    "folk": "music21:essenFolksong/altdeu10.abc",  # tune 12 below
    "chorale": "music21:bach/bwv66.6.mxl",
    "repeats": "music21:ryansMammoth/BanjoReel.abc",
}


def _source(key: str) -> ScoreSource:
    sources = expand_source(PIECES[key])
    if key == "folk":
        return next(s for s in sources if s.number == 12)
    return sources[0]


@functools.lru_cache(maxsize=None)
def render(renderer: str, key: str):
    return plugins.create("renderers", renderer).render(_source(key))


@functools.lru_cache(maxsize=None)
def synth():
    return plugins.create("synthesizers", "fluidsynth")


def notated_pitches(key: str) -> list[int]:
    from ast_toolkit_plugins.renderers.engraving import load_score

    return sorted(p.midi for n in load_score(_source(key)).recurse().notes for p in n.pitches)


@pytest.mark.parametrize("renderer", RENDERERS)
@pytest.mark.parametrize("key", ["folk", "chorale", "repeats"])
def test_one_notehead_per_notated_note(renderer, key):
    score = render(renderer, key)
    assert sorted(n.pitch for n in score.noteheads) == notated_pitches(key)
    assert len({n.id for n in score.noteheads}) == len(score.noteheads), "note-head ids repeat"
    heads = {n.id for n in score.noteheads}
    assert all(e.notehead in heads for e in score.events)
    # every system box holds its note heads (a little slack for ledger-line notes)
    systems = {s.index: s for s in score.systems}
    for n in score.noteheads:
        s = systems[n.system]
        assert s.page == n.page
        assert s.bbox[0] - 1 <= n.bbox[0] and n.bbox[2] <= s.bbox[2] + 1
        cy = (n.bbox[1] + n.bbox[3]) / 2
        assert s.bbox[1] - 80 <= cy <= s.bbox[3] + 80
    for page in score.pages:
        assert page.dtype == np.uint8 and page.ndim == 2
        assert page.shape[1] == 835
        assert (page < 128).mean() > 0.005, "a page without ink"


@pytest.mark.parametrize("renderer", RENDERERS)
@pytest.mark.parametrize("key", ["folk", "chorale", "repeats"])
def test_onsets_grow_with_x_within_a_system(renderer, key):
    score = render(renderer, key)
    first = {}
    for e in score.events:
        first.setdefault(e.notehead, e.onset)
    by_system: dict[int, list] = {}
    for n in score.noteheads:
        if n.id in first:
            by_system.setdefault(n.system, []).append(((n.bbox[0] + n.bbox[2]) / 2, first[n.id], n.bbox[2] - n.bbox[0]))
    assert by_system
    for system, heads in by_system.items():
        heads.sort()
        xs = np.array([h[0] for h in heads])
        ts = np.array([h[1] for h in heads])
        width = max(h[2] for h in heads)
        # any head clearly left of another is played no later than it
        clearly_left = xs[:, None] + width < xs[None, :]
        later = ts[:, None] > ts[None, :] + 1e-3
        bad = np.argwhere(clearly_left & later)
        assert len(bad) == 0, f"system {system}: {len(bad)} note pairs out of order, e.g. {heads[bad[0][0]]} vs {heads[bad[0][1]]}"


@pytest.mark.parametrize("renderer", RENDERERS)
def test_repeats_play_twice_and_map_back_to_one_notehead(renderer):
    score = render(renderer, "repeats")
    plays = {}
    for e in score.events:
        plays[e.notehead] = plays.get(e.notehead, 0) + 1
    assert len(score.events) > len(score.noteheads)
    assert max(plays.values()) >= 2
    # every note head is played (grace notes: Verovio plays them, LilyPond's
    # moments give them no time, so they are the only heads allowed silent)
    assert len(score.noteheads) - len(plays) <= 2


@pytest.mark.parametrize("renderer", RENDERERS)
def test_ties_merge_into_one_event(renderer):
    from ast_toolkit_plugins.renderers.engraving import load_score

    score = render(renderer, "chorale")
    tied_continuations = sum(
        1 for n in load_score(_source("chorale")).recurse().notes
        if n.tie is not None and n.tie.type in ("stop", "continue")
    )
    assert tied_continuations > 0
    assert len(score.events) == len(score.noteheads) - tied_continuations


def test_verovio_ids_are_stable_across_runs():
    r1 = plugins.create("renderers", "verovio").render(_source("folk"))
    r2 = plugins.create("renderers", "verovio").render(_source("folk"))
    assert [n.id for n in r1.noteheads] == [n.id for n in r2.noteheads]
    assert [n.bbox for n in r1.noteheads] == [n.bbox for n in r2.noteheads]


@pytest.mark.skipif(len(RENDERERS) < 2, reason="needs two renderers")
@pytest.mark.parametrize("key", ["folk", "chorale"])
def test_renderers_agree(key):
    """Same note heads (count and pitches) and the same onsets, at one tempo."""
    scores = {r: plugins.create("renderers", r).render(_source(key), qpm=100.0) for r in RENDERERS}
    ref_name, ref = next(iter(scores.items()))
    for name, score in scores.items():
        assert sorted(n.pitch for n in score.noteheads) == sorted(n.pitch for n in ref.noteheads), name
        a = sorted((round(e.onset, 3), e.pitch) for e in score.events)
        b = sorted((round(e.onset, 3), e.pitch) for e in ref.events)
        assert a == b, f"{name} and {ref_name} perform {key} differently"


@pytest.mark.parametrize("renderer", RENDERERS)
def test_corrupt_score_is_a_clear_error(renderer, tmp_path):
    bad = tmp_path / "broken.xml"
    bad.write_text("<score-partwise><part id='P1'><measure>")  # truncated
    with pytest.raises(ToolkitError, match="broken.xml"):
        plugins.create("renderers", renderer).render(ScoreSource("local/broken.xml", bad))


# --- synthesis ---------------------------------------------------------------------


@pytest.mark.parametrize("key,min_fraction", [("folk", 0.95), ("chorale", 0.85)])
def test_audio_has_energy_at_the_played_pitch(key, min_fraction):
    import librosa

    score = render("verovio", key)
    audio = synth().synthesize(score.events, soundfont="TimGM6mb")
    sr = synth().sample_rate
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 0.01 < np.abs(audio).max() <= 1.0
    chroma = librosa.feature.chroma_cqt(y=audio, sr=sr, hop_length=512)
    hits = 0
    for e in score.events:
        f0 = int((e.onset + 0.05) * sr / 512)
        frame = chroma[:, f0:f0 + 3].mean(axis=1)
        hits += frame[e.pitch % 12] >= 0.5 * frame.max()
    assert hits / len(score.events) >= min_fraction
    # and silence before the first onset of a later-starting copy
    shifted = [type(e)(e.onset + 1.0, e.duration, e.pitch, e.velocity, e.notehead) for e in score.events[:5]]
    quiet = synth().synthesize(shifted, soundfont="TimGM6mb")
    assert np.abs(quiet[: int(0.9 * sr)]).max() < 1e-3


def test_tempo_factor_scales_duration():
    score = render("verovio", "folk")
    slow = synth().synthesize(score.events, tempo_factor=0.5)
    fast = synth().synthesize(score.events, tempo_factor=2.0)
    sr = synth().sample_rate
    end = max(e.onset + e.duration for e in score.events)
    assert abs(len(slow) / sr - (end / 0.5 + 1.0)) < 0.05
    assert abs(len(fast) / sr - (end / 2.0 + 1.0)) < 0.05


def test_unknown_soundfont_names_close_matches():
    with pytest.raises(ParameterError, match="did you mean.*FluidR3_GM"):
        synth().synthesize([], soundfont="FluidR3")


# --- spectrogram --------------------------------------------------------------------


def test_msmd_spectrogram_has_92_bins_at_20_fps():
    assert n_bins() == 92
    sr = 22050
    t = np.arange(3 * sr) / sr
    spec = spectrogram(np.sin(2 * np.pi * 440.0 * t).astype(np.float32))
    assert spec.shape == (92, 60)
    centre = bin_frequencies()
    peak = int(np.bincount(spec.argmax(axis=0)).argmax())
    assert abs(np.log2(centre[peak] / 440.0)) < 1 / 16


def test_seed001_setting_gives_136_bins_at_31_25_fps():
    sr = DORFER2016.sample_rate
    spec = spectrogram(np.zeros(2 * sr, dtype=np.float32), sample_rate=sr,
                       frame_size=DORFER2016.frame_size, fps=DORFER2016.fps,
                       bands_per_octave=DORFER2016.bands_per_octave, fmin=DORFER2016.fmin, fmax=DORFER2016.fmax)
    assert spec.shape == (136, int(np.ceil(2 * 31.25)))


def test_frames_do_not_drift_with_a_fractional_hop():
    """22,050 / 20 = 1,102.5 samples: a click at 50 s is in the middle of frame 1,000
    when frames are centred at i/fps, and half a frame (1,024 samples) later when
    they start there (MSMD's)."""
    sr = 22050
    audio = np.zeros(60 * sr, dtype=np.float32)
    audio[50 * sr] = 1.0
    assert int(spectrogram(audio, frame_origin="centre").sum(axis=0).argmax()) == 1000
    audio[:] = 0
    audio[50 * sr + 1024] = 1.0
    assert int(spectrogram(audio).sum(axis=0).argmax()) == 1000
