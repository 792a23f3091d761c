"""``classical``: staves and systems found with the standard steps of optical music recognition.

1. **Binarise.** The page is divided by its background (a grey closing wider
   than any stroke, so a photo's lighting gradient is divided out) and
   thresholded at what is clearly darker than paper (five times the paper's noise).
2. **Staff-line thickness and staff space** from vertical run lengths: the
   most common black run, and the most common black-plus-white pair (the
   distance between the centres of two staff lines) — the standard OMR
   estimate [Fujinaga 2004; Rebelo et al. 2012, :data:`REFERENCES`].
3. **Skew**: the angle whose shear makes the horizontal projection of the
   ink sharpest; the page is turned back by it.
4. **Staves** from horizontal projections in vertical slabs (a slab is
   narrow enough that a slightly slanted or bent line still projects to a
   peak): five peaks a staff space apart are a staff; the pieces a staff has
   in each slab are chained across the page.  When the staves' slopes differ
   (a phone photo's perspective), a homography fitted to the staff lines
   straightens the page and the staves are found again.
5. **Systems**: staves joined by a vertical stroke through the gap between
   them — the system barline or brace at their left, or barlines through the
   staves — are one system.

Every length scales with the staff space found in step 2, so the reader works
at any resolution from about 100 dpi.  It refuses (``SheetError``, with the
reason) a page without ink, without staff lines, turned more than
``max_skew`` degrees, or photographed at a slant it cannot straighten.

Written with numpy/OpenCV rather than taken from an OMR package: the
maintained ones are AGPL (Audiveris, oemer's models) or need trained networks;
these five steps are short and every threshold is a multiple of the staff space.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.signal import find_peaks

from ast_toolkit.errors import ParameterError, SheetError
from ast_toolkit.interfaces import Reader
from ast_toolkit.types import BBox, PageReading, SystemBox

__all__ = ["ClassicalReader", "REFERENCES"]

REFERENCES = (
    "I. Fujinaga, Staff detection and removal, in Visual Perception of Music Notation, 2004",
    "A. Rebelo, I. Fujinaga, F. Paszkiewicz, A. Marcal, C. Guedes, J. Cardoso, "
    "Optical music recognition: state-of-the-art and open issues, IJMIR 1(3), 2012",
)

# Pages larger than this (pixels on the long side) are read at this size: a
# 10,000-pixel scan has a staff space of 60+ pixels, far more than needed.
_MAX_SIDE = 4200


@dataclass
class _Staff:
    lines: np.ndarray          # [5] y of each line at x = centre (page pixels)
    slope: float               # dy/dx of the staff
    centre_x: float
    xs: list[float]            # slab centres where it was found
    spacing: float
    pieces: np.ndarray | None = None  # [k, 5] line ys found in each slab
    powers: np.ndarray | None = None  # [k] how strongly each piece's five lines project

    def set_slope(self, slope: float) -> None:
        """Take ``slope`` and place the lines again from the slab pieces."""
        self.slope = slope
        self.place()

    def place(self) -> None:
        """The lines at :attr:`centre_x`: the median of the pieces that agree with the
        strongest (a piece where the staff is short can take a ledger line or beam for
        a staff line and sit one line off)."""
        if self.pieces is None:
            return
        xs = np.asarray(self.xs[:len(self.pieces)])
        at_c = self.pieces - self.slope * (xs[:, None] - self.centre_x)
        ref = at_c[int(np.argmax(self.powers))] if self.powers is not None else np.median(at_c, axis=0)
        keep = np.abs(at_c.mean(axis=1) - ref.mean()) < 0.5 * self.spacing
        self.lines = np.median(at_c[keep], axis=0)


class ClassicalReader(Reader):
    """Binarise, estimate staff space from run lengths, deskew, find staves and systems.

    Parameters
    ----------
    max_skew : float
        Largest rotation in degrees that is searched and corrected; a page
        turned further is refused.
    max_slant : float
        Largest difference in degrees between the slopes of the staves (a
        photo's perspective) that is straightened; more is refused.
    slabs : int
        Vertical slabs the staves are searched in (fewer on a narrow page:
        each slab is at least 20 staff spaces wide).
    min_staff_space : float
        Staff spaces below this many pixels are refused as too coarse (a page
        scanned below about 70 dpi).
    """

    def __init__(self, *, max_skew: float = 5.0, max_slant: float = 3.0, slabs: int = 8,
                 min_staff_space: float = 4.5) -> None:
        if not 0 < max_skew <= 45:
            raise ParameterError(f"max_skew must be in (0, 45] degrees, got {max_skew!r}")
        if not 0 <= max_slant <= 20:
            raise ParameterError(f"max_slant must be in [0, 20] degrees, got {max_slant!r}")
        if not 1 <= int(slabs) <= 64:
            raise ParameterError(f"slabs must be 1..64, got {slabs!r}")
        self.max_skew = float(max_skew)
        self.max_slant = float(max_slant)
        self.slabs = int(slabs)
        self.min_staff_space = float(min_staff_space)

    # -- the steps ------------------------------------------------------------------------

    def read(self, image: np.ndarray, *, page: int = 0) -> PageReading:
        gray = np.asarray(image)
        if gray.ndim != 2 or gray.dtype != np.uint8:
            raise ParameterError(f"a page must be a 2-D uint8 array, got {gray.dtype} {gray.shape}")
        if min(gray.shape) < 64:
            raise SheetError(f"the page is {gray.shape[1]}x{gray.shape[0]} pixels: too small to hold a staff")
        if max(gray.shape) > _MAX_SIDE:
            scale = _MAX_SIDE / max(gray.shape)
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        clean, binarisers, dense = _normalise_background(gray)
        # The binarisation that keeps thin lines, then Otsu's: on a coarse page the
        # anti-aliased strokes can fill the gaps between lines.  When the page is
        # dense with ink (either may be right) both are read and the one that finds
        # more staves is taken; otherwise Otsu's only when the first finds none.
        readings: list[PageReading] = []
        error: SheetError | None = None
        for binariser in binarisers:
            try:
                readings.append(self._read(clean, binariser, page))
            except SheetError as exc:
                error = error or exc
                continue
            if not dense:
                break
        if not readings:
            assert error is not None
            raise error
        return max(readings, key=lambda r: len(r.staves))  # the first of equals

    def _read(self, clean: np.ndarray, binariser: _Binariser, page: int) -> PageReading:
        warnings: list[str] = []
        ink = binariser.ink(clean)
        if ink.mean() < 1e-4:
            raise SheetError("the page is blank (no ink)")
        thickness, space = _run_lengths(ink)
        if space < self.min_staff_space:
            raise SheetError(f"no staff lines can be told apart: the most common distance between "
                             f"lines is {space:.1f} pixels (scan at 100 dpi or more)")

        skew = _skew(ink, self.max_skew)
        if abs(skew) >= self.max_skew - 0.15:
            raise SheetError(f"the page is turned {skew:+.1f} degrees or more; straighten it "
                             f"(this reader corrects up to {self.max_skew:g})")
        if abs(skew) > 0.05:
            clean = _rotate(clean, skew)
            ink = binariser.ink(clean)

        staves = self._staves(ink, space, thickness)
        if not staves:
            raise SheetError("no staves found (no five evenly spaced horizontal lines)")
        slopes = _consistent_slopes(staves)
        spread = float(slopes.max() - slopes.min()) if len(staves) > 1 else 0.0
        if spread > self.max_slant:
            raise SheetError(f"the staves' slopes differ by {spread:.1f} degrees: the page is "
                             "photographed at a strong slant (perspective); photograph it "
                             "square-on or scan it")
        if spread > 0.2:
            # a photo's perspective: straighten with a homography fitted to the staves
            h = _straightening(staves, ink.shape)
            if h is not None:
                clean = cv2.warpPerspective(clean, h, (clean.shape[1], clean.shape[0]),
                                            flags=cv2.INTER_LINEAR, borderValue=255)
                ink = binariser.ink(clean)
                staves = self._staves(ink, space, thickness)
                if not staves:
                    raise SheetError("no staves found after straightening the page's perspective")
                warnings.append(f"straightened a slant of {spread:.2f} degrees between staves")

        boxes = [self._extent(ink, s, thickness) for s in staves]
        # a staff runs at least 8 staff spaces; one seen in a single slab (the short
        # last system of a piece) at least 12, so that text or ledger lines are not taken
        keep = [i for i, b in enumerate(boxes) if b is not None
                and b[2] - b[0] >= (8 if len(staves[i].xs) > 1 else 12) * staves[i].spacing]
        staves = [staves[i] for i in keep]
        boxes = [boxes[i] for i in keep]  # type: ignore[misc]
        if not staves:
            raise SheetError("no staves found (lines too short to be staves)")
        groups = self._systems(ink, staves, boxes, thickness)
        systems, per = [], []
        for group in groups:
            bx = [boxes[i] for i in group]
            systems.append(SystemBox(len(systems), page, (min(b[0] for b in bx), min(b[1] for b in bx),
                                                          max(b[2] for b in bx), max(b[3] for b in bx))))
            per.append(len(group))
        spaces = np.array([s.spacing for s in staves])
        staff_space = float(np.median(spaces))
        if spaces.max() / spaces.min() > 1.5:
            warnings.append(f"staves of different sizes (staff spaces {spaces.min():.1f}-"
                            f"{spaces.max():.1f} px; the median {staff_space:.1f} is used)")
        # paper stays paper: faint background left by the division is set white
        out = np.where(clean >= (binariser.threshold + 255) / 2, 255, clean).astype(np.uint8)
        return PageReading(out, staff_space, float(thickness), float(skew), list(boxes),  # type: ignore[arg-type]
                           systems, per, warnings)

    def _staves(self, ink: np.ndarray, space: float, thickness: float) -> list[_Staff]:
        """Staves found slab by slab and chained across the page."""
        h, w = ink.shape
        n = max(1, min(self.slabs, int(w // (20 * space))))
        edges = np.linspace(0, w, n + 1).astype(int)
        found: list[list[tuple[float, np.ndarray, float]]] = []  # per slab: (centre x, 5 ys, power)
        for a, b in zip(edges[:-1], edges[1:]):
            proj = ink[:, a:b].mean(axis=1)
            found.append([((a + b) / 2, ys, p) for ys, p in _five_lines(proj, space, thickness)])
        # chain: a staff piece continues the track whose last piece is nearest in y
        tracks: list[list[tuple[float, np.ndarray, float]]] = []
        for pieces in found:
            taken: set[int] = set()
            for piece in sorted(pieces, key=lambda p: p[1][0]):
                best, dist = None, 1.5 * space
                for t, track in enumerate(tracks):
                    if t in taken:
                        continue
                    d = abs(float(np.mean(track[-1][1]) - np.mean(piece[1])))
                    if d < dist:
                        best, dist = t, d
                if best is None:
                    tracks.append([piece])
                    taken.add(len(tracks) - 1)
                else:
                    tracks[best].append(piece)
                    taken.add(best)
        staves = []
        for track in tracks:
            xs = np.array([x for x, _, _ in track])
            lines = np.stack([ys for _, ys, _ in track])  # [k, 5]
            powers = np.array([p for _, _, p in track])
            slope = _band_slope(ink, float(np.median(lines[:, 0])), float(np.median(lines[:, 4])),
                                space, xs, lines.mean(axis=1))
            staff = _Staff(lines[int(np.argmax(powers))], slope, w / 2, list(xs),
                           float(np.mean(np.diff(lines, axis=1))), lines, powers)
            staff.place()
            staff.spacing = float(np.mean(np.diff(staff.lines)))
            staves.append(staff)
        # staves cannot overlap: of two overlapping five-line groups (one shifted by
        # ledger lines), the one found in more slabs is the staff
        kept: list[_Staff] = []
        for s in sorted(staves, key=lambda s: -len(s.xs)):
            if all(s.lines[4] + 0.5 * space < k.lines[0] or s.lines[0] - 0.5 * space > k.lines[4]
                   for k in kept):
                kept.append(s)
        return sorted(kept, key=lambda s: s.lines[0])

    def _extent(self, ink: np.ndarray, staff: _Staff, thickness: float) -> BBox | None:
        """The staff's box: the longest run of columns where at least 3 of its 5 lines have ink."""
        h, w = ink.shape
        x = np.arange(w)
        r = max(1, int(round(thickness / 2)) + 1)
        hits = np.zeros(w, np.int16)
        for y in staff.lines:
            rows = np.round(y + staff.slope * (x - staff.centre_x)).astype(int)
            on = np.zeros(w, bool)
            for dy in range(-r, r + 1):
                rr = np.clip(rows + dy, 0, h - 1)
                on |= ink[rr, x]
            hits += on
        mask = (hits >= 3).astype(np.uint8)
        gap = max(3, int(2 * staff.spacing))
        mask = cv2.morphologyEx(mask[None, :], cv2.MORPH_CLOSE, np.ones((1, gap), np.uint8))[0] > 0
        if not mask.any():
            return None
        d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
        starts, ends = np.nonzero(d == 1)[0], np.nonzero(d == -1)[0]
        i = int(np.argmax(ends - starts))
        x0, x1 = float(starts[i]), float(ends[i])
        y0 = float(min(staff.lines[0] + staff.slope * (x0 - staff.centre_x),
                       staff.lines[0] + staff.slope * (x1 - staff.centre_x))) - thickness / 2
        y1 = float(max(staff.lines[4] + staff.slope * (x0 - staff.centre_x),
                       staff.lines[4] + staff.slope * (x1 - staff.centre_x))) + thickness / 2
        return (x0, max(y0, 0.0), x1, min(y1, float(h)))

    def _systems(self, ink: np.ndarray, staves: list[_Staff], boxes: list[BBox],
                 thickness: float) -> list[list[int]]:
        """Consecutive staves joined through their gap by a vertical stroke are one system."""
        groups = [[0]]
        for i in range(1, len(staves)):
            if self._joined(ink, boxes[i - 1], boxes[i], staves[i].spacing, thickness):
                groups[-1].append(i)
            else:
                groups.append([i])
        return groups

    @staticmethod
    def _joined(ink: np.ndarray, upper: BBox, lower: BBox, space: float, thickness: float) -> bool:
        if min(upper[2], lower[2]) <= max(upper[0], lower[0]):
            return False  # side by side, not one above the other
        top = int(np.ceil(upper[3] + thickness))
        bottom = int(np.floor(lower[1] - thickness))
        if bottom - top < 2:
            return True  # staves touching: one system
        if bottom - top > 20 * space:
            return False
        left = int(max(min(upper[0], lower[0]) - 3 * space, 0))
        right = int(min(max(upper[2], lower[2]), ink.shape[1]))
        gap = ink[top:bottom, left:right].astype(np.uint8)
        # the system's start: a barline or a brace (a curve: widened by a staff space)
        start = int(min(6 * space, gap.shape[1]))
        k = max(3, int(round(space)) | 1)
        head = cv2.dilate(gap[:, :start], np.ones((1, k), np.uint8))
        if head.size and (head.mean(axis=0) >= 0.8).any():
            return True
        # barlines through both staves further right
        k = max(3, int(round(thickness)) * 2 + 1)
        body = cv2.dilate(gap[:, start:], np.ones((1, k), np.uint8))
        if not body.size:
            return False
        cols = body.mean(axis=0) >= 0.95
        runs = np.diff(np.concatenate([[0], cols.astype(np.int8), [0]]))
        return int((runs == 1).sum()) >= 2


# --- the steps as functions ---------------------------------------------------------------


@dataclass(frozen=True)
class _Binariser:
    """Ink is what is clearly darker than paper: below ``threshold`` after a Gaussian
    smoothing of ``smooth`` pixels (0: none)."""

    threshold: float
    smooth: float

    def ink(self, clean: np.ndarray) -> np.ndarray:
        img = cv2.GaussianBlur(clean, (0, 0), self.smooth) if self.smooth else clean
        return img <= self.threshold


def _paper_noise(img: np.ndarray) -> float:
    """Standard deviation of the paper's grey levels, measured where the page is
    paper (its 7x7 neighbourhood is nearly white: no ink edges) and from the
    darker side (the brighter side is clipped at white)."""
    local = cv2.blur(img, (7, 7))
    paper = img[local > 235]
    if len(paper) < 100:
        return 0.0
    return float(np.median(paper) - np.percentile(paper, 15.87))


def _normalise_background(gray: np.ndarray) -> tuple[np.ndarray, list[_Binariser], bool]:
    """The page divided by its background (uneven light removed), the ways to find its
    ink (best first), and whether the page is dense with ink."""
    if float(gray.std()) < 1.0:
        raise SheetError("the page is blank (no ink)")
    h, w = gray.shape
    # the background: a max filter wider than any stroke (a beam, a note head),
    # computed at a quarter of the size (it is smooth)
    f = 4 if min(h, w) >= 400 else 1
    small = cv2.resize(gray, (max(w // f, 1), max(h // f, 1)), interpolation=cv2.INTER_AREA)
    k = max(7, int(min(h, w) / 30 / f)) | 1
    bg = cv2.dilate(small, np.ones((k, k), np.uint8))
    bg = cv2.GaussianBlur(bg, (k, k), 0)
    bg = cv2.resize(bg, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    clean = np.clip(gray.astype(np.float32) / np.maximum(bg, 1.0) * 255.0, 0, 255).astype(np.uint8)
    # Not Otsu's split between ink and paper: on a page dense with ink, Otsu's
    # threshold passes over thin blurred staff lines (a 1-pixel line blurred is
    # light grey).  "Clearly darker" is five times the paper's noise, at least 40
    # grey levels; a noisy page is smoothed a little first, a clean one is not
    # (a thin line at 150 dpi would fade).
    smooth = 1.0 if _paper_noise(clean) > 6.0 else 0.0
    sigma = _paper_noise(cv2.GaussianBlur(clean, (0, 0), smooth) if smooth else clean)
    lenient = _Binariser(float(np.clip(255.0 - max(40.0, 5.0 * sigma), 100.0, 215.0)), smooth)
    t, _ = cv2.threshold(clean, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    otsu = _Binariser(float(np.clip(t, 100.0, 215.0)), 0.0)
    # dense: more than an eighth of the page inked (a coarse page, or dense piano music)
    return clean, [lenient, otsu], bool(lenient.ink(clean).mean() > 0.12)


def _run_lengths(ink: np.ndarray) -> tuple[float, float]:
    """Staff-line thickness and line-to-line distance from vertical runs of some columns.

    The most common black run is a staff line's thickness; the most common
    black run plus the white run under it is the distance between two lines.
    """
    h, w = ink.shape
    step = max(1, w // 600)
    cols = ink[:, ::step].T.astype(np.int8)  # [columns, rows]
    d = np.diff(cols, axis=1, prepend=0, append=0)
    cs, ys = np.nonzero(d == 1)
    _, ye = np.nonzero(d == -1)
    black = ye - ys
    same = cs[1:] == cs[:-1]
    white = ys[1:][same] - ye[:-1][same]
    pair = black[:-1][same] + white
    limit = max(h // 8, 8)
    black = black[black < limit]
    pair = pair[(pair > 2) & (pair < limit)]
    if len(black) < 20 or len(pair) < 20:
        raise SheetError("no staff lines found (too little ink in vertical runs)")
    thickness = int(np.argmax(np.bincount(black)))
    counts = np.bincount(pair).astype(float)
    mode = int(np.argmax(counts))
    lo, hi = max(mode - 1, 0), min(mode + 2, len(counts))
    space = float((np.arange(lo, hi) * counts[lo:hi]).sum() / counts[lo:hi].sum())
    return float(max(thickness, 1)), space


class _Shear:
    """Ink pixels (a sample of at most ``limit``) and how sharp their row projection is
    when sheared by an angle: the sharper, the better the angle follows the staff lines."""

    def __init__(self, ink: np.ndarray, limit: int, pad: float) -> None:
        ys, xs = np.nonzero(ink)
        if len(ys) > limit:
            pick = np.random.default_rng(0).choice(len(ys), limit, replace=False)
            ys, xs = ys[pick], xs[pick]
        self.ys = ys.astype(np.float64)
        self.xs = xs.astype(np.float64) - ink.shape[1] / 2
        self.pad = pad

    def __len__(self) -> int:
        return len(self.ys)

    def score(self, deg: float, step: int = 1) -> float:
        y, x = self.ys[::step], self.xs[::step]
        proj = np.bincount(np.round(y - x * np.tan(np.radians(deg)) + self.pad).astype(np.int64))
        return float((proj.astype(np.float64) ** 2).sum()) / len(y) ** 2

    def sharpest(self, lo: float, hi: float, step_deg: float, *, sample: int = 1) -> float:
        """The angle of ``lo, lo + step_deg, ..., hi`` (degrees) with the sharpest projection."""
        grid = np.arange(lo, hi + 1e-9, step_deg)
        return float(grid[int(np.argmax([self.score(a, sample) for a in grid]))])


def _skew(ink: np.ndarray, max_skew: float) -> float:
    """Degrees (clockwise in the picture, y down) that maximise the sharpness of the row projection."""
    wide = 3 * max_skew
    shear = _Shear(ink, 400_000, ink.shape[1] * np.tan(np.radians(wide)) + 2)
    # a coarse look three times as far (on a quarter of the ink): a page turned
    # further than max_skew is reported as such, not read at a wrong angle
    far = shear.sharpest(-wide, wide, 0.5, sample=4)
    if abs(far) > max_skew + 0.5:
        return far
    best = shear.sharpest(-max_skew, max_skew, 0.1)
    return shear.sharpest(best - 0.1, best + 0.1, 0.01)


def _rotate(gray: np.ndarray, skew: float) -> np.ndarray:
    """``gray`` turned so that lines sloping by ``skew`` degrees become horizontal."""
    h, w = gray.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), skew, 1.0)
    return cv2.warpAffine(gray, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=255)


def _five_lines(proj: np.ndarray, space: float, thickness: float) -> list[tuple[np.ndarray, float]]:
    """Groups of five projection peaks about ``space`` apart — the staves of one slab —
    each with its summed strength.

    Parameters
    ----------
    proj : np.ndarray [shape=(height,)]
        Fraction of inked pixels in each row of the slab.
    """
    r = max(1, int(round(thickness / 2)) + 1)
    strength = np.convolve(proj, np.ones(2 * r + 1), mode="same") / max(thickness, 1.0)
    peaks, _ = find_peaks(strength, height=0.35, distance=max(2, int(space * 0.6)))
    if len(peaks) < 5:
        return []
    # sub-pixel line centres: the projection's centroid around each peak
    ys = []
    for p in peaks:
        lo, hi = max(p - r, 0), min(p + r + 1, len(proj))
        wgt = proj[lo:hi]
        ys.append(float((np.arange(lo, hi) * wgt).sum() / max(wgt.sum(), 1e-9)))
    ys_arr = np.array(ys)
    power = strength[peaks]
    # every chain of five peaks about a staff space apart, from each peak down;
    # the strongest chains win (a ledger line or beam above a staff makes a
    # chain shifted by one line, weaker than the staff's own five lines)
    chains = []
    for i in range(len(ys_arr)):
        chain, step = [i], space
        for _ in range(4):
            want = ys_arr[chain[-1]] + step
            j = int(np.argmin(np.abs(ys_arr - want)))
            if j in chain or abs(ys_arr[j] - want) > max(1.5, 0.22 * space):
                break
            chain.append(j)
            step = (ys_arr[j] - ys_arr[chain[0]]) / (len(chain) - 1)
        if len(chain) == 5:
            gaps = np.diff(ys_arr[chain])
            if gaps.max() / gaps.min() < 1.35:
                chains.append((float(power[chain].sum()), chain))
    used = np.zeros(len(ys_arr), bool)
    staves = []
    for power_sum, chain in sorted(chains, key=lambda c: -c[0]):
        if not used[chain].any():
            used[chain] = True
            staves.append((ys_arr[chain], power_sum))
    return sorted(staves, key=lambda s: s[0][0])


def _band_slope(ink: np.ndarray, top: float, bottom: float, space: float, xs: np.ndarray,
                centres: np.ndarray) -> float:
    """A staff's slope: the angle that makes the projection of the ink around it sharpest.

    Searched within 1.5 degrees of the slope through its pieces' centres (the
    staff lines dominate the projection of a band a staff high)."""
    guess = _robust_slope(xs, centres, space)
    h, w = ink.shape
    lo = int(max(min(top, bottom) - 2 * space - abs(guess) * w / 2, 0))
    hi = int(min(max(top, bottom) + 2 * space + abs(guess) * w / 2, h))
    shear = _Shear(ink[lo:hi], 150_000, w)
    if len(shear) < 50:
        return guess
    base = np.degrees(np.arctan(guess))
    best = shear.sharpest(base - 1.5, base + 1.5, 0.05)
    return float(np.tan(np.radians(shear.sharpest(best - 0.05, best + 0.05, 0.01))))


def _robust_slope(xs: np.ndarray, ys: np.ndarray, space: float) -> float:
    """Slope of a line through (xs, ys), ignoring points more than half a staff space off."""
    if len(xs) < 2:
        return 0.0
    keep = np.ones(len(xs), bool)
    for _ in range(3):
        if keep.sum() < 2:
            return 0.0
        a, b = np.polyfit(xs[keep], ys[keep], 1)
        new = np.abs(ys - (a * xs + b)) <= 0.5 * space
        if (new == keep).all():
            break
        keep = new
    return float(a)


def _consistent_slopes(staves: list[_Staff]) -> np.ndarray:
    """The staves' slopes in degrees, as a smooth function of their height on the page.

    A perspective changes the slope gradually from top to bottom; a staff whose
    own estimate is off that trend by more than 0.3 degrees (a beam or slur
    took over its projection) gets the trend's value instead (in place)."""
    deg = np.degrees(np.arctan([s.slope for s in staves]))
    if len(staves) < 3:
        return deg
    y = np.array([s.lines[2] for s in staves])
    keep = np.ones(len(y), bool)
    for _ in range(3):
        a, b = np.polyfit(y[keep], deg[keep], 1)
        new = np.abs(deg - (a * y + b)) <= 0.3
        if new.sum() < 2 or (new == keep).all():
            break
        keep = new
    fit = a * y + b
    for s, k, f in zip(staves, keep, fit):
        if not k:
            s.set_slope(float(np.tan(np.radians(f))))
    return np.where(keep, deg, fit)


def _straightening(staves: list[_Staff], shape: tuple[int, int]) -> np.ndarray | None:
    """A homography taking every staff line to a horizontal line (x kept)."""
    if len(staves) < 2:
        return None
    src, dst = [], []
    w = shape[1]
    for s in staves:
        for x in (0.15 * w, 0.5 * w, 0.85 * w):
            for y in (s.lines[0], s.lines[4]):
                src.append((x, y + s.slope * (x - s.centre_x)))
                dst.append((x, y + s.slope * (0.5 * w - s.centre_x)))
    h, _ = cv2.findHomography(np.float32(src), np.float32(dst), 0)
    return h
