"""Contract tests, parametrized over every registered plugin of every group.

A plugin is tested the moment it is registered: it must load, be a concrete
subclass of its group's interface (a click command for ``commands``), and (per
group) honour the interface — the behaviour checks are in ``contracts.py``.
"""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

from ast_toolkit import interfaces, plugins
from ast_toolkit.errors import ParameterError, ToolkitError, UnknownPluginError
from ast_toolkit.types import NoteEvent

ALL = plugins.discover()


def _id(info):
    return f"{info.group}:{info.name}"


@pytest.mark.parametrize("info", ALL, ids=_id)
def test_plugin_loads_and_implements_interface(info):
    obj = plugins.load(info.group, info.name)
    interface = plugins.GROUPS[info.group][1]
    if info.group == "commands":
        assert isinstance(obj, interface) and obj.name == info.name
    else:
        assert issubclass(obj, interface)
        assert not inspect.isabstract(obj)
    assert plugins.check(info).ok


# --- renderers ------------------------------------------------------------------------

RENDERERS = [i for i in ALL if i.group == "renderers"]


@pytest.mark.parametrize("info", RENDERERS, ids=_id)
def test_renderer_contract(info):
    """The core's constructor keyword (page width) and the tempo are honoured."""
    from contracts import check_renderer

    from ast_toolkit.data.sources import expand_source

    source = next(s for s in expand_source("music21:essenFolksong/altdeu10.abc") if s.number == 12)
    check_renderer(lambda **kw: plugins.create("renderers", info.name, **kw), source)


# --- synthesizers ---------------------------------------------------------------------

SYNTHESIZERS = [i for i in ALL if i.group == "synthesizers"]


@pytest.mark.parametrize("info", SYNTHESIZERS, ids=_id)
def test_synthesizer_contract(info):
    """The core's constructor keywords (sample rate, program) are honoured; notes sound
    where they start, at their pitch; tempo scales time; a second run sounds the same."""
    from contracts import check_gain, check_synthesizer

    check_synthesizer(plugins.create("synthesizers", info.name, sample_rate=16000, program=0),
                      sample_rate=16000)
    check_gain(lambda **kw: plugins.create("synthesizers", info.name, **kw))
    with pytest.raises(ParameterError, match="sample_rate"):
        plugins.create("synthesizers", info.name, sample_rate=100)
    with pytest.raises(ParameterError, match="program"):
        plugins.create("synthesizers", info.name, program=200)
    synth = plugins.create("synthesizers", info.name)
    with pytest.raises(ToolkitError):
        synth.check_soundfont("no-such-soundfont-anywhere")
    events = [NoteEvent(0.2, 0.6, 60, 80)]
    piano = plugins.create("synthesizers", info.name, program=0).synthesize(events)
    strings = plugins.create("synthesizers", info.name, program=48).synthesize(events)
    n = min(len(piano), len(strings))
    assert np.abs(piano[:n] - strings[:n]).max() > 0.01, "the program changes the instrument"


# --- datasets -------------------------------------------------------------------------

DATASETS = [i for i in ALL if i.group == "datasets"]


@pytest.mark.parametrize("info", DATASETS, ids=_id)
def test_dataset_contract(info, request):
    """Every dataset plugin with an example folder here: opened by the name in its
    dataset.json, cut to the encoder's sizes, consistent (``contracts.check_dataset``)."""
    from contracts import check_dataset

    from ast_toolkit.data.datasets import dataset_plugin, open_dataset

    examples = {"rendered": "tunes"}  # plugin -> the fixture that makes a folder it reads
    if info.name not in examples:
        pytest.skip(f"no example folder for the dataset plugin {info.name!r} in this test suite")
    folder = request.getfixturevalue(examples[info.name])
    assert dataset_plugin(folder) == info.name
    check_dataset(open_dataset(folder))
    wide = open_dataset(folder, sheet_window=(120, 240), audio_context=84)
    assert type(wide) is plugins.load("datasets", info.name)
    check_dataset(wide)


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
    assert info.target == "ast_toolkit_plugins.metrics.rank:MeanReciprocalRank"


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
        "import sys; from ast_toolkit import plugins; plugins.discover(); "
        "print(any(m.startswith('ast_toolkit_plugins') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- importers ------------------------------------------------------------------------

IMPORTERS = [i for i in ALL if i.group == "importers"]


@pytest.mark.parametrize("info", IMPORTERS, ids=_id)
def test_importer_refuses_what_is_not_its_checkpoint(info, tmp_path):
    """A missing file, a text file and an empty file are refused with the file's name."""
    from ast_toolkit.errors import IntegrityError

    importer = plugins.create("importers", info.name)
    for path, content in ((tmp_path / "none.pt", None), (tmp_path / "notes.pt", "hello"),
                          (tmp_path / "empty.pt", "")):
        if content is not None:
            path.write_text(content)
        with pytest.raises(IntegrityError, match=str(path)):
            importer.read(path)
