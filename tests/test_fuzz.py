"""A fast sample of the fuzz harness (``benchmarks/fuzz.py``) through the real CLI.

The full run — over 1,000 malformed scores, recordings, images and damaged folders —
is ``.venv/bin/python benchmarks/fuzz.py``; here a few of each kind go through
``ast data render``, ``ast match``, ``ast index --audio``, ``ast data stats|validate``
and ``ast eval pieces``, and none may end in a traceback, a hang, a crash or a
silent wrong answer, nor lose a good input.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _load_fuzz():
    spec = importlib.util.spec_from_file_location("ast_fuzz", ROOT / "benchmarks" / "fuzz.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


fuzz = _load_fuzz()

#: The sample: file cases by category and name, folder cases by (category, name).
FILES = {
    "scores": ["empty-xml.xml", "random4096-abc.abc", "cut50-mxl.mxl", "cut50-musicxml.musicxml",
               "tempo-1e9-xml.xml", "octave20-abc.abc", "mxl-traversal.mxl", "crlf-abc.abc",
               "non-utf8-\\xff\\xfe-name.abc"],
    "audio": ["empty.wav", "nan-one-float32.wav", "cut50pct.flac", "non-utf8-\\xff\\xfe.wav"],
    "images": ["page.png", "encrypted.pdf"],
}
FOLDERS = ["manifest.json:json-invalid:validate", "manifest.json:json-invalid:stats",
           "pieces/*/score.json:delete:stats", "index.json:delete:match-index",
           "audio_rows.npy:cut-half:eval-index"]


def _pick(cases, category, name):
    found = [c for c in cases if c.category == category and fuzz.shown(c.name) == name]
    assert len(found) == 1, f"no {category} case {name!r} (the generator changed?)"
    return found[0]


def _pick_folder(cases, pattern):
    rel, damage, consumer = pattern.split(":")
    head, _, tail = rel.partition("*/")
    found = [c for c in cases if c.consumer == consumer and c.name.endswith(f":{damage}:{consumer}")
             and c.rel.startswith(head) and c.rel.endswith(tail or head)]
    assert found, f"no folder case {pattern!r} (the generator changed?)"
    return found[0]


def test_generators_are_deterministic(tmp_path):
    seeds = fuzz.score_seeds(tmp_path / "seeds")
    a = fuzz.score_cases(tmp_path / "a", seeds, big=False)
    b = fuzz.score_cases(tmp_path / "b", seeds, big=False)
    assert [c.name for c in a] == [c.name for c in b]
    assert all(x.input.read_bytes() == y.input.read_bytes() for x, y in zip(a, b))
    assert len({c.name for c in a}) == len(a)
    assert {c.expect for c in a} <= {"refuse", "either", "valid", "same", "similar"}


def test_a_sample_of_malformed_inputs(tmp_path, ast_cmd):
    base = fuzz.build_base(tmp_path / "base", pieces=3, quick=True,
                           consumers=["match-index", "eval-index", "validate", "stats"])
    inputs = tmp_path / "inputs"
    generated = {"scores": fuzz.score_cases(inputs / "scores", base.seeds, big=False),
                 "audio": fuzz.audio_cases(inputs / "audio", base.query, big=False),
                 "images": fuzz.image_cases(inputs / "images", base.page)}
    cases = [_pick(generated[cat], cat, name) for cat, names in FILES.items() for name in names]
    cases += [fuzz.Case(**{**fuzz.asdict(c), "category": "audio-batch"}) for c in cases if c.category == "audio"]
    folder_cases = fuzz.folder_cases(base, json_limit=0)
    cases += [_pick_folder(folder_cases, pattern) for pattern in FOLDERS]

    results = fuzz.run_jobs(fuzz.make_jobs(cases, base, 120.0, tmp_path), workers=2)

    assert sorted((r.category, r.name) for r in results) == sorted((c.category, c.name) for c in cases)
    bad = [r.line() for r in results if r.outcome in fuzz.FAILURES or r.lost]
    assert not bad, "\n".join(bad)
    # A refused input is refused with one line naming it.
    by_name = {(r.category, r.name): r for r in results}
    assert by_name["audio", "empty.wav"].outcome == "clean error"
    assert "empty.wav" in by_name["audio", "empty.wav"].message
    assert by_name["scores", "crlf-abc.abc"].outcome == "ok"
