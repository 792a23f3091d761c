"""``mean``: a matcher of its own — each piece scored by the cosine of its mean embedding.

Order-free and cheap (one dot product per piece): a baseline below the vote.
The match is located as the window of the query's length whose mean embedding
is closest to the query's.
"""

from __future__ import annotations

import numpy as np

from ast_toolkit.errors import ParameterError
from ast_toolkit.interfaces import Matcher
from ast_toolkit.search.matching import candidate_positions, check_query, rank_positions
from ast_toolkit.types import Collection, Match


class MeanMatcher(Matcher):
    """Rank pieces by the cosine similarity of mean embeddings."""

    name = "mean"
    collection: Collection | None = None

    def fit(self, collection: Collection) -> None:
        self.collection = collection
        means = np.stack([collection.sequence(i).mean(axis=0) for i in range(len(collection))])
        self.means = means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)

    def match(self, query, *, top=10, candidates=None, rate=1.0):
        if self.collection is None:
            raise ParameterError("matcher 'mean': call fit() before match()")
        q = check_query(query, self.collection.dim)
        positions = candidate_positions(candidates, len(self.collection))
        centre = q.mean(axis=0)
        centre /= max(float(np.linalg.norm(centre)), 1e-12)
        scores = self.means[positions] @ centre
        out = []
        for rank, i in enumerate(rank_positions(positions, scores, top)):
            p = int(positions[i])
            seq = self.collection.sequence(p)
            width = max(1, min(len(seq), round(len(q) * rate)))
            sims = np.convolve(seq @ centre, np.ones(width), mode="valid")  # window sums
            start = int(np.argmax(sims))
            out.append(Match(self.collection.ids[p], float(scores[i]), start, start + width - 1))
        return out
