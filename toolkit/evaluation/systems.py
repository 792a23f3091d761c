"""How well a page reader finds systems: precision, recall and staff-space error.

Used by the reader's tests (rendered pages, clean and degraded) and by
``benchmarks/systems.py`` and ``benchmarks/realworld.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..types import BBox

__all__ = ["SystemScore", "match_systems"]


@dataclass(frozen=True)
class SystemScore:
    """Systems matched one to one between a page's truth and a reading.

    Examples
    --------
    >>> s = SystemScore(true=4, found=5, matched=4)
    >>> s.recall, s.precision
    (1.0, 0.8)
    """

    true: int
    found: int
    matched: int

    @property
    def recall(self) -> float:
        return self.matched / self.true if self.true else 1.0

    @property
    def precision(self) -> float:
        return self.matched / self.found if self.found else 1.0

    def __add__(self, other: SystemScore) -> SystemScore:
        return SystemScore(self.true + other.true, self.found + other.found, self.matched + other.matched)


def match_systems(truth: Sequence[BBox], found: Sequence[BBox]) -> SystemScore:
    """Match found systems to true ones by their vertical centres, in order.

    A page's systems are stacked, so a system is identified by where its
    centre lies: after removing the median offset between the two lists (a
    reader that straightens a page may shift it), a found system matches the
    nearest unmatched true one if their centres are closer than 40 % of the
    distance between neighbouring true systems (or of the system's height,
    for a single system) and they overlap horizontally by half the shorter.

    Examples
    --------
    >>> truth = [(0, 100, 800, 160), (0, 300, 800, 360), (0, 500, 600, 560)]
    >>> match_systems(truth, [(5, 104, 790, 166), (4, 305, 795, 362)])
    SystemScore(true=3, found=2, matched=2)
    >>> match_systems(truth, [(5, 104, 790, 166), (4, 205, 795, 262), (4, 305, 795, 362), (0, 505, 600, 560)])
    SystemScore(true=3, found=4, matched=3)
    """
    t = np.array([((b[1] + b[3]) / 2) for b in truth], float)
    f = np.array([((b[1] + b[3]) / 2) for b in found], float)
    if not len(t) or not len(f):
        return SystemScore(len(t), len(f), 0)
    order = np.sort(t)
    gaps = np.diff(order)
    tol = 0.4 * (float(gaps.min()) if len(gaps) else float(truth[0][3] - truth[0][1]) * 2)
    # the median offset of each found centre to its nearest true one
    nearest = t[np.abs(f[:, None] - t[None, :]).argmin(axis=1)]
    shift = float(np.median(f - nearest))
    used: set[int] = set()
    matched = 0
    for j in np.argsort(f):
        d = np.abs(t - (f[j] - shift))
        for i in np.argsort(d):
            if d[i] >= tol:
                break
            if i in used:
                continue
            a, b = truth[i], found[j]
            overlap = min(a[2], b[2]) - max(a[0], b[0])
            if overlap >= 0.5 * min(a[2] - a[0], b[2] - b[0]):
                used.add(int(i))
                matched += 1
            break
    return SystemScore(len(t), len(f), matched)
