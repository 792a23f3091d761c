"""Dynamic time warping over cost matrices: compiled kernels (numba, float32).

Written here on purpose rather than taken from a library.  ``librosa.sequence.dtw``
(like libfmp and synctoolbox, which also pin an old music21) fills the whole
accumulated-cost matrix and a step matrix and then backtracks: right for one
alignment (~17 ns per cell here), wasteful for matching a query against
thousands of pieces, which needs only each piece's final cost, path length and
end column.  :func:`dtw_many` and :class:`SequenceBank` keep two rows of the
matrix per piece (O(m) memory), carry the path length along, and run
:data:`LANES` pieces through one inner loop, so that eight independent
min-and-add chains overlap (one chain alone is latency-bound at ~2 ns per
cell; eight run at ~1 ns), the groups spread over the CPU cores.  :func:`dtw`
keeps the whole matrix and returns the path, for pictures and for the start of
a few top subsequence matches.  Both follow librosa's conventions and are
tested against ``librosa.sequence.dtw`` on the same cost matrices
(``tests/test_sequence.py``).

Conventions
-----------
``C`` is ``[n, m]``: query rows ``i``, database columns ``j``.  Steps (1, 1),
(0, 1) and (1, 0) — diagonal, along the database, along the query — each of
weight 1; on ties the diagonal wins, then (0, 1), then (1, 0) (librosa's order).

* DTW: ``D[0, 0] = C[0, 0]``; the path runs from ``(0, 0)`` to ``(n-1, m-1)``.
* Subsequence DTW: ``D[0, j] = C[0, j]`` (the query may start at any database
  column) and the path ends on the last query row at any column.

The *normalised* cost divides the accumulated cost of the optimal path by its
length in cells.  For subsequence DTW, ``end="normalized"`` (the default) picks
the end column whose path has the lowest normalised cost; ``end="total"`` the
lowest accumulated cost, as librosa does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np

from ..errors import ParameterError

# numba's default OpenMP layer spin-waits between parallel regions, and so do
# OpenBLAS's threads after every matrix product: alternating the two (a cost
# block, then the kernel) made each switch cost milliseconds on two cores.
# The work-queue layer does not spin.  Set before numba's first parallel call.
if numba.config.THREADING_LAYER == "default":
    numba.config.THREADING_LAYER = "workqueue"

__all__ = ["Alignment", "SequenceBank", "cosine_cost", "dtw", "dtw_many", "ENDS", "LANES", "STEPS"]

ENDS = ("normalized", "total")

# Step codes stored by the full-matrix kernels: (1, 1), (0, 1), (1, 0) of the
# basic steps; (2, 1) and (1, 2) of the slope-limited ones.
_DIAG, _ALONG_DB, _ALONG_QUERY, _TWO_QUERY, _TWO_DB = 0, 1, 2, 3, 4

#: Step sets: ``basic`` = (1, 1), (0, 1), (1, 0); ``slope`` = (1, 1), (2, 1),
#: (1, 2) (FMP's subsequence DTW with a slope between 1/2 and 2).
STEPS = ("basic", "slope")


#: Pieces aligned side by side in one pass of the lane kernel.  Eight
#: independent recursions per inner loop hide the latency of each cell's
#: min-and-add chain: one alignment alone ran at ~2.1 ns per cell with its
#: bookkeeping in registers (~5 ns through memory), eight lanes at ~1.1 ns.
LANES = 8


@numba.njit(cache=True, nogil=True)
def _finish(d, ln, lens, subseq, normalized_end, cost, length, end, g):  # pragma: no cover
    """Each lane's end column from the last row ``d`` (costs) and ``ln`` (lengths)."""
    for k in range(LANES):
        m = lens[k]
        if m == 0:
            continue
        best = m - 1
        if subseq:
            best = 0
            key = d[0, k] / ln[0, k] if normalized_end else d[0, k]
            for j in range(1, m):
                q = d[j, k] / ln[j, k] if normalized_end else d[j, k]
                if q < key:
                    key = q
                    best = j
        cost[g, k] = d[best, k]
        length[g, k] = ln[best, k]
        end[g, k] = best


