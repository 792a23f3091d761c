"""``dtw`` and ``sdtw``: alignment of the query with every piece
([Carvalho & Widmer 2021], Sec. II-C and III-C; :data:`~ast_toolkit.references.CARVALHO2021`).

* ``dtw`` — whole-sequence DTW over the cosine cost, steps (1,1), (1,0),
  (0,1), the cost normalised by the path length; the numba lane kernel of
  :mod:`ast_toolkit.search.dtw`.
* ``sdtw`` — subsequence DTW (open begin and end) for fragments; the match is
  the aligned stretch of the piece.  Its steps are (1, 1), (2, 1), (1, 2) by
  default ([Müller 2015], :data:`~ast_toolkit.references.MUELLER2015`), the
  query resampled to the collection's row rate (``steps=basic`` gives
  [Carvalho & Widmer 2021]'s).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ast_toolkit.search.dtw import SequenceBank, cosine_cost, dtw
from ast_toolkit.types import Collection, Match

from ._base import MatcherBase

__all__ = ["DTWMatcher", "SubsequenceDTWMatcher", "DTWConfig", "SDTWConfig"]


@dataclass(frozen=True)
class DTWConfig:
    """Hyper-parameters of ``dtw`` and ``sdtw``.

    Attributes
    ----------
    steps : str
        ``basic``: steps (1, 1), (1, 0), (0, 1) — [Carvalho & Widmer 2021]'s DTW.
        ``slope``: (1, 1), (2, 1), (1, 2) — [Müller 2015]'s subsequence DTW for
        audio matching, whose
        path keeps a slope between 1/2 and 2; the query is first resampled by
        ``rate`` to the collection's row rate, so the bound is relative to it.
    end : str
        ``sdtw`` only: ``normalized`` picks the end whose path has the lowest
        cost per cell, ``total`` the lowest accumulated cost (librosa's choice).
    """

    steps: str = "basic"
    end: str = "normalized"

    def __post_init__(self) -> None:
        if self.steps not in ("basic", "slope"):
            raise ValueError(f"steps must be 'basic' or 'slope', got {self.steps!r}")
        if self.end not in ("normalized", "total"):
            raise ValueError(f"end must be 'normalized' or 'total', got {self.end!r}")


class DTWMatcher(MatcherBase):
    """``dtw``: whole-sequence DTW over the cosine cost, normalised by path length."""

    name = "dtw"
    Config = DTWConfig
    subsequence = False

    def _fit(self, collection: Collection) -> None:
        self._bank = None  # built on the first search over the whole collection

    def _bank_for(self, positions: np.ndarray) -> SequenceBank:
        if len(positions) < len(self.collection):  # a shortlist: gathered for this query
            return SequenceBank(self.collection.embeddings, self.collection.offsets, positions)
        if self._bank is None:
            self._bank = SequenceBank(self.collection.embeddings, self.collection.offsets)
        return self._bank

    def match(self, query, *, top=10, candidates=None, rate=1.0) -> list[Match]:
        q, positions = self._prepare(query, top, candidates, rate)
        c = self.config
        rows = None
        if c.steps == "slope" and abs(rate - 1.0) > 1e-6:
            # the query resampled to the collection's rate: slopes are bounded around it
            n = max(1, int(round(len(q) * rate)))
            rows = np.clip(np.round(np.arange(n) / rate).astype(np.int64), 0, len(q) - 1)
            q = q[rows]
        cost, length, end = self._bank_for(positions).align(
            q, subsequence=self.subsequence, end=c.end, steps=c.steps)
        score = -(cost.astype(np.float64) / length)  # -inf where no path fits

        def locate(i, p):
            if not np.isfinite(score[i]):
                return None
            a = dtw(cosine_cost(q, self.collection.sequence(p)), subsequence=self.subsequence,
                    end=c.end, stop=int(end[i]) if self.subsequence else None, steps=c.steps)
            path = a.path if rows is None else np.column_stack([rows[a.path[:, 0]], a.path[:, 1]])
            return a.start, a.end, path  # the path in the query's own rows

        return self._answers(positions, score, top, locate)


@dataclass(frozen=True)
class SDTWConfig(DTWConfig):
    """Hyper-parameters of ``sdtw``: as ``dtw``'s, with slope-limited steps by default.

    With the basic steps a fragment's path may collapse onto a few collection
    rows that resemble the whole query: on the demo's test pieces 28% of 10-s
    audio fragments matched less than 0.3 of the expected span.  The slope
    limit rules that out (demo, 100 random fragments per length: A2S 20-s MRR
    0.78 -> 0.92, S2A one-system MRR 0.83 -> 0.88).
    """

    steps: str = "slope"


class SubsequenceDTWMatcher(DTWMatcher):
    """``sdtw``: subsequence DTW (open begin and end), for fragments."""

    name = "sdtw"
    Config = SDTWConfig
    subsequence = True
