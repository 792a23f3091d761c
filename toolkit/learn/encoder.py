"""The torch base of encoders: :class:`TorchEncoder`.

Two pathways, an optional CCA projection head (:mod:`ast_toolkit.learn.cca`),
batched numpy embedding, and the model-folder format (``config.json`` +
``weights.pt``, :mod:`ast_toolkit.learn.modelfile`) with checks on load.  The
interfaces (:mod:`ast_toolkit.interfaces`) stay numpy-only; this module is what
a torch-based encoder plugin builds on, and what ``ast fit`` trains.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from abc import abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import __version__
from ..config import make_config
from ..errors import IntegrityError, ParameterError, ToolkitError
from ..interfaces import Encoder
from ..io import atomic_path, atomic_write_text, sha256
from .cca import CCAProjection
from .modelfile import CONFIG_FILE, MODEL_FORMAT, WEIGHTS_FILE, read_model_config

__all__ = ["TorchEncoder", "atomic_torch_save", "check_finite", "read_checkpoint"]


# --- encoders -----------------------------------------------------------------------


#: First bytes of a checked torch file: the magic, then the sha256 (hex) of the rest.
CHECKED_MAGIC = b"AST-CHECKED-TORCH-1\n"


def atomic_torch_save(obj: Any, path: Path, *, checked: bool = False) -> None:
    """``torch.save`` to a temporary name, then rename: never a half-written file.

    ``checked``: the file starts with :data:`CHECKED_MAGIC` and the sha256 of
    the torch payload after it, so :func:`read_checkpoint` refuses flipped
    bytes (a training checkpoint has no other file to record its checksum in).

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "state.pt"
    >>> atomic_torch_save({"step": torch.tensor(3)}, path)
    >>> int(torch.load(path, weights_only=True)["step"])
    3
    >>> atomic_torch_save({"step": torch.tensor(3)}, path, checked=True)
    >>> int(read_checkpoint(path)["step"])
    3
    """
    import io

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    payload = buffer.getvalue()
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            if checked:
                fh.write(CHECKED_MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n")
            fh.write(payload)


def read_checkpoint(path: str | os.PathLike, *, keys: tuple[str, ...] = (),
                    what: str = "checkpoint") -> dict[str, Any]:
    """Read a torch file the toolkit wrote (never unpickling code: ``weights_only``).

    A missing, truncated or damaged file, one that is not a dict, or one
    without ``keys`` raises one :class:`IntegrityError` naming the file.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "checkpoint.pt"
    >>> atomic_torch_save({"model": {"w": torch.ones(2)}}, path)
    >>> sorted(read_checkpoint(path, keys=("model",)))
    ['model']
    >>> _ = path.write_bytes(path.read_bytes()[:100])  # truncated
    >>> read_checkpoint(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.IntegrityError: .../checkpoint.pt: cannot read checkpoint (damaged or truncated): ...
    """
    import io

    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise IntegrityError(f"{path}: missing") from None
    except OSError as exc:
        raise IntegrityError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if raw.startswith(CHECKED_MAGIC):
        head = len(CHECKED_MAGIC)
        digest, payload = raw[head:head + 64].decode("ascii", "replace"), raw[head + 65:]
        if hashlib.sha256(payload).hexdigest() != digest:
            raise IntegrityError(f"{path}: content differs from its checksum (the {what} is "
                                 "damaged or truncated)")
        raw = payload
    try:
        data = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle / zip / unsafe-global errors of a damaged file
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise IntegrityError(f"{path}: cannot read {what} (damaged or truncated): {detail}") from None
    if not isinstance(data, dict):
        raise IntegrityError(f"{path}: holds a {type(data).__name__}, not the {what} this "
                             "toolkit writes")
    absent = [k for k in keys if k not in data]
    if absent:
        raise IntegrityError(f"{path}: no {', '.join(absent)} in the {what}: not one this toolkit "
                             "wrote")
    return data


def check_finite(state: dict[str, torch.Tensor], origin: str) -> None:
    """Refuse a state dict holding NaN or inf (a damaged file, or a diverged run).

    Examples
    --------
    >>> check_finite({"w": torch.ones(3), "b": torch.tensor([0.0, float("nan")])}, "weights.pt")
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.IntegrityError: weights.pt: 1 non-finite value (NaN or inf) in b; the weights are damaged or training diverged
    """
    bad = {k: int((~torch.isfinite(v)).sum()) for k, v in state.items()
           if torch.is_tensor(v) and v.is_floating_point() and not torch.isfinite(v).all()}
    if bad:
        total = sum(bad.values())
        names = ", ".join(list(bad)[:4]) + (" …" if len(bad) > 4 else "")
        raise IntegrityError(f"{origin}: {total} non-finite value{'s' if total > 1 else ''} "
                             f"(NaN or inf) in {names}; the weights are damaged or training diverged")


class TorchEncoder(Encoder, nn.Module):
    """Base of torch encoders: two pathways into a ``dim``-d space, L2-normalised.

    A subclass sets :attr:`name` (its plugin name) and :attr:`Config` (a frozen
    dataclass with at least ``sheet_window``, ``sheet_scale``, ``audio_bins``,
    ``audio_context`` and ``dim``), and builds ``self.sheet_net`` and
    ``self.audio_net`` in :meth:`build`; each maps ``[n, 1, h, w]`` to ``[n, dim]``.

    Sheet snippets enter at :attr:`sheet_window` (the window cut from the score,
    1 = ink) and are downscaled by ``sheet_scale`` (area interpolation: at ×0.5
    the same as the bilinear ``cv2.resize`` of the authors' code) to
    :attr:`sheet_shape`; a config with ``sheet_polarity = "paper"`` turns them
    into 1 = paper first.

    Examples
    --------
    >>> from ast_toolkit import plugins
    >>> enc = plugins.create("encoders", "cnn", filters=[8, 16, 16, 16], head="cca")
    >>> isinstance(enc, TorchEncoder), enc.head_name, enc.sheet_shape, enc.audio_shape
    (True, 'cca', (80, 100), (92, 42))
    >>> z = enc.embed_sheet(np.zeros((2, 160, 200)))
    >>> z.shape, np.linalg.norm(z, axis=1).round(3).tolist()
    ((2, 32), [1.0, 1.0])
    >>> enc.embed_audio(np.zeros((1, 92, 40)))
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.ParameterError: encoder 'cnn': spectrogram excerpts must be (92, 42) (bins, frames), got (92, 40)
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
        if c.dim < 1 or any(f < 1 for f in getattr(c, "filters", (1,))):
            raise ParameterError(f"encoder {self.name!r}: dim and filters must be >= 1, got dim="
                                 f"{c.dim}, filters={getattr(c, 'filters', None)}")
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

    @abstractmethod
    def build(self) -> None:
        """Create ``self.sheet_net`` and ``self.audio_net`` from :attr:`config`."""

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
        if getattr(self.config, "sheet_polarity", "ink") == "paper":
            images = 1.0 - images
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
        # config.json records the weights' checksum: a damaged weights.pt is refused on load
        cfg = {**self.describe(), **(extra or {}), "weights_sha256": sha256(path / WEIGHTS_FILE)}
        atomic_write_text(path / CONFIG_FILE, json.dumps(cfg, indent=2) + "\n")

    @classmethod
    def from_config(cls, cfg: dict[str, Any], *, origin: str = "config") -> TorchEncoder:
        if cfg.get("encoder") != cls.name:
            raise IntegrityError(
                f"{origin}: this model was trained with encoder {cfg.get('encoder')!r}; "
                f"it cannot be loaded as {cls.name!r}"
            )
        params = dict(cfg.get("params", {}))
        try:
            return cls(**params, head=cfg.get("head", "none"))
        except (ToolkitError, TypeError, ValueError) as exc:
            raise IntegrityError(f"{origin}: the recorded settings do not make a {cls.name!r} "
                                 f"encoder: {exc}") from None

    def load_weights(self, file: Path) -> None:
        """Load a ``state_dict`` saved by this toolkit (``weights_only=True``)."""
        state = read_checkpoint(file, what="weights")
        if not all(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()):
            raise IntegrityError(f"{file}: not a dict of named tensors")
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
        check_finite(state, str(file))
        self.load_state_dict(state)

    @classmethod
    def load(cls, path: Path) -> TorchEncoder:
        path = Path(path)
        cfg = read_model_config(path)
        model = cls.from_config(cfg, origin=str(path / CONFIG_FILE))
        want = cfg.get("weights_sha256")
        if want is not None and (path / WEIGHTS_FILE).is_file() \
                and sha256(path / WEIGHTS_FILE) != want:
            raise IntegrityError(f"{path / WEIGHTS_FILE}: content differs from the checksum in "
                                 f"{CONFIG_FILE}: the file is damaged; copy the model again or "
                                 "retrain it")
        model.load_weights(path / WEIGHTS_FILE)
        model.eval()
        return model
