"""Cutting snippets: sheet windows along unrolled systems, spectrogram excerpts over time.

Shared by every dataset with a sheet side or an audio side, so that all of
them cut the same windows the encoders were trained on.

* Sheet: a piece's systems are cropped to a band of the window's height around
  each system's centre and the bands are concatenated left to right into one
  :class:`Strip` ("unrolled" systems, as MSMD does); a window near a system's
  end continues into the next system.  Windows are slid along the strip
  (:func:`sheet_sequence`) or centred on a note head.
* Audio: excerpts of a spectrogram, centred on a frame (:func:`window`) or
  slid every ``hop`` frames (:func:`ast_toolkit.data.audio.excerpts`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError
from ..types import SystemBox

__all__ = ["Strip", "window", "unroll_systems", "sheet_sequence"]


@dataclass(frozen=True)
class Strip:
    """A piece's systems unrolled into one band.

    Attributes
    ----------
    image : np.ndarray [shape=(height, width)], float16
        Ink in [0, 1] (1 = black); float16 halves the memory of a training run
        that keeps every strip of a large dataset in memory.
    system_offsets : np.ndarray [shape=(n_systems,)], int
        Column of the strip where each system's crop starts.
    system_x0 : np.ndarray [shape=(n_systems,)], int
        Page column of that crop's left edge.
    system_pages : np.ndarray [shape=(n_systems,)], int

    Examples
    --------
    >>> page = np.full((300, 400), 255, np.uint8)
    >>> systems = [SystemBox(0, 0, (20, 40, 380, 120)), SystemBox(1, 0, (20, 160, 380, 240))]
    >>> strip = unroll_systems(lambda p: page, systems, height=160)
    >>> strip.image.shape, strip.system_offsets.tolist()
    ((160, 720), [0, 360])
    >>> strip.to_page(400.0)
    (0, 1, 60.0)
    """

    image: np.ndarray
    system_offsets: np.ndarray
    system_x0: np.ndarray
    system_pages: np.ndarray

    def to_strip_x(self, system: int, page_x: float) -> float:
        """The strip column of page column ``page_x`` of system ``system``."""
        return float(self.system_offsets[system] + page_x - self.system_x0[system])

    def to_page(self, strip_x: float) -> tuple[int, int, float]:
        """``(page, system, x)`` of a strip column."""
        s = int(np.searchsorted(self.system_offsets, strip_x, side="right") - 1)
        s = max(s, 0)
        return int(self.system_pages[s]), s, float(strip_x - self.system_offsets[s] + self.system_x0[s])


def window(array: np.ndarray, centre: int, width: int) -> np.ndarray:
    """Columns ``[centre - width//2, centre - width//2 + width)`` of ``array``, zero-padded.

    Parameters
    ----------
    array : np.ndarray [shape=(..., n_columns)]
        A strip image or a spectrogram.
    centre : int
        The column at the window's centre.
    width : int
        Columns in the window.

    Returns
    -------
    np.ndarray [shape=(..., width)], float32

    Examples
    --------
    >>> window(np.arange(5.0)[None], 0, 4)
    array([[0., 0., 0., 1.]], dtype=float32)
    """
    start = centre - width // 2
    out = np.zeros(array.shape[:-1] + (width,), dtype=np.float32)
    lo, hi = max(start, 0), min(start + width, array.shape[-1])
    if hi > lo:
        out[..., lo - start: hi - start] = array[..., lo:hi]
    return out


def unroll_systems(page: Callable[[int], np.ndarray], systems: Sequence[SystemBox], *,
                   height: int, margin: int = 0) -> Strip:
    """A piece's systems cropped to bands of ``height`` pixels and joined left to right.

    Parameters
    ----------
    page : callable
        ``page(index)`` -> the page image, ``np.ndarray [shape=(h, w)], uint8``,
        255 = paper; each page is asked for once.
    systems : sequence of SystemBox
        In reading order.
    height : int
        Band height in pixels: the sheet window's height.
    margin : int
        Pixels of page kept left and right of each system's box (MSMD: 0, the
        systems abut; a dataset's setting, :class:`~ast_toolkit.catalog.SnippetSpec`).

    Returns
    -------
    Strip

    Examples
    --------
    >>> page = np.full((300, 400), 255, np.uint8)
    >>> page[70:90, 100:110] = 0  # a blot of ink in the first system
    >>> strip = unroll_systems(lambda p: page, [SystemBox(0, 0, (20, 40, 380, 120))], height=160)
    >>> float(strip.image[75:85, 82:88].min())
    1.0
    """
    if not systems:
        raise ParameterError("the score has no systems")
    pages: dict[int, np.ndarray] = {}
    bands, offsets, x0s, spages = [], [], [], []
    offset = 0
    for system in systems:
        x0, y0, x1, y1 = system.bbox
        if system.page not in pages:
            pages[system.page] = 1.0 - np.asarray(page(system.page), np.float32) / 255.0
        img = pages[system.page]
        cy = int(round((y0 + y1) / 2))
        left = max(int(np.floor(x0)) - margin, 0)
        right = min(int(np.ceil(x1)) + margin, img.shape[1])
        band = np.zeros((height, max(right - left, 0)), dtype=np.float32)
        top = cy - height // 2
        lo, hi = max(top, 0), min(top + height, img.shape[0])
        if hi > lo:
            band[lo - top: hi - top] = img[lo:hi, left:right]
        bands.append(band)
        offsets.append(offset)
        x0s.append(left)
        spages.append(system.page)
        offset += band.shape[1]
    return Strip(np.concatenate(bands, axis=1).astype(np.float16), np.array(offsets),
                 np.array(x0s), np.array(spages))


def sheet_sequence(strip: Strip, *, width: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows slid along a strip every ``hop`` pixels, from half a window in.

    Parameters
    ----------
    strip : Strip
    width : int
        Window width in pixels (its height is the strip's).
    hop : int
        Pixels between window centres (seed values: 50).

    Returns
    -------
    windows : np.ndarray [shape=(n, height, width)], float32
    positions : np.ndarray [shape=(n, 3)], float32
        ``(page, system, x)`` of each window's centre, x in page pixels.

    Examples
    --------
    >>> page = np.full((300, 400), 255, np.uint8)
    >>> strip = unroll_systems(lambda p: page, [SystemBox(0, 0, (20, 40, 380, 120))], height=160)
    >>> windows, positions = sheet_sequence(strip, width=200, hop=50)
    >>> windows.shape, positions[0].tolist()
    ((6, 160, 200), [0.0, 0.0, 120.0])
    """
    if hop < 1:
        raise ParameterError(f"the sheet hop must be >= 1 pixel, got {hop}")
    xs = np.arange(width // 2, max(strip.image.shape[1], 1), hop)
    windows = np.stack([window(strip.image, int(round(x)), width) for x in xs])
    positions = np.array([strip.to_page(x) for x in xs], dtype=np.float32)
    return windows, positions
