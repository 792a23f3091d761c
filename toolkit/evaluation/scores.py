"""Scoring retrieval results given as a CSV with metric plugins: ``ast eval scores``."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .. import plugins
from ..errors import ParameterError, ToolkitError

__all__ = ["read_scores", "compute_metrics", "score_file"]


def read_scores(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read a CSV of retrieval scores with columns ``query``, ``score``, ``relevant``.

    One row per (query, candidate) pair; ``query`` is an integer query id,
    ``score`` a float (higher = more similar), ``relevant`` 0/1 or true/false.

    Returns
    -------
    preds : np.ndarray [shape=(n,)], float64
    target : np.ndarray [shape=(n,)], bool
    indexes : np.ndarray [shape=(n,)], int64

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "scores.csv"
    >>> _ = path.write_text("query,score,relevant\\n0,0.9,true\\n0,0.4,false\\n1,0.7,1\\n")
    >>> preds, target, indexes = read_scores(path)
    >>> preds.tolist(), target.tolist(), indexes.tolist()
    ([0.9, 0.4, 0.7], [True, False, True], [0, 0, 1])
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
    """Evaluate each named metric plugin (``recall@10``, ``mrr`` …) on one result set.

    Examples
    --------
    >>> compute_metrics(np.array([0.9, 0.1, 0.8]), np.array([True, False, True]),
    ...                 np.array([0, 0, 1]), ["mrr", "recall@1"])
    {'mrr': 1.0, 'recall@1': 1.0}
    """
    out = {}
    for name in metrics:
        metric = plugins.create("metrics", name)
        metric.update(preds, target, indexes)
        out[name] = metric.compute()
    return out


def score_file(path: str | os.PathLike, metrics: Sequence[str]) -> dict[str, object]:
    """``ast eval scores``: read a CSV of retrieval scores and evaluate metric plugins on it.

    Returns
    -------
    dict
        ``{"file", "queries", "metrics": {name: value}}``.

    Examples
    --------
    >>> import tempfile
    >>> csv = Path(tempfile.mkdtemp()) / "scores.csv"
    >>> _ = csv.write_text("query,score,relevant\\n0,0.9,1\\n0,0.5,0\\n1,0.9,0\\n1,0.7,1\\n")
    >>> score_file(csv, ["recall@1", "mrr"])["metrics"]
    {'recall@1': 0.5, 'mrr': 0.75}
    """
    preds, target, indexes = read_scores(path)
    return {"file": str(path), "queries": int(len(set(indexes.tolist()))),
            "metrics": compute_metrics(preds, target, indexes, metrics)}
