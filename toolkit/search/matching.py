"""Matchers by name, the prefilter, and helpers every matcher shares.

A matcher specification is a plugin name (``dtw``), optionally followed by a
prefilter: ``dtw+vote:50`` runs the ``vote`` matcher first and DTW only on its
50 best pieces ([Carvalho & Widmer 2021], footnote 1;
:data:`~ast_toolkit.references.CARVALHO2021`).  :func:`make_matcher` builds
either; a matcher in the prefilter's role takes the hyper-parameters it
declares in :attr:`~ast_toolkit.interfaces.Matcher.prefilter_params`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import plugins
from ..config import parse_param
from ..errors import ParameterError
from ..interfaces import Matcher
from ..types import Collection, Match

__all__ = ["rank_positions", "check_query", "candidate_positions", "parse_spec",
           "matcher_params", "make_matcher", "Prefiltered"]

_PREFILTER = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+):(?P<k>\d+)$")


def check_query(query: np.ndarray, dim: int, what: str = "query") -> np.ndarray:
    """``query`` as float32 ``[n >= 1, dim]``; a clear error otherwise.

    Examples
    --------
    >>> check_query(np.zeros((3, 32)), 32).dtype
    dtype('float32')
    >>> check_query(np.zeros((3, 16)), 32)
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.ParameterError: the query must be [n, 32] embeddings, got shape (3, 16)
    """
    q = np.ascontiguousarray(query, dtype=np.float32)
    if q.ndim != 2 or q.shape[1] != dim:
        raise ParameterError(f"the {what} must be [n, {dim}] embeddings, got shape {q.shape}")
    if len(q) == 0:
        raise ParameterError(f"the {what} is empty: no embedding rows")
    if not np.isfinite(q).all():
        raise ParameterError(f"the {what} holds NaN or infinite values")
    return q


def candidate_positions(candidates: Sequence[int] | None, n_pieces: int) -> np.ndarray:
    """The positions a matcher scores: every piece, or the checked ``candidates``.

    Examples
    --------
    >>> candidate_positions(None, 3), candidate_positions([2, 0, 2], 3)
    (array([0, 1, 2]), array([0, 2]))
    """
    if candidates is None:
        return np.arange(n_pieces, dtype=np.int64)
    pos = np.unique(np.asarray(candidates, dtype=np.int64))
    if len(pos) and (pos[0] < 0 or pos[-1] >= n_pieces):
        raise ParameterError(f"candidates must be positions 0..{n_pieces - 1} of the collection")
    return pos


def rank_positions(positions: np.ndarray, scores: np.ndarray, top: int | None) -> np.ndarray:
    """Indices into ``positions`` / ``scores``, best score first.

    Equal scores keep collection order (evaluation counts ties against the
    true piece anyway, see :mod:`ast_toolkit.evaluation.pieces`).

    Examples
    --------
    >>> rank_positions(np.array([4, 7, 9]), np.array([0.2, 0.9, 0.2]), top=2)
    array([1, 0])
    """
    if top is not None and top < 1:
        raise ParameterError(f"top must be >= 1, got {top}")
    order = np.lexsort((positions, -np.asarray(scores, dtype=np.float64)))
    return order if top is None else order[:top]


def parse_spec(spec: str) -> tuple[str, tuple[str, int] | None]:
    """``"dtw+vote:50"`` -> ``("dtw", ("vote", 50))``; ``"dtw"`` -> ``("dtw", None)``.

    Examples
    --------
    >>> parse_spec("dtw+vote:50"), parse_spec("sdtw")
    (('dtw', ('vote', 50)), ('sdtw', None))
    """
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


def matcher_params(pairs: Sequence[str], specs: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``KEY=VALUE`` (when one matcher is named) or ``MATCHER.KEY=VALUE`` strings as
    per-matcher hyper-parameters.

    Parameters
    ----------
    pairs : sequence of str
        What ``--matcher-param`` was given.
    specs : sequence of str
        The matcher specifications in use (``dtw+vote:50``): they say whose a
        bare ``KEY`` is.

    Examples
    --------
    >>> matcher_params(["k=10"], ["vote"])
    {'vote': {'k': 10}}
    >>> matcher_params(["vote.k=50", "dtw.steps=slope"], ["dtw+vote:20"])
    {'vote': {'k': 50}, 'dtw': {'steps': 'slope'}}
    """
    bases = []
    for spec in specs:
        main, pre = parse_spec(spec)
        bases += [main] + ([pre[0]] if pre else [])
    out: dict[str, dict[str, Any]] = {}
    for text in pairs:
        key, value = parse_param(text)
        owner, dot, key = key.rpartition(".")
        if not dot:
            if len(set(bases)) != 1:
                raise ParameterError(f"--matcher-param {text!r}: with several matchers write "
                                     "MATCHER.KEY=VALUE")
            owner = bases[0]
        out.setdefault(owner, {})[key] = value
    return out


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

    Examples
    --------
    >>> make_matcher("dtw+vote:50").name
    'dtw+vote:50'
    >>> make_matcher("sdtw", prefilter="vote:20", params={"vote": {"k": 10}}).first.config.k
    10
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
    first_cls = plugins.load("matchers", pre[0])
    first = plugins.create("matchers", pre[0], **{**first_cls.prefilter_params,
                                                   **params.get(pre[0], {})})
    return Prefiltered(first, pre[1], main)


class Prefiltered(Matcher):
    """``then`` only on the ``k`` best pieces of ``first``.

    A full ranking (``top=None``) puts the shortlist first, ranked by ``then``,
    and every other piece after it in ``first``'s order, with its ties kept.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> pieces = {f"p{i}": rng.normal(size=(20, 8)).astype(np.float32) for i in range(5)}
    >>> pieces = {k: v / np.linalg.norm(v, axis=1, keepdims=True) for k, v in pieces.items()}
    >>> m = make_matcher("dtw+vote:2")
    >>> m.fit(Collection.from_mapping(pieces))
    >>> m.match(pieces["p3"][5:15], top=1)[0].piece
    'p3'
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
