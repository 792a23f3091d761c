"""Matcher plugins: the contract, parametrized over every registered matcher, and
what each promises (tempo tolerance, location, the prefilter).

These use embedding-like synthetic sequences — stationary random walks on the
unit sphere, decorrelating over a few rows as real excerpt embeddings do —
so that a query's true piece and position are known exactly.  Real rendered
pieces go through the same matchers in tests/test_index.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from ast_toolkit import plugins
from ast_toolkit.errors import ParameterError, UnknownPluginError
from ast_toolkit.search.matching import Prefiltered, make_matcher, parse_spec
from ast_toolkit.types import Collection

MATCHERS = plugins.names("matchers")


def walk(rng, n, dim=32, a=0.85):  # also used by test_third_party
    """An AR(1) sequence of unit vectors: neighbouring rows correlate like overlapping excerpts."""
    e = rng.normal(size=(n, dim))
    x = np.empty((n, dim))
    x[0] = e[0]
    for t in range(1, n):
        x[t] = a * x[t - 1] + np.sqrt(1 - a * a) * e[t]
    x = x.astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def perform(rng, x, *, faster=1.0, noise=0.0):
    """``x`` played ``faster`` times faster (fewer rows), with noise; unit rows."""
    n = max(2, int(round(len(x) / faster)))
    idx = np.clip(np.round(np.arange(n) * faster).astype(int), 0, len(x) - 1)
    y = x[idx] + rng.normal(size=(n, x.shape[1])).astype(np.float32) * noise
    return (y / np.linalg.norm(y, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def collection():
    rng = np.random.default_rng(0)
    return Collection.from_mapping({f"piece{i:02d}": walk(rng, int(rng.integers(40, 160)))
                                    for i in range(40)})


@pytest.mark.parametrize("name", MATCHERS)
def test_matcher_contract(name, collection):
    from contracts import check_matcher

    check_matcher(plugins.create("matchers", name), collection)


@pytest.mark.parametrize("name", MATCHERS)
def test_matcher_refuses_bad_queries(name, collection):
    m = plugins.create("matchers", name)
    m.fit(collection)
    with pytest.raises(ParameterError, match=r"must be \[n, 32\] embeddings"):
        m.match(np.ones((4, 16), np.float32))
    with pytest.raises(ParameterError, match="empty"):
        m.match(np.zeros((0, 32), np.float32))
    with pytest.raises(ParameterError, match="positions 0..39"):
        m.match(collection.sequence(0), candidates=[41])
    with pytest.raises(ParameterError, match="rate must be a positive"):
        m.match(collection.sequence(0), rate=0.0)


@pytest.mark.parametrize("name", MATCHERS)
def test_matcher_parameters_are_typed(name):
    with pytest.raises(ParameterError, match="did you mean|Allowed"):
        plugins.create("matchers", name, kk=3)


def test_shazam_finds_a_query_played_20_percent_faster(collection):
    """Tempo tolerance: a fragment played 1.2x faster, with noise, at an unknown tempo."""
    rng = np.random.default_rng(1)
    m = plugins.create("matchers", "shazam")
    m.fit(collection)
    hits = 0
    pieces = [p for p in range(len(collection)) if collection.lengths[p] >= 90]
    for p in pieces:
        x = collection.sequence(p)
        start = int(rng.integers(0, len(x) - 80))
        res = m.match(perform(rng, x[start:start + 80], faster=1.2, noise=0.15), top=3)
        if res[0].piece == collection.ids[p]:
            hits += 1
            assert abs(res[0].start - start) <= 8, "located near the fragment's start"
    assert hits >= 0.9 * len(pieces)
    # the scaled versions of the query are what gathers the hits: at scale 1
    # alone, the true piece's largest cluster of consistent offsets is smaller
    stiff = plugins.create("matchers", "shazam", scales=[1.0])
    stiff.fit(collection)
    rng = np.random.default_rng(1)
    gain = []
    for p in pieces:
        x = collection.sequence(p)
        start = int(rng.integers(0, len(x) - 80))
        q = perform(rng, x[start:start + 80], faster=1.2, noise=0.15)
        scaled = m.match(q, top=None, candidates=[p])[0].score
        gain.append(scaled / max(stiff.match(q, top=None, candidates=[p])[0].score, 1.0))
    assert np.median(gain) >= 1.5, gain


def test_sdtw_locates_a_fragment(collection):
    rng = np.random.default_rng(2)
    m = plugins.create("matchers", "sdtw")
    m.fit(collection)
    for p in (2, 11, 25):
        x = collection.sequence(p)
        start = int(rng.integers(0, len(x) - 30))
        res = m.match(perform(rng, x[start:start + 30], faster=0.9, noise=0.2), top=1)[0]
        assert res.piece == collection.ids[p]
        assert abs(res.start - start) <= 2 and abs(res.end - (start + 29)) <= 2
        assert res.path is not None and res.path[0, 0] == 0 and res.path[-1, 0] == 32


def test_vote_and_dtw_tolerate_noise_and_tempo(collection):
    rng = np.random.default_rng(3)
    for name in ("vote", "dtw", "sdtw"):
        m = plugins.create("matchers", name)
        m.fit(collection)
        ranks = []
        for p in range(0, 40, 3):
            q = perform(rng, collection.sequence(p), faster=1.15, noise=0.3)
            ids = [r.piece for r in m.match(q, top=None)]
            ranks.append(ids.index(collection.ids[p]) + 1)
        assert np.mean(np.array(ranks) == 1) >= 0.9, (name, ranks)


def test_prefilter_ranks_the_shortlist_first_and_keeps_every_piece(collection):
    rng = np.random.default_rng(4)
    pre = make_matcher("dtw+vote:5")
    assert isinstance(pre, Prefiltered) and pre.name == "dtw+vote:5"
    pre.fit(collection)
    q = perform(rng, collection.sequence(7), noise=0.3)
    full = pre.match(q, top=None)
    assert sorted(r.piece for r in full) == sorted(collection.ids)
    assert full[0].piece == "piece07" and full[0].path is not None
    shortlist = {r.piece for r in pre.first.match(q, top=5)}
    assert {r.piece for r in full[:5]} == shortlist
    assert [r.score for r in full] == sorted((r.score for r in full), reverse=True)
    # with every piece on the shortlist, it is plain DTW
    everything = make_matcher("dtw", prefilter="vote:40")
    everything.fit(collection)
    plain = make_matcher("dtw")
    plain.fit(collection)
    assert [r.piece for r in everything.match(q, top=10)] == [r.piece for r in plain.match(q, top=10)]
    # the prefilter is not applied to itself
    assert make_matcher("vote", prefilter="vote:5").name == "vote"


def test_matcher_specs():
    assert parse_spec("dtw") == ("dtw", None)
    assert parse_spec("sdtw+vote:100") == ("sdtw", ("vote", 100))
    with pytest.raises(ParameterError, match="NAME:K"):
        parse_spec("dtw+vote")
    with pytest.raises(UnknownPluginError, match="did you mean 'dtw'"):
        make_matcher("dwt")