@numba.njit(cache=True, nogil=True)
def _group(C, c0, width, lens, subseq, normalized_end, offset, cost, length, end, g):  # pragma: no cover
    """Align up to :data:`LANES` pieces at once: ``C[:, c0:c0+width, k]`` is lane ``k``;
    the cost of a cell is ``offset + C`` (1 - similarity when ``C`` holds negated
    similarities: no separate pass over the block)."""
    n = C.shape[0]
    dp = np.empty((width, LANES), np.float32)
    dc = np.empty((width, LANES), np.float32)
    lp = np.empty((width, LANES), np.int32)
    lc = np.empty((width, LANES), np.int32)
    for k in range(LANES):
        dp[0, k] = offset + C[0, c0, k]
        lp[0, k] = 1
    for j in range(1, width):
        for k in range(LANES):
            if subseq:
                dp[j, k] = offset + C[0, c0 + j, k]
                lp[j, k] = 1
            else:
                dp[j, k] = dp[j - 1, k] + (offset + C[0, c0 + j, k])
                lp[j, k] = j + 1
    for i in range(1, n):
        for k in range(LANES):
            dc[0, k] = dp[0, k] + (offset + C[i, c0, k])
            lc[0, k] = lp[0, k] + 1
        for j in range(1, width):
            for k in range(LANES):
                g_ = dp[j - 1, k]
                h = dc[j - 1, k]
                v = dp[j, k]
                # diagonal first, then along the database, then along the query
                tk = h < g_
                b = h if tk else g_
                bl = lc[j - 1, k] if tk else lp[j - 1, k]
                tv = v < b
                b = v if tv else b
                bl = lp[j, k] if tv else bl
                dc[j, k] = b + (offset + C[i, c0 + j, k])
                lc[j, k] = bl + 1
        dp, dc = dc, dp
        lp, lc = lc, lp
    _finish(dp, lp, lens, subseq, normalized_end, cost, length, end, g)


@numba.njit(cache=True, nogil=True)
def _group_slope(C, c0, width, lens, subseq, normalized_end, offset, cost, length, end, g):  # pragma: no cover
    """As :func:`_group` with the steps (1, 1), (2, 1), (1, 2): no step stays in a
    column or a row, so a path's slope lies between 1/2 and 2.  No cell depends
    on its own row, so the lanes and columns of a row are independent."""
    n = C.shape[0]
    inf = np.float32(np.inf)
    d2 = np.full((width, LANES), inf, np.float32)
    d1 = np.empty((width, LANES), np.float32)
    dc = np.empty((width, LANES), np.float32)
    l2 = np.ones((width, LANES), np.int32)
    l1 = np.ones((width, LANES), np.int32)
    lc = np.ones((width, LANES), np.int32)
    for j in range(width):
        for k in range(LANES):
            d1[j, k] = (offset + C[0, c0 + j, k]) if (subseq or j == 0) else inf
    for i in range(1, n):
        # d2 starts as infinity, so row 1 never takes the (2, 1) step
        for k in range(LANES):
            dc[0, k] = inf  # every step moves along the database
            lc[0, k] = 1
            # column 1: from (i-1, 0) or (i-2, 0)
            a = d1[0, k]
            al = l1[0, k]
            t = d2[0, k]
            if t < a:
                a = t
                al = l2[0, k]
            if width > 1:
                dc[1, k] = a + (offset + C[i, c0 + 1, k])
                lc[1, k] = al + 1
        for j in range(2, width):
            # branch-free: every candidate is loaded, the best selected
            for k in range(LANES):
                a = d1[j - 1, k]
                al = l1[j - 1, k]
                t = d2[j - 1, k]
                tl = l2[j - 1, k]
                c = t < a
                a = t if c else a
                al = tl if c else al
                u = d1[j - 2, k]
                ul = l1[j - 2, k]
                c = u < a
                a = u if c else a
                al = ul if c else al
                dc[j, k] = a + (offset + C[i, c0 + j, k])
                lc[j, k] = al + 1
        d2, d1, dc = d1, dc, d2
        l2, l1, lc = l1, lc, l2
    _finish(d1, l1, lens, subseq, normalized_end, cost, length, end, g)


