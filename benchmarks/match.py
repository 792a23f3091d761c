"""Benchmark: the DTW kernel, and search time against collection size (``ast match``).

Run both parts in one run (the figures in README)::

    .venv/bin/python benchmarks/match.py --queries 50 --json benchmarks/results/match.json

Kernel — nanoseconds per cell of the lane kernel (``ast_toolkit.search.dtw``; one
thread, then every core), of the full-matrix DTW with its path, and of
``librosa.sequence.dtw`` on the same cost matrices::

    .venv/bin/python benchmarks/match.py kernel

Scale — per-query search time of every matcher against collections of 100 to
10,000 pieces, with and without the vote prefilter, and the MRR each reaches
(Carvalho & Widmer 2021, Sec. III-D and footnote 1).  The time is that of answering a query
with its 10 best pieces, located (what ``ast match`` prints); the ranks come
from a separate, untimed full ranking.  Embedding sequences are synthetic —
AR(1) walks on the unit sphere that decorrelate over a few rows, like
overlapping excerpts; pieces of 100–800 rows (Carvalho & Widmer 2021: ~420–520 per piece);
queries are 100-row fragments (50 s of audio at 0.5 s per row) of random
pieces, played at a random tempo (×0.8–1.25) with noise calibrated to the
snippet retrieval of a real model — so the MRR of each configuration is known
exactly.  Fitting is not timed::

    .venv/bin/python benchmarks/match.py scale --sizes 100,1000,10000 --queries 50

Targets: the kernel within 1.3× of 1.25 ns per cell; 10,000 pieces in at most
100 ms per query with the prefilter, at an MRR within 0.01 of exhaustive DTW
(here subsequence DTW: the queries are fragments).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numba
import numpy as np
from scipy.signal import lfilter

from ast_toolkit.search.dtw import LANES, SequenceBank, cosine_cost, dtw, dtw_many
from ast_toolkit.search.matching import make_matcher
from ast_toolkit.types import Collection

DIM = 32


def machine() -> str:
    return f"{platform.machine()} CPU, {os.cpu_count()} cores"


def walks(rng: np.random.Generator, n_rows: int, a: float = 0.85) -> np.ndarray:
    """Rows of an AR(1) process, unit length: ``[n_rows, DIM]`` float32."""
    e = rng.standard_normal((n_rows, DIM)).astype(np.float32)
    x = lfilter([np.sqrt(1 - a * a)], [1.0, -a], e, axis=0).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def collection(rng: np.random.Generator, n_pieces: int) -> Collection:
    lengths = rng.integers(100, 801, size=n_pieces)
    emb = walks(rng, int(lengths.sum()))
    return Collection([f"p{i:05d}" for i in range(n_pieces)], emb,
                      np.concatenate([[0], np.cumsum(lengths)]))


def performed(rng: np.random.Generator, x: np.ndarray, noise: float) -> np.ndarray:
    """``x`` at a random tempo (×0.8–1.25, resampled rows) with noise; unit rows."""
    tempo = float(np.exp(rng.uniform(np.log(0.8), np.log(1.25))))
    n = max(2, int(round(len(x) / tempo)))
    idx = np.clip(np.round(np.arange(n) * tempo).astype(int), 0, len(x) - 1)
    y = x[idx] + rng.standard_normal((n, DIM)).astype(np.float32) * noise
    return (y / np.linalg.norm(y, axis=1, keepdims=True)).astype(np.float32)


def timed(f, repeat: int) -> float:
    f()  # compile / warm up
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best


def kernel(args: argparse.Namespace) -> dict:
    import librosa

    rng = np.random.default_rng(0)
    rows = []
    for n, m in ((100, 400), (400, 400), (500, 2000)):
        q, d = walks(rng, n), walks(rng, m)
        C = cosine_cost(q, d)
        # the lane kernel over 64 pieces of m rows each: the matcher's case
        pieces = walks(rng, 64 * m)
        offsets = np.arange(0, 64 * m + 1, m)
        bank = SequenceBank(pieces, offsets)
        cells = n * len(pieces)
        Cb = 1.0 - q @ bank.matrix.T
        C3 = Cb.reshape(n, -1, LANES)
        from ast_toolkit.search.dtw import _run_groups

        row = {"shape": [n, m]}
        numba.set_num_threads(1)
        row["lane kernel, 1 thread"] = timed(
            lambda: _run_groups(C3, bank.goff, bank.lens, False, True), args.repeat) / cells * 1e9
        row["lane kernel, subsequence, 1 thread"] = timed(
            lambda: _run_groups(C3, bank.goff, bank.lens, True, True), args.repeat) / cells * 1e9
        row["slope-limited steps, subsequence, 1 thread"] = timed(
            lambda: _run_groups(C3, bank.goff, bank.lens, True, True, True), args.repeat) / cells * 1e9
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        row[f"lane kernel, {numba.config.NUMBA_NUM_THREADS} threads"] = timed(
            lambda: _run_groups(C3, bank.goff, bank.lens, False, True), args.repeat) / cells * 1e9
        row["bank.align with cosine costs"] = timed(lambda: bank.align(q), args.repeat) / cells * 1e9
        row["dtw() with path"] = timed(lambda: dtw(C), args.repeat) / C.size * 1e9
        row["dtw_many (regroups C)"] = timed(lambda: dtw_many(C, np.array([0, m])),
                                             args.repeat) / C.size * 1e9
        row["librosa.sequence.dtw"] = timed(lambda: librosa.sequence.dtw(C=C), 1) / C.size * 1e9
        rows.append(row)
        print(json.dumps(row))
    best = min(r["lane kernel, 1 thread"] for r in rows)
    return {"machine": machine(), "rows": rows, "target_ns": 1.3 * 1.25,
            "lane_kernel_best_ns": best, "meets_target": best <= 1.3 * 1.25}


def scale(args: argparse.Namespace) -> dict:
    rng = np.random.default_rng(args.seed)
    sizes = [int(s) for s in args.sizes.split(",")]
    matchers = args.matchers.split(",")
    big = collection(rng, max(sizes))
    out = []
    for size in sizes:
        col = big if size == len(big) else big.subset(np.arange(size))
        qrng = np.random.default_rng(args.seed + size)
        queries = []
        for _ in range(args.queries):
            p = int(qrng.integers(size))
            x = col.sequence(p)
            start = int(qrng.integers(0, max(1, len(x) - args.query_rows)))
            queries.append((p, performed(qrng, x[start:start + args.query_rows], args.noise)))
        for spec in matchers:
            m = make_matcher(spec)
            t = time.perf_counter()
            m.fit(col)
            fit_s = time.perf_counter() - t
            m.match(queries[0][1], top=10)  # warm up (compilation, lazy banks)
            ranks, times = [], []
            for p, q in queries:
                # timed: what `ast match` does, the 10 best pieces, located
                t = time.perf_counter()
                m.match(q, top=10)
                times.append(time.perf_counter() - t)
                # untimed: the full ranking, for the true piece's rank
                scores = {r.piece: r.score for r in m.match(q, top=None)}
                ranks.append(sum(1 for v in scores.values() if v >= scores[col.ids[p]]))
            ranks = np.array(ranks)
            shortlist = None
            if hasattr(m, "first"):  # a prefilter: how often the true piece is on its shortlist
                shortlist = float(np.mean([col.ids[p] in {r.piece for r in m.first.match(q, top=m.k)}
                                           for p, q in queries]))
            row = {"pieces": size, "rows": int(len(col.embeddings)), "matcher": m.name,
                   "shortlist_recall": shortlist,
                   "ms_per_query": 1000 * float(np.mean(times)),
                   "ms_median": 1000 * float(np.median(times)), "fit_s": fit_s,
                   "mrr": float(np.mean(1.0 / ranks)), "r1": float(np.mean(ranks == 1)),
                   "queries": len(queries)}
            print(json.dumps(row), flush=True)
            out.append(row)
            del m
    return {"machine": machine(), "query_rows": args.query_rows, "noise": args.noise,
            "rows": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", nargs="?", default="all", choices=["all", "kernel", "scale"],
                    help="kernel: ns per cell of the DTW kernels and librosa's; scale: search "
                    "time and MRR against collection size; all (default): both, in one run")
    ap.add_argument("--repeat", type=int, default=3, help="kernel: best of this many runs")
    ap.add_argument("--json", help="write the figures here")
    s = ap
    s.add_argument("--sizes", default="100,1000,10000")
    s.add_argument("--matchers", default="vote,shazam,sdtw,sdtw+vote:100,sdtw+vote:300",
                   help="the queries are fragments, so subsequence DTW is the exhaustive "
                   "baseline (dtw costs the same per cell but aligns whole pieces)")
    s.add_argument("--queries", type=int, default=20)
    s.add_argument("--query-rows", type=int, default=100)
    s.add_argument("--noise", type=float, default=0.3,
                   help="noise added to each query row (unit rows of 32 dims); 0.3 gives "
                   "snippet retrieval R@1 0.43 / MRR 0.55 among 1,000 candidates, as the "
                   "chorales cnn of README (valid R@1 0.43, MRR 0.57)")
    s.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    report = {}
    if args.what in ("all", "kernel"):
        report["kernel"] = kernel(args)
    if args.what in ("all", "scale"):
        report["scale"] = scale(args)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1)
    for part in report.values():
        print(json.dumps({k: v for k, v in part.items() if k != "rows"}))


if __name__ == "__main__":
    main()
