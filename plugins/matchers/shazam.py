"""``shazam``: Wang's landmark fingerprinting ([Wang 2003], :data:`~ast_toolkit.references.WANG2003`)
over the learned embeddings, as [Carvalho & Widmer 2021] adapt it; the design is
written up in :class:`ShazamMatcher`."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ast_toolkit.types import Collection, Match

from ._base import MatcherBase, _faiss

__all__ = ["ShazamMatcher", "ShazamConfig"]


@dataclass(frozen=True)
class ShazamConfig:
    """Hyper-parameters of ``shazam``.

    Attributes
    ----------
    codes : int
        Codebook size (capped at one codeword per 16 collection rows); with
        ``quantizer="sign"``, rounded down to a power of two.
    quantizer : str
        ``kmeans`` (spherical k-means fitted on the collection) or ``sign``
        (signs of random projections: locality-sensitive hashing).
    probes : int
        Codewords tried per query row (its nearest ones): the query's rows are
        of the other modality and land near, not on, the collection's.
    distances : tuple of int
        Anchor–target distances, in collection rows.
    scales : tuple of float
        Time scalings of the query tried, times ``rate`` (tempo tolerance).
    bin_width : int
        Width in collection rows of the offset histogram's bins.
    seed : int
    """

    codes: int = 256
    quantizer: str = "kmeans"
    probes: int = 3
    distances: tuple[int, ...] = (2, 4, 8, 16)
    scales: tuple[float, ...] = (0.7, 0.78, 0.87, 0.94, 1.0, 1.06, 1.15, 1.28, 1.43)
    bin_width: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        if self.quantizer not in ("kmeans", "sign"):
            raise ValueError(f"quantizer must be 'kmeans' or 'sign', got {self.quantizer!r}")
        if self.codes < 2 or self.probes < 1 or self.bin_width < 1:
            raise ValueError("codes must be >= 2, probes and bin_width >= 1")
        if not self.distances or min(self.distances) < 1:
            raise ValueError("distances must be rows >= 1")
        if not self.scales or min(self.scales) <= 0:
            raise ValueError("scales must be positive")


class ShazamMatcher(MatcherBase):
    """``shazam``: Wang's landmark fingerprinting, adapted to learned embeddings.

    No public code of [Carvalho & Widmer 2021]'s adaptation exists; this is the design, after
    Wang (ISMIR 2003) with the embedding in the place of the spectral peak:

    1. **Quantise.**  Every collection row becomes a codeword: its nearest
       centroid of a spherical k-means codebook fitted on the collection
       (faiss), or the sign pattern of random projections.  The query's rows
       use the same codebook and try their ``probes`` nearest codewords — the
       space is shared, so an audio excerpt lands near, if not on, the
       codeword of the sheet snippets it shows.
    2. **Hashes.**  Every row is an anchor, paired with the rows at the fixed
       ``distances`` after it (the fan-out); the hash is (anchor codeword,
       target codeword, distance).  A pair of one codeword twice says little
       and is dropped.  An inverted index maps hash -> (piece, anchor row):
       sorted keys searched with a binary search.
    3. **Search.**  Each hit gives a time offset (piece row - query row).  A
       true match piles its hits into one offset, chance hits spread out: a
       piece scores the size of its largest cluster of consistent offsets
       (histogram bins of ``bin_width`` rows, two binnings half a bin apart).
    4. **Tempo.**  Sheet snippets and audio excerpts come at different rates,
       and performances vary in tempo, so the query is tried at several time
       scales (``scales`` × ``rate``): at scale ``s`` its anchor ``u`` pairs with
       row ``u + d/s`` for distance ``d`` and sits at time ``u·s`` — the query
       resampled to the collection's rate.  The best scale wins.

    The match is located at the winning offset, over the query's scaled length.
    """

    name = "shazam"
    Config = ShazamConfig

    # -- quantiser ---------------------------------------------------------------

    def _fit_codebook(self, x: np.ndarray) -> None:
        c = self.config
        n_codes = max(2, min(c.codes, len(x) // 16))
        rng = np.random.default_rng(c.seed)
        if c.quantizer == "sign":
            bits = max(1, int(math.log2(n_codes)))
            self._projection = rng.normal(size=(x.shape[1], bits)).astype(np.float32)
            self.n_codes = 2 ** bits
            return
        faiss = _faiss()
        sample = x if len(x) <= n_codes * 256 else x[rng.choice(len(x), n_codes * 256, replace=False)]
        km = faiss.Kmeans(x.shape[1], n_codes, niter=20, seed=c.seed, spherical=True,
                          min_points_per_centroid=1, max_points_per_centroid=256)
        km.train(np.ascontiguousarray(sample, dtype=np.float32))
        self._centroids = faiss.IndexFlatIP(x.shape[1])
        self._centroids.add(km.centroids)
        self.n_codes = n_codes

    def quantize(self, x: np.ndarray, probes: int = 1) -> np.ndarray:
        """The ``probes`` nearest codewords of every row: ``[n, dim] -> [n, probes]`` int64."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self.config.quantizer == "sign":
            proj = x @ self._projection
            codes = ((proj > 0) * (1 << np.arange(proj.shape[1]))).sum(axis=1)
            # further probes flip the least certain bits
            flips = np.argsort(np.abs(proj), axis=1)[:, :max(probes - 1, 0)]
            out = [codes] + [codes ^ (1 << flips[:, i]) for i in range(flips.shape[1])]
            return np.stack(out, axis=1).astype(np.int64)
        probes = min(probes, self.n_codes)
        out = np.empty((len(x), probes), np.int64)
        for i in range(0, len(x), 1 << 16):  # bounded memory for large collections
            out[i:i + (1 << 16)] = self._centroids.search(x[i:i + (1 << 16)], probes)[1]
        return out

    # -- hashing ------------------------------------------------------------------

    def _key(self, a: np.ndarray, b: np.ndarray, d: int) -> np.ndarray:
        return (a * self.n_codes + b) * len(self.config.distances) + d

    def _fit(self, collection: Collection) -> None:
        x = np.asarray(collection.embeddings, dtype=np.float32)
        self._fit_codebook(x)
        codes = self.quantize(x)[:, 0]
        piece = collection.piece_of_rows()
        local = np.arange(len(x)) - collection.offsets[piece]
        keys, pieces, times = [], [], []
        for di, d in enumerate(self.config.distances):
            a = np.arange(len(x) - d)
            b = a + d
            ok = (piece[a] == piece[b]) & (codes[a] != codes[b])
            a, b = a[ok], b[ok]
            keys.append(self._key(codes[a], codes[b], di))
            pieces.append(piece[a])
            times.append(local[a])
        keys = np.concatenate(keys)
        order = np.argsort(keys, kind="stable")
        self._keys = keys[order]
        self._post_piece = np.concatenate(pieces)[order].astype(np.int32)
        self._post_time = np.concatenate(times)[order].astype(np.int32)
        self.n_hashes = len(self._keys)

    def _query_hashes(self, codes: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
        """Hash keys of the query at one time scale, and their anchor times (scaled)."""
        n, probes = codes.shape
        keys, anchors = [], []
        for di, d in enumerate(self.config.distances):
            step = int(round(d / scale))
            if step < 1 or step >= n:
                continue
            u = np.arange(n - step)
            for i in range(probes):
                for j in range(probes):
                    ca, cb = codes[u, i], codes[u + step, j]
                    ok = ca != cb
                    keys.append(self._key(ca[ok], cb[ok], di))
                    anchors.append(u[ok] * scale)
        if not keys:
            return np.zeros(0, np.int64), np.zeros(0)
        return np.concatenate(keys), np.concatenate(anchors)

    def match(self, query, *, top=10, candidates=None, rate=1.0) -> list[Match]:
        q, positions = self._prepare(query, top, candidates, rate)
        c = self.config
        n_pieces = len(self.collection)
        codes = self.quantize(q, c.probes)
        best = np.zeros(n_pieces, np.int64)
        where = np.zeros((n_pieces, 2), np.float64)  # scale, offset of the best cluster
        allowed = np.zeros(n_pieces, dtype=bool)
        allowed[positions] = True
        for s in np.asarray(c.scales, dtype=np.float64) * rate:
            keys, anchors = self._query_hashes(codes, s)
            lo = np.searchsorted(self._keys, keys, side="left")
            hi = np.searchsorted(self._keys, keys, side="right")
            counts = hi - lo
            total = int(counts.sum())
            if total == 0:
                continue
            hit = np.repeat(np.arange(len(keys)), counts)
            pos = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts) + lo[hit]
            piece = self._post_piece[pos].astype(np.int64)
            keep = allowed[piece]
            if not keep.any():
                continue
            piece = piece[keep]
            offset = self._post_time[pos][keep] - anchors[hit][keep]
            for shift in (0.0, 0.5):
                b = np.floor(offset / c.bin_width + shift).astype(np.int64)
                b0 = int(b.min())
                width = int(b.max()) - b0 + 1
                uniq, cnt = np.unique(piece * width + (b - b0), return_counts=True)
                up = uniq // width
                # each piece's fullest bin in this binning
                o = np.lexsort((-cnt, up))
                sel = o[np.r_[True, up[o][1:] != up[o][:-1]]]
                sel = sel[cnt[sel] > best[up[sel]]]
                best[up[sel]] = cnt[sel]
                where[up[sel], 0] = s
                where[up[sel], 1] = ((uniq[sel] - up[sel] * width) + b0 - shift) * c.bin_width
        def locate(i, p):
            if best[p] == 0:
                return None
            length = int(self.collection.lengths[p])
            start = int(min(max(where[p, 1], 0), length - 1))
            return start, int(min(length - 1, start + max(1, round(len(q) * where[p, 0])) - 1)), None

        return self._answers(positions, best[positions].astype(np.float64), top, locate)
