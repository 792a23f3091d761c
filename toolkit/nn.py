"""PyTorch machinery shared by encoder and objective plugins.

* :class:`TorchEncoder` — the base of every bundled encoder: two pathways, an
  optional CCA projection head, batched numpy embedding, and the model-folder
  format (``config.json`` + ``weights.pt``) with checks on load;
* :class:`CCAProjection` — the CCA layer of Dorfer et al. (seed 003): batch-wise
  CCA with ε·I regularisation, running statistics, and a refit on a large sample;
* :func:`canonical_correlations` — the singular values of
  ``T = Σxx^-1/2 Σxy Σyy^-1/2``, whose sum is DCCA's objective (seed 001);
* :func:`make_config` — typed hyper-parameters from keyword arguments or CLI strings.

The interfaces (:mod:`toolkit.interfaces`) stay numpy-only; this module is what a
torch-based plugin builds on.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import __version__
from .build import atomic_path, atomic_write_text
from .config import make_config, parse_param  # noqa: F401  (re-exported)
from .errors import IntegrityError, ParameterError
from .interfaces import Encoder

__all__ = [
    "MODEL_FORMAT",
    "TorchEncoder",
    "CCAProjection",
    "canonical_correlations",
    "make_config",
    "parse_param",
    "read_model_config",
    "atomic_torch_save",
]

#: Version of the model-folder format written by :meth:`TorchEncoder.save`.
MODEL_FORMAT = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.pt"


# --- CCA -----------------------------------------------------------------------------


def _covariances(x: torch.Tensor, y: torch.Tensor, eps: float):
    n = x.shape[0]
    mx, my = x.mean(0), y.mean(0)
    xc, yc = x - mx, y - my
    eye_x = torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
    eye_y = torch.eye(y.shape[1], dtype=y.dtype, device=y.device)
    sxx = xc.T @ xc / (n - 1) + eps * eye_x
    syy = yc.T @ yc / (n - 1) + eps * eye_y
    sxy = xc.T @ yc / (n - 1)
    return mx, my, sxx, syy, sxy


def _inv_sqrt(m: torch.Tensor) -> torch.Tensor:
    """``m^-1/2`` of a symmetric positive definite matrix."""
    w, v = torch.linalg.eigh(m)
    w = w.clamp_min(torch.finfo(m.dtype).eps * w.max().abs().clamp_min(1.0) * 10)
    return (v * w.rsqrt()) @ v.T


def _whitened_cross(sxx, syy, sxy):
    ix, iy = _inv_sqrt(sxx), _inv_sqrt(syy)
    return ix, iy, ix @ sxy @ iy


def canonical_correlations(x: torch.Tensor, y: torch.Tensor, *, eps: float = 1e-4) -> torch.Tensor:
    """Canonical correlations of two views, differentiably.

    Parameters
    ----------
    x, y : torch.Tensor [shape=(n, d)]
        Paired samples (rows) of the two views; computed in float64.
    eps : float
        Ridge ``ε·I`` added to both auto-covariances.

    Returns
    -------
    torch.Tensor [shape=(d,)], float64
        Singular values of ``T = Σxx^-1/2 Σxy Σyy^-1/2``, largest first; their sum
        is the trace norm ``||T||_tr`` that DCCA maximises.
    """
    if x.ndim != 2 or x.shape != y.shape or x.shape[0] < 2:
        raise ParameterError(f"need two [n >= 2, d] views of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    _, _, sxx, syy, sxy = _covariances(x.double(), y.double(), eps)
    return torch.linalg.svdvals(_whitened_cross(sxx, syy, sxy)[2])


class CCAProjection(nn.Module):
    """The CCA layer (Dorfer et al., 2018): projects both views onto canonical directions.

    In training mode, :meth:`forward` computes CCA on the batch (so a loss on the
    projected views back-propagates through the analytic projections) and updates
    running means and covariances.  In eval mode it projects with the projections
    derived from the running statistics — or, after :meth:`fit`, from an exact
    computation on a large sample, which is what the trainer does once training ends.

    Parameters
    ----------
    dim : int
        Dimension of both views.
    eps : float
        Ridge ``ε·I`` on the auto-covariances.
    momentum : float
        Weight of each batch in the running statistics.
    """

    def __init__(self, dim: int, *, eps: float = 1e-3, momentum: float = 0.05) -> None:
        super().__init__()
        self.dim, self.eps, self.momentum = int(dim), float(eps), float(momentum)
        f64 = dict(dtype=torch.float64)
        self.register_buffer("mean_x", torch.zeros(dim, **f64))
        self.register_buffer("mean_y", torch.zeros(dim, **f64))
        self.register_buffer("cov_xx", torch.eye(dim, **f64))
        self.register_buffer("cov_yy", torch.eye(dim, **f64))
        self.register_buffer("cov_xy", torch.zeros(dim, dim, **f64))
        self.register_buffer("proj_x", torch.eye(dim, **f64))
        self.register_buffer("proj_y", torch.eye(dim, **f64))
        self.register_buffer("n_seen", torch.zeros((), dtype=torch.int64))

    @staticmethod
    def _projections(sxx, syy, sxy):
        ix, iy, t = _whitened_cross(sxx, syy, sxy)
        u, _, vh = torch.linalg.svd(t)
        return ix @ u, iy @ vh.T

    @torch.no_grad()
    def _set_stats(self, mx, my, sxx, syy, sxy, *, blend: float) -> None:
        for buf, val in ((self.mean_x, mx), (self.mean_y, my), (self.cov_xx, sxx),
                         (self.cov_yy, syy), (self.cov_xy, sxy)):
            buf.mul_(1 - blend).add_(blend * val.detach())
        px, py = self._projections(self.cov_xx, self.cov_yy, self.cov_xy)
        self.proj_x.copy_(px)
        self.proj_y.copy_(py)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Project a batch of pairs; returns the two projected views (float32)."""
        if not self.training:
            return self.project_x(x), self.project_y(y)
        mx, my, sxx, syy, sxy = _covariances(x.double(), y.double(), self.eps)
        px, py = self._projections(sxx, syy, sxy)
        blend = 1.0 if int(self.n_seen) == 0 else self.momentum
        self._set_stats(mx, my, sxx, syy, sxy, blend=blend)
        self.n_seen += x.shape[0]
        return ((x.double() - mx) @ px).to(x.dtype), ((y.double() - my) @ py).to(y.dtype)

    def project_x(self, x: torch.Tensor) -> torch.Tensor:
        return ((x.double() - self.mean_x) @ self.proj_x).to(x.dtype)

    def project_y(self, y: torch.Tensor) -> torch.Tensor:
        return ((y.double() - self.mean_y) @ self.proj_y).to(y.dtype)

    @torch.no_grad()
    def fit(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Exact CCA on a (large) sample; returns its canonical correlations."""
        mx, my, sxx, syy, sxy = _covariances(x.double(), y.double(), self.eps)
        self._set_stats(mx, my, sxx, syy, sxy, blend=1.0)
        self.n_seen.fill_(x.shape[0])
        return torch.linalg.svdvals(_whitened_cross(sxx, syy, sxy)[2])


# --- encoders -----------------------------------------------------------------------


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary name, then rename: never a half-written file."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def read_model_config(path: str | os.PathLike) -> dict[str, Any]:
    """The ``config.json`` of a model folder, checked for format; raises IntegrityError."""
    folder = Path(path)
    cfg_path = folder / CONFIG_FILE
    if not folder.is_dir():
        raise IntegrityError(f"{folder}: no such model folder")
    try:
        cfg = json.loads(cfg_path.read_text())
    except FileNotFoundError:
        raise IntegrityError(
            f"{folder}: not a model folder (no {CONFIG_FILE}); a training run that "
            "did not finish can be continued with `ast fit ... --resume`"
        ) from None
    except (OSError, ValueError) as exc:
        raise IntegrityError(f"{cfg_path}: cannot read: {exc}") from None
    fmt = cfg.get("format")
    if fmt != MODEL_FORMAT:
        raise IntegrityError(
            f"{cfg_path}: model format {fmt!r}; this toolkit ({__version__}) reads format {MODEL_FORMAT}"
        )
    if not isinstance(cfg.get("encoder"), str):
        raise IntegrityError(f"{cfg_path}: no encoder name")
    return cfg


class TorchEncoder(Encoder, nn.Module):
    """Base of torch encoders: two pathways into a ``dim``-d space, L2-normalised.

    A subclass sets :attr:`name` (its plugin name) and :attr:`Config` (a frozen
    dataclass with at least ``sheet_window``, ``sheet_scale``, ``audio_bins``,
    ``audio_context`` and ``dim``), and builds ``self.sheet_net`` and
    ``self.audio_net`` in :meth:`build`; each maps ``[n, 1, h, w]`` to ``[n, dim]``.

    Sheet snippets enter at :attr:`sheet_window` (the window cut from the score)
    and are downscaled by ``sheet_scale`` (area interpolation) to :attr:`sheet_shape`.
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type]

    def __init__(self, **params: Any) -> None:
        nn.Module.__init__(self)
        head = params.pop("head", None)
        self.config = make_config(self.Config, params, what=f"encoder {self.name!r}")
        c = self.config
        self.sheet_window = tuple(c.sheet_window)
        self.sheet_shape = (round(c.sheet_window[0] * c.sheet_scale),
                            round(c.sheet_window[1] * c.sheet_scale))
        self.audio_shape = (c.audio_bins, c.audio_context)
        self.dim = c.dim
        if min(self.sheet_shape) < 16 or min(self.audio_shape) < 16:
            raise ParameterError(
                f"encoder {self.name!r}: inputs too small for four 2x2 poolings: sheet "
                f"{self.sheet_shape}, audio {self.audio_shape}"
            )
        self.head: CCAProjection | None = None
        self.build()
        if head is not None:
            self.set_head(head)
        # channels_last: about 1.6x faster convolutions on CPU (measured on the cnn).
        self.to(memory_format=torch.channels_last)

    def build(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- the head --------------------------------------------------------------------

    @property
    def head_name(self) -> str:
        return "cca" if self.head is not None else "none"

    def set_head(self, name: str) -> None:
        """``"cca"`` adds a :class:`CCAProjection` after both pathways; ``"none"`` removes it."""
        if name == "cca":
            self.head = CCAProjection(self.dim)
        elif name == "none":
            self.head = None
        else:
            raise ParameterError(f"head must be 'cca' or 'none', got {name!r}")

    # -- torch forward ---------------------------------------------------------------

    def _checked(self, x: torch.Tensor, shape: tuple[int, int], what: str,
                 axes: str) -> torch.Tensor:
        """``[n, a, b]`` or ``[n, 1, a, b]`` -> ``[n, 1, a, b]``, refusing another ``(a, b)``."""
        if x.ndim == 3:
            x = x[:, None]
        if tuple(x.shape[-2:]) != shape:
            raise ParameterError(
                f"encoder {self.name!r}: {what} must be {shape} {axes}, got {tuple(x.shape[-2:])}")
        return x

    def sheet_input(self, images: torch.Tensor) -> torch.Tensor:
        """``[n, h, w]`` or ``[n, 1, h, w]`` windows -> the sheet pathway's input."""
        images = self._checked(images, self.sheet_window, "sheet snippets",
                               "pixels (height, width)")
        if self.sheet_shape != self.sheet_window:
            images = F.interpolate(images, size=self.sheet_shape, mode="area")
        return images.contiguous(memory_format=torch.channels_last)

    def audio_input(self, spectrograms: torch.Tensor) -> torch.Tensor:
        """``[n, bins, frames]`` or ``[n, 1, bins, frames]`` -> the audio pathway's input."""
        spectrograms = self._checked(spectrograms, self.audio_shape, "spectrogram excerpts",
                                     "(bins, frames)")
        return spectrograms.contiguous(memory_format=torch.channels_last)

    def sheet_features(self, images: torch.Tensor) -> torch.Tensor:
        """Un-normalised sheet pathway output ``[n, dim]`` (before the head)."""
        return self.sheet_net(self.sheet_input(images))

    def audio_features(self, spectrograms: torch.Tensor) -> torch.Tensor:
        """Un-normalised audio pathway output ``[n, dim]`` (before the head)."""
        return self.audio_net(self.audio_input(spectrograms))

    def forward(self, images: torch.Tensor, spectrograms: torch.Tensor):
        """Both pathways and the head (batch CCA in training mode); not yet normalised."""
        s, a = self.sheet_features(images), self.audio_features(spectrograms)
        if self.head is not None:
            s, a = self.head(s, a)
        return s, a

    # -- numpy embedding -------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @torch.no_grad()
    def _embed(self, arrays: np.ndarray, features, project, batch_size: int) -> np.ndarray:
        was_training = self.training
        self.eval()
        try:
            arrays = np.asarray(arrays, dtype=np.float32)
            out = []
            for i in range(0, len(arrays), batch_size):
                x = torch.from_numpy(arrays[i:i + batch_size]).to(self.device)
                z = features(x).float()
                if self.head is not None:
                    z = project(z)
                out.append(F.normalize(z, dim=1).cpu().numpy())
            if not out:
                return np.zeros((0, self.dim), dtype=np.float32)
            return np.concatenate(out).astype(np.float32)
        finally:
            self.train(was_training)

    def embed_sheet(self, images: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
        return self._embed(images, self.sheet_features,
                           self.head.project_x if self.head is not None else None, batch_size)

    def embed_audio(self, spectrograms: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
        return self._embed(spectrograms, self.audio_features,
                           self.head.project_y if self.head is not None else None, batch_size)

    # -- model folder ----------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """What ``config.json`` records about the encoder itself."""
        return {
            "format": MODEL_FORMAT,
            "encoder": self.name,
            "params": dataclasses.asdict(self.config),
            "head": self.head_name,
            "sheet_window": list(self.sheet_window),
            "sheet_shape": list(self.sheet_shape),
            "audio_shape": list(self.audio_shape),
            "dim": self.dim,
            "toolkit_version": __version__,
            "torch_version": torch.__version__,
        }

    def save(self, path: Path, *, extra: dict[str, Any] | None = None) -> None:
        """Write ``config.json`` and ``weights.pt`` into the folder ``path`` (atomically each)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        atomic_torch_save({k: v.detach().cpu() for k, v in self.state_dict().items()},
                          path / WEIGHTS_FILE)
        cfg = {**self.describe(), **(extra or {})}
        atomic_write_text(path / CONFIG_FILE, json.dumps(cfg, indent=2) + "\n")

    @classmethod
    def from_config(cls, cfg: dict[str, Any], *, origin: str = "config") -> TorchEncoder:
        if cfg.get("encoder") != cls.name:
            raise IntegrityError(
                f"{origin}: this model was trained with encoder {cfg.get('encoder')!r}; "
                f"it cannot be loaded as {cls.name!r}"
            )
        params = dict(cfg.get("params", {}))
        return cls(**params, head=cfg.get("head", "none"))

    def load_weights(self, file: Path) -> None:
        """Load a ``state_dict`` saved by this toolkit (``weights_only=True``)."""
        try:
            state = torch.load(file, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise IntegrityError(f"{file}: missing") from None
        except Exception as exc:  # pickle / zip errors of a damaged file
            raise IntegrityError(f"{file}: cannot read weights: {type(exc).__name__}: {exc}") from None
        mine = self.state_dict()
        missing = sorted(set(mine) - set(state))
        unexpected = sorted(set(state) - set(mine))
        shapes = [k for k in mine if k in state and tuple(state[k].shape) != tuple(mine[k].shape)]
        if missing or unexpected or shapes:
            detail = "; ".join(
                f"{what}: {', '.join(keys[:4])}{' …' if len(keys) > 4 else ''}"
                for what, keys in (("missing", missing), ("unexpected", unexpected),
                                   ("other shape", shapes)) if keys
            )
            raise IntegrityError(
                f"{file}: weights do not fit encoder {self.name!r} with {self.config} ({detail})"
            )
        self.load_state_dict(state)

    @classmethod
    def load(cls, path: Path) -> TorchEncoder:
        path = Path(path)
        cfg = read_model_config(path)
        model = cls.from_config(cfg, origin=str(path / CONFIG_FILE))
        model.load_weights(path / WEIGHTS_FILE)
        model.eval()
        return model
