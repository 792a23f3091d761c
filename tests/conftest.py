"""Shared fixtures: run the installed ``ast`` command in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
AST = Path(sys.executable).parent / "ast"


def run_ast(*args: str, env: dict[str, str] | None = None, check: bool = False,
            cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real console script, as a user would."""
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    proc = subprocess.run(
        [str(AST), *args], capture_output=True, text=True, env=full_env, cwd=cwd or ROOT,
        timeout=300,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"ast {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def ast_cmd():
    if not AST.exists():
        pytest.fail(f"the ast console script is not installed next to {sys.executable}; run ./setup.sh")
    return run_ast


@pytest.fixture(scope="session")
def tunes(tmp_path_factory) -> Path:
    """Twelve real folk tunes, two renditions each, in every split: for training tests.

    One worker, to leave the other core to the tests; the audio does not depend
    on it (every piece is played from the same synthesizer state).
    """
    out = tmp_path_factory.mktemp("data") / "tunes"
    proc = subprocess.run(
        [str(AST), "data", "render", "music21:essenFolksong/altdeu10.abc", "--out", str(out),
         "--limit", "12", "--soundfont", "TimGM6mb", "--tempo", "1.0", "--tempo", "1.15",
         "--workers", "1"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@pytest.fixture(scope="session")
def model(tunes, tmp_path_factory) -> Path:
    """A tiny cnn trained for ~30 s on the tunes (every split's pieces are identifiable)."""
    from ast_toolkit.learn.training import FitConfig, fit

    out = tmp_path_factory.mktemp("model") / "cnn"
    cfg = FitConfig(epoch_samples=600, batch_size=50, max_epochs=20, val_candidates=60, lr=2e-3,
                    patience=100, refinements=0)
    fit(tunes, out, encoder="cnn", params={"filters": [8, 16, 16, 16]}, objective="infonce",
        config=cfg)
    return out
