"""Crash and concurrency: fast trials of ``benchmarks/crash.py`` (the full run: ≥ 20 kills).

A command killed with SIGKILL and run again gives a complete, valid folder equal
to an uninterrupted run's; two writers of one folder do not both write; a killed
render leaves no worker running.  Material: 4 folk tunes, one rendition, a
4-epoch tiny ``cnn``.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest

from conftest import ROOT

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="kills and /proc: Linux")


def _benchmark():
    spec = importlib.util.spec_from_file_location("crash_benchmark", ROOT / "benchmarks" / "crash.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


crash = _benchmark()


@pytest.fixture(scope="module")
def baselines(tmp_path_factory):
    """An uninterrupted render, fit and index of the tiny material."""
    return crash.make_baselines(tmp_path_factory.mktemp("crash"), twice=False)


def test_a_render_killed_midway_reruns_to_identical_valid_data(baselines, tmp_path):
    row = crash.crash_trial("render", "midway", baselines, tmp_path / "render")
    assert row["killed_at"][0] is not None, "the render ended before the kill"
    assert row["ok"], row["problems"]
    assert row["valid"] and row["identical"] and not row["leftovers"]


def test_an_index_killed_midway_reruns_to_identical_arrays(baselines, tmp_path):
    row = crash.crash_trial("index", "midway", baselines, tmp_path / "index")
    assert row["killed_at"][0] is not None, "the index ended before the kill"
    assert row["ok"], row["problems"]


def test_of_two_writers_of_one_folder_one_refuses_and_the_other_finishes(baselines, tmp_path):
    row = crash.concurrent_writers("render", baselines, tmp_path / "two")
    assert row["outcome"] == "one refused", (row["exit"], row["message"])
    assert row["message"].count("\n") == 0
    assert f"{tmp_path / 'two'} is being written by process" in row["message"]
    assert row["ok"], row["problems"]


def test_a_killed_render_leaves_no_worker_running(baselines, tmp_path):
    row = crash.crash_trial("render", "workers", baselines, tmp_path / "workers")
    assert row["killed_at"][0] is not None, "the render ended before the kill"
    assert row["orphans"] == 0, row["problems"]
    assert row["ok"], row["problems"]
