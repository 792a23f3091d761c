"""Training an encoder on a rendered dataset: ``ast fit``.

The loop follows seed 003's recipe: Adam (lr 2e-3, batches of 100), epochs of a
fixed number of sampled pairs, validation MRR (audio -> sheet) after every epoch,
early stopping with patience, then refinement rounds that reload the best weights
and halve the learning rate.  Augmentation: sheet windows shifted vertically by up
to ±5 px and scaled by 0.95–1.05, onsets jittered by ±1 frame, and a random
rendition (soundfont × tempo) for every sample.

Reproducibility: the model is initialised from ``seed`` and every epoch draws its
samples and augmentations from a generator seeded with ``(seed, epoch)``, so the
same seed on the same device gives the same weights, and a run resumed from its
last checkpoint continues exactly as if it had not stopped.

The output folder::

    OUT/checkpoint.pt   while training: model, optimiser, log (atomic, every epoch)
    OUT/best.pt         while training: the best weights so far
    OUT/weights.pt      the final (best) weights, CCA head refitted
    OUT/log.jsonl       one line per epoch
    OUT/config.json     written last: encoder, objective, dataset, settings, scores

``config.json`` marks a finished model; the two training files are then removed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from . import __version__, plugins
from .build import atomic_write_text
from .errors import IntegrityError, ParameterError
from .nn import CONFIG_FILE, atomic_torch_save, make_config
from .snippets import embed_pairs, evenly_spaced, rank_metrics, relevant_ranks

__all__ = ["FitConfig", "FitResult", "fit", "fit_config", "pick_device", "augment_sheets"]

CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"
LOG = "log.jsonl"


@dataclass(frozen=True)
class FitConfig:
    """Training settings (defaults: seed 003's recipe).

    Attributes
    ----------
    batch_size : int
    lr : float
        Adam learning rate.
    epoch_samples : int
        Pairs drawn per epoch.
    max_epochs : int
    patience : int
        Epochs without a better validation MRR before a refinement round (or stop).
    refinements : int
        Rounds that reload the best weights and halve the learning rate.
    seed : int
    val_candidates : int
        Validation pairs (evenly spaced) for the per-epoch R@1 / MRR.
    augment : bool
    sheet_shift : float
        Largest vertical shift of a sheet window, pixels.
    sheet_scale : (float, float)
        Range of the sheet window's scale factor.
    audio_jitter : int
        Largest onset shift, frames.
    refit_samples : int
        Training pairs the CCA head is refitted on after training.
    time_limit : float or None
        Minutes of training after which the run stops (and finishes normally);
        None: no limit.
    device : str
        ``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda``, ``cuda:1`` …
    amp : bool
        Mixed precision (bfloat16 autocast) on a GPU; ignored on the CPU.
    """

    batch_size: int = 100
    lr: float = 2e-3
    epoch_samples: int = 10_000
    max_epochs: int = 100
    patience: int = 10
    refinements: int = 2
    seed: int = 0
    val_candidates: int = 1000
    augment: bool = True
    sheet_shift: float = 5.0
    sheet_scale: tuple[float, float] = (0.95, 1.05)
    audio_jitter: int = 1
    refit_samples: int = 10_000
    time_limit: float | None = None
    device: str = "auto"
    amp: bool = True

    def __post_init__(self) -> None:
        for name in ("batch_size", "epoch_samples", "max_epochs", "val_candidates", "refit_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.batch_size < 2:
            raise ValueError("batch_size must be >= 2 (the other pairs of a batch are the negatives)")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.patience < 1 or self.refinements < 0:
            raise ValueError("patience must be >= 1 and refinements >= 0")
        lo, hi = self.sheet_scale
        if not 0 < lo <= hi:
            raise ValueError(f"sheet_scale must be (low, high) with 0 < low <= high, got {self.sheet_scale}")
        if self.time_limit is not None and self.time_limit <= 0:
            raise ValueError(f"time_limit must be > 0 minutes, got {self.time_limit}")


@dataclass
class FitResult:
    """What :func:`fit` did."""

    out: Path
    epochs: int
    best_epoch: int
    valid: dict[str, float]
    seconds: float
    stopped: str
    log: list[dict[str, Any]] = field(default_factory=list)


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else CPU; otherwise the named device, checked."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as exc:
        raise ParameterError(f"unknown device {name!r}: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(f"device {name!r}: no CUDA device here; use --device cpu or auto")
    return dev


def augment_sheets(x: torch.Tensor, rng: np.random.Generator, *, shift: float,
                   scale: tuple[float, float]) -> torch.Tensor:
    """Random vertical shift (pixels) and zoom about the centre of ``[n, 1, h, w]`` windows."""
    n, _, h, _ = x.shape
    s = rng.uniform(scale[0], scale[1], n)
    dy = rng.uniform(-shift, shift, n)
    theta = np.zeros((n, 2, 3), dtype=np.float32)
    theta[:, 0, 0] = 1.0 / s
    theta[:, 1, 1] = 1.0 / s
    theta[:, 1, 2] = -2.0 * dy / h  # content moves down by dy pixels
    grid = F.affine_grid(torch.from_numpy(theta).to(x.device), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _epoch_batches(dataset, table, cfg: FitConfig, epoch: int) -> Iterator[tuple]:
    """The batches of one epoch, drawn from a generator seeded with (seed, epoch)."""
    rng = np.random.default_rng([cfg.seed, epoch])
    n = len(table)
    order = np.concatenate([rng.permutation(n) for _ in range(math.ceil(cfg.epoch_samples / n))])
    order = order[: cfg.epoch_samples]
    for start in range(0, len(order), cfg.batch_size):
        rows = order[start:start + cfg.batch_size]
        if len(rows) < 2:
            break
        if cfg.augment:
            sheets, audio = dataset.batch(table, rows, rng=rng, audio_jitter=cfg.audio_jitter)
            aug = np.random.default_rng(rng.integers(2**63))
        else:
            sheets, audio = dataset.batch(table, rows)
            aug = None
        yield len(rows), sheets, audio, aug


def _prefetch(it: Iterator, size: int = 4) -> Iterator:
    """Run ``it`` in a background thread (batch assembly overlaps the training step)."""
    q: queue.Queue = queue.Queue(maxsize=size)
    done = object()
    stop = threading.Event()

    def worker() -> None:
        try:
            for item in it:
                if stop.is_set():
                    return
                q.put(item)
        except BaseException as exc:  # re-raised in the consumer
            q.put(exc)
        q.put(done)

    t = threading.Thread(target=worker, daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while t.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                t.join(0.05)


def _validate(encoder, dataset, table, index) -> dict[str, float]:
    emb = embed_pairs(encoder, dataset, table, index)
    ranks = relevant_ranks(emb.audio, emb.sheet, emb.sheet_id, emb.sheet_id)
    m = rank_metrics(ranks, ("recall@1", "mrr"))
    return {"r1": m["recall@1"], "mrr": m["mrr"]}


def _run_spec(dataset_root: Path, encoder: str, params: dict, objective: str,
              objective_params: dict, cfg: FitConfig) -> dict[str, Any]:
    fit_cfg = dataclasses.asdict(cfg)
    fit_cfg.pop("time_limit")  # may change on resume
    fit_cfg.pop("device")
    return {
        "dataset": str(dataset_root.resolve()),
        "encoder": encoder,
        "params": params,
        "objective": objective,
        "objective_params": objective_params,
        "fit": json.loads(json.dumps(fit_cfg)),
    }


def fit(dataset_root: str | os.PathLike, out: str | os.PathLike, *, encoder: str = "cnn",
        params: dict[str, Any] | None = None, objective: str = "ranking",
        objective_params: dict[str, Any] | None = None, config: FitConfig | None = None,
        resume: bool = False, dataset_name: str | None = None,
        progress: Callable[[str, dict[str, Any]], None] | None = None) -> FitResult:
    """Train ``encoder`` with ``objective`` on the dataset folder ``dataset_root``.

    Parameters
    ----------
    dataset_root : path
        A folder written by ``ast data render``.
    out : path
        The model folder to write (see the module docstring).
    encoder, objective : str
        Plugin names (``ast plugins list``).
    params, objective_params : dict
        Their hyper-parameters.
    config : FitConfig
    resume : bool
        Continue the unfinished run in ``out`` from its last checkpoint.
    dataset_name : str or None
        Recorded in ``config.json``.
    progress : callable(event, info) or None
        Called with ``"start"``, ``"batch"``, ``"epoch"``, ``"refine"``, ``"refit"``, ``"done"``.
    """
    cfg = config or FitConfig()
    params = dict(params or {})
    objective_params = dict(objective_params or {})
    out = Path(out)
    root = Path(dataset_root)
    say = progress or (lambda event, info: None)

    if (out / CONFIG_FILE).exists():
        raise ParameterError(f"{out}: already holds a trained model; choose another --out")
    ckpt_path = out / CHECKPOINT
    if ckpt_path.exists() and not resume:
        raise ParameterError(
            f"{out}: holds an unfinished training run; pass --resume to continue it, "
            "or choose another --out"
        )
    if resume and not ckpt_path.exists():
        raise ParameterError(f"{out}: nothing to resume (no {CHECKPOINT})")

    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    enc = plugins.create("encoders", encoder, **params)
    obj = plugins.create("objectives", objective, **objective_params)
    if obj.cca != "none":
        enc.set_head("cca")

    ds = plugins.create("datasets", "rendered", root=root, sheet_shape=enc.sheet_window,
                        audio_context=enc.audio_shape[1])
    bins = ds.spectrogram_bins
    if bins != enc.audio_shape[0]:
        hint = ("render a dataset with seed 001's spectrogram (136 bins, 31.25 frames/s), "
                "e.g. `ast data render folk-dcca`, or pass --param audio_bins="
                f"{bins}") if encoder == "dcca" else f"pass --param audio_bins={bins}"
        raise ParameterError(
            f"encoder {encoder!r} takes {enc.audio_shape[0]}-bin spectrograms but {root} has "
            f"{bins} bins; {hint}"
        )
    train = ds.pair_table("train")
    valid = ds.pair_table("valid")
    if len(train) < cfg.batch_size:
        raise ParameterError(f"{root}: only {len(train)} training pairs, fewer than a batch "
                             f"({cfg.batch_size})")
    if len(valid) < 2:
        raise ParameterError(f"{root}: the valid split has {len(valid)} pairs; need >= 2")
    val_index = evenly_spaced(len(valid), cfg.val_candidates)

    enc.to(device)
    obj.to(device)
    trainable = list(enc.parameters()) + list(obj.parameters())
    optim = torch.optim.Adam(trainable, lr=cfg.lr)
    spec = _run_spec(root, encoder, dataclasses.asdict(enc.config), objective,
                     objective_params, cfg)

    state = {"epoch": 0, "best_mrr": -1.0, "best_epoch": 0, "bad": 0, "refinement": 0,
             "lr": cfg.lr, "seconds": 0.0, "log": [], "stopped": ""}
    if resume:
        try:
            ck = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise IntegrityError(f"{ckpt_path}: cannot read checkpoint: {type(exc).__name__}: {exc}") from None
        if ck.get("format") != 1 or ck.get("toolkit_version") != __version__:
            raise IntegrityError(
                f"{ckpt_path}: written by toolkit {ck.get('toolkit_version')!r} "
                f"(format {ck.get('format')!r}); this is {__version__}: start a new run"
            )
        if ck["spec"] != spec:
            diff = [k for k in spec if spec[k] != ck["spec"].get(k)]
            raise ParameterError(
                f"{ckpt_path}: the run was started with other settings ({', '.join(diff)}): "
                f"was {[ck['spec'].get(k) for k in diff]}, now {[spec[k] for k in diff]}"
            )
        enc.load_state_dict(ck["model"])
        obj.load_state_dict(ck["objective"])
        optim.load_state_dict(ck["optimizer"])
        state = ck["state"]
        say("resume", {"epoch": state["epoch"]})
    out.mkdir(parents=True, exist_ok=True)

    amp = cfg.amp and device.type == "cuda"
    say("start", {"device": str(device), "amp": amp, "train_pairs": len(train),
                  "valid_pairs": len(val_index), "epochs": cfg.max_epochs,
                  "epoch_samples": cfg.epoch_samples, "parameters": sum(p.numel() for p in trainable)})
    started = time.monotonic() - state["seconds"]
    limit = cfg.time_limit * 60 if cfg.time_limit else None

    def set_lr(lr: float) -> None:
        for g in optim.param_groups:
            g["lr"] = lr

    set_lr(state["lr"])
    while not state["stopped"]:
        epoch = state["epoch"] + 1
        enc.train()
        t0 = time.monotonic()
        losses, seen, skipped = [], 0, 0
        for n, sheets, audio, aug in _prefetch(_epoch_batches(ds, train, cfg, epoch)):
            xs = torch.from_numpy(sheets)[:, None].to(device)
            xa = torch.from_numpy(audio)[:, None].to(device)
            if aug is not None:
                xs = augment_sheets(xs, aug, shift=cfg.sheet_shift, scale=cfg.sheet_scale)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                s = enc.sheet_features(xs)
                a = enc.audio_features(xa)
            s, a = s.float(), a.float()
            if obj.cca == "train":
                try:
                    s, a = enc.head(s, a)
                except torch.linalg.LinAlgError:
                    skipped += 1  # a degenerate batch: its covariance has no usable inverse
                    continue
            elif obj.cca == "refit":
                enc.head(s.detach(), a.detach())  # running statistics only
            loss = obj.loss(s, a)
            if not torch.isfinite(loss):
                skipped += 1  # a degenerate batch (e.g. singular covariance): skip it
                optim.zero_grad(set_to_none=True)
                continue
            optim.zero_grad(set_to_none=True)
            loss.backward()
            # One reduction (one device sync) for all gradients.
            if not torch.isfinite(torch.nn.utils.clip_grad_norm_(trainable, float("inf"))):
                skipped += 1  # e.g. the SVD gradient of near-equal canonical correlations
                optim.zero_grad(set_to_none=True)
                continue
            optim.step()
            losses.append(float(loss.detach()))
            seen += n
            say("batch", {"epoch": epoch, "done": seen, "total": cfg.epoch_samples,
                          "loss": float(np.mean(losses[-20:]))})
            if limit and time.monotonic() - started > limit:
                state["stopped"] = "time limit"
                break
        train_s = time.monotonic() - t0
        val = _validate(enc, ds, valid, val_index)
        entry = {"epoch": epoch, "lr": state["lr"], "loss": float(np.mean(losses)) if losses else None,
                 "pairs": seen, "skipped_batches": skipped, "pairs_per_s": seen / max(train_s, 1e-9),
                 "valid_r1": val["r1"], "valid_mrr": val["mrr"], "seconds": time.monotonic() - t0}
        state["log"].append(entry)
        state["epoch"] = epoch
        improved = val["mrr"] > state["best_mrr"]
        if improved:
            state.update(best_mrr=val["mrr"], best_epoch=epoch, bad=0)
            atomic_torch_save({"model": enc.state_dict(), "objective": obj.state_dict()}, out / BEST)
        else:
            state["bad"] += 1
        if not state["stopped"]:
            if epoch >= cfg.max_epochs:
                state["stopped"] = "max epochs"
            elif state["bad"] >= cfg.patience:
                if state["refinement"] < cfg.refinements:
                    best = torch.load(out / BEST, map_location="cpu", weights_only=True)
                    enc.load_state_dict(best["model"])
                    obj.load_state_dict(best["objective"])
                    state["refinement"] += 1
                    state["lr"] /= 2
                    state["bad"] = 0
                    set_lr(state["lr"])
                    optim.state.clear()  # fresh moments for the new learning rate
                    say("refine", {"round": state["refinement"], "lr": state["lr"]})
                else:
                    state["stopped"] = "early stopping"
        state["seconds"] = time.monotonic() - started
        entry["best"] = improved
        say("epoch", {**entry, "best_mrr": state["best_mrr"], "best_epoch": state["best_epoch"]})
        atomic_torch_save({"format": 1, "toolkit_version": __version__, "spec": spec,
                           "model": enc.state_dict(), "objective": obj.state_dict(),
                           "optimizer": optim.state_dict(), "state": state}, ckpt_path)

    # -- finish: best weights, CCA refit, final validation, model folder ----------------
    best = torch.load(out / BEST, map_location="cpu", weights_only=True)
    enc.load_state_dict(best["model"])
    obj.load_state_dict(best["objective"])
    refit = None
    if enc.head is not None:
        say("refit", {"samples": min(cfg.refit_samples, len(train))})
        rows = evenly_spaced(len(train), cfg.refit_samples)
        feats_s, feats_a = [], []
        enc.eval()
        with torch.no_grad():
            for i in range(0, len(rows), 500):
                s, a = ds.batch(train, rows[i:i + 500])
                feats_s.append(enc.sheet_features(torch.from_numpy(s).to(device)).float())
                feats_a.append(enc.audio_features(torch.from_numpy(a).to(device)).float())
        corr = enc.head.fit(torch.cat(feats_s), torch.cat(feats_a))
        refit = {"samples": len(rows), "correlation": float(corr.sum())}
    val = _validate(enc, ds, valid, val_index)
    enc.cpu()
    extra = {
        "objective": objective,
        "objective_params": objective_params,
        "dataset": {"name": dataset_name, "root": str(root.resolve()), "spectrogram_bins": bins,
                    "spectrogram": ds.spec.get("spectrogram", {})},
        "fit": {**dataclasses.asdict(cfg), "device": str(device), "amp": amp},
        "training": {"epochs": state["epoch"], "best_epoch": state["best_epoch"],
                     "stopped": state["stopped"], "seconds": round(state["seconds"], 1),
                     "cca_refit": refit, "valid": val, "valid_candidates": int(len(val_index))},
    }
    atomic_write_text(out / LOG, "".join(json.dumps(e) + "\n" for e in state["log"]))
    enc.save(out, extra=extra)  # weights.pt, then config.json: the completion mark
    for name in (CHECKPOINT, BEST):
        (out / name).unlink(missing_ok=True)
    result = FitResult(out, state["epoch"], state["best_epoch"], val, state["seconds"],
                       state["stopped"], state["log"])
    say("done", {"valid": val, "epochs": state["epoch"], "best_epoch": state["best_epoch"],
                 "stopped": state["stopped"], "seconds": state["seconds"]})
    return result


def fit_config(**options: Any) -> FitConfig:
    """A :class:`FitConfig` from keyword options (None values keep defaults)."""
    return make_config(FitConfig, {k: v for k, v in options.items() if v is not None},
                       what="fit")