@numba.njit(cache=True, nogil=True)
def _one_group(C, goff, lens, g, subseq, normalized_end, slope, offset, cost, length, end):  # pragma: no cover
    if slope:
        _group_slope(C, goff[g], goff[g + 1] - goff[g], lens[g], subseq, normalized_end,
                     offset, cost, length, end, g)
    else:
        _group(C, goff[g], goff[g + 1] - goff[g], lens[g], subseq, normalized_end,
               offset, cost, length, end, g)


@numba.njit(cache=True, parallel=True)
def _groups(C, goff, lens, subseq, normalized_end, slope, offset, cost, length, end):  # pragma: no cover
    for g in numba.prange(goff.shape[0] - 1):
        _one_group(C, goff, lens, g, subseq, normalized_end, slope, offset, cost, length, end)


@numba.njit(cache=True, nogil=True)
def _groups_serial(C, goff, lens, subseq, normalized_end, slope, offset, cost, length, end):  # pragma: no cover
    for g in range(goff.shape[0] - 1):
        _one_group(C, goff, lens, g, subseq, normalized_end, slope, offset, cost, length, end)


@numba.njit(cache=True, nogil=True)
def _full(C, subseq, track):  # pragma: no cover - compiled
    """The accumulated-cost matrix, the step taken into every cell, and (with
    ``track``) the path length into every cell."""
    n, m = C.shape
    D = np.empty((n, m), np.float32)
    L = np.empty((n, m) if track else (1, 1), np.int32)
    steps = np.zeros((n, m), np.int8)
    D[0, 0] = C[0, 0]
    for j in range(1, m):
        if subseq:
            D[0, j] = C[0, j]
        else:
            D[0, j] = D[0, j - 1] + C[0, j]
            steps[0, j] = _ALONG_DB
    for i in range(1, n):
        D[i, 0] = D[i - 1, 0] + C[i, 0]
        steps[i, 0] = _ALONG_QUERY
        for j in range(1, m):
            d = D[i - 1, j - 1]
            s = _DIAG
            h = D[i, j - 1]
            if h < d:
                d = h
                s = _ALONG_DB
            v = D[i - 1, j]
            if v < d:
                d = v
                s = _ALONG_QUERY
            D[i, j] = d + C[i, j]
            steps[i, j] = s
    if track:  # lengths follow the steps taken, in a second pass off the critical path
        L[0, 0] = 1
        for j in range(1, m):
            L[0, j] = 1 if subseq else j + 1
        for i in range(1, n):
            L[i, 0] = L[i - 1, 0] + 1
            for j in range(1, m):
                s = steps[i, j]
                if s == _DIAG:
                    L[i, j] = L[i - 1, j - 1] + 1
                elif s == _ALONG_DB:
                    L[i, j] = L[i, j - 1] + 1
                else:
                    L[i, j] = L[i - 1, j] + 1
    return D, L, steps


@numba.njit(cache=True, nogil=True)
def _full_slope(C, subseq, track):  # pragma: no cover - compiled
    """:func:`_full` with the steps (1, 1), (2, 1), (1, 2); unreachable cells are inf."""
    n, m = C.shape
    inf = np.float32(np.inf)
    D = np.full((n, m), inf, np.float32)
    L = np.ones((n, m) if track else (1, 1), np.int32)
    steps = np.zeros((n, m), np.int8)
    for j in range(m):
        if subseq or j == 0:
            D[0, j] = C[0, j]
    for i in range(1, n):
        for j in range(1, m):
            d = D[i - 1, j - 1]
            s = _DIAG
            if i >= 2 and D[i - 2, j - 1] < d:
                d = D[i - 2, j - 1]
                s = _TWO_QUERY
            if j >= 2 and D[i - 1, j - 2] < d:
                d = D[i - 1, j - 2]
                s = _TWO_DB
            D[i, j] = d + C[i, j]
            steps[i, j] = s
            if track:
                if s == _DIAG:
                    L[i, j] = L[i - 1, j - 1] + 1
                elif s == _TWO_QUERY:
                    L[i, j] = L[i - 2, j - 1] + 1
                else:
                    L[i, j] = L[i - 1, j - 2] + 1
    return D, L, steps


