"""A model's reference rows (``reference.npz``): written by ``ast fit`` and by
``ast model reference``, refused when damaged or made with other weights."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from ast_toolkit.errors import IntegrityError
from ast_toolkit.learn.reference import REFERENCE_FILE, read_reference


def test_fit_writes_reference_rows(model):
    ref = read_reference(model)
    assert ref is not None, "ast fit wrote no reference rows"
    assert ref["sheet"].shape == ref["audio"].shape and ref["sheet"].shape[0] >= 20
    for rows in (ref["sheet"], ref["audio"]):
        assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-2)
    assert "valid split" in ref["source"]
    # aligned pairs: each audio row is nearer its own sheet row than a random one is
    sims = ref["audio"] @ ref["sheet"].T
    assert np.mean(np.diag(sims)) > np.mean(sims) + 0.1


def test_cli_writes_the_same_rows_again(model, tmp_path, ast_cmd):
    own = tmp_path / "model"
    shutil.copytree(model, own)
    (own / REFERENCE_FILE).unlink()
    proc = ast_cmd("model", "reference", str(own), "--rows", "40")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "40 pairs of the valid split" in proc.stdout
    again, first = read_reference(own), read_reference(model)
    assert again["sheet"].shape[0] == 40
    # the same model and pairs make the same rows (evenly spaced pairs: the first is row 0)
    assert np.allclose(again["audio"][0], first["audio"][0], atol=1e-2)


def test_damaged_or_stale_reference_is_refused(model, tmp_path, ast_cmd):
    own = tmp_path / "model"
    shutil.copytree(model, own)
    path = own / REFERENCE_FILE
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(IntegrityError, match=f"{path}: cannot read reference rows.*ast model reference"):
        read_reference(own)
    shutil.copy(model / REFERENCE_FILE, path)
    with open(own / "weights.pt", "ab") as f:  # other weights than the rows were made with
        f.write(b"\0")
    with pytest.raises(IntegrityError, match="made with other weights"):
        read_reference(own)


def test_cli_needs_a_split_with_pairs(model, tmp_path, ast_cmd):
    own = tmp_path / "model"
    shutil.copytree(model, own)
    proc = ast_cmd("model", "reference", str(own), "--split", "nosuch")
    assert proc.returncode != 0
    assert "nosuch" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert read_reference(own) is not None  # the rows it had are kept
