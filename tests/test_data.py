"""`ast data render|show|stats|validate` and the `rendered` Dataset plugin, on real pieces."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from ast_toolkit import plugins
from ast_toolkit.data.build import dataset_spec, plan_dataset, validate_dataset
from ast_toolkit.errors import IntegrityError, UnknownEntryError
from ast_toolkit.catalog import SnippetSpec, load_registry
from ast_toolkit.types import SpectrogramSpec

from conftest import AST

#: Four folk tunes, one rendition each (the quick soundfont): a real dataset in seconds.
SOURCE = "music21:essenFolksong/altdeu10.abc"
OPTS = ["--limit", "4", "--soundfont", "TimGM6mb", "--workers", "2"]


@pytest.fixture(scope="module")
def folk(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data") / "folk"
    proc = subprocess.run([str(AST), "data", "render", SOURCE, "--out", str(out), *OPTS],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_render_writes_a_complete_valid_dataset(folk):
    manifest = json.loads((folk / "manifest.json").read_text())
    assert len(manifest["pieces"]) == 4
    assert {p["split"] for p in manifest["pieces"]} == {"train", "valid", "test"}
    assert (folk / ".complete").is_file()
    assert json.loads((folk / "failures.json").read_text()) == []
    for p in manifest["pieces"]:
        folder = folk / p["folder"]
        assert (folder / ".complete").is_file()
        assert (folder / "page_000.png").is_file()
        [rendition] = list((folder / "renditions").iterdir())
        meta = json.loads((rendition / "rendition.json").read_text())
        spec = np.load(rendition / "spectrogram.npy")
        assert spec.shape == (92, meta["n_frames"])
        assert abs(meta["n_frames"] / 20.0 - meta["duration"]) < 0.1
        frames = [e[4] for e in meta["events"]]
        assert frames == sorted(frames) and frames[-1] < spec.shape[1]
    assert validate_dataset(folk) == ([], [])


def test_split_is_deterministic():
    spec = dataset_spec(load_registry(), "demo")
    a = {p.source.id: p.split for p in plan_dataset(spec)}
    b = {p.source.id: p.split for p in plan_dataset(spec)}
    assert a == b
    assert len(a) == 70  # 50 folk tunes + 20 chorales
    assert set(a.values()) == {"train", "valid", "test"}
    # the test split gets the soundfont kept out of training
    for p in plan_dataset(spec):
        fonts = {r.soundfont for r in p.renditions}
        assert ("MuseScore_General" in fonts) == (p.split == "test")


def test_second_run_skips_finished_pieces(folk, ast_cmd):
    proc = ast_cmd("data", "render", SOURCE, "--out", str(folk), *OPTS, "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["built"] == 0 and report["skipped"] == 4


def test_other_settings_in_the_same_folder_are_refused(folk, ast_cmd):
    proc = ast_cmd("data", "render", SOURCE, "--out", str(folk), "--limit", "4", "--tempo", "1.2")
    assert proc.returncode == 1
    assert "other settings" in proc.stderr


def test_validate_reports_missing_and_corrupt_files(folk, tmp_path, ast_cmd):
    copy = tmp_path / "copy"
    shutil.copytree(folk, copy)
    pieces = sorted((copy / "pieces").iterdir())
    (pieces[0] / "page_000.png").unlink()
    spec_file = next((pieces[1] / "renditions").glob("*/spectrogram.npy"))
    data = bytearray(spec_file.read_bytes())
    data[-1] ^= 0xFF
    spec_file.write_bytes(bytes(data))
    missing, corrupt = validate_dataset(copy)
    assert missing == [f"pieces/{pieces[0].name}/page_000.png"]
    assert corrupt == [spec_file.relative_to(copy).as_posix()]
    proc = ast_cmd("data", "validate", str(copy))
    assert proc.returncode == 1
    assert "page_000.png" in proc.stdout and "spectrogram.npy" in proc.stdout


def test_stats_counts_pairs_and_hours(folk, ast_cmd):
    proc = ast_cmd("data", "stats", str(folk), "--json")
    stats = json.loads(proc.stdout)["splits"]
    ds = plugins.create("datasets", "rendered", root=folk)
    for split in ("train", "valid", "test"):
        assert stats[split]["pieces"] == len(ds.piece_ids(split))
        assert stats[split]["pairs"] == len(ds.pair_index(split))
    assert 0 < stats["all"]["hours"] < 1


def test_pairs_are_msmd_windows_centred_on_the_note(folk):
    ds = plugins.create("datasets", "rendered", root=folk)
    pairs = list(ds.pairs("train"))
    assert len(pairs) == len(ds.pair_index("train")) > 50
    for pair in pairs[:60]:
        assert pair.sheet.shape == (160, 200) and pair.sheet.dtype == np.float32
        assert pair.audio.shape == (92, 42)
        assert 0.0 <= pair.sheet.min() and pair.sheet.max() <= 1.0
        # the window is centred on the note head horizontally and on its system
        # vertically: the head's box, moved into the window, is full of ink
        score = ds.score(pair.piece)
        _, page, system, x0, y0, x1, y1, _ = next(h for h in score["noteheads"] if h[0] == pair.notehead)
        sy0, sy1 = score["systems"][system][3], score["systems"][system][5]
        top = round((sy0 + sy1) / 2) - 80
        w = (x1 - x0) / 2
        head = pair.sheet[int(y0 - top) + 1:int(y1 - top), int(100 - w) + 1:int(100 + w)]
        assert head.mean() > 0.3, pair.notehead  # hollow heads too
        # audio excerpt: the onset frame sits at the centre, with energy after it
        assert pair.audio[:, 21:24].sum() > 0
    long = plugins.create("datasets", "rendered", root=folk, audio_context=168)
    assert next(iter(long.pairs("train"))).audio.shape == (92, 168)


def test_unrolled_strip_lets_windows_cross_system_ends(folk):
    ds = plugins.create("datasets", "rendered", root=folk)
    piece = max(ds.piece_ids(), key=lambda p: len(ds.score(p)["systems"]))
    strip = ds.strip(piece)
    assert len(strip.system_offsets) >= 2
    end = strip.system_offsets[1]
    window = ds.window_at(piece, end)
    # both halves hold staff ink: the end of system 0 and the start of system 1
    assert window[:, :90].mean() > 0.01 and window[:, 110:].mean() > 0.01
    page, system, x = strip.to_page(end + 5)
    assert system == 1


def test_sequence_covers_the_whole_piece(folk):
    ds = plugins.create("datasets", "rendered", root=folk)
    piece = ds.piece_ids("test")[0]
    seq = ds.sequence(piece)
    n_frames = ds.rendition(piece, ds.renditions(piece)[0]).spectrogram.shape[1]
    assert seq.audio.shape[1:] == (92, 42)
    assert seq.audio.shape[0] == len(range(21, n_frames, 10))
    assert np.all(np.diff(seq.audio_times) > 0)
    assert seq.sheet.shape[1:] == (160, 200)
    assert seq.sheet_positions.shape == (seq.sheet.shape[0], 3)
    systems = seq.sheet_positions[:, 1]
    assert np.all(np.diff(systems) >= 0) and systems[-1] == len(ds.score(piece)["systems"]) - 1


def test_show_draws_the_alignment_picture(folk, tmp_path, ast_cmd):
    from PIL import Image

    out = tmp_path / "show.png"
    proc = ast_cmd("data", "show", str(folk), "0", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    image = Image.open(out)
    assert image.size[0] > 1000 and image.size[1] > 500
    assert not list(tmp_path.glob("*.tmp*"))
    proc = ast_cmd("data", "show", str(folk), "no-such-piece", "--out", str(out))
    assert proc.returncode == 1 and "unknown piece" in proc.stderr


def test_unknown_dataset_or_plugin_names_close_matches(ast_cmd, tmp_path):
    proc = ast_cmd("data", "render", "chorale", "--out", str(tmp_path / "x"))
    assert proc.returncode == 1 and "did you mean" in proc.stderr and "chorales" in proc.stderr
    proc = ast_cmd("data", "render", "demo", "--renderer", "verovi", "--out", str(tmp_path / "x"))
    assert proc.returncode == 1 and "verovio" in proc.stderr
    with pytest.raises(UnknownEntryError):
        dataset_spec(load_registry(), "folks")
    proc = ast_cmd("data", "render", SOURCE, "--soundfont", "FluidR3", "--out", str(tmp_path / "y"))
    assert proc.returncode == 1 and "did you mean 'FluidR3_GM'" in proc.stderr
    assert not (tmp_path / "y").exists()  # failed before any work


def test_incomplete_dataset_is_refused(tmp_path):
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(IntegrityError, match="not a complete dataset"):
        plugins.create("datasets", "rendered", root=tmp_path)


def test_corrupt_and_unsupported_scores_are_reported_and_skipped(tmp_path, ast_cmd):
    from music21 import corpus

    scores = tmp_path / "scores"
    scores.mkdir()
    shutil.copy(corpus.getWork("bach/bwv66.6"), scores / "good.mxl")
    (scores / "corrupt.xml").write_text("<?xml version='1.0'?><score-partwise><part")
    (scores / "empty.abc").write_text("X:1\nT:nothing\nK:C\n")
    out = tmp_path / "out"
    proc = ast_cmd("data", "render", str(scores), "--out", str(out), "--soundfont", "TimGM6mb",
                   "--workers", "1", "--json")
    assert proc.returncode == 3, proc.stderr
    report = json.loads(proc.stdout)
    assert report["built"] == 1
    failed = {Path(f["file"]).name: f["reason"] for f in report["failed"]}
    assert set(failed) == {"corrupt.xml", "empty.abc"}
    assert all(failed.values())
    assert json.loads((out / "failures.json").read_text()) == report["failed"]
    ds = plugins.create("datasets", "rendered", root=out)
    assert ds.piece_ids() == ["local/scores/good.mxl"]


def test_killed_run_resumes_to_a_complete_dataset(tmp_path):
    """Kill `ast data render` mid-piece: nothing half-written looks complete; a rerun finishes."""
    out = tmp_path / "killed"
    args = [str(AST), "data", "render", SOURCE, "--out", str(out), "--limit", "6",
            "--soundfont", "TimGM6mb", "--tempo", "0.5", "--workers", "1"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.time() + 120
        pieces = out / "pieces"
        # wait until one piece is finished and the next one is being written
        while time.time() < deadline:
            done = [p for p in pieces.glob("*") if (p / ".complete").exists()] if pieces.exists() else []
            partial = list(pieces.glob(".partial-*")) if pieces.exists() else []
            if done and partial and any(partial[0].rglob("*.png")):
                break
            time.sleep(0.02)
        else:
            pytest.fail("the render never got going")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (out / ".complete").exists()
    with pytest.raises(IntegrityError):
        plugins.create("datasets", "rendered", root=out)
    finished_before = {p.name for p in (out / "pieces").iterdir() if (p / ".complete").exists()}
    assert finished_before

    result = subprocess.run([*args, "--json"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["skipped"] == len(finished_before)
    assert report["built"] == 6 - len(finished_before)
    assert not list((out / "pieces").glob(".partial-*"))
    assert validate_dataset(out) == ([], [])
    assert len(plugins.create("datasets", "rendered", root=out).piece_ids()) == 6


@pytest.mark.parametrize("renderer", plugins.names("renderers"))
def test_every_renderer_builds_a_dataset_with_the_same_contract(renderer, tmp_path, ast_cmd):
    out = tmp_path / renderer
    proc = ast_cmd("data", "render", SOURCE, "--out", str(out), "--limit", "2",
                   "--soundfont", "TimGM6mb", "--renderer", renderer, "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    ds = plugins.create("datasets", "rendered", root=out)
    assert ds.spec["render"]["renderer"] == renderer
    pair = next(iter(ds.pairs(ds.SPLITS[0] if ds.piece_ids("train") else "test")))
    assert pair.sheet.shape == (160, 200) and pair.audio.shape == (92, 42)
    assert validate_dataset(out) == ([], [])


def test_a_folder_is_opened_with_the_plugin_its_dataset_json_names(folk, tmp_path):
    """The name in dataset.json decides; a folder from before names were recorded opens with
    the plugin that declares it reads the render format; an unknown name is a clear error."""
    from ast_toolkit.data.datasets import dataset_plugin, open_dataset
    from ast_toolkit.errors import UnknownPluginError

    meta = json.loads((folk / "dataset.json").read_text())
    assert meta["plugin"] == "rendered" and meta["format"] == "ast data render"
    assert type(open_dataset(folk)).__name__ == "RenderedDataset"
    legacy = tmp_path / "legacy"
    shutil.copytree(folk, legacy)
    (legacy / "dataset.json").write_text(json.dumps(
        {k: v for k, v in meta.items() if k not in ("plugin", "format")}))
    assert dataset_plugin(legacy) == "rendered"
    assert open_dataset(legacy).piece_ids() == open_dataset(folk).piece_ids()
    (legacy / "dataset.json").write_text(json.dumps({**meta, "plugin": "renderd"}))
    with pytest.raises(UnknownPluginError, match="did you mean 'rendered'"):
        open_dataset(legacy)


def test_msmd_pairs_one_per_onset_frame_with_whole_windows(folk):
    """The default (``msmd``) pair selection: one pair per onset frame, at its first note
    head, and only where the whole sheet window and audio excerpt lie inside."""
    ds = plugins.create("datasets", "rendered", root=folk)
    assert ds.snippets == SnippetSpec(system_margin=0, pairs="msmd")
    for split in ds.SPLITS:
        table = ds.pair_table(split)
        assert len(table) > 10
        for piece in set(table.pieces):
            rows = [i for i, p in enumerate(table.pieces) if p == piece]
            r = ds.rendition(piece, ds.renditions(piece)[0])
            events = table.columns["event"][rows]
            frames = r.frames[events]
            assert len(set(frames.tolist())) == len(frames), "one pair per onset frame"
            width = ds.strip(piece).image.shape[1]
            xs = np.round(table.columns["x"][rows]).astype(int)
            assert np.all(xs - 100 >= 0) and np.all(xs + 100 < width), "windows inside the strip"
            assert np.all(frames - 21 >= 0) and np.all(frames + 21 < r.spectrogram.shape[1])
            for e in events:  # the first (lowest) of the frame's note heads
                same = [i for i in range(len(r.frames)) if r.frames[i] == r.frames[e]]
                assert e == same[0]
    # the ast-v1 selection on the same folder: every distinct onset, windows zero-padded
    ds.snippets = SnippetSpec(system_margin=10, pairs="onsets")
    ds.strip.cache_clear(), ds.notehead_strip_x.cache_clear()
    older = ds.pair_table("train")
    assert len(older) > len(ds.__class__(folk).pair_table("train"))
    assert np.round(older.columns["x"]).min() - 100 < 0, "the first onsets' windows stick out"


def test_msmd_frame_timing_and_level(folk):
    """Frames start at i/fps and onsets are rounded up (MSMD); the synthesis level is
    FluidSynth's default gain at velocity 64."""
    from ast_toolkit.data.spectrogram import spectrogram

    burst = np.zeros(3 * 22050, np.float32)
    burst[22050:22150] = np.sin(np.arange(100) * 0.3)  # 1.00-1.005 s
    start = spectrogram(burst)  # frame_origin="start"
    centre = spectrogram(burst, frame_origin="centre")
    assert start[:, 20].sum() > 1e-3 and start[:, 21].sum() < 1e-6, "frame 21 starts after it"
    assert centre[:, 21].sum() > 1e-3, "a centred frame 21 reaches back before 1.05 s"
    spec = SpectrogramSpec()
    assert (spec.frame_of(1.0), spec.frame_of(1.01), spec.frame_of(1.049)) == (20, 21, 21)
    info = json.loads((folk / "dataset.json").read_text())["spec"]
    assert info["preset"] == "msmd" and info["synthesis"]["gain"] == 0.2
    assert info["synthesis"]["velocity"] == 64 and info["render"]["staff_space"] == 7.0
    piece = next(p for p in (folk / "pieces").iterdir())
    [rendition] = list((piece / "renditions").iterdir())
    meta = json.loads((rendition / "rendition.json").read_text())
    assert all(e[4] == int(np.ceil(e[0] * 20 - 1e-6)) for e in meta["events"])
    score = json.loads((piece / "score.json").read_text())
    assert score["meta"]["staff_space_px"] == 7.0


