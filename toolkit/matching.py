"""Matchers by name, the vote prefilter, and helpers every matcher shares.

A matcher specification is a plugin name (``dtw``), optionally followed by a
prefilter: ``dtw+vote:50`` runs the ``vote`` matcher first and DTW only on its
50 best pieces (seed 002, footnote 1).  :func:`make_matcher` builds either.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import plugins
from .errors import ParameterError
from .interfaces import Matcher
from .types import Collection, Match

__all__ = ["rank_positions", "check_query", "candidate_positions", "parse_spec",
           "make_matcher", "Prefiltered", "PREFILTER_DEFAULTS"]

_PREFILTER = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+):(?P<k>\d+)$")

#: Hyper-parameters of a matcher in the prefilter's role, unless the user sets them.
#: A prefilter must keep the true piece on its shortlist: the vote counting 100
#: neighbours per query row (the same index search as 25) kept every true piece
#: among its 100 best of 10,000 synthetic pieces, against 98% with k = 25
#: (benchmarks/match.py).
PREFILTER_DEFAULTS: dict[str, dict[str, Any]] = {"vote": {"k": 100}}


def check_query(query: np.ndarray, dim: int, what: str = "query") -> np.ndarray:
    """``query`` as float32 ``[n >= 1, dim]``; a clear error otherwise."""
    q = np.ascontiguousarray(query, dtype=np.float32)
    if q.ndim != 2 or q.shape[1] != dim:
        raise ParameterError(f"the {what} must be [n, {dim}] embeddings, got shape {q.shape}")
    if len(q) == 0:
        raise ParameterError(f"the {what} is empty: no embedding rows")
    if not np.isfinite(q).all():
        raise ParameterError(f"the {what} holds NaN or infinite values")
    return q


def candidate_positions(candidates: Sequence[int] | None, n_pieces: int) -> np.ndarray:
    """The positions a matcher scores: every piece, or the checked ``candidates``."""
    if candidates is None:
        return np.arange(n_pieces, dtype=np.int64)
    pos = np.unique(np.asarray(candidates, dtype=np.int64))
    if len(pos) and (pos[0] < 0 or pos[-1] >= n_pieces):
        raise ParameterError(f"candidates must be positions 0..{n_pieces - 1} of the collection")
    return pos


def rank_positions(positions: np.ndarray, scores: np.ndarray, top: int | None) -> np.ndarray:
    """Indices into ``positions`` / ``scores``, best score first.

    Equal scores keep collection order (evaluation counts ties against the
    true piece anyway, see :mod:`toolkit.identification`).
    """
    if top is not None and top < 1:
        raise ParameterError(f"top must be >= 1, got {top}")
    order = np.lexsort((positions, -np.asarray(scores, dtype=np.float64)))
    return order if top is None else order[:top]


def parse_spec(spec: str) -> tuple[str, tuple[str, int] | None]:
    """``"dtw+vote:50"`` -> ``("dtw", ("vote", 50))``; ``"dtw"`` -> ``("dtw", None)``."""
    name, sep, pre = spec.strip().partition("+")
    if not name:
        raise ParameterError(f"matcher {spec!r}: no matcher name")
    if not sep:
        return name, None
    m = _PREFILTER.match(pre)
    if not m or int(m["k"]) < 1:
        raise ParameterError(
            f"matcher {spec!r}: a prefilter is written NAME:K with K >= 1, e.g. dtw+vote:50")
    return name, (m["name"], int(m["k"]))


def make_matcher(spec: str, *, prefilter: str | None = None,
                 params: dict[str, dict[str, Any]] | None = None) -> Matcher:
    """A matcher from a specification such as ``dtw`` or ``dtw+vote:50``.

    Parameters
    ----------
    spec : str
        Plugin name, optionally ``+NAME:K`` (a prefilter).
    prefilter : str or None
        ``NAME:K`` applied when ``spec`` has none and names another matcher.
    params : dict or None
        ``{plugin name: {key: value}}`` hyper-parameters.
    """
    params = params or {}
    name, pre = parse_spec(spec)
    if pre is None and prefilter:
        _, pre = parse_spec(f"{name}+{prefilter}")
        if pre[0] == name:
            pre = None
    main = plugins.create("matchers", name, **params.get(name, {}))
    if pre is None:
        return main
    first = plugins.create("matchers", pre[0], **{**PREFILTER_DEFAULTS.get(pre[0], {}),
                                                   **params.get(pre[0], {})})
    return Prefiltered(first, pre[1], main)


class Prefiltered(Matcher):
    """``then`` only on the ``k`` best pieces of ``first``.

    A full ranking (``top=None``) puts the shortlist first, ranked by ``then``,
    and every other piece after it in ``first``'s order, with its ties kept.
    """

    name = "prefiltered"

    def __init__(self, first: Matcher, k: int, then: Matcher) -> None:
        if k < 1:
            raise ParameterError(f"the prefilter keeps k >= 1 pieces, got {k}")
        self.first, self.k, self.then = first, int(k), then
        self.name = f"{then.name}+{first.name}:{k}"

    def fit(self, collection: Collection) -> None:
        self.collection = collection
        self.first.fit(collection)
        self.then.fit(collection)

    def match(self, query: np.ndarray, *, top: int | None = 10,
              candidates: Sequence[int] | None = None, rate: float = 1.0) -> list[Match]:
        full = top is None or top > self.k
        shortlist = self.first.match(query, top=None if full else self.k,
                                     candidates=candidates, rate=rate)
        chosen = [self.collection.index(m.piece) for m in shortlist[:self.k]]
        refined = self.then.match(query, top=None if full else top, candidates=chosen, rate=rate)
        if not full:
            return refined
        rest = shortlist[self.k:]
        if rest:
            # below every refined score, in the first stage's order and ties
            floor = min(m.score for m in refined) - 1.0 if refined else 0.0
            best_rest = rest[0].score
            for m in rest:  # fresh objects of the first stage's answer: rescored in place
                m.score = floor - (best_rest - m.score)
        out = refined + rest
        return out if top is None else out[:top]
