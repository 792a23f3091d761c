"""A regular (non-editable) install into a fresh virtual environment, used from outside
the source tree: the import names in site-packages are this project's own.

The wheel is built from this checkout; the fresh environment takes the
dependencies (torch, music21, ...) from this one's site-packages through a
``.pth`` line instead of downloading them again, and installs only the wheel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.install


def run(*args, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                          env={**clean, **(env or {})}, timeout=600)
    assert proc.returncode == 0, f"{args}:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("install")
    run(sys.executable, "-m", "pip", "--disable-pip-version-check", "wheel", "-q", "--no-deps",
        "--no-build-isolation", "-w", work / "wheel", ROOT, cwd=work)
    [wheel] = (work / "wheel").glob("ast_toolkit-*.whl")
    env = work / "venv"
    run(getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip", env,
        cwd=work)
    python = env / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                    cwd=work).stdout.strip())
    (site / "ast_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(sys.executable, "-m", "pip", "--disable-pip-version-check", "--python", python, "install",
        "-q", "--no-deps", "--no-index", wheel, cwd=work)
    return env


def test_installed_names_are_unique_to_the_project(venv, tmp_path):
    python = venv / "bin" / "python"
    code = ("import importlib.util as u, json, ast_toolkit, ast_toolkit_plugins; print(json.dumps("
            "{'toolkit': u.find_spec('toolkit') is not None, 'plugins': u.find_spec('plugins') is not None,"
            " 'core': ast_toolkit.__file__, 'bundled': ast_toolkit_plugins.__file__}))")
    found = json.loads(run(python, "-c", code, cwd=tmp_path).stdout)
    assert not found["toolkit"] and not found["plugins"], "no top-level toolkit or plugins package"
    for key in ("core", "bundled"):
        assert str(venv) in found[key] and str(ROOT) not in found[key], found


def test_the_installed_ast_lists_its_plugins_and_renders(venv, tmp_path):
    ast = venv / "bin" / "ast"
    rows = json.loads(run(ast, "plugins", "list", "--json", cwd=tmp_path).stdout)["plugins"]
    ours = [r for r in rows if r["distribution"] == "ast-toolkit"]
    assert {r["group"] for r in ours} >= {"renderers", "synthesizers", "datasets", "encoders",
                                          "objectives", "matchers", "metrics", "commands"}
    assert all(r["status"] == "ok" for r in ours), [r for r in ours if r["status"] != "ok"]
    assert all(r["target"].startswith(("ast_toolkit_plugins.", "ast_toolkit.cli.")) for r in ours)
    registry = json.loads(run(ast, "registry", "list", "--json", cwd=tmp_path).stdout)
    assert "demo" in {d["name"] for d in registry["datasets"]}  # registry.toml was installed
    # the shipped models were installed beside it, and ast-cnn is the default
    [default] = [m for m in registry["models"] if m["default"]]
    assert default["name"] == "ast-cnn", default
    shipped = [m for m in registry["models"] if "/weights/" in m["checkpoint"]]
    assert default in shipped, shipped
    for model in shipped:
        assert model["checkpoint_exists"] and model["checkpoint"].startswith(str(venv)), model
    # a real command: engrave one tune with LilyPond (its input file is package data) and play it
    out = tmp_path / "one"
    report = json.loads(run(ast, "data", "render", "music21:essenFolksong/altdeu10.abc",
                            "--limit", "1", "--renderer", "lilypond", "--soundfont", "TimGM6mb",
                            "--workers", "1", "--out", out, "--json", cwd=tmp_path).stdout)
    assert report["built"] == 1 and report["failed"] == []
    stats = json.loads(run(ast, "data", "stats", out, "--json", cwd=tmp_path).stdout)
    assert stats["splits"]["all"]["pieces"] == 1 and stats["splits"]["all"]["pairs"] > 10