@numba.njit(cache=True, nogil=True)
def _backtrack(steps, end, subseq):  # pragma: no cover - compiled
    n = steps.shape[0]
    path = np.empty((n + steps.shape[1], 2), np.int64)
    i, j, k = n - 1, end, 0
    while True:
        path[k, 0] = i
        path[k, 1] = j
        k += 1
        if i == 0 and (subseq or j == 0):
            break
        s = steps[i, j]
        if s == _DIAG:
            i -= 1
            j -= 1
        elif s == _ALONG_DB:
            j -= 1
        elif s == _ALONG_QUERY:
            i -= 1
        elif s == _TWO_QUERY:
            i -= 2
            j -= 1
        else:
            i -= 1
            j -= 2
    return path[:k][::-1].copy()


@dataclass(frozen=True)
class Alignment:
    """An optimal warping path and its cost.

    Attributes
    ----------
    cost : float
        Accumulated cost along the path.
    length : int
        Cells on the path.
    start, end : int
        First and last database column of the path.
    path : np.ndarray [shape=(length, 2)], int64
        ``(query row, database column)`` pairs from start to end.

    Examples
    --------
    >>> a = dtw(np.array([[1., 0., 1., 1.], [1., 1., 0., 1.]]))
    >>> a.cost, a.length, a.normalized_cost
    (2.0, 4, 0.5)
    >>> a.path.tolist()
    [[0, 0], [0, 1], [1, 2], [1, 3]]
    """

    cost: float
    length: int
    start: int
    end: int
    path: np.ndarray = field(repr=False, compare=False)

    @property
    def normalized_cost(self) -> float:
        """Accumulated cost divided by the path length."""
        return self.cost / self.length


def _check_cost(C: np.ndarray) -> np.ndarray:
    C = np.ascontiguousarray(C, dtype=np.float32)
    if C.ndim != 2 or C.shape[0] == 0 or C.shape[1] == 0:
        raise ParameterError(f"the cost matrix must be 2-D and non-empty, got shape {C.shape}")
    if not np.isfinite(C).all():
        raise ParameterError("the cost matrix holds NaN or infinite values")
    return C


def _check_end(end: str) -> bool:
    if end not in ENDS:
        raise ParameterError(f"end must be one of {', '.join(ENDS)}, got {end!r}")
    return end == "normalized"


def _check_steps(steps: str) -> bool:
    if steps not in STEPS:
        raise ParameterError(f"steps must be one of {', '.join(STEPS)}, got {steps!r}")
    return steps == "slope"


def cosine_cost(query: np.ndarray, database: np.ndarray) -> np.ndarray:
    """Cosine distance ``1 - q·d`` between L2-normalised rows.

    Parameters
    ----------
    query : np.ndarray [shape=(n, dim)]
    database : np.ndarray [shape=(m, dim)]

    Returns
    -------
    np.ndarray [shape=(n, m)], float32, values in [0, 2]

    Examples
    --------
    >>> query = np.array([[1., 0.], [0., 1.]])
    >>> cosine_cost(query, np.array([[1., 0.], [-1., 0.], [0.6, 0.8]])).round(2)
    array([[0. , 2. , 0.4],
           [1. , 1. , 0.2]], dtype=float32)
    >>> cosine_cost(query, np.ones((3, 4)))
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.ParameterError: need [n, dim] and [m, dim] embeddings, got (2, 2) and (3, 4)
    """
    q = np.asarray(query, dtype=np.float32)
    d = np.asarray(database, dtype=np.float32)
    if q.ndim != 2 or d.ndim != 2 or q.shape[1] != d.shape[1]:
        raise ParameterError(f"need [n, dim] and [m, dim] embeddings, got {q.shape} and {d.shape}")
    C = 1.0 - q @ d.T
    np.clip(C, 0.0, 2.0, out=C)
    return np.ascontiguousarray(C, dtype=np.float32)


