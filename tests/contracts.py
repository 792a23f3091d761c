"""Behaviour every plugin of a group must show, as functions the contract tests call.

They live apart from the tests so that a test of a third-party plugin (the
example distribution, ``tests/test_third_party.py``) holds it to the same
contract as the bundled ones.
"""

from __future__ import annotations

import numpy as np

import pytest

from ast_toolkit.data.spectrogram import n_bins
from ast_toolkit.errors import ParameterError
from ast_toolkit.interfaces import Dataset, Matcher, Renderer
from ast_toolkit.types import Collection, NoteEvent, PairTable, ScoreSource


def check_dataset(ds: Dataset, *, pairs: bool = True) -> None:
    """A dataset's pieces, splits, sequences, (pairs), integrity and counts are consistent."""
    every = ds.piece_ids()
    assert every == sorted(every) and len(set(every)) == len(every) > 0
    per_split = [ds.piece_ids(s) for s in ds.SPLITS]
    assert sorted(p for ids in per_split for p in ids) == every, "splits must partition the pieces"
    bins = n_bins(ds.spectrogram)
    h, w = ds.sheet_window
    for piece in every[:3]:
        seq = ds.sequence(piece, sheet_hop=50, audio_hop=10)
        assert seq.piece == piece and seq.sides
        if "sheet" in seq.sides:
            assert seq.sheet.shape[1:] == (h, w) and seq.sheet.dtype == np.float32
            assert 0.0 <= seq.sheet.min() and seq.sheet.max() <= 1.0
            assert seq.sheet_positions.shape == (len(seq.sheet), 3)
            systems = seq.sheet_positions[:, 1]
            assert (np.diff(systems) >= 0).all(), "sheet windows must come in reading order"
        if "audio" in seq.sides:
            assert seq.audio.shape[1:] == (bins, ds.audio_context)
            assert seq.audio.dtype == np.float32
            step = np.diff(seq.audio_times)
            assert np.allclose(step, 10 / ds.spectrogram.fps, atol=1e-4), "excerpts every 10 frames"
            assert 0 < seq.audio_times[-1] <= seq.duration + 1e-3
        fewer = ds.sequence(piece, sheet_hop=100, audio_hop=20)
        for side, a, b in (("sheet", seq.sheet, fewer.sheet), ("audio", seq.audio, fewer.audio)):
            if side in seq.sides:
                assert len(b) == (len(a) + 1) // 2, f"a doubled {side} hop halves the snippets"
        names = ds.performances(piece)
        if names:
            perf = ds.performance(piece, names[0])
            assert perf.spectrogram.shape[0] == bins and perf.duration > 0
        if ds.pages(piece):
            page = ds.page(piece, 0)
            assert page.dtype == np.uint8 and page.ndim == 2
            assert ds.systems(piece), "a piece with pages has systems"
    if pairs:
        table = ds.pair_table("train")
        assert isinstance(table, PairTable) and len(table) > 0
        rows = np.arange(min(len(table), 40))
        s1, a1 = ds.batch(table, rows)
        s2, a2 = ds.batch(table, rows)
        assert s1.shape == (len(rows), h, w) and a1.shape == (len(rows), bins, ds.audio_context)
        assert np.array_equal(s1, s2) and np.array_equal(a1, a2), "no generator: deterministic"
        r1 = ds.batch(table, rows, rng=np.random.default_rng(5), audio_jitter=1)
        r2 = ds.batch(table, rows, rng=np.random.default_rng(5), audio_jitter=1)
        assert all(np.array_equal(x, y) for x, y in zip(r1, r2)), "one seed, one batch"
        ids = table.sheet_id[rows]
        for i in range(len(rows)):
            for j in range(i):
                if ids[i] == ids[j]:
                    assert np.array_equal(s1[i], s1[j]), "one sheet id, one sheet window"
    missing, corrupt = ds.validate()
    assert missing == [] and corrupt == []
    stats = ds.stats()
    assert stats["all"]["pieces"] == len(every)


def check_synthesizer(synth, *, sample_rate: int) -> None:
    """Notes start where they should, tempo scales time, a second run sounds the same."""
    assert synth.sample_rate == sample_rate
    notes = [NoteEvent(0.5, 0.4, 60, 80), NoteEvent(1.0, 0.4, 64, 80), NoteEvent(1.5, 0.4, 67, 80)]
    audio = synth.synthesize(notes)
    sr = sample_rate
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert np.abs(audio).max() <= 1.0 and len(audio) >= int(1.9 * sr)
    assert np.abs(audio[: int(0.45 * sr)]).max() < 1e-3, "silence before the first onset"
    assert np.abs(audio[int(0.55 * sr): int(0.85 * sr)]).max() > 0.01, "sound after it"
    # the first note's fundamental: C4 = 261.6 Hz is the strongest partial below 400 Hz
    seg = audio[int(0.6 * sr): int(0.9 * sr)]
    spectrum = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    freqs = np.fft.rfftfreq(len(seg), 1 / sr)
    low = (freqs > 100) & (freqs < 400)
    assert abs(freqs[low][spectrum[low].argmax()] - 261.6) < 8
    fast = synth.synthesize(notes, tempo_factor=2.0)
    assert np.abs(fast[: int(0.22 * sr)]).max() < 1e-3 and np.abs(fast[int(0.3 * sr):int(0.45 * sr)]).max() > 0.01
    assert len(fast) < len(audio)
    again = synth.synthesize(notes)
    n = min(len(again), len(audio))
    assert np.abs(again[:n] - audio[:n]).max() < 0.02, "a second run sounds the same"


