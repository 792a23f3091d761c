"""The DTW kernels (ast_toolkit.search.dtw) against librosa.sequence.dtw and against each other."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from ast_toolkit.errors import ParameterError
from ast_toolkit.search.dtw import LANES, SequenceBank, cosine_cost, dtw, dtw_many
from ast_toolkit.search.dtw import _backtrack, _full

SHAPES = [(1, 1), (1, 9), (9, 1), (2, 2), (30, 50), (50, 30), (64, 200), (7, 300)]


def _unit(rng, n, dim=32):
    """A smooth random walk on the unit sphere: embedding-like sequences."""
    x = np.cumsum(rng.normal(size=(n, dim)), axis=0).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_dtw_agrees_with_librosa(shape):
    C = np.random.default_rng(sum(shape)).random(shape).astype(np.float32)
    D, wp = librosa.sequence.dtw(C=C)
    a = dtw(C)
    assert a.cost == pytest.approx(D[-1, -1], rel=1e-5)
    assert np.array_equal(a.path, wp[::-1])
    assert a.length == len(wp) and (a.start, a.end) == (0, shape[1] - 1)
    assert a.normalized_cost == pytest.approx(D[-1, -1] / len(wp), rel=1e-5)


@pytest.mark.parametrize("shape", [s for s in SHAPES if s[0] <= s[1]], ids=lambda s: f"{s[0]}x{s[1]}")
def test_subsequence_dtw_agrees_with_librosa(shape):
    # librosa's subsequence DTW wants the query no longer than the database
    C = np.random.default_rng(sum(shape) + 1).random(shape).astype(np.float32)
    D, wp = librosa.sequence.dtw(C=C, subseq=True)
    a = dtw(C, subsequence=True, end="total")
    assert a.cost == pytest.approx(D[-1].min(), rel=1e-5)
    assert np.array_equal(a.path, wp[::-1])
    assert (a.start, a.end) == (wp[-1][1], wp[0][1])


def test_normalized_end_minimises_cost_over_path_length():
    rng = np.random.default_rng(3)
    C = cosine_cost(_unit(rng, 20), _unit(rng, 120))
    D, _, steps = _full(C, True, False)
    per_end = [D[-1, j] / len(_backtrack(steps, j, True)) for j in range(C.shape[1])]
    a = dtw(C, subsequence=True)
    assert a.end == int(np.argmin(per_end))
    assert a.normalized_cost == pytest.approx(min(per_end), rel=1e-5)
    # the end found by the lane kernel gives the same path
    stop = dtw_many(C, np.array([0, C.shape[1]]), subsequence=True)[2][0]
    assert np.array_equal(dtw(C, subsequence=True, stop=int(stop)).path, a.path)


@pytest.mark.parametrize("subsequence", [False, True])
@pytest.mark.parametrize("end", ["normalized", "total"])
def test_many_pieces_side_by_side_equal_one_at_a_time(subsequence, end):
    rng = np.random.default_rng(4)
    lengths = rng.integers(0, 90, size=2 * LANES + 3)  # several groups, empty pieces too
    lengths[3] = 1
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    C = rng.random((17, offsets[-1])).astype(np.float32)
    cost, length, stop = dtw_many(C, offsets, subsequence=subsequence, end=end)
    for p, m in enumerate(lengths):
        if m == 0:
            assert cost[p] == np.inf
            continue
        a = dtw(C[:, offsets[p]:offsets[p + 1]], subsequence=subsequence, end=end)
        assert cost[p] == pytest.approx(a.cost, rel=1e-5)
        assert (length[p], stop[p]) == (a.length, a.end)


@pytest.mark.parametrize("subsequence", [False, True])
def test_sequence_bank_equals_cosine_cost_dtw(subsequence):
    rng = np.random.default_rng(5)
    lengths = rng.integers(1, 150, size=29)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    emb, query = _unit(rng, offsets[-1]), _unit(rng, 40)
    bank = SequenceBank(emb, offsets)
    # a small block size forces several blocks of groups
    got = bank.align(query, subsequence=subsequence, max_floats=40 * LANES * 200)
    want = dtw_many(cosine_cost(query, emb), offsets, subsequence=subsequence)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4)


def test_a_piece_aligned_with_itself_costs_nothing():
    rng = np.random.default_rng(6)
    seqs = [_unit(rng, n) for n in (40, 60, 80)]
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in seqs])])
    bank = SequenceBank(np.concatenate(seqs), offsets)
    cost, length, _ = bank.align(seqs[1])
    assert np.argmin(cost / length) == 1 and cost[1] == pytest.approx(0.0, abs=1e-3)
    assert length[1] == 60


def test_bad_inputs_are_refused():
    with pytest.raises(ParameterError, match="2-D and non-empty"):
        dtw(np.zeros((0, 3)))
    with pytest.raises(ParameterError, match="NaN"):
        dtw(np.full((2, 2), np.nan))
    with pytest.raises(ParameterError, match="end must be one of"):
        dtw(np.ones((2, 2)), subsequence=True, end="best")
    with pytest.raises(ParameterError, match="offsets must rise from 0 to the 5 columns"):
        dtw_many(np.ones((2, 5)), np.array([0, 3]))
    with pytest.raises(ParameterError, match=r"\[n >= 1, 32\]"):
        SequenceBank(np.ones((4, 32), np.float32), np.array([0, 4])).align(np.ones((3, 16)))


def _slope_reference(C, subsequence):
    """Plain-Python DP with the steps (1,1), (2,1), (1,2): accumulated costs and lengths."""
    n, m = C.shape
    D = np.full((n, m), np.inf)
    L = np.ones((n, m), dtype=int)
    for j in range(m):
        if subsequence or j == 0:
            D[0, j] = C[0, j]
    for i in range(1, n):
        for j in range(1, m):
            options = [(D[i - 1, j - 1], L[i - 1, j - 1])]
            if i >= 2:
                options.append((D[i - 2, j - 1], L[i - 2, j - 1]))
            if j >= 2:
                options.append((D[i - 1, j - 2], L[i - 1, j - 2]))
            best = min(options, key=lambda o: o[0])
            D[i, j], L[i, j] = best[0] + C[i, j], best[1] + 1
    return D, L


@pytest.mark.parametrize("shape", [(2, 3), (5, 9), (12, 20), (20, 12), (30, 45)],
                         ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("subsequence", [False, True])
def test_slope_limited_steps_against_a_plain_dp(shape, subsequence):
    C = np.random.default_rng(sum(shape)).random(shape).astype(np.float32)
    D, L = _slope_reference(C.astype(np.float64), subsequence)
    last = D[-1] / L[-1]
    if not np.isfinite(last).any():
        with pytest.raises(ParameterError, match="no path of steps 'slope'"):
            dtw(C, subsequence=subsequence, steps="slope")
        return
    j = int(np.nanargmin(np.where(np.isfinite(last), last, np.inf))) if subsequence else shape[1] - 1
    if not np.isfinite(D[-1, j]):
        return  # whole DTW cannot reach the corner with these steps
    a = dtw(C, subsequence=subsequence, steps="slope")
    assert a.end == j and a.cost == pytest.approx(D[-1, j], rel=1e-5) and a.length == L[-1, j]
    # the path uses only the allowed steps and its cells add up to the cost
    moves = {tuple(d) for d in np.diff(a.path, axis=0)}
    assert moves <= {(1, 1), (2, 1), (1, 2)}
    assert C[a.path[:, 0], a.path[:, 1]].sum() == pytest.approx(a.cost, rel=1e-5)
    cost, length, stop = dtw_many(C, np.array([0, shape[1]]), subsequence=subsequence, steps="slope")
    assert cost[0] == pytest.approx(a.cost, rel=1e-5) and (length[0], stop[0]) == (a.length, a.end)


def test_slope_limited_steps_rule_out_collapsed_paths():
    """Basic steps may map a whole query onto one database column; slope-limited cannot."""
    rng = np.random.default_rng(7)
    query = _unit(rng, 20)
    hub = query.mean(axis=0)
    hub /= np.linalg.norm(hub)
    database = np.concatenate([_unit(rng, 30), hub[None], _unit(rng, 30)])
    C = cosine_cost(query, database)
    basic = dtw(C, subsequence=True)
    slope = dtw(C, subsequence=True, steps="slope")
    assert basic.end - basic.start < 3  # collapsed onto the hub
    assert slope.end - slope.start >= (len(query) - 1) // 2
