"""Page degradations: what scanning, photographing and compressing do to a printed page.

Each function takes a grayscale page (``np.ndarray [shape=(h, w)], uint8``,
255 = paper) and returns a degraded copy; the geometric ones also return the
3x3 matrix that maps page coordinates to degraded-page coordinates, so that
ground-truth boxes can follow the page.  They serve the reader's tests and
benchmark (system detection on degraded renderings) and training augmentation.
OpenCV does the image work; the functions only fix the parameters.

Examples
--------
>>> page = np.full((400, 300), 255, np.uint8); page[100:103, 20:280] = 0
>>> out, m = rotate(page, 2.0)
>>> out.shape, out.dtype, m.shape
((411, 314), dtype('uint8'), (3, 3))
>>> sorted(DEGRADATIONS)[:3]
['binarised', 'blur', 'clean']
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import ParameterError
from ..types import BBox

__all__ = ["rotate", "noise", "blur", "downscale", "jpeg", "binarise", "perspective",
           "transform_box", "DEGRADATIONS", "degrade"]

_IDENTITY = np.eye(3)


def _check(page: np.ndarray) -> np.ndarray:
    page = np.asarray(page)
    if page.ndim != 2 or page.dtype != np.uint8:
        raise ParameterError(f"a page must be a 2-D uint8 array, got {page.dtype} {page.shape}")
    return page


def rotate(page: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """The page turned ``degrees`` counter-clockwise, on a canvas grown to hold all of it
    (as a scanner's bed holds a page laid askew; paper fills the corners)."""
    import cv2

    page = _check(page)
    h, w = page.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    c, s = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(np.ceil(w * c + h * s)), int(np.ceil(w * s + h * c))
    m[0, 2] += (nw - w) / 2
    m[1, 2] += (nh - h) / 2
    out = cv2.warpAffine(page, m, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=255)
    return out, np.vstack([m, [0, 0, 1]])


def noise(page: np.ndarray, sigma: float = 25.0, *, rng: np.random.Generator | None = None) -> np.ndarray:
    """Gaussian noise of ``sigma`` grey levels added to every pixel (sensor noise)."""
    page = _check(page)
    rng = rng or np.random.default_rng(0)
    return np.clip(page + rng.normal(0.0, sigma, page.shape), 0, 255).astype(np.uint8)


def blur(page: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """A Gaussian blur of ``sigma`` pixels (focus, a cheap scanner's optics)."""
    import cv2

    return cv2.GaussianBlur(_check(page), (0, 0), sigma)


def downscale(page: np.ndarray, factor: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """The page resampled to ``factor`` times its size (300 dpi x 0.5 = 150 dpi)."""
    import cv2

    page = _check(page)
    if not 0 < factor <= 4:
        raise ParameterError(f"factor must be in (0, 4], got {factor}")
    out = cv2.resize(page, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    fy, fx = out.shape[0] / page.shape[0], out.shape[1] / page.shape[1]
    return out, np.diag([fx, fy, 1.0])


def jpeg(page: np.ndarray, quality: int = 30) -> np.ndarray:
    """The page after JPEG compression at ``quality`` (1-100)."""
    import cv2

    ok, buf = cv2.imencode(".jpg", _check(page), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ParameterError(f"JPEG encoding failed at quality {quality}")
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)


def binarise(page: np.ndarray) -> np.ndarray:
    """Black and white only (Otsu's threshold), as a 1-bit scan is."""
    import cv2

    _, out = cv2.threshold(_check(page), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return out


def perspective(page: np.ndarray, strength: float = 0.03, *,
                rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A mild phone-photo perspective: the four corners moved inwards by up to
    ``strength`` times the page size (0.03: a slant of about 2 degrees)."""
    import cv2

    page = _check(page)
    rng = rng or np.random.default_rng(0)
    h, w = page.shape
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    jitter = rng.uniform(0, strength, (4, 2)) * np.array([w, h])
    inward = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]])
    dst = np.float32(src + jitter * inward)
    m = cv2.getPerspectiveTransform(src, dst)
    out = cv2.warpPerspective(page, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=255)
    return out, m


def transform_box(box: BBox, m: np.ndarray) -> BBox:
    """The axis-aligned box around ``box``'s corners mapped by the 3x3 matrix ``m``."""
    x0, y0, x1, y1 = box
    pts = np.array([[x0, y0, 1], [x1, y0, 1], [x1, y1, 1], [x0, y1, 1]], float) @ np.asarray(m).T
    pts = pts[:, :2] / pts[:, 2:]
    return (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()))


def _geometric(fn: Callable[..., tuple[np.ndarray, np.ndarray]], *args, **kw):
    return lambda page, rng: fn(page, *args, **kw, **({"rng": rng} if fn is perspective else {}))


def _plain(fn: Callable[..., np.ndarray], *args, **kw):
    def apply(page, rng):
        out = fn(page, *args, **kw, **({"rng": rng} if fn is noise else {}))
        return out, _IDENTITY
    return apply


#: The degradations of the reader's benchmark and tests, by name: each takes
#: ``(page, rng)`` and returns ``(degraded page, 3x3 matrix of page -> degraded coordinates)``.
DEGRADATIONS: dict[str, Callable[[np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]] = {
    "clean": lambda page, rng: (page, _IDENTITY),
    "rotate+3": _geometric(rotate, 3.0),
    "rotate-3": _geometric(rotate, -3.0),
    "noise": _plain(noise, 25.0),
    "blur": _plain(blur, 1.5),
    "downscale-150dpi": _geometric(downscale, 0.5),
    "jpeg-q30": _plain(jpeg, 30),
    "binarised": _plain(binarise),
    "perspective": _geometric(perspective, 0.03),
}


def degrade(page: np.ndarray, name: str, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Apply the degradation ``name`` of :data:`DEGRADATIONS` (deterministic for a seed).

    Examples
    --------
    >>> degrade(np.full((50, 50), 255, np.uint8), "smudge")
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.UnknownNameError: unknown degradation 'smudge'; Known: binarised, blur, clean, ...
    """
    from ..errors import UnknownNameError, did_you_mean

    if name not in DEGRADATIONS:
        raise UnknownNameError(did_you_mean(name, DEGRADATIONS, what="degradation"))
    return DEGRADATIONS[name](_check(page), np.random.default_rng(seed))
