"""A third-party plugin, for real: pip-install examples/ast-plugin-example into this
environment, use it through `ast`, uninstall it, and see it gone."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT

EXAMPLE = ROOT / "examples" / "ast-plugin-example"
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]


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


@pytest.mark.install
def test_install_use_uninstall(tmp_path, ast_cmd):
    def listed():
        out = ast_cmd("plugins", "list", "--group", "metrics", "--json", check=True)
        return {r["name"]: r for r in json.loads(out.stdout)["plugins"]}

    pip("uninstall", "-y", "ast-plugin-example")  # a left-over from an interrupted run
    assert "ndcg@k" not in listed()

    rng = np.random.default_rng(0)
    preds = np.round(rng.normal(size=60), 1)
    target = rng.random(60) < 0.2
    target[::20] = True  # every query has a relevant candidate
    indexes = np.repeat(np.arange(3), 20)
    csv = tmp_path / "scores.csv"
    csv.write_text(
        "query,score,relevant\n"
        + "".join(f"{i},{p},{int(t)}\n" for p, t, i in zip(preds, target, indexes))
    )

    pip("install", "--no-deps", "--no-build-isolation", str(EXAMPLE))
    try:
        row = listed()["ndcg@k"]
        assert row["distribution"] == "ast-plugin-example"
        assert row["status"] == "ok"
        assert row["target"] == "ast_plugin_example.metrics:NDCGAtK"

        out = ast_cmd("eval", "scores", str(csv), "--metric", "ndcg@5,mrr", "--json", check=True)
        values = json.loads(out.stdout)["metrics"]
        assert values["ndcg@5"] == pytest.approx(reference_ndcg(preds, target, indexes, 5))
    finally:
        pip("uninstall", "-y", "ast-plugin-example")

    assert "ndcg@k" not in listed()
    out = ast_cmd("eval", "scores", str(csv), "--metric", "ndcg@5")
    assert out.returncode == 1 and "unknown metric plugin 'ndcg@5'" in out.stderr
