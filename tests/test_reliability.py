"""Bad input gets one clear line and loses nothing: budgets, physical ranges, typed
loading of every internal file, integrity on open and repair.

Every case here was found by trying ``ast`` as a hostile user would (issue 13's
list): a hang, a traceback or a silent wrong result before.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from ast_toolkit.data.build import Budget, check_performance
from ast_toolkit.errors import ParameterError, RenderError
from ast_toolkit.io import sha256
from ast_toolkit.types import NoteEvent, RenderedScore


def _xml(notes: int, *, tempo: float | str | None = None, dur: int = 1, octave: int = 4) -> str:
    sound = f'<direction><sound tempo="{tempo}"/></direction>' if tempo is not None else ""
    body = "".join(f"<note><pitch><step>C</step><octave>{octave}</octave></pitch>"
                   f"<duration>{dur}</duration><type>quarter</type></note>" for _ in range(notes))
    return ('<?xml version="1.0"?><score-partwise version="3.1"><part-list><score-part id="P1">'
            '<part-name>x</part-name></score-part></part-list><part id="P1"><measure number="1">'
            "<attributes><divisions>1</divisions><time><beats>4</beats><beat-type>4</beat-type>"
            f"</time><clef><sign>G</sign><line>2</line></clef></attributes>{sound}{body}"
            "</measure></part></score-partwise>")


#: file -> what its failure reason must say (None: it must be built)
ABSURD = {
    "ok.musicxml": (_xml(8), None),
    "octave20.musicxml": (_xml(4, octave=20), "pitch C20 (MIDI 252)"),
    "tempo-0.01.musicxml": (_xml(4, tempo=0.01), "tempo '0.01'"),
    "tempo-negative.musicxml": (_xml(4, tempo=-5), "tempo '-5'"),
    "tempo-1e9.musicxml": (_xml(4, tempo=1e9), "outside 10-1000 quarter notes per minute"),
    "tempo-nan.musicxml": (_xml(4, tempo="NaN"), "tempo 'NaN'"),  # music21 dropped it
    "note-1e9.musicxml": (_xml(1, dur=10**9), "a note of 1e+09 quarter notes"),
    "many-notes.musicxml": (_xml(80), "80 notes, more than the budget of 60"),
    "empty.musicxml": ("", "cannot parse score"),
}


def test_absurd_scores_fail_one_by_one_and_the_batch_goes_on(tmp_path, ast_cmd):
    src = tmp_path / "scores"
    src.mkdir()
    for name, (text, _) in ABSURD.items():
        (src / name).write_text(text)
    out = tmp_path / "out"
    proc = ast_cmd("data", "render", str(src), "--out", str(out), "--soundfont", "TimGM6mb",
                   "--max-notes", "60", "--json")
    assert proc.returncode == 3, proc.stderr  # some pieces failed; the batch finished
    assert "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    reasons = {Path(f["file"]).name: f["reason"] for f in report["failed"]}
    assert report["built"] == 1
    for name, (_, why) in ABSURD.items():
        if why is None:
            assert name not in reasons
        else:
            assert why in reasons[name], (name, reasons.get(name))
            assert str(src / name) in reasons[name]
    assert ast_cmd("data", "validate", str(out)).returncode == 0
    assert not list((out / "pieces").glob(".partial-*"))


def test_a_piece_over_its_time_budget_is_stopped_and_the_batch_goes_on(tmp_path, ast_cmd):
    out = tmp_path / "out"
    proc = ast_cmd("data", "render", "music21:essenFolksong/altdeu10.abc", "--limit", "2",
                   "--soundfont", "TimGM6mb", "--out", str(out), "--piece-timeout", "0.05",
                   "--json")
    assert proc.returncode == 3, proc.stderr
    failed = json.loads(proc.stdout)["failed"]
    assert len(failed) == 2
    assert all("longer than the budget of 0.05 s per piece" in f["reason"] for f in failed)
    assert not [p for p in (out / "pieces").iterdir()]  # nothing half-built is left
    # the same command with the default budget finishes the folder
    assert ast_cmd("data", "render", "music21:essenFolksong/altdeu10.abc", "--limit", "2",
                   "--soundfont", "TimGM6mb", "--out", str(out)).returncode == 0
    assert ast_cmd("data", "validate", str(out)).returncode == 0


@pytest.mark.parametrize("option, value", [("--max-notes", "0"), ("--max-minutes", "nan"),
                                           ("--piece-timeout", "-1")])
def test_budget_options_are_checked(option, value, tmp_path, ast_cmd):
    proc = ast_cmd("data", "render", "music21:essenFolksong/altdeu10.abc", "--limit", "1",
                   "--out", str(tmp_path / "x"), option, value)
    assert proc.returncode == 1
    assert f"{option} must be" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("event, message", [
    (NoteEvent(-1.0, 0.5, 60, 80, "n"), "onsets must be finite and >= 0"),
    (NoteEvent(float("nan"), 0.5, 60, 80, "n"), "onsets must be finite"),
    (NoteEvent(0.0, 0.0, 60, 80, "n"), "durations > 0"),
    (NoteEvent(0.0, 4000.0, 60, 80, "n"), "lasts 66.7 minutes, more than the budget of 30"),
    (NoteEvent(0.0, 0.5, 128, 80, "n"), "MIDI pitch 128"),
])
def test_the_core_checks_what_any_renderer_performs(event, message):
    rendered = RenderedScore(pages=[], noteheads=[], systems=[], events=[event])
    with pytest.raises(RenderError, match=message):
        check_performance(rendered, Budget())


def test_a_zero_length_performance_of_many_notes_is_refused():
    events = [NoteEvent(i * 1e-9, 1e-9, 60, 80, f"n{i}") for i in range(100)]
    with pytest.raises(RenderError, match="the tempo is not physical"):
        check_performance(RenderedScore([], [], [], events), Budget())
    with pytest.raises(ParameterError, match="--max-notes must be an integer > 0"):
        Budget(notes=2.5)


# --- damaged internal files: one line naming the file and the field -------------------

@pytest.fixture(scope="module")
def folders(tunes, model, tmp_path_factory):
    """The tunes dataset, the model and a test-split index of them, to damage copies of."""
    root = tmp_path_factory.mktemp("folders")
    from tests.conftest import run_ast

    run_ast("index", "-m", str(model), "-d", str(tunes), "--out", str(root / "index"), check=True)
    return {"data": tunes, "model": model, "index": root / "index"}


def _copy(folders, kind, tmp_path):
    dst = tmp_path / kind
    shutil.copytree(folders[kind], dst)
    return dst


def _first_piece(data: Path) -> Path:
    return sorted(p for p in (data / "pieces").iterdir() if p.is_dir())[0]


def _set(path: Path, keys: list, value) -> None:
    doc = json.loads(path.read_text())
    target = doc
    for k in keys[:-1]:
        target = target[k]
    target[keys[-1]] = value
    path.write_text(json.dumps(doc))


def _damage_data(data: Path, what: str) -> tuple[Path, str]:
    piece = _first_piece(data)
    rdir = sorted((piece / "renditions").iterdir())[0]
    if what == "dataset.json invalid":
        (data / "dataset.json").write_text('{"name": ')
        return data / "dataset.json", "not valid JSON"
    if what == "manifest wrong type":
        _set(data / "manifest.json", ["pieces", 0, "split"], 7)
        return data / "manifest.json", "field 'pieces.0.split'"
    if what == "checksums invalid":
        (piece / "checksums.json").write_text("[1, 2")
        return piece / "checksums.json", "not valid JSON"
    if what == "score.json wrong type":
        _set(piece / "score.json", ["systems", 0, 2], "left")
        return piece / "score.json", "content differs from its checksum"
    if what == "rendition.json wrong type":
        _set(rdir / "rendition.json", ["tempo"], "fast")
        return rdir / "rendition.json", "content differs from its checksum"
    if what == "renditions folder missing":
        shutil.rmtree(piece / "renditions")
        return piece / "renditions", "missing"
    if what == "spectrogram wrong shape":  # written so, with its checksum: the shape check
        np.save(rdir / "spectrogram.npy", np.zeros((3, 3), np.float16))
        sums = json.loads((piece / "checksums.json").read_text())
        sums[f"renditions/{rdir.name}/spectrogram.npy"] = sha256(rdir / "spectrogram.npy")
        (piece / "checksums.json").write_text(json.dumps(sums))
        return rdir / "spectrogram.npy", "shape (3, 3), expected"
    if what == "spectrogram truncated":
        raw = (rdir / "spectrogram.npy").read_bytes()
        (rdir / "spectrogram.npy").write_bytes(raw[: len(raw) // 2])
        return rdir / "spectrogram.npy", "content differs from its checksum"
    raise AssertionError(what)


DATA_DAMAGE = ["dataset.json invalid", "manifest wrong type", "checksums invalid",
               "score.json wrong type", "rendition.json wrong type", "renditions folder missing",
               "spectrogram wrong shape", "spectrogram truncated"]


@pytest.mark.parametrize("what", DATA_DAMAGE)
def test_a_damaged_dataset_file_gets_one_line_naming_it(what, folders, tmp_path, ast_cmd):
    data = _copy(folders, "data", tmp_path)
    path, says = _damage_data(data, what)
    proc = ast_cmd("index", "-m", str(folders["model"]), "-d", str(data), "--split", "all",
                   "--out", str(tmp_path / "index"), "--json")
    assert "Traceback" not in proc.stderr + proc.stdout
    if proc.returncode == 3:  # the damaged piece is reported, the others indexed
        failed = json.loads(proc.stdout)["failed"]
        assert len(failed) == 1, failed
        message = failed[0]["reason"]
    else:  # the whole folder cannot be opened
        assert proc.returncode == 1, proc.stdout
        message = proc.stderr.strip()
    assert str(path) in message and says in message, message


@pytest.mark.parametrize("what, says", [
    ("config wrong type", "field 'encoder'"),
    ("config invalid", "not valid JSON"),
    ("params wrong", "do not make a 'cnn' encoder"),
    ("weights truncated", "content differs from the checksum"),
    ("weights not a dict", "holds a list"),
])
def test_a_damaged_model_file_gets_one_line_naming_it(what, says, folders, tmp_path, ast_cmd):
    model = _copy(folders, "model", tmp_path)
    cfg = model / "config.json"
    if what == "config wrong type":
        _set(cfg, ["encoder"], 3)
    elif what == "config invalid":
        cfg.write_text("{")
    elif what == "params wrong":
        _set(cfg, ["params", "dim"], "wide")
    elif what == "weights truncated":
        raw = (model / "weights.pt").read_bytes()
        (model / "weights.pt").write_bytes(raw[:1000])
    elif what == "weights not a dict":
        torch.save([1, 2], model / "weights.pt")
        doc = json.loads(cfg.read_text())
        doc.pop("weights_sha256")
        cfg.write_text(json.dumps(doc))
    proc = ast_cmd("eval", "snippets", "-m", str(model), "-d", str(folders["data"]),
                   "--split", "test")
    assert proc.returncode == 1, proc.stdout
    assert "Traceback" not in proc.stderr
    assert str(model) in proc.stderr and says in proc.stderr, proc.stderr


@pytest.mark.parametrize("name", ["checkpoint.pt", "best.pt"])
def test_a_truncated_training_checkpoint_is_refused_naming_it(name, tunes, tmp_path):
    from ast_toolkit.errors import IntegrityError
    from ast_toolkit.learn.training import FitConfig, Trainer

    cfg = FitConfig(epoch_samples=100, batch_size=50, max_epochs=1, val_candidates=50)
    out = tmp_path / "run"
    out.mkdir()
    trainer = Trainer(tunes, out, encoder="cnn", params={"filters": [8, 8, 8, 8]}, config=cfg)
    trainer.checkpoint()
    torch.save({"model": {}, "objective": {}}, out / "best.pt")
    path = out / name
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 3])
    again = Trainer(tunes, out, encoder="cnn", params={"filters": [8, 8, 8, 8]}, config=cfg)
    with pytest.raises(IntegrityError, match=f"{path}: (cannot read|content differs from its checksum)"):
        again.resume() if name == "checkpoint.pt" else again._load_best()


@pytest.mark.parametrize("what, says", [
    ("index.json rows", "has sheet rows"),
    ("index.json wrong type", "field 'dim'"),
    ("sheet.npy wrong shape", "shape (2, 2), expected"),
    ("audio.npy truncated", "cannot read array"),
    ("sheet.npy NaN", "rows with non-finite values"),
])
def test_a_damaged_index_gets_one_line_naming_the_file(what, says, folders, tmp_path, ast_cmd):
    index = _copy(folders, "index", tmp_path)
    if what == "index.json rows":
        _set(index / "index.json", ["pieces", 1, "sheet"], [0, 3])
    elif what == "index.json wrong type":
        _set(index / "index.json", ["dim"], "32")
    elif what == "sheet.npy wrong shape":
        np.save(index / "sheet.npy", np.zeros((2, 2), np.float32))
    elif what == "audio.npy truncated":
        raw = (index / "audio.npy").read_bytes()
        (index / "audio.npy").write_bytes(raw[: len(raw) // 2])
    elif what == "sheet.npy NaN":  # with its checksum updated: only the NaN check can tell
        rows = np.load(index / "sheet.npy")
        rows[3, :4] = np.nan
        np.save(index / "sheet.npy", rows)
        _set(index / "index.json", ["arrays", "sheet.npy"], sha256(index / "sheet.npy"))
    proc = ast_cmd("eval", "pieces", "-i", str(index))
    assert proc.returncode == 1, proc.stdout
    assert "Traceback" not in proc.stderr
    assert str(index) in proc.stderr and says in proc.stderr, proc.stderr


def test_a_damaged_complete_index_is_repaired_not_called_complete(folders, tmp_path, ast_cmd):
    index = _copy(folders, "index", tmp_path)
    before = np.load(index / "sheet.npy")
    rows = before.copy()
    rows[5] += 0.25  # finite damage: only checksums can see it
    np.save(index / "sheet.npy", rows)
    verify = ast_cmd("--verify", "eval", "pieces", "-i", str(index))
    assert verify.returncode == 1 and "content differs from its checksum" in verify.stderr
    args = ("index", "-m", str(folders["model"]), "-d", str(folders["data"]), "--out", str(index))
    proc = ast_cmd(*args)
    assert proc.returncode == 0, proc.stderr
    assert "1 damaged piece(s) embedded again" in proc.stderr
    assert "already a complete index" not in proc.stdout
    assert np.array_equal(np.load(index / "sheet.npy"), before)
    assert "already a complete index" in ast_cmd(*args).stdout
    # a damaged index.json: the index is rebuilt
    (index / "index.json").write_text("{")
    proc = ast_cmd(*args)
    assert proc.returncode == 0 and "rebuilt" in proc.stderr, proc.stderr
    assert np.array_equal(np.load(index / "sheet.npy"), before)


def test_validate_repair_rerenders_only_damaged_pieces(folders, tmp_path, ast_cmd):
    data = _copy(folders, "data", tmp_path)
    piece = _first_piece(data)
    other = sorted(p for p in (data / "pieces").iterdir() if p.is_dir())[-1]
    spec = next((piece / "renditions").iterdir()) / "spectrogram.npy"
    raw = bytearray(spec.read_bytes())
    raw[-100:-92] = bytes(8)
    spec.write_bytes(bytes(raw))
    untouched = (other / "score.json").stat().st_mtime_ns
    assert "--repair" in ast_cmd("data", "validate", str(data)).stderr
    proc = ast_cmd("--verify", "data", "stats", str(data))
    assert proc.returncode == 0  # stats reads only the JSON files, which are whole
    proc = ast_cmd("data", "validate", str(data), "--repair")
    assert proc.returncode == 0, proc.stderr
    assert "re-rendered 1 of 1 damaged pieces" in " ".join(proc.stdout.split())
    assert (other / "score.json").stat().st_mtime_ns == untouched
    assert ast_cmd("data", "validate", str(data)).returncode == 0


def test_a_damaged_spectrogram_is_found_on_open(folders, tmp_path, ast_cmd):
    data = _copy(folders, "data", tmp_path)
    manifest = json.loads((data / "manifest.json").read_text())
    folder = next(p["folder"] for p in manifest["pieces"] if p["split"] == "test")
    spec = sorted((data / folder).glob("renditions/*/spectrogram.npy"))[0]
    raw = bytearray(spec.read_bytes())
    raw[-100:-92] = bytes(8)
    spec.write_bytes(bytes(raw))
    args = ("eval", "snippets", "-m", str(folders["model"]), "-d", str(data), "--split", "test")
    for verify in ((), ("--verify",)):  # spectrograms are always checked: it is cheap
        proc = ast_cmd(*verify, *args)
        assert proc.returncode == 1 and f"{spec}: content differs from its checksum" in proc.stderr
        assert "ast data validate" in proc.stderr and "--repair" in proc.stderr


# --- audio ----------------------------------------------------------------------------

def test_audio_with_a_non_utf8_name_and_a_truncated_wav(folders, tmp_path, ast_cmd):
    import os

    import soundfile

    sr = 22050
    tone = 0.3 * np.sin(np.arange(sr * 6) * 2 * np.pi * 440 / sr).astype(np.float32)
    latin1 = os.fsdecode(bytes(tmp_path) + b"/caf\xe9.wav")
    with open(latin1, "wb") as fh:
        soundfile.write(fh, tone, sr, format="WAV")
    proc = ast_cmd("match", "-i", str(folders["index"]), "-q", latin1, "--json")
    assert proc.returncode == 0, proc.stderr
    full = tmp_path / "full.wav"
    soundfile.write(full, tone, sr)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size * 2 // 3])
    proc = ast_cmd("match", "-i", str(folders["index"]), "-q", str(cut), "--json")
    assert proc.returncode == 0, proc.stderr
    assert f"warning: {cut}: the file seems truncated" in proc.stderr


def test_fit_resume_works_whenever_the_run_was_killed(tunes, tmp_path):
    """``ast fit --resume`` after a kill at any point: before the first checkpoint
    (starts afresh), or after config.json was written (the finished model stands;
    the leftover training files go)."""
    from ast_toolkit.learn.training import FitConfig, fit

    cfg = FitConfig(epoch_samples=100, batch_size=50, max_epochs=1, val_candidates=50)
    out = tmp_path / "m"
    out.mkdir()
    (out / ".weights.tmp-4242.pt").write_bytes(b"half")  # a killed run's temporary file
    first = fit(tunes, out, encoder="cnn", params={"filters": [8, 8, 8, 8]}, config=cfg,
                resume=True)
    assert not first.already and (out / "config.json").is_file()
    assert not list(out.glob(".*.tmp-*"))
    shutil.copy(out / "weights.pt", out / "checkpoint.pt")  # killed before its clean-up
    again = fit(tunes, out, encoder="cnn", params={"filters": [8, 8, 8, 8]}, config=cfg,
                resume=True)
    assert again.already and not (out / "checkpoint.pt").exists()


def test_audio_that_only_looks_like_sound_is_refused(tmp_path):
    import soundfile

    from ast_toolkit.data.audio import check_audible, load_audio
    from ast_toolkit.errors import AudioError

    sr = 22050
    with pytest.raises(AudioError, match="dc.wav: the audio is silent"):  # a constant offset
        check_audible(np.full(5 * sr, 0.5, np.float32), "dc.wav", min_seconds=1.0, sample_rate=sr)
    wav = tmp_path / "bits7.wav"
    soundfile.write(wav, np.zeros(sr, np.float32) + 0.1, sr, subtype="PCM_16")
    raw = bytearray(wav.read_bytes())
    raw[34:36] = (7).to_bytes(2, "little")  # a header declaring 7-bit samples
    wav.write_bytes(bytes(raw))
    with pytest.raises(AudioError, match="declares 7-bit PCM samples"):
        load_audio(wav, sr)
