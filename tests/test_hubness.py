"""Hubness reduction (``hubness="csls"``): a candidate close to every query stops
winning, for every registered matcher, and through ``identify`` on a real index."""

from __future__ import annotations

import numpy as np
import pytest

from ast_toolkit import plugins
from ast_toolkit.errors import ParameterError
from ast_toolkit.search.hubness import csls_collection, csls_query, neighbourhood
from ast_toolkit.types import Collection
from test_matchers import MATCHERS, walk


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def hubbed():
    """20 pieces on the candidate side plus a hub — rows near the direction every
    embedding shares — and, on the query side, each piece's other modality: the
    shared direction, half its own walk, and noise (a modality gap)."""
    rng = np.random.default_rng(3)
    shared = _unit(rng.normal(size=(1, 32)))
    pieces = {f"p{i:02d}": walk(rng, int(rng.integers(40, 80))) for i in range(20)}
    cands = {k: _unit(1.5 * shared + v) for k, v in pieces.items()}
    cands["hub"] = _unit(shared + 0.1 * _unit(rng.normal(size=(60, 32))))
    queries = {k: _unit(1.5 * shared + 0.5 * v + np.sqrt(0.75) * _unit(rng.normal(size=v.shape)))
               for k, v in pieces.items()}
    return Collection.from_mapping(cands), queries


def _top1(matcher: str, collection: Collection, queries: dict, csls: bool) -> list[str]:
    m = plugins.create("matchers", matcher)
    if csls:
        others = np.concatenate(list(queries.values()))
        m.fit(csls_collection(collection, neighbourhood(collection.embeddings, others)))
    else:
        m.fit(collection)
    out = []
    for q in queries.values():
        rows = csls_query(q, neighbourhood(q, collection.embeddings)) if csls else q
        matches = m.match(rows, top=1)
        out.append(matches[0].piece if matches else None)
    return out


@pytest.mark.parametrize("name", ["dtw", "vote"])
def test_csls_stops_a_hub_from_winning(name, hubbed):
    """The whole-piece matchers: the hub wins a quarter (dtw) or every (vote) search
    uncorrected; corrected it wins fewer and more pieces are found.  (``sdtw``, which
    may align a query with any stretch of the near-constant hub, and ``shazam``, whose
    hashes the hub never wins, are not helped here: README's measurements are of dtw.)"""
    collection, queries = hubbed
    plain = _top1(name, collection, queries, csls=False)
    fixed = _top1(name, collection, queries, csls=True)
    truth = list(queries)
    right = lambda top: sum(t == k for t, k in zip(top, truth))  # noqa: E731
    assert plain.count("hub") >= 5, plain
    assert fixed.count("hub") < plain.count("hub") and right(fixed) > right(plain), (plain, fixed)


@pytest.mark.parametrize("name", MATCHERS)
def test_every_matcher_searches_corrected_embeddings(name, hubbed):
    """The two extra coordinates fit every registered matcher: it answers each query."""
    collection, queries = hubbed
    assert all(p is not None for p in _top1(name, collection, queries, csls=True))


def test_csls_coordinates_give_the_corrected_inner_product():
    rng = np.random.default_rng(0)
    q, c = _unit(rng.normal(size=(5, 8))), _unit(rng.normal(size=(7, 8)))
    r_q, r_c = rng.uniform(0, 1, 5), rng.uniform(0, 1, 7)
    col = csls_collection(Collection(["a"], c, np.array([0, 7])), r_c)
    got = csls_query(q, r_q) @ col.embeddings.T
    want = q @ c.T - r_q[:, None] / 2 - r_c[None, :] / 2
    assert np.allclose(got, want, atol=1e-6)
    # r is the mean of the k best cosines, clipped at 0
    r = neighbourhood(q, c, k=3)
    assert np.allclose(r, np.clip(np.sort(q @ c.T, axis=1)[:, -3:].mean(axis=1), 0, 1), atol=1e-6)
    with pytest.raises(ParameterError, match="k must be >= 1"):
        neighbourhood(q, c, k=0)