def test_preset_ast_v1_renders_the_earlier_setting(folk, tmp_path, ast_cmd):
    out = tmp_path / "old"
    ast_cmd("data", "render", SOURCE, "--out", str(out), "--limit", "1", "--soundfont",
            "TimGM6mb", "--preset", "ast-v1", check=True)
    info = json.loads((out / "dataset.json").read_text())["spec"]
    assert info["preset"] == "ast-v1" and info["render"]["staff_space"] == 10.0
    assert info["spectrogram"]["frame_origin"] == "centre" and info["snippets"]["pairs"] == "onsets"
    ds = plugins.create("datasets", "rendered", root=out)
    assert ds.snippets == SnippetSpec(system_margin=10, pairs="onsets")
    piece = ds.piece_ids()[0]
    assert ds.score(piece)["meta"]["staff_space_px"] == 10.0
    old_audio = ds.rendition(piece, ds.renditions(piece)[0]).spectrogram
    new = plugins.create("datasets", "rendered", root=folk)
    assert piece in new.piece_ids()  # the same tune: at the msmd level it is quieter
    new_audio = new.rendition(piece, new.renditions(piece)[0]).spectrogram
    assert float(np.asarray(old_audio, np.float32).max()) > float(np.asarray(new_audio, np.float32).max())
    # resuming it without the preset is refused, with the preset to use
    proc = ast_cmd("data", "render", SOURCE, "--out", str(out), "--limit", "1", "--soundfont",
                   "TimGM6mb")
    assert proc.returncode == 1 and "add --preset ast-v1" in proc.stderr
    # a folder from before presets (no snippets record) reads as ast-v1
    meta = json.loads((out / "dataset.json").read_text())
    del meta["spec"]["snippets"]
    (out / "dataset.json").write_text(json.dumps(meta))
    assert plugins.create("datasets", "rendered", root=out).snippets.pairs == "onsets"


