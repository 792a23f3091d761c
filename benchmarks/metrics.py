"""Benchmark: rank-metric throughput on evaluation-sized inputs.

Snippet evaluation ranks up to 10,000 candidates for each of thousands of
queries; this measures how fast the bundled rank metrics digest such results,
against a per-query argsort (the obvious implementation).

    .venv/bin/python benchmarks/metrics.py [--queries 2000] [--candidates 2000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ast_toolkit import plugins


def per_query_sort(preds, target, n_queries, n_candidates):
    p = preds.reshape(n_queries, n_candidates)
    t = target.reshape(n_queries, n_candidates)
    ranks = np.empty(n_queries, dtype=np.int64)
    for q in range(n_queries):
        order = np.lexsort((t[q], -p[q]))
        ranks[q] = 1 + np.flatnonzero(t[q][order])[0]
    return ranks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--candidates", type=int, default=2000)
    args = ap.parse_args()
    nq, nc = args.queries, args.candidates
    rng = np.random.default_rng(0)
    preds = rng.normal(size=nq * nc).astype(np.float32)
    target = np.zeros(nq * nc, dtype=bool)
    target[np.arange(nq) * nc + rng.integers(0, nc, nq)] = True
    indexes = np.repeat(np.arange(nq), nc)

    metric = plugins.create("metrics", "mrr")
    t0 = time.perf_counter()
    metric.update(preds, target, indexes)
    value = metric.compute()
    t_metric = time.perf_counter() - t0

    t0 = time.perf_counter()
    ranks = per_query_sort(preds, target, nq, nc)
    t_sort = time.perf_counter() - t0
    assert abs(np.mean(1.0 / ranks) - value) < 1e-9

    pairs = nq * nc
    print(f"{nq} queries x {nc} candidates = {pairs:,} pairs")
    print(f"mrr metric:      {t_metric:.3f} s  ({pairs / t_metric / 1e6:.1f} M pairs/s)")
    print(f"per-query sort:  {t_sort:.3f} s  ({pairs / t_sort / 1e6:.1f} M pairs/s)")
    print(f"ratio:           {t_sort / t_metric:.1f}x")


if __name__ == "__main__":
    main()
