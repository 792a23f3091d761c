"""No silent wrong answers: damaged numbers are refused where they enter.

Each case was a silent wrong result before: NaN weights scored R@1 = MRR = 1.0
in ``ast eval snippets`` and were indexed as all-NaN rows with exit status 0.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ast_toolkit import plugins
from ast_toolkit.errors import IntegrityError, ParameterError
from ast_toolkit.io import sha256
from ast_toolkit.learn.encoder import atomic_torch_save, read_checkpoint
from ast_toolkit.evaluation.snippets import relevant_ranks


def _nan_model(model, tmp_path):
    bad = tmp_path / "nan-model"
    shutil.copytree(model, bad)
    state = torch.load(bad / "weights.pt", weights_only=True)
    key = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 16)
    state[key].view(-1)[:16] = float("nan")  # as a diverged run would have saved them
    torch.save(state, bad / "weights.pt")
    # ... with a config.json that records these weights: only the NaN check can tell
    cfg = json.loads((bad / "config.json").read_text())
    cfg["weights_sha256"] = sha256(bad / "weights.pt")
    (bad / "config.json").write_text(json.dumps(cfg))
    return bad, key


def test_flipped_bytes_in_weights_are_refused_by_their_checksum(model, tunes, tmp_path, ast_cmd):
    bad = tmp_path / "flipped"
    shutil.copytree(model, bad)
    data = bytearray((bad / "weights.pt").read_bytes())
    data[-2000:-1984] = bytes(16)  # 16 bytes inside the last tensor
    (bad / "weights.pt").write_bytes(bytes(data))
    proc = ast_cmd("eval", "snippets", "-m", str(bad), "-d", str(tunes), "--split", "train")
    assert proc.returncode == 1, proc.stdout
    assert f"{bad / 'weights.pt'}: content differs from the checksum in config.json" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_nan_weights_are_refused_by_every_command(model, tunes, tmp_path, ast_cmd):
    bad, key = _nan_model(model, tmp_path)
    for args in (("eval", "snippets", "-m", str(bad), "-d", str(tunes), "--split", "train"),
                 ("index", "-m", str(bad), "-d", str(tunes), "--out", str(tmp_path / "index"))):
        proc = ast_cmd(*args)
        assert proc.returncode == 1, proc.stdout
        assert f"{bad / 'weights.pt'}: 16 non-finite values (NaN or inf) in {key}" in proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "index" / ".complete").exists()


def test_non_finite_scores_never_rank(tmp_path):
    good = np.eye(4, dtype=np.float32)
    broken = good.copy()
    broken[2, 0] = np.nan
    assert relevant_ranks(good, good, np.arange(4), np.arange(4)).tolist() == [1, 1, 1, 1]
    with pytest.raises(ParameterError, match="1 query embeddings are not finite"):
        relevant_ranks(broken, good, np.arange(4), np.arange(4))
    with pytest.raises(ParameterError, match="1 candidate embeddings are not finite"):
        relevant_ranks(good, broken, np.arange(4), np.arange(4))


def test_a_nan_checkpoint_is_not_resumed(tunes, tmp_path):
    from ast_toolkit.learn.training import CHECKPOINT, FitConfig, Trainer

    cfg = FitConfig(epoch_samples=100, batch_size=50, max_epochs=1, val_candidates=50,
                    refinements=0)
    params = {"filters": [8, 16, 16, 16]}
    first = Trainer(tunes, tmp_path / "run", encoder="cnn", params=params, config=cfg)
    first.out.mkdir()
    first.validate(first.train_epoch())
    first.checkpoint()
    ck = read_checkpoint(tmp_path / "run" / CHECKPOINT)
    next(v for v in ck["model"].values() if v.is_floating_point()).view(-1)[0] = float("inf")
    # saved whole, with its checksum (as a diverged run would be): only the NaN check sees it
    atomic_torch_save(ck, tmp_path / "run" / CHECKPOINT, checked=True)
    again = Trainer(tunes, tmp_path / "run", encoder="cnn", params=params, config=cfg)
    with pytest.raises(IntegrityError, match=r"checkpoint\.pt: 1 non-finite value"):
        again.resume()


def test_a_damaged_spectrogram_is_refused_by_name(tunes, tmp_path):
    copy = tmp_path / "tunes"
    shutil.copytree(tunes, copy)
    ds = plugins.create("datasets", "rendered", root=copy)
    piece = ds.piece_ids()[0]
    name = ds.renditions(piece)[0]
    path = ds.folder(piece) / "renditions" / name / "spectrogram.npy"
    spec = np.load(path)
    spec[3, 5] = np.nan
    np.save(path, spec)
    with pytest.raises(IntegrityError, match=r"spectrogram\.npy: content differs from its checksum"):
        ds.rendition(piece, name)
    # with its checksum updated too (written so), only the NaN check can tell
    sums_file = ds.folder(piece) / "checksums.json"
    sums = json.loads(sums_file.read_text())
    sums[f"renditions/{name}/spectrogram.npy"] = sha256(path)
    sums_file.write_text(json.dumps(sums))
    ds = plugins.create("datasets", "rendered", root=copy)
    with pytest.raises(IntegrityError, match=r"spectrogram\.npy: 1 non-finite values"):
        ds.rendition(piece, name)


def test_a_second_writer_of_one_folder_stops_with_who_writes_it(tmp_path, ast_cmd, model, tunes):
    """render, fit, index and import refuse a folder another process is writing."""
    from ast_toolkit.io import writer_lock

    out = tmp_path / "busy"
    with writer_lock(out, what="a test"):
        for args in (("data", "render", "music21:essenFolksong/altdeu10.abc", "--limit", "1"),
                     ("fit", "-d", str(tunes), "--epochs", "1"),
                     ("index", "-m", str(model), "-d", str(tunes)),
                     ("model", "import", "--format", "ucasr", str(model / "weights.pt"))):
            proc = ast_cmd(*args, "--out", str(out))
            assert proc.returncode == 1, (args, proc.stdout)
            assert f"{out} is being written by process {os.getpid()} (a test" in proc.stderr
            assert "Traceback" not in proc.stderr
    assert not out.exists() or not any(out.iterdir())
    # released: the next writer goes ahead
    ast_cmd("data", "render", "music21:essenFolksong/altdeu10.abc", "--limit", "1",
            "--soundfont", "TimGM6mb", "--out", str(out), check=True)


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_render_workers_end_when_the_render_is_killed(tmp_path):
    from conftest import AST

    args = [str(AST), "data", "render", "music21:essenFolksong/altdeu10.abc", "--out",
            str(tmp_path / "out"), "--limit", "12", "--workers", "2", "--soundfont", "TimGM6mb"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(_children(proc.pid)) < 2:
            time.sleep(0.1)
        workers = _children(proc.pid)
        assert len(workers) >= 2, "the render never started its workers"
    finally:
        proc.kill()  # the parent only, as `kill -9 PID` would
        proc.wait()
    deadline = time.time() + 20
    while time.time() < deadline and any(Path(f"/proc/{w}").exists() for w in workers):
        time.sleep(0.2)
    alive = []
    for w in workers:
        try:
            state = Path(f"/proc/{w}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":  # a zombie has ended; only its exit status waits to be read
            alive.append(w)
    assert not alive, f"workers {alive} still running after their parent was killed"


@pytest.mark.parametrize("args, message", [
    (("fit", "--seed", "-1"), "seed must be >= 0, got -1"),
    (("fit", "--lr", "inf"), "lr must be a number > 0, got inf"),
    (("fit", "-p", "dim=0"), "dim and filters must be >= 1"),
    (("index", "--audio-hop", "nan"), "--audio-hop must be a number of seconds > 0, got nan"),
    (("index", "--audio-hop", "inf"), "--audio-hop must be a number of seconds > 0, got inf"),
])
def test_out_of_range_options_are_one_clear_error(args, message, ast_cmd, model, tunes, tmp_path):
    extra = ("-d", str(tunes)) if args[0] == "fit" else ("-m", str(model), "-d", str(tunes))
    proc = ast_cmd(*args, *extra, "--out", str(tmp_path / "out"))
    assert proc.returncode == 1 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_empty_fragment_lengths_are_refused_not_averaged():
    """``eval scale --audio-seconds 0`` printed "nan ± nan": zero-length queries have no rows."""
    from ast_toolkit.evaluation.pieces import evaluate_fragments, evaluate_scale

    with pytest.raises(ParameterError, match="--audio-seconds must be a number > 0"):
        evaluate_scale("indexes/none", audio_seconds=0.0)
    with pytest.raises(ParameterError, match="--audio-seconds must be a number > 0"):
        evaluate_scale("indexes/none", audio_seconds=float("nan"))
    with pytest.raises(ParameterError, match=r"audio lengths must be .* got \[10, 0\]"):
        evaluate_fragments("indexes/none", audio_lengths=[10, 0])
