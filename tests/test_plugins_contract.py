"""Contract tests, parametrized over every registered plugin of every group.

A plugin is tested the moment it is registered: it must load, be a concrete
subclass of its group's interface, and (per group) honour the interface.
"""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

from toolkit import interfaces, plugins
from toolkit.errors import ParameterError, UnknownPluginError

ALL = plugins.discover()


def _id(info):
    return f"{info.group}:{info.name}"


@pytest.mark.parametrize("info", ALL, ids=_id)
def test_plugin_loads_and_implements_interface(info):
    cls = plugins.load(info.group, info.name)
    interface = plugins.GROUPS[info.group][1]
    assert issubclass(cls, interface)
    assert not inspect.isabstract(cls)
    assert plugins.check(info).ok


METRICS = [i for i in ALL if i.group == "metrics"]


@pytest.mark.parametrize("info", METRICS, ids=_id)
def test_metric_contract(info):
    name = info.name.replace("@k", "@3")
    metric = plugins.create("metrics", name)
    assert isinstance(metric, interfaces.Metric)
    assert isinstance(metric.higher_is_better, bool)
    rng = np.random.default_rng(0)
    preds = rng.normal(size=30)
    target = np.zeros(30, dtype=bool)
    target[::10] = True
    indexes = np.repeat(np.arange(3), 10)
    value = metric(preds, target, indexes)  # update + compute
    assert math.isfinite(value)
    # The same data again gives the same value (state is per-query, not per-call).
    metric.reset()
    metric.update(preds, target, indexes)
    assert metric.compute() == pytest.approx(value)


def test_bundled_metrics_are_registered():
    names = plugins.names("metrics")
    for expected in ("recall@k", "mrr", "median-rank", "mean-rank"):
        assert expected in names
    info = plugins.get("metrics", "mrr")
    assert info.distribution == "ast-toolkit"
    assert info.target == "plugins.metrics:MeanReciprocalRank"


def test_unknown_name_suggests_close_matches():
    with pytest.raises(UnknownPluginError, match=r"unknown metric plugin 'mmr'; did you mean 'mrr'\?"):
        plugins.load("metrics", "mmr")
    with pytest.raises(UnknownPluginError, match=r"Known: .*mean-rank.*mrr"):
        plugins.create("metrics", "precision")


def test_unknown_group():
    with pytest.raises(ParameterError, match=r"did you mean 'metrics'"):
        plugins.discover("metric")


def test_discovery_imports_no_plugin():
    import subprocess
    import sys

    code = (
        "import sys; from toolkit import plugins; plugins.discover(); "
        "print(any(m == 'plugins' or m.startswith('plugins.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