def test_ids_that_look_alike_get_their_own_folders(tmp_path, ast_cmd):
    """Four different scores whose names differ only in characters a folder name cannot
    keep apart: four pieces, four folders, each holding its own music; and validate
    notices a manifest whose pieces share a folder."""
    scores = tmp_path / "scores"
    scores.mkdir()
    for k, name in enumerate(("col a.abc", "col_a.abc", "col#b.abc", "col--b.abc")):
        melody = " ".join("CDEFGABc"[(k + i) % 8] for i in range(8))
        (scores / name).write_text(f"X:1\nT:{name}\nM:4/4\nL:1/4\nK:C\n{melody} |]\n")
    out = tmp_path / "out"
    ast_cmd("data", "render", str(scores), "--out", str(out), "--soundfont", "TimGM6mb",
            "--workers", "1", check=True)
    manifest = json.loads((out / "manifest.json").read_text())
    folders = [p["folder"] for p in manifest["pieces"]]
    assert len(manifest["pieces"]) == 4 and len(set(folders)) == 4
    for entry in manifest["pieces"]:
        assert json.loads((out / entry["folder"] / "score.json").read_text())["id"] == entry["id"]
    assert validate_dataset(out) == ([], [])
    manifest["pieces"][1]["folder"] = manifest["pieces"][0]["folder"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    missing, corrupt = validate_dataset(out)
    assert len(corrupt) == 1 and "shared by" in corrupt[0]


def test_a_bare_relative_score_path_gets_its_folders_name(tmp_path, monkeypatch):
    from ast_toolkit.data.sources import expand_source

    folder = tmp_path / "songs"
    folder.mkdir()
    (folder / "tune.abc").write_text("X:1\nT:t\nK:C\nCDEF|\n")
    monkeypatch.chdir(folder)
    for spec in ("tune.abc", "*.abc", "."):
        assert [s.id for s in expand_source(spec)] == ["local/songs/tune.abc"], spec
