"""Broken and duplicate plugins: a real distribution with bad entry points is
pip-installed into a private folder put on PYTHONPATH; `ast` must keep working."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

PYPROJECT = """
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "ast-broken-example"
version = "9.9"

[project.entry-points."ast.metrics"]
"missing-module" = "ast_broken_example.nowhere:Metric"
"missing-object" = "ast_broken_example.bad:Nothing"
"not-a-metric" = "ast_broken_example.bad:NotAMetric"
"half-metric" = "ast_broken_example.bad:HalfMetric"
"mrr" = "ast_broken_example.bad:OtherMRR"

[project.entry-points."ast.matchers"]
"crashes-on-import" = "ast_broken_example.crash:Matcher"

[project.entry-points."ast.commands"]
"crashes" = "ast_broken_example.crash:command"

[tool.setuptools]
packages = ["ast_broken_example"]
"""

BAD = '''
from ast_toolkit.interfaces import Metric
from ast_toolkit.evaluation.retrieval import RankMetric

class NotAMetric:
    pass

class HalfMetric(Metric):
    def update(self, *a):
        pass

class OtherMRR(RankMetric):
    def from_ranks(self, ranks):
        return 0.0
'''


@pytest.fixture(scope="module")
def broken_site(tmp_path_factory):
    src = tmp_path_factory.mktemp("broken-src")
    (src / "pyproject.toml").write_text(PYPROJECT)
    pkg = src / "ast_broken_example"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "bad.py").write_text(textwrap.dedent(BAD))
    (pkg / "crash.py").write_text("raise RuntimeError('this plugin is broken on purpose')\n")
    site = tmp_path_factory.mktemp("broken-site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(src)],
        check=True, capture_output=True, timeout=300,
    )
    return {"PYTHONPATH": str(site)}


def test_broken_plugins_are_listed_with_reasons(ast_cmd, broken_site):
    out = ast_cmd("plugins", "list", "--json", env=broken_site, check=True)
    data = json.loads(out.stdout)
    rows = {(r["group"], r["name"]): r for r in data["plugins"]}
    reasons = {k: (r["status"], r["reason"]) for k, r in rows.items()}
    assert reasons[("metrics", "missing-module")][0] == "broken"
    assert "ModuleNotFoundError" in reasons[("metrics", "missing-module")][1]
    assert "AttributeError" in reasons[("metrics", "missing-object")][1]
    assert "is not a subclass of ast_toolkit.interfaces.Metric" in reasons[("metrics", "not-a-metric")][1]
    assert "does not implement Metric: missing compute" in reasons[("metrics", "half-metric")][1]
    assert reasons[("matchers", "crashes-on-import")] == (
        "broken", "RuntimeError: this plugin is broken on purpose")
    # The healthy plugins are still fine.
    assert reasons[("metrics", "recall@k")] == ("ok", "")


def test_duplicate_name_keeps_the_bundled_plugin_and_lists_both(ast_cmd, broken_site, tmp_path):
    """A third-party plugin registering a bundled name (here ``mrr``, installed ahead of
    the bundled one on the path) does not replace it: the bundled plugin keeps the
    name, the other is ``DISTRIBUTION:NAME``, and both are listed."""
    out = ast_cmd("plugins", "list", "--json", env=broken_site, check=True)
    data = json.loads(out.stdout)
    (warning,) = [w for w in data["warnings"] if "'mrr'" in w]
    assert "ast-broken-example" in warning and "ast-toolkit" in warning
    assert "'ast-broken-example:mrr'" in warning
    rows = {r["name"]: r for r in data["plugins"] if r["group"] == "metrics"}
    assert rows["mrr"]["distribution"] == "ast-toolkit" and rows["mrr"]["shadows"]
    assert rows["ast-broken-example:mrr"]["distribution"] == "ast-broken-example"
    table = ast_cmd("plugins", "list", env=broken_site, check=True)
    assert "registered by more than one distribution" in table.stderr
    # the plain name computes the bundled MRR; the other answers to its long name
    csv = tmp_path / "s.csv"
    csv.write_text("query,score,relevant\n0,0.9,0\n0,0.5,1\n")
    out = ast_cmd("eval", "scores", str(csv), "--metric", "mrr,ast-broken-example:mrr", "--json",
                  env=broken_site, check=True)
    assert json.loads(out.stdout)["metrics"] == {"mrr": 0.5, "ast-broken-example:mrr": 0.0}


def test_other_commands_keep_working(ast_cmd, broken_site, tmp_path):
    top = ast_cmd("--help", env=broken_site)
    assert top.returncode == 0 and "crashes" in top.stdout and "broken" in top.stdout
    # a broken command is one clear error naming why
    out = ast_cmd("crashes", env=broken_site)
    assert out.returncode == 1 and "this plugin is broken on purpose" in out.stderr
    assert "Traceback" not in out.stderr
    assert ast_cmd("registry", "list", env=broken_site).returncode == 0
    csv = tmp_path / "s.csv"
    csv.write_text("query,score,relevant\n0,0.9,1\n0,0.1,0\n")
    out = ast_cmd("eval", "scores", str(csv), "--metric", "recall@1", "--json", env=broken_site, check=True)
    assert json.loads(out.stdout)["metrics"]["recall@1"] == 1.0
    # Using a broken plugin is one clear error, not a traceback.
    out = ast_cmd("eval", "scores", str(csv), "--metric", "half-metric", env=broken_site)
    assert out.returncode == 1
    assert "does not implement Metric: missing compute" in out.stderr
    assert "Traceback" not in out.stderr
