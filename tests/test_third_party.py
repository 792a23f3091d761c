"""Third-party plugins, for real: pip-install examples/ast-plugin-example into this
environment — one plugin of every kind — use each through `ast` and hold it to its
group's contract, uninstall it, and see it gone.

Its dataset kind (`arrays`: a folder of precomputed arrays) goes through `ast index`,
`ast match` and `ast eval pieces` with no change to the core.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import torch
import pytest

from conftest import ROOT

EXAMPLE = ROOT / "examples" / "ast-plugin-example"
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
KINDS = {("metrics", "ndcg@k"), ("matchers", "mean"), ("encoders", "tiny"),
         ("renderers", "scanned"), ("datasets", "arrays"), ("commands", "arrays"),
         ("augmentations", "mask")}

pytestmark = pytest.mark.install


def pip(*args):
    subprocess.run([*PIP, *args], check=True, capture_output=True, text=True, timeout=300)


def reference_ndcg(preds, target, indexes, k):
    values = []
    for q in np.unique(indexes):
        p, t = preds[indexes == q], target[indexes == q]
        ranked = sorted(zip(p, t), key=lambda r: (-r[0], r[1]))[:k]
        dcg = sum(rel / np.log2(pos + 1) for pos, (_, rel) in enumerate(ranked, start=1))
        ideal = sorted(t, reverse=True)[:k]
        idcg = sum(rel / np.log2(pos + 1) for pos, rel in enumerate(ideal, start=1))
        values.append(dcg / idcg)
    return float(np.mean(values))


def listed(ast_cmd) -> dict:
    out = ast_cmd("plugins", "list", "--json", check=True)
    return {(r["group"], r["name"]): r for r in json.loads(out.stdout)["plugins"]}


def _changed() -> None:
    """This process saw the installation change: forget cached plugins and paths."""
    import importlib

    from ast_toolkit import plugins

    plugins.refresh()
    importlib.invalidate_caches()


@pytest.fixture(scope="module")
def installed(ast_cmd_module):
    pip("uninstall", "-y", "ast-plugin-example")  # a left-over from an interrupted run
    assert not KINDS & set(listed(ast_cmd_module))
    pip("install", "--no-deps", "--no-build-isolation", str(EXAMPLE))
    _changed()
    yield
    pip("uninstall", "-y", "ast-plugin-example")
    _changed()


@pytest.fixture(scope="module")
def ast_cmd_module():
    from conftest import run_ast

    return run_ast


def test_every_kind_appears_with_no_change_to_the_core(installed, ast_cmd):
    rows = listed(ast_cmd)
    for kind in KINDS:
        assert rows[kind]["distribution"] == "ast-plugin-example", kind
        assert rows[kind]["status"] == "ok", (kind, rows[kind]["reason"])
    # the command is a subcommand of `ast`, with its help
    out = ast_cmd("--help", check=True)
    assert "arrays" in out.stdout
    assert "Write DATASET's pieces" in ast_cmd("arrays", "export", "--help", check=True).stdout


def test_metric(installed, ast_cmd, tmp_path):
    rng = np.random.default_rng(0)
    preds = np.round(rng.normal(size=60), 1)
    target = rng.random(60) < 0.2
    target[::20] = True  # every query has a relevant candidate
    indexes = np.repeat(np.arange(3), 20)
    csv = tmp_path / "scores.csv"
    csv.write_text("query,score,relevant\n"
                   + "".join(f"{i},{p},{int(t)}\n" for p, t, i in zip(preds, target, indexes)))
    out = ast_cmd("eval", "scores", str(csv), "--metric", "ndcg@5,mrr", "--json", check=True)
    values = json.loads(out.stdout)["metrics"]
    assert values["ndcg@5"] == pytest.approx(reference_ndcg(preds, target, indexes, 5))


def test_matcher_meets_the_matcher_contract(installed):
    from contracts import check_matcher
    from test_matchers import walk

    from ast_toolkit import plugins
    from ast_toolkit.types import Collection

    rng = np.random.default_rng(0)
    collection = Collection.from_mapping({f"piece{i:02d}": walk(rng, int(rng.integers(40, 160)))
                                          for i in range(40)})
    check_matcher(plugins.create("matchers", "mean"), collection)


def test_renderer_meets_the_renderer_contract(installed):
    from contracts import check_renderer

    from ast_toolkit import plugins
    from ast_toolkit.data.sources import expand_source

    source = next(s for s in expand_source("music21:essenFolksong/altdeu10.abc") if s.number == 12)
    check_renderer(lambda **kw: plugins.create("renderers", "scanned", **kw), source)
    scanned = plugins.create("renderers", "scanned").render(source)
    clean = plugins.create("renderers", "verovio").render(source)
    assert scanned.meta["angles"][0] != 0
    assert not np.array_equal(scanned.pages[0], clean.pages[0])
    assert [e.onset for e in scanned.events] == [e.onset for e in clean.events]


def test_dataset_kind_goes_through_index_match_and_eval(installed, ast_cmd, tunes, model, tmp_path):
    from contracts import check_dataset

    from ast_toolkit.data.datasets import open_dataset
    from ast_toolkit.search.index import build_index

    arrays = tmp_path / "arrays"
    out = ast_cmd("arrays", "export", str(tunes), str(arrays), check=True)
    assert "12 pieces" in out.stdout
    ds = open_dataset(arrays)
    assert type(ds).__name__ == "ArraysDataset"
    check_dataset(ds, pairs=False)

    index = tmp_path / "index"
    ast_cmd("index", "-m", str(model), "-d", str(arrays), "--split", "train", "--out", str(index),
            check=True)
    # the same windows and excerpts as the rendered folder it was exported from
    reference = tmp_path / "reference"
    build_index(model, reference, dataset=tunes, split="train")
    for side in ("sheet", "audio"):
        assert np.allclose(np.load(index / f"{side}.npy"), np.load(reference / f"{side}.npy"),
                           atol=1e-5)
    meta = json.loads((index / "index.json").read_text())
    assert meta["settings"]["source"]["name"].endswith("-arrays")

    pid = meta["pieces"][2]["id"]
    out = ast_cmd("match", "-i", str(index), "-q", "2", "-M", "sdtw", "--json", check=True)
    assert json.loads(out.stdout)["results"][0]["piece"] == pid
    out = ast_cmd("match", "-i", str(index), "-q", "2", "-M", "dtw", "--report",
                  str(tmp_path / "report.png"), check=True)
    assert (tmp_path / "report.png").stat().st_size > 10_000

    out = ast_cmd("eval", "pieces", "-i", str(index), "-M", "dtw,mean", "--json", check=True)
    rows = {(r["matcher"], r["direction"]): r for r in json.loads(out.stdout)["results"]}
    assert rows[("dtw", "a2s")]["R@1 fraction"] > 0.75 and rows[("dtw", "s2a")]["R@1 fraction"] > 0.75
    n = len(meta["pieces"])
    chance = float(np.mean(1 / np.arange(1, n + 1)))
    assert rows[("mean", "a2s")]["MRR"] > chance

    # a dataset kind without aligned pairs says so when asked to train
    out = ast_cmd("fit", "-d", str(arrays), "-o", str(tmp_path / "never"))
    assert out.returncode == 1 and "no aligned sheet/audio pairs" in out.stderr


def test_encoder_trains_and_evaluates(installed, ast_cmd, tunes, tmp_path):
    model = tmp_path / "tiny"
    out = ast_cmd("fit", "-d", str(tunes), "-e", "tiny", "-p", "width=8", "--epochs", "2",
                  "--epoch-samples", "120", "--batch-size", "40", "--val-candidates", "60",
                  "-o", str(model))
    assert out.returncode == 0, out.stderr
    assert json.loads((model / "config.json").read_text())["encoder"] == "tiny"
    out = ast_cmd("eval", "snippets", "-m", str(model), "--candidates", "100", "--json", check=True)
    assert 0 < json.loads(out.stdout)["directions"]["a2s"]["mrr"] <= 1


def test_augmentation_trains_with_the_bundled_ones(installed, ast_cmd, tunes, tmp_path):
    from ast_toolkit.learn.augment import Augmenter

    aug = Augmenter(["mask", "tempo"], ["mask.p=1"])
    x = torch.rand(4, 1, 92, 42) + 0.1
    out = aug.apply_audio(x, np.random.default_rng(0), before=21, context=42)
    assert out.shape == x.shape and (out == 0).any() and not (x == 0).any()
    model = tmp_path / "masked"
    out = ast_cmd("fit", "-d", str(tunes), "-p", "filters=[8,16,16,16]", "--epochs", "1",
                  "--epoch-samples", "120", "--batch-size", "40", "--val-candidates", "60",
                  "--augment", "mask,tempo", "--augment-param", "mask.frames=4", "-o", str(model))
    assert out.returncode == 0, out.stderr
    recorded = json.loads((model / "config.json").read_text())["augmentations"]
    assert recorded["mask"]["frames"] == 4 and "tempo" in recorded


def test_uninstalled_plugins_are_gone(installed, ast_cmd, tmp_path):
    pip("uninstall", "-y", "ast-plugin-example")
    _changed()
    assert not KINDS & set(listed(ast_cmd))
    csv = tmp_path / "s.csv"
    csv.write_text("query,score,relevant\n0,0.9,1\n0,0.1,0\n")
    out = ast_cmd("eval", "scores", str(csv), "--metric", "ndcg@5")
    assert out.returncode == 1 and "unknown metric plugin 'ndcg@5'" in out.stderr
    out = ast_cmd("arrays", "export", "x", "y")
    assert out.returncode == 2 and "No such command 'arrays'" in out.stderr
