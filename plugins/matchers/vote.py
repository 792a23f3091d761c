"""``vote``: nearest-neighbour snippet voting, the baseline of [Carvalho & Widmer 2021]
(after [Dorfer et al. 2018a]; :data:`~ast_toolkit.references.CARVALHO2021`).

Each query row's ``k`` nearest collection rows (cosine; k = 25) vote for their
pieces; ties are broken by the summed similarity of the votes.  Exact search
(faiss ``IndexFlatIP``) up to ``exact_rows`` rows (200,000), an inverted-file
index (``IndexIVFFlat`` over ``4·√rows`` lists, 64 of them searched) above.
The match is the window of the query's length (times ``rate``) holding the
most votes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ast_toolkit.types import Collection, Match

from ._base import MatcherBase, knn_index

__all__ = ["VoteMatcher", "VoteConfig"]


@dataclass(frozen=True)
class VoteConfig:
    """Hyper-parameters of ``vote``.

    Attributes
    ----------
    k : int
        Nearest collection rows per query row that vote ([Carvalho & Widmer 2021]: 25).
    exact_rows : int
        Up to this many collection rows (about 450 pieces) the search is exact;
        above, an IVF index (for a 100-row query over 461,000 rows: exact search
        239 ms, the IVF index 9 ms; benchmarks/match.py).
    nprobe : int
        Inverted lists visited per query row by the IVF index.
    seed : int
        Seed of the IVF training sample.
    """

    k: int = 25
    exact_rows: int = 200_000
    nprobe: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        if self.k < 1 or self.exact_rows < 1 or self.nprobe < 1:
            raise ValueError("k, exact_rows and nprobe must be >= 1")


def _densest_window(rows: np.ndarray, width: int, length: int) -> tuple[int, int]:
    """The ``width``-row window of a ``length``-row piece holding most of ``rows``."""
    width = max(1, min(width, length))
    ends = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=length))])
    start = int(np.argmax(ends[width:] - ends[:-width]))  # votes in each window
    return start, start + width - 1


class VoteMatcher(MatcherBase):
    """``vote``: nearest-neighbour snippet voting.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> pieces = {f"p{i}": rng.normal(size=(30, 8)).astype(np.float32) for i in range(4)}
    >>> m = VoteMatcher(k=5)
    >>> m.fit(Collection.from_mapping(pieces))
    >>> m.match(pieces["p2"][10:20], top=1)[0].piece
    'p2'
    """

    name = "vote"
    Config = VoteConfig
    # As a prefilter the vote must keep the true piece on its shortlist: counting
    # 100 neighbours per query row (the same index search as 25) kept every true
    # piece among its 100 best of 10,000 synthetic pieces, against 98% with k = 25
    # (benchmarks/match.py).
    prefilter_params: ClassVar[dict[str, Any]] = {"k": 100}

    def _fit(self, collection: Collection) -> None:
        c = self.config
        self._piece = collection.piece_of_rows()
        self._index, self._quantizer = knn_index(collection.embeddings, exact_rows=c.exact_rows,
                                                  nprobe=c.nprobe, seed=c.seed)

    def votes(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each query row's ``k`` nearest rows: similarities and row ids ``[n, k]``."""
        k = min(self.config.k, len(self._piece))
        sims, rows = self._index.search(np.ascontiguousarray(query, dtype=np.float32), k)
        return sims, rows

    def match(self, query, *, top=10, candidates=None, rate=1.0) -> list[Match]:
        q, positions = self._prepare(query, top, candidates, rate)
        sims, rows = self.votes(q)
        ok = rows >= 0
        pieces = self._piece[rows[ok]]
        n_pieces = len(self.collection)
        votes = np.bincount(pieces, minlength=n_pieces).astype(np.float64)
        simsum = np.bincount(pieces, weights=sims[ok].astype(np.float64), minlength=n_pieces)
        total = float(rows.size)
        # votes first; the summed similarity in [-votes, votes] breaks ties only
        score = (votes + (simsum + total) / (2 * total + 1)) / total
        width = max(1, round(len(q) * rate))
        voted = rows[ok]
        by_piece = np.argsort(pieces, kind="stable")  # the votes of each piece, contiguous
        bounds = np.searchsorted(pieces[by_piece], np.arange(n_pieces + 1))

        def locate(i, p):
            if votes[p] == 0:
                return None
            local = voted[by_piece[bounds[p]:bounds[p + 1]]] - self.collection.offsets[p]
            return (*_densest_window(local, width, int(self.collection.lengths[p])), None)

        return self._answers(positions, score[positions], top, locate)
