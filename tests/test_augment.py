"""Training augmentation (`ast fit --augment`): every registered augmentation, on real pairs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ast_toolkit import plugins
from ast_toolkit.data.datasets import open_dataset
from ast_toolkit.data.spectrogram import bin_frequencies, spectrogram
from ast_toolkit.errors import ParameterError, UnknownNameError
from ast_toolkit.learn.augment import PRESETS, Augmenter, expand
from ast_toolkit.learn.training import FitConfig, fit
from ast_toolkit.types import NoteEvent
from ast_toolkit_plugins.augmentations.sheet import gaussian_blur

AUGMENTATIONS = plugins.names("augmentations")
#: quick settings for tests (a small bank of room responses)
FAST = {"reverb": ["reverb.bank=2"]}
TINY = {"filters": [8, 16, 16, 16]}
QUICK = dict(epoch_samples=120, batch_size=40, max_epochs=2, val_candidates=60, refit_samples=300)


def _augmenter(name: str, *params: str) -> Augmenter:
    return Augmenter([name], [*FAST.get(name, []), *params])


@pytest.fixture(scope="module")
def pairs(tunes):
    """Sixteen real training pairs of the tunes: windows and wide excerpts."""
    ds = open_dataset(tunes)
    table = ds.pair_table("train")
    rows = np.linspace(0, len(table) - 1, 16).astype(int)
    return ds, table, rows


def _batch(pairs, aug: Augmenter):
    ds, table, rows = pairs
    context = ds.audio_context
    before, after = aug.extent(context // 2, context - context // 2)
    sheets, audio = ds.batch(table, rows, extent=(before, after))
    return torch.from_numpy(sheets)[:, None], torch.from_numpy(audio)[:, None], before, context


def _run(aug: Augmenter, x_s, x_a, before, context, seed):
    rng = np.random.default_rng(seed)
    return aug.apply_sheets(x_s, rng), aug.apply_audio(x_a, rng, before=before, context=context)


def test_presets_cover_every_bundled_augmentation():
    assert set(PRESETS["all"]) == {n for n in AUGMENTATIONS if plugins.get("augmentations", n)
                                   .distribution == "ast-toolkit"}
    assert expand(["sheet,tempo", "rotate"])[:2] == ("rotate", "scale")
    with pytest.raises(UnknownNameError, match="did you mean 'reverb'"):
        expand(["reverbb"])


@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_every_augmentation_keeps_shapes_is_seeded_and_off_at_p0(name, pairs):
    aug = _augmenter(name, f"{name}.p=1.0")
    plugin = aug.plugins[0]
    if plugin.stage == "rendition":
        ds, table, rows = pairs
        piece = table.pieces[rows[0]]
        wave, rate, events = ds.performance_audio(piece, ds.performances(piece)[0])
        a = plugin.vary(wave, rate, events, np.random.default_rng(0))
        b = plugin.vary(wave, rate, events, np.random.default_rng(0))
        assert a.shape == wave.shape and a.dtype == np.float32 and np.isfinite(a).all()
        # the synthesizer keeps ~0.003 of reverb history between pieces (see fluidsynth.py)
        assert np.allclose(a, b, atol=0.005)
        assert not np.allclose(a, wave, atol=1e-3)
        return
    x_s, x_a, before, context = _batch(pairs, aug)
    s1, a1 = _run(aug, x_s, x_a, before, context, 5)
    s2, a2 = _run(aug, x_s, x_a, before, context, 5)
    assert s1.shape == x_s.shape and a1.shape == (*x_a.shape[:3], context)
    assert torch.isfinite(s1).all() and torch.isfinite(a1).all()
    assert torch.equal(s1, s2) and torch.equal(a1, a2)
    assert s1.min() >= 0 and s1.max() <= 1
    plain_a = x_a[..., before - context // 2: before - context // 2 + context]
    changed = not torch.equal(s1, x_s) if plugin.modality == "sheet" else not torch.allclose(a1, plain_a)
    assert changed, f"{name} at p=1 left the batch as it was"
    off = _augmenter(name, f"{name}.p=0.0")
    s0, a0 = _run(off, x_s, x_a, before, context, 5)
    assert torch.allclose(s0, x_s, atol=1e-5) and torch.allclose(a0, plain_a, atol=1e-5)


def _clicks(every: int, frames: int = 201, bins: int = 92) -> torch.Tensor:
    x = torch.zeros(1, 1, bins, frames)
    x[..., (frames // 2) % every::every] = 1.0
    return x


def test_tempo_plays_faster_and_slower_about_the_onset():
    fast = Augmenter(["tempo"], ["tempo.p=1", "tempo.low=2.0", "tempo.high=2.0"])
    slow = Augmenter(["tempo"], ["tempo.p=1", "tempo.low=0.5", "tempo.high=0.5"])
    x = _clicks(4)
    out = fast.apply_audio(x, np.random.default_rng(0), before=100, context=42)
    peaks = torch.nonzero(out[0, 0, 0] > 0.99).flatten().tolist()
    assert peaks[:3] == [1, 3, 5] and 21 in peaks  # clicks every 2 frames, one at the onset
    out = slow.apply_audio(x, np.random.default_rng(0), before=100, context=42)
    peaks = torch.nonzero(out[0, 0, 0] > 0.99).flatten().tolist()
    assert np.all(np.diff(peaks) == 8) and 21 in peaks


def test_tuning_moves_a_tone_by_at_most_a_semitone():
    hz = bin_frequencies()
    tone = spectrogram(np.sin(2 * np.pi * 440 * np.arange(44100) / 22050).astype(np.float32))
    x = torch.from_numpy(np.repeat(tone[None, None, :, 10:11], 64, axis=0))
    out = Augmenter(["tuning"], ["tuning.p=1"]).apply_audio(x, np.random.default_rng(1),
                                                            before=0, context=1)
    peaks = hz[out[:, 0, :, 0].argmax(dim=1).numpy()]
    ratio = np.log2(peaks / 440.0) * 12
    assert np.all(np.abs(ratio) < 1.6)  # the filterbank's 0.75-semitone bins
    assert len(set(np.round(ratio, 2))) >= 3  # up, down and unchanged


def test_noise_is_added_at_the_asked_signal_to_noise_ratio(pairs):
    aug = Augmenter(["audio-noise"], ["audio-noise.p=1", "audio-noise.low=20", "audio-noise.high=20"])
    _, x_a, before, context = _batch(pairs, aug)
    out = aug.apply_audio(x_a, np.random.default_rng(0), before=before, context=context)
    m_in, m_out = 10 ** x_a - 1, 10 ** out - 1
    noise = (m_out ** 2 - m_in ** 2).mean(dim=(1, 2, 3))
    snr = 10 * torch.log10((m_in ** 2).mean(dim=(1, 2, 3)) / noise)
    assert torch.allclose(snr, torch.full_like(snr, 20.0), atol=0.5)


def test_reverb_leaves_a_tail_after_a_note_and_never_sounds_before_it():
    aug = Augmenter(["reverb"], ["reverb.p=1", "reverb.bank=2", "reverb.low=1.0", "reverb.high=1.2"])
    before, after = aug.extent(21, 21)
    x = torch.zeros(2, 1, 92, before + after)
    x[..., before] = 1.0  # a short chord at the onset
    out = aug.apply_audio(x, np.random.default_rng(0), before=before, context=42)
    assert torch.all(out[..., :21] == 0)  # silence before the onset stays silent
    tail = out[..., 23:30].mean()
    assert tail > 0.02, "no reverberation tail after the note"


def test_eq_gain_scales_every_magnitude_alike():
    aug = Augmenter(["eq"], ["eq.p=1", "eq.tilt=0", "eq.bumps=0", "eq.gain=6"])
    x = 0.2 + 0.8 * torch.rand(8, 1, 92, 42, generator=torch.Generator().manual_seed(0))
    out = aug.apply_audio(x, np.random.default_rng(0), before=21, context=42)
    ratio = (10 ** out - 1) / (10 ** x - 1)
    per_sample = ratio.flatten(1)
    assert torch.allclose(per_sample, per_sample[:, :1].expand_as(per_sample), rtol=1e-3)
    assert (per_sample[:, 0].log10().abs() * 20 <= 6.01).all()


def _bar(width: int = 6) -> torch.Tensor:
    x = torch.zeros(1, 1, 160, 200)
    x[..., 40:120, 100 - width // 2: 100 + width // 2] = 1.0
    return x


def test_scale_and_rotate_move_ink_as_asked():
    big = Augmenter(["scale"], ["scale.p=1", "scale.low=1.5", "scale.high=1.5"])
    out = big.apply_sheets(_bar(), np.random.default_rng(0))
    rows = torch.nonzero(out[0, 0, :, 100] > 0.5).flatten()
    assert 115 <= int(rows.max() - rows.min()) + 1 <= 125  # 80 px tall bar now 120 px
    turned = Augmenter(["rotate"], ["rotate.p=1", "rotate.degrees=4"]).apply_sheets(
        _bar(2), np.random.default_rng(3))
    cols = torch.nonzero(turned[0, 0] > 0.3)[:, 1]
    assert int(cols.max() - cols.min()) >= 4  # a vertical bar now leans


def test_ink_thickens_or_thins_strokes():
    x = gaussian_blur(_bar(4), np.array([0.8]))  # a stroke with soft edges, as rendered
    out = Augmenter(["ink"], ["ink.p=1", "ink.binary=1", "ink.amount=0.4"]).apply_sheets(
        x.repeat(32, 1, 1, 1), np.random.default_rng(0))
    widths = (out[:, 0, 80] > 0.5).sum(dim=1)
    assert widths.min() < 4 < widths.max()  # thinner (faded) and thicker (bled) strokes


def test_codec_and_soundfont_keep_the_notes_where_they_were(pairs):
    ds, table, rows = pairs
    piece = table.pieces[rows[3]]
    name = ds.performances(piece)[0]
    wave, rate, events = ds.performance_audio(piece, name)
    reference = spectrogram(wave).sum(axis=0)
    for aug in ("codec", "soundfont"):
        plugin = _augmenter(aug).plugins[0]
        out = plugin.vary(wave, rate, events, np.random.default_rng(2))
        energy = spectrogram(out).sum(axis=0)
        onsets_in = np.flatnonzero(np.diff(reference) > 0.5 * np.diff(reference).max())
        onsets_out = np.flatnonzero(np.diff(energy) > 0.5 * np.diff(energy).max())
        assert min(abs(onsets_out[0] - onsets_in[0]), 99) <= 1, aug
    codec = _augmenter("codec").plugins[0].vary(wave, rate, events, np.random.default_rng(0))
    assert np.corrcoef(codec, wave)[0, 1] > 0.9


def test_bad_settings_are_refused_by_name():
    with pytest.raises(ParameterError, match="unknown parameter 'hihg'; did you mean 'high'"):
        Augmenter(["tempo"], ["tempo.hihg=1.3"])
    with pytest.raises(ParameterError, match="not among the augmentations of this run"):
        Augmenter(["tempo"], ["reverb.p=0.3"])
    with pytest.raises(ParameterError, match="p must be a probability"):
        Augmenter(["blur"], ["blur.p=2"])
    with pytest.raises(ParameterError, match="0.1 <= low <= high"):
        Augmenter(["tempo"], ["tempo.low=1.5", "tempo.high=1.2"])
    with pytest.raises(ParameterError, match="formats must be some of"):
        Augmenter(["codec"], ["codec.formats=[\"wav\"]"])
    with pytest.raises(ParameterError, match="low <= high <= 0.99"):
        Augmenter(["codec"], ["codec.high=1.0"])


def test_fit_with_soundfont_variants_records_them_and_drops_its_cache(tunes, tmp_path):
    cfg = FitConfig(**{**QUICK, "max_epochs": 1}, augmentations=("soundfont", "eq"),
                    augment_params=("eq.gain=3",), variants=2)
    fit(tunes, tmp_path / "a", encoder="cnn", params=TINY, config=cfg)
    done = json.loads((tmp_path / "a" / "config.json").read_text())
    assert set(done["augmentations"]) == {"soundfont", "eq"}
    assert done["augmentations"]["eq"]["gain"] == 3 and done["fit"]["variants"] == 2
    assert not (tmp_path / "a" / "augmented").exists()  # the variants were a cache of the run


def test_augmented_fit_is_seeded_and_resumes_exactly(tunes, tmp_path):
    """Every augmentation but ``soundfont``, whose synthesizer keeps a trace of the pieces
    played before (~0.003): the same seed gives the same weights, and a run killed after
    its variants were made resumes from them to the same weights."""
    cfg = FitConfig(**QUICK, seed=4, augmentations=("sheet", "audio", "codec"),
                    augment_params=("reverb.bank=2",))
    a, c = tmp_path / "a", tmp_path / "c"
    fit(tunes, a, encoder="cnn", params=TINY, config=cfg)
    recorded = json.loads((a / "config.json").read_text())["augmentations"]
    assert set(recorded) == set(PRESETS["sheet"] + PRESETS["audio"]) | {"codec"}
    assert recorded["reverb"]["bank"] == 2

    def kill(step):
        if step.task == "train" and step.message is None and step.info.get("epoch") == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(tunes, c, encoder="cnn", params=TINY, config=cfg, progress=kill)
    assert any((c / "augmented").rglob("*.npy"))  # variants kept for the resumed run
    fit(tunes, c, encoder="cnn", params=TINY, config=cfg, resume=True)
    wa = torch.load(a / "weights.pt", weights_only=True)
    wc = torch.load(c / "weights.pt", weights_only=True)
    assert all(torch.equal(wa[k], wc[k]) for k in wa)


def test_fit_cli_names_a_misspelt_augmentation(tunes, tmp_path, ast_cmd):
    proc = ast_cmd("fit", "-d", str(tunes), "--augment", "sheet,tempoo", "-o", str(tmp_path / "m"))
    assert proc.returncode != 0 and "did you mean 'tempo'" in proc.stderr
    assert "Traceback" not in proc.stderr
    ok = ast_cmd("plugins", "show", "augmentations", "tempo")
    assert ok.returncode == 0 and "high" in ok.stdout


def test_soundfont_variant_plays_the_same_notes():
    plugin = plugins.create("augmentations", "soundfont")
    events = [NoteEvent(0.5, 0.4, 60, 64), NoteEvent(1.0, 0.4, 64, 64)]
    out = plugin.vary(np.zeros(2 * 22050, np.float32), 22050, events, np.random.default_rng(0))
    level = np.abs(out).reshape(-1, 2205).max(axis=1)  # per 0.1 s
    assert level[:4].max() < 0.01 and level[5] > 0.01 and level[10] > 0.01


def test_fit_learns_from_several_datasets_at_once(tunes, tmp_path, ast_cmd):
    other = tmp_path / "other"
    proc = ast_cmd("data", "render", "music21:essenFolksong/han1.abc", "--limit", "4",
                   "--soundfont", "TimGM6mb", "--tempo", "1.0", "--out", str(other),
                   "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "m"
    cfg = FitConfig(**{**QUICK, "max_epochs": 1})
    fit([tunes, other], out, encoder="cnn", params=TINY, config=cfg)
    done = json.loads((out / "config.json").read_text())
    assert done["dataset"]["roots"] == [str(tunes.resolve()), str(other.resolve())]
    assert done["dataset"]["staff_space"] == 7.0
    joined = open_dataset(tunes)
    from ast_toolkit.data.collections import Joined

    both = Joined([joined, open_dataset(other)])
    table = both.pair_table("train")
    assert len(table) == len(joined.pair_table("train")) + len(open_dataset(other).pair_table("train"))
    assert len(set(table.sheet_id[: len(joined.pair_table("train"))]) &
               set(table.sheet_id[len(joined.pair_table("train")):])) == 0
    rows = np.array([len(table) - 1, 0, len(table) // 2])
    sheets, audio = both.batch(table, rows)
    alone, _ = joined.batch(joined.pair_table("train"), np.array([0]))
    assert np.array_equal(sheets[1], alone[0])  # row order kept across the parts
    with pytest.raises(ParameterError, match="piece id"):
        fit([tunes, tunes], tmp_path / "twice", encoder="cnn", params=TINY, config=cfg)
