"""Sheet-window augmentations: what scanning, photographing and printing do to a page,
at the scale the encoder sees it (a page rescaled to the training staff space).

Every one acts on a batch of windows ``[n, 1, height, width]`` (ink in [0, 1]) at
once.  They are written in torch rather than taken from albumentations or
augraphy on purpose: those libraries work one numpy image at a time (augraphy
takes about a second per page), while a training batch is 100 small windows
already in a tensor; one ``grid_sample`` or grouped convolution over the batch
costs less than a loop over it (``benchmarks/augment.py`` measures each).  The
JPEG round trip is OpenCV's codec.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ast_toolkit.errors import ParameterError
from ast_toolkit.interfaces import Augmentation

__all__ = ["Rotate", "Scale", "Shift", "Elastic", "Blur", "SheetNoise", "Ink", "Jpeg", "Paper",
           "warp", "gaussian_blur"]


def warp(x: torch.Tensor, matrices: np.ndarray, *, flow: torch.Tensor | None = None) -> torch.Tensor:
    """Resample windows through per-sample affine maps given in pixels.

    Parameters
    ----------
    x : tensor [shape=(n, 1, h, w)]
    matrices : np.ndarray [shape=(n, 2, 3)]
        Map an output pixel (relative to the window's centre) to the input pixel
        it is read from; outside the window reads paper (0 ink).
    flow : tensor [shape=(n, h, w, 2)] or None
        Extra displacement in pixels (x, y) added to the source positions.

    Examples
    --------
    >>> x = torch.zeros(1, 1, 4, 6); x[0, 0, 1, 2] = 1.0
    >>> shifted = warp(x, np.array([[[1.0, 0, -1], [0, 1, 0]]]))  # read one pixel left
    >>> torch.nonzero(shifted[0, 0]).tolist()
    [[1, 3]]
    """
    n, _, h, w = x.shape
    half = np.array([w / 2.0, h / 2.0])
    a = np.asarray(matrices, dtype=np.float64)
    theta = np.empty((n, 2, 3), dtype=np.float32)
    theta[:, :, :2] = a[:, :, :2] * half[None, None, :] / half[None, :, None]
    theta[:, :, 2] = a[:, :, 2] / half[None, :]
    grid = F.affine_grid(torch.from_numpy(theta).to(x.device), list(x.shape), align_corners=False)
    if flow is not None:
        grid = grid + flow / torch.tensor(half, dtype=grid.dtype, device=grid.device)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def gaussian_blur(x: torch.Tensor, sigma: np.ndarray) -> torch.Tensor:
    """Blur each window with its own Gaussian of ``sigma[i]`` pixels (0: unchanged).

    Examples
    --------
    >>> x = torch.zeros(2, 1, 9, 9); x[:, :, 4, 4] = 1.0
    >>> out = gaussian_blur(x, np.array([0.0, 1.0]))
    >>> float(out[0, 0, 4, 4]), round(float(out[1].sum()), 3), float(out[1, 0, 4, 4]) < 0.2
    (1.0, 1.0, True)
    """
    n, c, h, w = x.shape
    sigma = np.maximum(np.asarray(sigma, dtype=np.float64), 1e-3)
    radius = int(math.ceil(3 * sigma.max()))
    t = np.arange(-radius, radius + 1)
    k = np.exp(-0.5 * (t[None, :] / sigma[:, None]) ** 2)
    k /= k.sum(axis=1, keepdims=True)
    k = torch.from_numpy(k.astype(np.float32)).to(x.device)
    y = x.reshape(1, n * c, h, w)
    kx = k.repeat_interleave(c, 0)[:, None, None, :]
    ky = k.repeat_interleave(c, 0)[:, None, :, None]
    y = F.conv2d(F.pad(y, (radius, radius, 0, 0), mode="replicate"), kx, groups=n * c)
    y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode="replicate"), ky, groups=n * c)
    return y.reshape(n, c, h, w)


def _identity(n: int) -> np.ndarray:
    m = np.zeros((n, 2, 3))
    m[:, 0, 0] = m[:, 1, 1] = 1.0
    return m


def _on(x: torch.Tensor, pick: np.ndarray, change) -> torch.Tensor:
    """``change(x[chosen], chosen)`` for the chosen windows, the others untouched: the
    cost follows ``p``, not the batch size."""
    idx = np.flatnonzero(pick)
    if not len(idx):
        return x
    out = x.clone()
    sel = torch.from_numpy(idx).to(x.device)
    out[sel] = change(x[sel], idx)
    return out


class _Ranged(Augmentation):
    """An augmentation drawing from ``[low, high]`` (checked: ``minimum <= low <= high``)."""

    minimum = 0.0

    def __init__(self, **params) -> None:
        super().__init__(**params)
        low, high = self.config.low, self.config.high
        if not (math.isfinite(low) and math.isfinite(high) and self.minimum <= low <= high):
            raise ParameterError(f"augmentation {self.name!r}: need {self.minimum:g} <= low <= "
                                 f"high, got low={low!r}, high={high!r}")


class Rotate(Augmentation):
    """``rotate``: the window turned by up to ±``degrees`` (a page laid askew, residual skew
    the reader did not remove)."""

    name = "rotate"
    modality = "sheet"

    @dataclass(frozen=True)
    class Config:
        p: float = 0.5
        degrees: float = 4.0

    def apply(self, x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        pick = self.chosen(len(x), rng)
        a = np.radians(rng.uniform(-self.config.degrees, self.config.degrees, len(x))) * pick
        m = _identity(len(x))
        m[:, 0, 0] = m[:, 1, 1] = np.cos(a)
        m[:, 0, 1], m[:, 1, 0] = -np.sin(a), np.sin(a)
        return _on(x, pick, lambda sub, idx: warp(sub, m[idx]))


class Scale(_Ranged):
    """``scale``: the window zoomed by a factor in [``low``, ``high``] (a staff space the
    reader estimated a few per cent off; another engraver's proportions)."""

    name = "scale"
    modality = "sheet"
    minimum = 1e-3

    @dataclass(frozen=True)
    class Config:
        p: float = 0.5
        low: float = 0.9
        high: float = 1.1

    def apply(self, x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        pick = self.chosen(len(x), rng)
        s = np.where(pick, np.exp(rng.uniform(np.log(self.config.low), np.log(self.config.high),
                                              len(x))), 1.0)
        m = _identity(len(x))
        m[:, 0, 0] = m[:, 1, 1] = 1.0 / s
        return _on(x, pick, lambda sub, idx: warp(sub, m[idx]))


class Shift(Augmentation):
    """``shift``: the window moved by up to ±``x`` and ±``y`` pixels (a system found a few
    pixels off its centre; a note head's window cut off-centre)."""

    name = "shift"
    modality = "sheet"

    @dataclass(frozen=True)
    class Config:
        p: float = 0.5
        x: float = 10.0
        y: float = 8.0

    def apply(self, x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        pick = self.chosen(len(x), rng)
        m = _identity(len(x))
        m[:, 0, 2] = -rng.uniform(-self.config.x, self.config.x, len(x)) * pick
        m[:, 1, 2] = -rng.uniform(-self.config.y, self.config.y, len(x)) * pick
        return _on(x, pick, lambda sub, idx: warp(sub, m[idx]))


class Elastic(Augmentation):
    """``elastic``: a smooth random displacement of up to about ``alpha`` pixels (paper not
    flat on the glass, a curved page near the spine, hand engraving)."""

    name = "elastic"
    modality = "sheet"

    @dataclass(frozen=True)
    class Config:
        p: float = 0.3
        alpha: float = 2.0
        grid: int = 5

    def apply(self, x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        n, _, h, w = x.shape
        pick = self.chosen(n, rng)
        g = max(int(self.config.grid), 2)
        coarse = rng.normal(0.0, self.config.alpha, (n, 2, g, g)).astype(np.float32)

        def change(sub, idx):
            flow = F.interpolate(torch.from_numpy(coarse[idx]), size=(h, w), mode="bicubic",
                                 align_corners=True).permute(0, 2, 3, 1)
            return warp(sub, _identity(len(idx)), flow=flow.to(x.device))

        return _on(x, pick, change)


class Blur(_Ranged):
    """``blur``: a Gaussian blur of ``low``–``high`` pixels (focus, a cheap scanner)."""

    name = "blur"
    modality = "sheet"

    @dataclass(frozen=True)
    class Config:
        p: float = 0.3
        low: float = 0.3
        high: float = 1.2

    def apply(self, x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        pick = self.chosen(len(x), rng)
        sigma = rng.uniform(self.config.low, self.config.high, len(x))
        return _on(x, pick, lambda sub, idx: gaussian_blur(sub, sigma[idx]))


class SheetNoise(_Ranged):
    """``sheet-noise``: Gaussian pixel noise of ``low``–``high`` (ink scale; sensor noise,
    a grainy photo)."""

    name = "sheet-noise"
    modality = "sheet"

    @dataclass(frozen=True)
    class Config:
        p: float = 0.3
        low: float = 0.02
        high: float = 0.12

    def apply(self, x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        pick = self.chosen(len(x), rng)
        sigma = rng.uniform(self.config.low, self.config.high, len(x))
        noise = torch.from_numpy(rng.standard_normal((int(pick.sum()),) + tuple(x.shape[1:]),
                                                     dtype=np.float32))

        def change(sub, idx):
            scale = torch.from_numpy(sigma[idx].astype(np.float32))[:, None, None, None]
            return (sub + (noise * scale).to(x.device)).clamp(0.0, 1.0)

        return _on(x, pick, change)


class Ink(Augmentation):
    """``ink``: strokes thickened (ink bleed) or thinned (faded print) by moving the threshold
    of a slightly blurred window by up to ±``amount``; with probability ``binary`` the result
    is black and white (a 1-bit scan)."""

    name = "ink"
    modality = "sheet"

    @dataclass(frozen=True)
    class Config:
        p: float = 0.3
        amount: float = 0.25
        binary: float = 0.5

    def apply(self, x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        n = len(x)
        pick = self.chosen(n, rng)
        t_all = (0.5 - rng.uniform(-self.config.amount, self.config.amount, n)).astype(np.float32)
        hard_all = rng.random(n) < self.config.binary

        def change(sub, idx):
            soft = gaussian_blur(sub, np.full(len(idx), 0.6))
            t = torch.from_numpy(t_all[idx]).to(x.device)[:, None, None, None]
            hard = torch.from_numpy(hard_all[idx]).to(x.device)[:, None, None, None]
            return torch.where(hard, (soft > t).to(x.dtype), torch.sigmoid((soft - t) * 12.0))

        return _on(x, pick, change)


class Jpeg(Augmentation):
    """``jpeg``: a JPEG round trip at quality ``low``–``high`` (OpenCV's codec; a
    compressed scan or photo)."""

    name = "jpeg"
    modality = "sheet"

    @dataclass(frozen=True)
    class Config:
        p: float = 0.2
        low: int = 20
        high: int = 70

    def __init__(self, **params) -> None:
        super().__init__(**params)
        if not 1 <= self.config.low <= self.config.high <= 100:
            raise ParameterError(f"augmentation 'jpeg': need 1 <= low <= high <= 100, got "
                                 f"low={self.config.low}, high={self.config.high}")

    def apply(self, x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        import cv2

        pick = self.chosen(len(x), rng)
        quality = rng.integers(self.config.low, self.config.high + 1, len(x))
        out = x.clone()
        for i in np.flatnonzero(pick):
            page = np.round(255.0 * (1.0 - x[i, 0].detach().cpu().numpy())).astype(np.uint8)
            ok, buf = cv2.imencode(".jpg", page, [cv2.IMWRITE_JPEG_QUALITY, int(quality[i])])
            if ok:
                back = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE).astype(np.float32)
                out[i, 0] = torch.from_numpy(1.0 - back / 255.0).to(x.device)
        return out


class Paper(Augmentation):
    """``paper``: uneven light (the paper darkened by up to ``light`` across the window, a
    photo's shading) and paper texture (smooth grey blotches of up to ``texture``)."""

    name = "paper"
    modality = "sheet"

    @dataclass(frozen=True)
    class Config:
        p: float = 0.3
        light: float = 0.3
        texture: float = 0.08

    def apply(self, x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        n, _, h, w = x.shape
        pick = self.chosen(n, rng)
        angle = rng.uniform(0, 2 * np.pi, n)
        depth = rng.uniform(0, self.config.light, n)
        coarse = rng.uniform(-1, 1, (n, 1, 6, 8)).astype(np.float32)
        texture = rng.uniform(0, self.config.texture, n)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)

        def change(sub, idx):
            ramp = (np.cos(angle[idx])[:, None, None] * (xx / w - 0.5)
                    + np.sin(angle[idx])[:, None, None] * (yy / h - 0.5)) + 0.5
            dark = depth[idx][:, None, None] * np.clip(ramp, 0, 1)
            blotch = F.interpolate(torch.from_numpy(coarse[idx]), size=(h, w), mode="bilinear",
                                   align_corners=True)[:, 0].numpy()
            blotch *= texture[idx][:, None, None]
            light = torch.from_numpy((1.0 - dark - np.abs(blotch)).astype(np.float32))
            paper = (1.0 - sub) * light[:, None].to(x.device)  # brightness: paper 1, ink 0
            return (1.0 - paper).clamp(0.0, 1.0)

        return _on(x, pick, change)