def dtw(C: np.ndarray, *, subsequence: bool = False, end: str = "normalized",
        stop: int | None = None, steps: str = "basic") -> Alignment:
    """The optimal warping path through one cost matrix.

    Parameters
    ----------
    C : np.ndarray [shape=(n, m)]
        Cost of matching query row ``i`` with database column ``j``.
    subsequence : bool
        Open begin and end on the database axis (subsequence DTW).
    end : {"normalized", "total"}
        Subsequence DTW only: which end column wins (see the module docstring).
    stop : int or None
        Subsequence DTW only: the end column, when it is already known (from
        :func:`dtw_many` or :meth:`SequenceBank.align`); saves choosing it.
    steps : {"basic", "slope"}
        ``basic``: (1, 1), (0, 1), (1, 0); ``slope``: (1, 1), (2, 1), (1, 2),
        which keep the path's slope between 1/2 and 2 (cells a path cannot reach
        cost infinity).

    Returns
    -------
    Alignment

    Examples
    --------
    >>> C = np.array([[1., 0., 1., 1.], [1., 1., 0., 1.]])
    >>> dtw(C)
    Alignment(cost=2.0, length=4, start=0, end=3)
    >>> match = dtw(C, subsequence=True)
    >>> match.start, match.end, match.path.tolist()
    (1, 2, [[0, 1], [1, 2]])
    >>> dtw(np.zeros((0, 3)))
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.ParameterError: the cost matrix must be 2-D and non-empty, got shape (0, 3)
    """
    C = _check_cost(C)
    normalized = _check_end(end)
    slope = _check_steps(steps)
    if stop is not None and not (subsequence and 0 <= stop < C.shape[1]):
        raise ParameterError(f"stop must be a column 0..{C.shape[1] - 1} of a subsequence "
                             f"alignment, got {stop}")
    full = _full_slope if slope else _full
    D, L, moves = full(C, subsequence, subsequence and normalized and stop is None)
    if stop is not None:
        j = int(stop)
    elif subsequence and normalized:
        j = int(np.argmin(D[-1] / L[-1]))
    elif subsequence:
        j = int(np.argmin(D[-1]))
    else:
        j = C.shape[1] - 1
    if not np.isfinite(D[-1, j]):
        raise ParameterError(f"no path of steps {steps!r} reaches column {j} "
                             f"of a {C.shape[0]}-row query")
    path = _backtrack(moves, j, subsequence)
    return Alignment(float(D[-1, j]), int(len(path)), int(path[0, 1]), j, path)


