"""Hubness reduction for cross-modal search: CSLS (cross-domain similarity local scaling).

In a shared embedding space some points are *hubs*: near to most queries of the
other modality, whatever they are.  On real material a single rendered piece
can be the best candidate of every scan (``benchmarks/realworld.py``).  CSLS
([Conneau et al. 2018], :data:`~ast_toolkit.references.CONNEAU2018`) scores a
query row ``q`` against a candidate row ``c`` by

    csls(q, c) = 2 cos(q, c) - r_Q(q) - r_C(c)

where ``r_C(c)`` is the mean cosine of ``c`` to its ``k`` nearest rows of the
query modality (how crowded its neighbourhood is) and ``r_Q(q)`` the mean
cosine of ``q`` to its ``k`` nearest candidate rows.  A hub, close to
everything, pays for it.  The rows of the query modality are the index's own;
an index of one side (scans only) uses its model's reference rows
(:mod:`ast_toolkit.learn.reference`).

Every bundled matcher scores by inner products (DTW's cost ``1 - q·c``, faiss
inner-product search for ``vote`` and ``shazam``), so CSLS is applied as two
extra coordinates instead of inside each matcher: candidates ``[c, 1,
-r_C/2]``, queries ``[q, -r_Q/2, 1]``, whose inner product is ``csls / 2``
(same ranking; DTW's cost ``1 - csls / 2`` stays in ``[0, 3]``, never
negative, as the ``r`` are clipped to ``[0, 1]``).  A third-party matcher that works on inner products gets it too.

Written here rather than taken from scikit-hubness (last release 2020, pinned
to old scikit-learn) or kiez (knowledge-graph alignment): the computation is
an exact k-nearest-neighbour mean, a blocked matrix product, and the
coordinate trick above is specific to our matchers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ParameterError, UnknownNameError, did_you_mean
from ..types import Collection
from .matching import check_query

__all__ = ["HUBNESS", "AUTO", "AUTO_MATCHERS", "K", "neighbourhood", "csls_collection", "csls_query",
           "resolve_hubness", "search_space"]

#: Accepted values of ``hubness`` (:func:`ast_toolkit.search.queries.identify`).
HUBNESS = ("none", "csls")
#: The neighbourhood size of CSLS (Conneau et al.'s).
K = 10
#: ``ast match``'s default: csls with the matchers it was measured to help
#: (README, "Hubness correction"), none with the others.
AUTO = "auto"
#: Matchers whose results csls improved on the robustness and real-material
#: benchmarks (``sdtw`` lost S2A with it; ``vote`` and ``shazam`` were mixed).
AUTO_MATCHERS = ("dtw",)


def neighbourhood(rows: np.ndarray, others: np.ndarray, k: int = K,
                  max_floats: int = 1 << 24) -> np.ndarray:
    """Mean cosine of each of ``rows`` to its ``k`` nearest ``others``, clipped to [0, 1].

    Exact (a blocked matrix product; a block holds at most ``max_floats``
    similarities, 64 MB, however many ``others``); ``rows`` and ``others`` are
    L2-normalised.

    Examples
    --------
    >>> others = np.eye(3, dtype=np.float32)
    >>> [round(float(r), 2) for r in neighbourhood(np.array([[1., 0., 0.], [0.6, 0.8, 0.]]), others, k=2)]
    [0.5, 0.7]
    >>> neighbourhood(np.ones((2, 3)), np.ones((0, 3)))
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.ParameterError: hubness: no rows of the other modality to measure neighbourhoods against
    """
    x = np.asarray(rows, np.float32)
    y = np.ascontiguousarray(others, np.float32)
    if len(y) == 0:
        raise ParameterError("hubness: no rows of the other modality to measure neighbourhoods "
                             "against")
    if k < 1:
        raise ParameterError(f"hubness: k must be >= 1, got {k}")
    k = min(k, len(y))
    block = max(1, max_floats // len(y))
    out = np.empty(len(x), np.float32)
    for a in range(0, len(x), block):
        sims = np.asarray(x[a:a + block], np.float32) @ y.T
        top = np.partition(sims, len(y) - k, axis=1)[:, len(y) - k:]
        out[a:a + block] = top.mean(axis=1)
    return np.clip(out, 0.0, 1.0)


def csls_collection(collection: Collection, radius: np.ndarray) -> Collection:
    """The candidates with CSLS's two coordinates ``[c, 1, -r_C/2]`` (``radius`` = r_C per row).

    Examples
    --------
    >>> c = Collection(["a"], np.array([[1., 0.], [0., 1.]], np.float32), np.array([0, 2]))
    >>> csls_collection(c, np.array([0.2, 0.8])).embeddings.tolist()
    [[1.0, 0.0, 1.0, -0.10000000149011612], [0.0, 1.0, 1.0, -0.4000000059604645]]
    """
    radius = np.asarray(radius, np.float32)
    if radius.shape != (len(collection.embeddings),):
        raise ParameterError(f"hubness: {len(radius)} radii for {len(collection.embeddings)} rows")
    emb = np.asarray(collection.embeddings, np.float32)
    extra = np.column_stack([np.ones(len(emb), np.float32), -radius / 2])
    return Collection(collection.ids, np.hstack([emb, extra]), collection.offsets)


def csls_query(query: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """The query rows with CSLS's two coordinates ``[q, -r_Q/2, 1]``.

    Its inner product with a row of :func:`csls_collection` is ``cos - r_Q/2 - r_C/2``:

    >>> q = csls_query(np.array([[1., 0.]]), np.array([0.4]))
    >>> c = csls_collection(Collection(["a"], np.array([[0.6, 0.8]], np.float32),
    ...                                np.array([0, 1])), np.array([0.2])).embeddings
    >>> round(float((q @ c.T)[0, 0]), 3)  # 0.6 - 0.2 - 0.1
    0.3
    """
    q = np.asarray(query, np.float32)
    radius = np.asarray(radius, np.float32)
    extra = np.column_stack([-radius / 2, np.ones(len(q), np.float32)])
    return np.hstack([q, extra])


def resolve_hubness(hubness: str, index: Any, query_modality: str, matcher: str,
                    model: Any = None, registry: Any = None) -> str:
    """``hubness``, with ``auto`` decided: ``csls`` for a cross-modal search with a
    matcher of :data:`AUTO_MATCHERS` (``dtw+vote:50`` counts as ``dtw``) where the
    index has rows of the query's side or its model has reference rows; else ``none``.
    """
    if hubness != AUTO:
        return hubness
    from ..learn.reference import REFERENCE_FILE

    if matcher.partition("+")[0] not in AUTO_MATCHERS:
        return "none"
    if index.search_modality(query_modality) == query_modality:
        return "none"
    if index.has(query_modality):
        return "csls"
    # a damaged or stale reference file is not skipped: reading it names the problem
    return "csls" if (index.model_folder(model, registry) / REFERENCE_FILE).is_file() else "none"


def search_space(index: Any, target: str, hubness: str = "none", k: int = K, *,
                 model: Any = None, registry: Any = None,
                 reference: bool = False) -> tuple[Collection, Callable[[np.ndarray], np.ndarray]]:
    """What a query of the other modality searches in ``index``: the ``target``
    collection and the transform of the query's rows (checked against the
    collection's width, then corrected; only checked without correction).

    ``hubness``: ``none`` or ``csls``: the candidates' neighbourhoods are
    measured against the index's rows of the query's modality, or, in an index
    of one side, against its model's reference rows (``model``: that model at
    another path; ``reference``: against those even in an index of both sides;
    :meth:`~ast_toolkit.search.index.Index.neighbourhood`).
    """
    if hubness not in HUBNESS:
        raise UnknownNameError(did_you_mean(hubness, HUBNESS, what="hubness reduction"))
    collection = index.collection(target)
    if hubness == "none":
        return collection, lambda rows: check_query(rows, collection.dim)
    candidates = collection.embeddings

    def query(rows: np.ndarray) -> np.ndarray:
        rows = check_query(rows, collection.dim)
        return csls_query(rows, neighbourhood(rows, candidates, k))

    return (csls_collection(collection, index.neighbourhood(target, k, model, registry,
                                                                reference=reference)),
            query)
