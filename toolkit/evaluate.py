"""Scoring retrieval results with metric plugins."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import plugins
from .errors import ParameterError, ToolkitError

__all__ = ["read_scores", "compute_metrics"]


def read_scores(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read a CSV of retrieval scores with columns ``query``, ``score``, ``relevant``.

    One row per (query, candidate) pair; ``query`` is an integer query id,
    ``score`` a float (higher = more similar), ``relevant`` 0/1 or true/false.

    Returns
    -------
    preds : np.ndarray [shape=(n,)], float64
    target : np.ndarray [shape=(n,)], bool
    indexes : np.ndarray [shape=(n,)], int64
    """
    path = Path(path)
    truth = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
    preds, target, indexes = [], [], []
    try:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            missing = {"query", "score", "relevant"} - set(reader.fieldnames or ())
            if missing:
                raise ParameterError(
                    f"{path}: missing column(s) {sorted(missing)}; "
                    "expected a header with query,score,relevant"
                )
            for line, row in enumerate(reader, start=2):
                try:
                    indexes.append(int(row["query"]))
                    preds.append(float(row["score"]))
                    target.append(truth[row["relevant"].strip().lower()])
                except (KeyError, ValueError, AttributeError):
                    raise ParameterError(
                        f"{path}, line {line}: cannot read {row!r}: query must be an "
                        "integer, score a number, relevant 0/1 or true/false"
                    ) from None
    except OSError as exc:
        raise ToolkitError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not preds:
        raise ParameterError(f"{path}: no rows")
    return np.array(preds), np.array(target, dtype=bool), np.array(indexes, dtype=np.int64)


def compute_metrics(
    preds: np.ndarray, target: np.ndarray, indexes: np.ndarray, metrics: Sequence[str]
) -> dict[str, float]:
    """Evaluate each named metric plugin (``recall@10``, ``mrr`` …) on one result set."""
    out = {}
    for name in metrics:
        metric = plugins.create("metrics", name)
        metric.update(preds, target, indexes)
        out[name] = metric.compute()
    return out