def _lane_layout(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group pieces :data:`LANES` at a time, longest first (little padding).

    Returns
    -------
    lane_piece : np.ndarray [shape=(n_groups, LANES)], int64
        The piece in each lane, -1 for an empty lane.
    lens : np.ndarray [shape=(n_groups, LANES)], int64
        Its length (0 for an empty lane).
    goff : np.ndarray [shape=(n_groups + 1,)], int64
        Group ``g`` owns lane columns ``goff[g] .. goff[g+1] - 1``.
    """
    order = np.argsort(-lengths, kind="stable")
    n_groups = -(-len(order) // LANES)
    lane_piece = np.full(n_groups * LANES, -1, dtype=np.int64)
    lane_piece[:len(order)] = order
    lane_piece = lane_piece.reshape(n_groups, LANES)
    lens = np.where(lane_piece >= 0, lengths[np.maximum(lane_piece, 0)], 0).astype(np.int64)
    width = np.maximum(lens.max(axis=1, initial=0), 1)
    goff = np.concatenate([[0], np.cumsum(width)]).astype(np.int64)
    return lane_piece, lens, goff


@numba.njit(cache=True, parallel=True)
def _scatter_rows(source, rows, dest, slots):  # pragma: no cover - compiled
    """``dest[slots[r]] = source[rows[r]]`` in one pass over the rows, instead of
    a numpy gather into a temporary and a scatter from it."""
    for r in numba.prange(rows.shape[0]):
        dest[slots[r]] = source[rows[r]]


def _no_results(g: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cost (inf), length (1) and end (0) of ``g`` groups before any alignment."""
    return (np.full((g, LANES), np.inf, np.float32), np.ones((g, LANES), np.int32),
            np.zeros((g, LANES), np.int32))


def _run_groups(C3: np.ndarray, goff: np.ndarray, lens: np.ndarray, subsequence: bool,
                normalized: bool, slope: bool = False, offset: float = 0.0) -> tuple[np.ndarray, ...]:
    g = len(goff) - 1
    out = _no_results(g)
    # one group is not worth waking the other cores
    (_groups if g > 1 else _groups_serial)(C3, goff, lens, subsequence, normalized, slope,
                                           np.float32(offset), *out)
    return out


def _check_offsets(offsets: np.ndarray, total: int, what: str) -> np.ndarray:
    offsets = np.asarray(offsets, dtype=np.int64)
    if (offsets.ndim != 1 or len(offsets) < 1 or offsets[0] != 0 or offsets[-1] != total
            or (np.diff(offsets) < 0).any()):
        raise ParameterError(f"offsets must rise from 0 to the {total} {what}")
    return offsets


def dtw_many(C: np.ndarray, offsets: np.ndarray, *, subsequence: bool = False,
             end: str = "normalized", steps: str = "basic"
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DTW of one query against many pieces laid side by side in ``C``'s columns.

    The columns are regrouped for the lane kernel (a copy of ``C``);
    :class:`SequenceBank` computes cosine costs straight into that layout.

    Parameters
    ----------
    C : np.ndarray [shape=(n, total)], float32
        Cost matrices of every piece, concatenated along the columns.
    offsets : np.ndarray [shape=(n_pieces + 1,)], int
        Piece ``p`` owns columns ``offsets[p] .. offsets[p+1] - 1``.
    subsequence, end, steps
        As for :func:`dtw`.

    Returns
    -------
    cost : np.ndarray [shape=(n_pieces,)], float32
        Accumulated cost of each piece's optimal path (inf for an empty piece,
        or when no path of ``steps`` fits).
    length : np.ndarray [shape=(n_pieces,)], int32
        Its length in cells; ``cost / length`` is the normalised cost.
    end : np.ndarray [shape=(n_pieces,)], int32
        Last database column of the path, relative to the piece (``m - 1`` for
        DTW); the start of a subsequence match comes from :func:`dtw`.

    Examples
    --------
    >>> C = np.array([[1., 0., 1., 1., 0., 1.], [1., 1., 0., 1., 1., 0.]])
    >>> cost, length, end = dtw_many(C, [0, 4, 6], subsequence=True)  # doctest: +SKIP
    >>> cost.tolist(), length.tolist(), end.tolist()  # doctest: +SKIP
    ([0.0, 0.0], [2, 2], [2, 1])
    >>> dtw_many(C, [0, 4, 5])
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.ParameterError: offsets must rise from 0 to the 6 columns of the cost matrix
    """
    C = _check_cost(C)
    normalized = _check_end(end)
    slope = _check_steps(steps)
    offsets = _check_offsets(offsets, C.shape[1], "columns of the cost matrix")
    lengths = np.diff(offsets)
    lane_piece, lens, goff = _lane_layout(lengths)
    C3 = np.zeros((C.shape[0], int(goff[-1]), LANES), np.float32)
    for g in range(len(lane_piece)):
        for k in range(LANES):
            p = lane_piece[g, k]
            if p >= 0 and lengths[p]:
                C3[:, goff[g]:goff[g] + lengths[p], k] = C[:, offsets[p]:offsets[p + 1]]
    return _per_piece(_run_groups(C3, goff, lens, subsequence, normalized, slope), lane_piece,
                      len(lengths))


def _per_piece(results: tuple[np.ndarray, ...], lane_piece: np.ndarray,
               n_pieces: int) -> tuple[np.ndarray, ...]:
    used = lane_piece >= 0
    out = []
    for values, fill in zip(results, (np.inf, 1, 0)):
        arr = np.full(n_pieces, fill, dtype=values.dtype)
        arr[lane_piece[used]] = values[used]
        out.append(arr)
    return tuple(out)


class SequenceBank:
    """Embedding sequences of many pieces, laid out for fast DTW against a query.

    Pieces are grouped :data:`LANES` at a time (longest first) and their rows
    interleaved, so the cosine costs of a query against a group come out of one
    matrix product already in the lane kernel's layout.

    Parameters
    ----------
    embeddings : np.ndarray [shape=(n_rows, dim)]
        L2-normalised rows of every piece, piece after piece (a memory map is
        fine: only the rows of ``pieces`` are read).
    offsets : np.ndarray [shape=(n_pieces + 1,)], int
        Piece ``p`` owns rows ``offsets[p] .. offsets[p+1] - 1``.
    pieces : np.ndarray or None
        Only these pieces, in this order (a prefilter's shortlist); None: all.

    Examples
    --------
    >>> rows = np.random.default_rng(0).normal(size=(9, 4))
    >>> rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    >>> bank = SequenceBank(rows, offsets=[0, 5, 9])
    >>> bank.n_pieces, bank.lengths.tolist()
    (2, [5, 4])
    >>> cost, length, end = bank.align(rows[5:9])  # doctest: +SKIP
    >>> (cost / length).round(2).tolist(), end.tolist()  # doctest: +SKIP
    ([0.9, 0.0], [4, 3])
    """

    def __init__(self, embeddings: np.ndarray, offsets: np.ndarray,
                 pieces: np.ndarray | None = None) -> None:
        if embeddings.ndim != 2:
            raise ParameterError(f"need [n_rows, dim] embeddings, got shape {embeddings.shape}")
        offsets = _check_offsets(offsets, len(embeddings), "embedding rows")
        pieces = (np.arange(len(offsets) - 1) if pieces is None
                  else np.asarray(pieces, dtype=np.int64))
        self.lengths = np.diff(offsets)[pieces]
        self.n_pieces = len(pieces)
        self.dim = embeddings.shape[1]
        self.lane_piece, self.lens, self.goff = _lane_layout(self.lengths)
        # one gather: source row -> (group start + j) * LANES + lane
        used = self.lane_piece >= 0
        group_of = np.empty(self.n_pieces, np.int64)
        lane_of = np.empty(self.n_pieces, np.int64)
        group_of[self.lane_piece[used]] = np.nonzero(used)[0]
        lane_of[self.lane_piece[used]] = np.nonzero(used)[1]
        which = np.repeat(np.arange(self.n_pieces), self.lengths)
        j = np.arange(len(which)) - np.repeat(np.cumsum(self.lengths) - self.lengths, self.lengths)
        source = offsets[pieces][which] + j
        self.matrix = np.zeros((int(self.goff[-1]) * LANES, self.dim), np.float32)
        slots = (self.goff[group_of[which]] + j) * LANES + lane_of[which]
        if embeddings.dtype == np.float32 and embeddings.flags.c_contiguous:
            _scatter_rows(embeddings, source, self.matrix, slots)
        else:
            self.matrix[slots] = embeddings[source]

    def align(self, query: np.ndarray, *, subsequence: bool = False, end: str = "normalized",
              steps: str = "basic", max_floats: int = 1 << 25
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """DTW (or subsequence DTW) of ``query`` against every piece, cosine cost.

        Parameters
        ----------
        query : np.ndarray [shape=(n, dim)], float32
            L2-normalised rows.
        subsequence, end, steps
            As for :func:`dtw`.
        max_floats : int
            Largest block of costs computed at once (bounds the memory: 128 MiB).

        Returns
        -------
        cost, length, end : np.ndarray [shape=(n_pieces,)]
            As for :func:`dtw_many`, in piece order.
        """
        normalized = _check_end(end)
        slope = _check_steps(steps)
        q = np.ascontiguousarray(query, dtype=np.float32)
        if q.ndim != 2 or q.shape[1] != self.dim or len(q) == 0:
            raise ParameterError(f"the query must be [n >= 1, {self.dim}] embeddings, got {q.shape}")
        negated = -q
        n_groups = len(self.lane_piece)
        results = _no_results(n_groups)
        per_block = max(1, max_floats // (len(q) * LANES))
        g0 = 0
        while g0 < n_groups:
            # as many whole groups as fit in one block, at least one
            g1 = int(np.searchsorted(self.goff, self.goff[g0] + per_block, side="right")) - 1
            g1 = min(max(g1, g0 + 1), n_groups)
            c0, c1 = int(self.goff[g0]), int(self.goff[g1])
            # negated similarities; the kernel adds 1: cosine distances of unit rows
            block = negated @ self.matrix[c0 * LANES:c1 * LANES].T
            part = _run_groups(block.reshape(len(q), c1 - c0, LANES),
                               self.goff[g0:g1 + 1] - c0, self.lens[g0:g1], subsequence,
                               normalized, slope, offset=1.0)
            for arr, val in zip(results, part):
                arr[g0:g1] = val
            g0 = g1
        return _per_piece(results, self.lane_piece, self.n_pieces)