def check_gain(synth_of) -> None:
    """The core's ``gain`` keyword sets the level: four times the gain, about 12 dB louder.

    ``synth_of(gain=...)`` makes the synthesizer.
    """
    notes = [NoteEvent(0.1, 0.5, 60, 64), NoteEvent(0.1, 0.5, 64, 64)]
    soft, loud = (synth_of(gain=g) for g in (0.2, 0.8))
    assert soft.gain == 0.2 and loud.gain == 0.8
    a, b = soft.synthesize(notes), loud.synthesize(notes)
    ratio = np.sqrt(np.mean(b.astype(np.float64) ** 2) / np.mean(a.astype(np.float64) ** 2))
    assert 2.5 < ratio < 6.0, f"gain 0.8 vs 0.2: level ratio {ratio:.2f}, expected about 4"
    with pytest.raises(ParameterError, match="gain"):
        synth_of(gain=0)


def check_matcher(m: Matcher, collection: Collection) -> None:
    """Whole pieces find themselves first; rankings, candidates and locations are consistent."""
    with pytest.raises(ParameterError, match="fit"):
        type(m)().match(collection.sequence(0))
    m.fit(collection)
    for p in (3, 17, 30):
        query = collection.sequence(p)
        res = m.match(query, top=5)
        assert len(res) == 5 and res[0].piece == collection.ids[p]
        scores = [r.score for r in res]
        assert scores == sorted(scores, reverse=True)
        for r in res:
            if r.start >= 0:
                assert 0 <= r.start <= r.end < collection.lengths[collection.index(r.piece)]
        assert res[0].start >= 0, "the best match is located"
    full = m.match(collection.sequence(3), top=None)
    assert sorted(r.piece for r in full) == sorted(collection.ids)
    only = m.match(collection.sequence(3), top=None, candidates=[5, 3, 9])
    assert sorted(r.piece for r in only) == ["piece03", "piece05", "piece09"]
    assert only[0].piece == "piece03"


def check_renderer(renderer_of, source: ScoreSource) -> None:
    """The core's constructor keyword (page width) and the tempo are honoured.

    ``renderer_of(page_width=...)`` makes the renderer.
    """
    narrow: Renderer = renderer_of(page_width=600)
    assert narrow.page_width == 600
    score = narrow.render(source, qpm=120.0)
    assert score.pages and all(p.shape[1] == 600 and p.dtype == np.uint8 for p in score.pages)
    assert [s.index for s in score.systems] == list(range(len(score.systems)))
    heads = {n.id: n for n in score.noteheads}
    for n in score.noteheads:
        assert -1 <= n.bbox[0] <= n.bbox[2] <= 601 and 0 <= n.page < len(score.pages)
        page = score.pages[n.page]
        x0, y0, x1, y1 = (int(round(v)) for v in n.bbox)
        assert (page[max(y0, 0):y1 + 1, max(x0, 0):x1 + 1] < 128).mean() > 0.1, "ink in the head's box"
    assert all(e.notehead in heads for e in score.events)
    onsets = [e.onset for e in score.events]
    assert onsets == sorted(onsets)
    slow = renderer_of(page_width=600).render(source, qpm=60.0)
    assert np.allclose([e.onset for e in slow.events], 2 * np.array(onsets), atol=1e-3)
    with pytest.raises(ParameterError, match="page_width"):
        renderer_of(page_width=50)
    # the engraving scale: the staff lines of the page are staff_space apart
    for space in (7.0, 10.0):
        scaled = renderer_of(page_width=835, staff_space=space)
        assert scaled.staff_space == space
        measured = staff_line_spacing(scaled.render(source).pages[0])
        assert abs(measured - space) < 0.75, f"staff_space={space}: lines {measured:.2f} px apart"
    with pytest.raises(ParameterError, match="staff_space"):
        renderer_of(page_width=835, staff_space=1.0)


def staff_line_spacing(page: np.ndarray) -> float:
    """Median distance in pixels between neighbouring staff lines of a page image.

    A staff line is a run of rows holding at least half the ink of the inkiest row.
    """
    dark = (1.0 - np.asarray(page, np.float64) / 255.0).mean(axis=1)
    rows = np.flatnonzero(dark > 0.5 * dark.max())
    lines, run = [], [rows[0]]
    for r in rows[1:]:
        if r == run[-1] + 1:
            run.append(r)
        else:
            lines.append(np.mean(run))
            run = [r]
    lines.append(np.mean(run))
    gaps = np.diff(lines)
    return float(np.median(gaps[gaps < 3 * np.median(gaps)]))
