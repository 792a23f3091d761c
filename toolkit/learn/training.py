"""Training an encoder on aligned sheet/audio pairs: ``ast fit``.

The loop follows [Dorfer et al. 2018a]'s recipe
(:data:`ast_toolkit.references.DORFER2018_TISMIR`): Adam (lr 2e-3, batches of
100), epochs of a fixed number of sampled pairs, validation MRR (audio -> sheet)
after every epoch, early stopping with patience, then refinement rounds that
reload the best weights and halve the learning rate.  Augmentation: sheet
windows shifted vertically by up to ±5 px and scaled by 0.95–1.05, onsets
jittered by ±1 frame, and a random rendition (soundfont × tempo) for every
sample.

A run is a :class:`Trainer` taking named steps over a typed :class:`TrainState`:
:meth:`~Trainer.resume`, :meth:`~Trainer.train_epoch`,
:meth:`~Trainer.validate` (early stopping and refinement),
:meth:`~Trainer.checkpoint`, :meth:`~Trainer.refit_head` and
:meth:`~Trainer.finish`.  What differs per plugin is declared by the plugin:
an objective's :attr:`~ast_toolkit.interfaces.Objective.cca` says whether the
encoder gets a CCA head and how it is trained.

Reproducibility: the model is initialised from ``seed`` and every epoch draws its
samples and augmentations from a generator seeded with ``(seed, epoch)``, so the
same seed on the same device gives the same weights, and a run resumed from its
last checkpoint continues exactly as if it had not stopped.

The output folder::

    OUT/checkpoint.pt   while training: model, optimiser, state (atomic, every epoch)
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
import shutil
import threading
import time
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .. import __version__, plugins
from ..catalog import Registry, register_model, resolve_model_dir
from ..config import make_config
from ..data.datasets import open_dataset, warn_on_frame_timing
from ..errors import IntegrityError, ParameterError
from ..evaluation.snippets import embed_pairs, evenly_spaced, rank_metrics, relevant_ranks
from ..interfaces import Dataset
from ..io import atomic_write_text, writes_folder
from ..progress import Progress, Reporter
from ..types import PairTable
from .augment import VARIANTS_DIR, Augmenter, make_variants
from .encoder import atomic_torch_save, check_finite, read_checkpoint
from .modelfile import CONFIG_FILE, LOG_FILE, WEIGHTS_FILE, model_fingerprint, read_model_config
from .reference import REFERENCE_ROWS, save_reference

__all__ = ["FitConfig", "FitResult", "TrainState", "Trainer", "fit", "fit_config", "pick_device",
           "cpu_bfloat16",
           "augment_sheets"]

CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"
#: Version of the checkpoint layout.
CHECKPOINT_FORMAT = 1


@dataclass(frozen=True)
class FitConfig:
    """Training settings (defaults: [Dorfer et al. 2018a]'s recipe).

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
        Augment at all: the recipe's shift, scale, onset jitter and random rendition,
        plus ``augmentations``.
    augmentations : tuple of str
        ``ast.augmentations`` plugins or presets (:data:`~ast_toolkit.learn.augment.PRESETS`),
        applied in this order (``--augment``).
    augment_params : tuple of str
        Their settings, ``NAME.KEY=VALUE`` (``--augment-param``).
    variants : int
        Variants per training piece made by each rendition augmentation.
    hold_out : tuple of str
        Datasets whose pieces stay out of training and validation,
        ``NAME|DIR[:SPLIT]`` (split ``test`` unless named; ``all`` for every
        split; ``--hold-out``): e.g. ``demo:test``, so that Table I of README's
        main command is measured on pieces the shipped model never saw.
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
        Mixed precision (bfloat16 autocast) on a GPU, and on a CPU that computes
        in bfloat16 natively (AVX512-BF16 or AMX: about twice the pairs per
        second of float32 on 2 cores, ``benchmarks/augment.py``); float32 elsewhere.

    Examples
    --------
    >>> cfg = FitConfig(lr=5e-4, time_limit=30)
    >>> cfg.batch_size, cfg.lr, cfg.refinements
    (100, 0.0005, 2)
    >>> FitConfig(batch_size=1)
    Traceback (most recent call last):
    ...
    ValueError: batch_size must be >= 2 (the other pairs of a batch are the negatives)
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
    augmentations: tuple[str, ...] = ()
    augment_params: tuple[str, ...] = ()
    variants: int = 1
    hold_out: tuple[str, ...] = ()
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
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a number > 0, got {self.lr}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if not (math.isfinite(self.sheet_shift) and self.sheet_shift >= 0) or self.audio_jitter < 0:
            raise ValueError(f"sheet_shift and audio_jitter must be >= 0, got {self.sheet_shift} "
                             f"and {self.audio_jitter}")
        if self.variants < 0:
            raise ValueError(f"variants must be >= 0, got {self.variants}")
        if self.augmentations and not self.augment:
            raise ValueError("augmentations were named but augment is off (--no-augment)")
        if self.patience < 1 or self.refinements < 0:
            raise ValueError("patience must be >= 1 and refinements >= 0")
        lo, hi = self.sheet_scale
        if not 0 < lo <= hi:
            raise ValueError(f"sheet_scale must be (low, high) with 0 < low <= high, got {self.sheet_scale}")
        if self.time_limit is not None and not (math.isfinite(self.time_limit) and self.time_limit > 0):
            raise ValueError(f"time_limit must be > 0 minutes, got {self.time_limit}")


@dataclass
class FitResult:
    """What :func:`fit` did.

    Attributes
    ----------
    out : Path
        The model folder.
    epochs, best_epoch : int
    valid : dict
        Validation ``r1`` and ``mrr`` of the final model.
    seconds : float
        Training time (all sessions of a resumed run).
    stopped : str
        Why training ended: ``max epochs``, ``early stopping``, ``time limit``.
    log : list of dict
        One entry per epoch.
    already : bool
        ``out`` already held this finished model (``exist_ok``): nothing was trained.
    registered : Path or None
        The registry file the model was added to (``register_as``).

    Examples
    --------
    >>> result = fit("data/demo", "models/demo-cnn", encoder="cnn", exist_ok=True)  # doctest: +SKIP
    >>> result.stopped, result.epochs  # README's main command, 5 CPU minutes  # doctest: +SKIP
    ('time limit', 8)
    >>> result.already, result.out  # doctest: +SKIP
    (True, PosixPath('models/demo-cnn'))
    """

    out: Path
    epochs: int
    best_epoch: int
    valid: dict[str, float]
    seconds: float
    stopped: str
    log: list[dict[str, Any]] = field(default_factory=list)
    already: bool = False
    registered: Path | None = None


@dataclass
class TrainState:
    """Where a training run stands; saved in every checkpoint, so a resumed run
    continues exactly where the last finished epoch left it.

    Attributes
    ----------
    lr : float
        The current learning rate (halved by each refinement round).
    epoch : int
        Epochs finished.
    best_mrr : float
        Best validation MRR so far (-1 before the first epoch).
    best_epoch : int
        The epoch that reached it.
    bad : int
        Epochs since the last improvement.
    refinement : int
        Refinement rounds done.
    seconds : float
        Training time so far, over every session of the run.
    stopped : str
        Why training ended (empty while it goes on).
    log : list of dict
        One entry per epoch (what ``log.jsonl`` gets).

    Examples
    --------
    >>> state = TrainState(lr=2e-3)
    >>> TrainState.from_dict(state.to_dict()) == state
    True
    """

    lr: float
    epoch: int = 0
    best_mrr: float = -1.0
    best_epoch: int = 0
    bad: int = 0
    refinement: int = 0
    seconds: float = 0.0
    stopped: str = ""
    log: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for a checkpoint (``torch.load(weights_only=True)`` reads it back)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, origin: str = "checkpoint") -> TrainState:
        """Read back :meth:`to_dict`; a damaged state raises :class:`IntegrityError`."""
        names = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(data, dict) or set(data) != names:
            raise IntegrityError(f"{origin}: the training state is not one this toolkit wrote")
        from pydantic import TypeAdapter, ValidationError

        for name, kind in typing.get_type_hints(cls).items():
            try:
                TypeAdapter(kind).validate_python(data[name], strict=True)
            except ValidationError as exc:
                first = exc.errors(include_url=False)[0]
                raise IntegrityError(f"{origin}: training state field {name!r}: "
                                     f"{first['msg']} (got {data[name]!r:.40})") from None
        return cls(**data)


def cpu_bfloat16() -> bool:
    """Whether this CPU computes in bfloat16 natively (oneDNN's AVX512-BF16 or AMX kernels).

    Examples
    --------
    >>> cpu_bfloat16() in (True, False)
    True
    """
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN
        return False


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else CPU; otherwise the named device, checked.

    Examples
    --------
    >>> pick_device("cpu")
    device(type='cpu')
    >>> pick_device("auto").type in ("cpu", "cuda")
    True
    >>> pick_device("gpu")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.ParameterError: unknown device 'gpu': ...
    """
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
    """Random vertical shift (pixels) and zoom about the centre of ``[n, 1, h, w]`` windows.

    Examples
    --------
    >>> windows = torch.ones(2, 1, 160, 200)
    >>> augment_sheets(windows, np.random.default_rng(0), shift=5.0, scale=(0.95, 1.05)).shape
    torch.Size([2, 1, 160, 200])
    >>> same = augment_sheets(windows, np.random.default_rng(0), shift=0.0, scale=(1.0, 1.0))
    >>> torch.allclose(same, windows)  # no shift, no zoom: the windows themselves
    True
    """
    n, _, h, _ = x.shape
    s = rng.uniform(scale[0], scale[1], n)
    dy = rng.uniform(-shift, shift, n)
    theta = np.zeros((n, 2, 3), dtype=np.float32)
    theta[:, 0, 0] = 1.0 / s
    theta[:, 1, 1] = 1.0 / s
    theta[:, 1, 2] = -2.0 * dy / h  # content moves down by dy pixels
    grid = F.affine_grid(torch.from_numpy(theta).to(x.device), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


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


def _validate(encoder: Any, dataset: Dataset, table: PairTable,
              index: np.ndarray) -> dict[str, float]:
    """Audio-to-sheet R@1 and MRR among the validation candidates."""
    emb = embed_pairs(encoder, dataset, table, index)
    ranks = relevant_ranks(emb.audio, emb.sheet, emb.sheet_id, emb.sheet_id)
    m = rank_metrics(ranks, ("recall@1", "mrr"))
    return {"r1": m["recall@1"], "mrr": m["mrr"]}


def _init_encoder(init: str | os.PathLike, encoder: str | None, params: dict[str, Any] | None,
                  registry: Registry | None) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """The encoder of model ``init``, its weights loaded, to fine-tune (``ast fit --init``);
    with the model's ``config.json`` and what the new model records of it.

    Its hyper-parameters and head are the model's; ``params`` may change only
    those that leave every weight's shape as it is (the load checks).
    """
    folder = resolve_model_dir(init, registry)
    cfg = read_model_config(folder)
    if encoder is not None and encoder != cfg["encoder"]:
        raise ParameterError(f"--init {folder} is a {cfg['encoder']!r} model; it cannot start "
                             f"an {encoder!r} encoder (leave --encoder out)")
    enc = plugins.create("encoders", cfg["encoder"],
                         **{**dict(cfg.get("params") or {}), **dict(params or {})},
                         head=cfg.get("head", "none"))
    enc.load_weights(folder / WEIGHTS_FILE)
    return enc, cfg, {"model": str(folder.resolve()), "sha256": model_fingerprint(folder),
                      "dataset": (cfg.get("dataset") or {}).get("name")}


def held_out_pieces(specs: typing.Iterable[str], registry: Registry | None = None) -> frozenset[str]:
    """The piece ids named by ``NAME|DIR[:SPLIT]`` specs (split ``test`` unless named).

    Examples
    --------
    >>> held_out_pieces([])
    frozenset()
    >>> held_out_pieces(["no-such-folder:test"])
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.ParameterError: --hold-out no-such-folder:test: no-such-folder: no such dataset folder
    """
    ids: set[str] = set()
    for spec in specs:
        where, _, split = str(spec).rpartition(":")
        if not where or split not in (*Dataset.SPLITS, "all"):
            where, split = str(spec), "test"
        try:
            ds = open_dataset(where, registry=registry)
        except ParameterError as e:
            raise ParameterError(f"--hold-out {spec}: {e}") from None
        for s in ds.SPLITS if split == "all" else (split,):
            ids.update(ds.piece_ids(s))
    return frozenset(ids)


def _differences(was: dict[str, Any], now: dict[str, Any], prefix: str = "") -> list[str]:
    """``KEY was A, now B`` for every setting that differs (nested settings by dotted key).

    Examples
    --------
    >>> _differences({"fit": {"lr": 1e-3, "seed": 0}}, {"fit": {"lr": 5e-4, "seed": 0}})
    ['fit.lr was 0.001, now 0.0005']
    """
    out = []
    for key in sorted(set(was) | set(now), key=str):
        a, b = was.get(key), now.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key} was {a!r}, now {b!r}")
    return out


def _without(table: PairTable, pieces: frozenset[str]) -> PairTable:
    """``table`` without the rows of ``pieces``."""
    return table.take(np.flatnonzero([p not in pieces for p in table.pieces]))


def _open_training_data(dataset: Any, encoder: Any, registry: Registry | None) -> Dataset:
    """One dataset, or several (a list) learnt from together as one."""
    if isinstance(dataset, Dataset):
        return dataset
    if isinstance(dataset, (list, tuple)):
        if not dataset:
            raise ParameterError("no dataset to train on")
        if len(dataset) > 1:
            from ..data.collections import Joined

            joined = Joined([_open_training_data(d, encoder, registry) for d in dataset])
            joined.check_trainable()
            return joined
        dataset = dataset[0]
    return open_dataset(dataset, encoder=encoder, registry=registry)


class Trainer:
    """One training run of ``encoder`` with ``objective`` on a dataset, as named steps.

    :meth:`run` takes them in order; each can be called on its own (a
    notebook, a custom schedule).  Parameters are those of :func:`fit`.

    Examples
    --------
    >>> trainer = Trainer("data/demo", "models/demo-cnn", encoder="cnn")  # doctest: +SKIP
    >>> while not trainer.state.stopped:  # doctest: +SKIP
    ...     trainer.validate(trainer.train_epoch())
    ...     trainer.checkpoint()
    >>> result = trainer.finish()  # doctest: +SKIP
    """

    def __init__(self, dataset: str | os.PathLike | Dataset | list, out: str | os.PathLike, *,
                 encoder: str = "cnn", params: dict[str, Any] | None = None,
                 objective: str = "ranking", objective_params: dict[str, Any] | None = None,
                 config: FitConfig | None = None, dataset_name: str | None = None,
                 registry: Registry | None = None, init: str | os.PathLike | None = None,
                 progress: Progress | None = None) -> None:
        self.cfg = cfg = config or FitConfig()
        self.out = Path(out)
        self.objective_name = objective
        self.objective_params = dict(objective_params or {})
        if (self.out / CONFIG_FILE).exists():
            raise ParameterError(f"{self.out}: already holds a trained model; choose another --out")
        self.device = pick_device(cfg.device)
        torch.manual_seed(cfg.seed)
        self.init: dict[str, Any] | None = None
        init_cfg: dict[str, Any] | None = None
        if init is not None:
            self.enc, init_cfg, self.init = _init_encoder(init, encoder, params, registry)
        else:
            self.enc = plugins.create("encoders", encoder or "cnn", **dict(params or {}))
        self.encoder_name = self.enc.name
        self.obj = plugins.create("objectives", objective, **self.objective_params)
        if self.obj.cca != "none":  # the objective declares that it needs a CCA head
            self.enc.set_head("cca")
        self.ds = _open_training_data(dataset, self.enc, registry)
        if init_cfg is not None:  # fine-tuning on data of another frame timing: say so
            warn_on_frame_timing(init_cfg, self.ds)
        self.dataset_name = dataset_name or self.ds.name
        self.train_pairs = self.ds.pair_table("train")
        self.valid_pairs = self.ds.pair_table("valid")
        #: piece ids kept out of training and validation (``hold_out``)
        self.held_out = held_out_pieces(cfg.hold_out, registry)
        held = f" after holding out {len(self.held_out)} pieces" if self.held_out else ""
        if self.held_out:
            self.train_pairs = _without(self.train_pairs, self.held_out)
            self.valid_pairs = _without(self.valid_pairs, self.held_out)
        if len(self.train_pairs) < cfg.batch_size:
            raise ParameterError(f"{self.ds.root}: only {len(self.train_pairs)} training pairs"
                                 f"{held}, fewer than a batch ({cfg.batch_size})")
        if len(self.valid_pairs) < 2:
            raise ParameterError(f"{self.ds.root}: the valid split has {len(self.valid_pairs)} "
                                 f"pairs{held}; need >= 2")
        self.val_index = evenly_spaced(len(self.valid_pairs), cfg.val_candidates)
        self.augmenter = Augmenter(cfg.augmentations if cfg.augment else (), cfg.augment_params,
                                   spectrogram=self.ds.spectrogram)
        context = int(self.ds.audio_context)
        #: frames before / after the onset that batches cut (None: the encoder's context)
        self.extent = self.augmenter.extent(context // 2, context - context // 2) \
            if self.augmenter.audio else None
        self.variants: dict[tuple[str, str], list[np.ndarray]] = {}
        self.enc.to(self.device)
        self.obj.to(self.device)
        self.trainable = list(self.enc.parameters()) + list(self.obj.parameters())
        self.optim = torch.optim.Adam(self.trainable, lr=cfg.lr)
        self.amp = cfg.amp and (self.device.type == "cuda" or cpu_bfloat16())
        self.spec = self._run_spec()
        self.state = TrainState(lr=cfg.lr)
        self.report = Reporter(progress, "train", total=cfg.epoch_samples, unit="pairs",
                               announce=False)
        self._started = time.monotonic()

    # -- the steps ------------------------------------------------------------------------

    def _run_spec(self) -> dict[str, Any]:
        """What a resumed run must share with the one it continues."""
        fit_cfg = dataclasses.asdict(self.cfg)
        fit_cfg.pop("time_limit")  # may change on resume
        fit_cfg.pop("device")
        if not fit_cfg["hold_out"]:  # runs from before --hold-out resume as they were
            fit_cfg.pop("hold_out")
        return {
            "dataset": self._roots(),
            "encoder": self.encoder_name,
            "params": dataclasses.asdict(self.enc.config),
            "objective": self.objective_name,
            "objective_params": self.objective_params,
            "fit": json.loads(json.dumps(fit_cfg)),
            "init": self.init,
        }

    def _roots(self) -> str | list[str]:
        parts = getattr(self.ds, "parts", None)
        return [str(p.root.resolve()) for p in parts] if parts else str(self.ds.root.resolve())

    def resume(self) -> None:
        """Continue from ``OUT/checkpoint.pt``: weights, optimiser and :class:`TrainState`."""
        path = self.out / CHECKPOINT
        if not path.exists():
            raise ParameterError(f"{self.out}: nothing to resume (no {CHECKPOINT})")
        ck = read_checkpoint(path, keys=("format", "toolkit_version", "spec", "model", "objective",
                                         "optimizer", "state"))
        if ck["format"] != CHECKPOINT_FORMAT or ck["toolkit_version"] != __version__:
            raise IntegrityError(f"{path}: written by toolkit {ck['toolkit_version']!r} (format "
                                 f"{ck['format']!r}); this is {__version__}: start a new run")
        if not isinstance(ck["spec"], dict):
            raise IntegrityError(f"{path}: the run's settings are damaged")
        if ck["spec"] != self.spec:
            raise ParameterError(f"{path}: the run was started with other settings: "
                                 + "; ".join(_differences(ck["spec"], self.spec)))
        self.state = TrainState.from_dict(ck["state"], origin=str(path))
        self._apply(path, ck, optimizer=True)
        self._set_lr(self.state.lr)
        self._started = time.monotonic() - self.state.seconds
        self.report.say(f"resuming after epoch {self.state.epoch}", event="resume",
                        epoch=self.state.epoch)

    def _set_lr(self, lr: float) -> None:
        for g in self.optim.param_groups:
            g["lr"] = lr

    def _epoch_batches(self, epoch: int) -> Iterator[tuple]:
        """The batches of one epoch, drawn from a generator seeded with (seed, epoch)."""
        cfg, table = self.cfg, self.train_pairs
        rng = np.random.default_rng([cfg.seed, epoch])
        n = len(table)
        order = np.concatenate([rng.permutation(n) for _ in range(math.ceil(cfg.epoch_samples / n))])
        order = order[: cfg.epoch_samples]
        for start in range(0, len(order), cfg.batch_size):
            rows = order[start:start + cfg.batch_size]
            if len(rows) < 2:
                break
            if cfg.augment:
                extra: dict[str, Any] = {}
                if self.extent is not None:
                    extra["extent"] = self.extent
                if self.variants:
                    extra["variants"] = self.variants
                sheets, audio = self.ds.batch(table, rows, rng=rng, audio_jitter=cfg.audio_jitter,
                                              **extra)
                aug = np.random.default_rng(rng.integers(2**63))
            else:
                sheets, audio = self.ds.batch(table, rows)
                aug = None
            yield len(rows), sheets, audio, aug

    def _step(self, sheets: np.ndarray, audio: np.ndarray, aug) -> float | None:
        """One optimiser step on a batch; None when the batch is degenerate and skipped."""
        enc, obj, cfg = self.enc, self.obj, self.cfg
        xs = torch.from_numpy(sheets)[:, None].to(self.device)
        xa = torch.from_numpy(audio)[:, None].to(self.device)
        if aug is not None:
            xs = augment_sheets(xs, aug, shift=cfg.sheet_shift, scale=cfg.sheet_scale)
            if self.augmenter:
                xs = self.augmenter.apply_sheets(xs, aug)
                if self.extent is not None:
                    xa = self.augmenter.apply_audio(xa, aug, before=self.extent[0],
                                                    context=int(self.ds.audio_context))
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            s = enc.sheet_features(xs)
            a = enc.audio_features(xa)
        s, a = s.float(), a.float()
        if obj.cca == "train":  # a CCA layer inside the model
            try:
                s, a = enc.head(s, a)
            except torch.linalg.LinAlgError:
                return None  # a degenerate batch: its covariance has no usable inverse
        elif obj.cca == "refit":
            enc.head(s.detach(), a.detach())  # running statistics only
        elif enc.head is not None:
            # A head the objective does not train (fine-tuning an imported CCA model with
            # a plain loss): the loss is taken through it, fixed, as the model embeds at test
            # time.  Taken before it, the features drift away from its projection (measured:
            # valid R@1 0.70 -> 0.001 after one epoch of fine-tuning the MSMD weights).
            s, a = enc.head.project_x(s), enc.head.project_y(a)
        loss = obj.loss(s, a)
        self.optim.zero_grad(set_to_none=True)
        if not torch.isfinite(loss):
            return None  # a degenerate batch (e.g. singular covariance)
        loss.backward()
        # One reduction (one device sync) for all gradients.
        if not torch.isfinite(torch.nn.utils.clip_grad_norm_(self.trainable, float("inf"))):
            self.optim.zero_grad(set_to_none=True)
            return None  # e.g. the SVD gradient of near-equal canonical correlations
        self.optim.step()
        # One reduction (one device sync): a NaN or inf anywhere makes the sum non-finite.
        if not torch.isfinite(torch.stack([p.detach().float().sum() for p in self.trainable])).all():
            raise IntegrityError(
                f"training diverged in epoch {self.state.epoch + 1}: the weights became NaN or "
                f"inf; {self.out / CHECKPOINT} keeps the last good epoch "
                f"({self.state.epoch}) — continue with --resume and a lower --lr")
        return float(loss.detach())

    def train_epoch(self) -> dict[str, Any]:
        """Train one epoch (or until the time limit); returns its log entry (no validation yet)."""
        cfg, state = self.cfg, self.state
        epoch = state.epoch + 1
        limit = cfg.time_limit * 60 if cfg.time_limit else None
        self.enc.train()
        t0 = time.monotonic()
        losses, seen, skipped = [], 0, 0
        self.report.update(done=0, description=f"epoch {epoch}", epoch=epoch)
        for n, sheets, audio, aug in _prefetch(self._epoch_batches(epoch)):
            loss = self._step(sheets, audio, aug)
            if loss is None:
                skipped += 1
                continue
            losses.append(loss)
            seen += n
            self.report.update(done=seen, loss=float(np.mean(losses[-20:])))
            if limit and time.monotonic() - self._started > limit:
                state.stopped = "time limit"
                break
        train_s = time.monotonic() - t0
        return {"epoch": epoch, "lr": state.lr, "loss": float(np.mean(losses)) if losses else None,
                "pairs": seen, "skipped_batches": skipped, "pairs_per_s": seen / max(train_s, 1e-9),
                "train_seconds": train_s}

    def validate(self, entry: dict[str, Any]) -> None:
        """Validate after an epoch; keep the best weights; stop early or start a refinement round."""
        cfg, state = self.cfg, self.state
        t0 = time.monotonic()
        val = _validate(self.enc, self.ds, self.valid_pairs, self.val_index)
        epoch = entry["epoch"]
        seconds = entry.pop("train_seconds") + time.monotonic() - t0
        entry.update(valid_r1=val["r1"], valid_mrr=val["mrr"], seconds=seconds)
        state.log.append(entry)
        state.epoch = epoch
        improved = val["mrr"] > state.best_mrr
        if improved:
            state.best_mrr, state.best_epoch, state.bad = val["mrr"], epoch, 0
            atomic_torch_save({"model": self.enc.state_dict(), "objective": self.obj.state_dict()},
                              self.out / BEST, checked=True)
        else:
            state.bad += 1
        say = self.report.say
        if not state.stopped:
            if epoch >= cfg.max_epochs:
                state.stopped = "max epochs"
            elif state.bad >= cfg.patience:
                if state.refinement < cfg.refinements:
                    self._load_best()
                    state.refinement += 1
                    state.lr /= 2
                    state.bad = 0
                    self._set_lr(state.lr)
                    self.optim.state.clear()  # fresh moments for the new learning rate
                    say(f"refinement {state.refinement}: best weights, lr {state.lr:g}",
                        event="refine", round=state.refinement, lr=state.lr)
                else:
                    state.stopped = "early stopping"
        state.seconds = time.monotonic() - self._started
        entry["best"] = improved
        loss = entry["loss"] if entry["loss"] is None else round(entry["loss"], 4)
        say(f"epoch {epoch:3d}  loss {loss}  valid R@1 {val['r1']:.3f}  MRR {val['mrr']:.3f}"
            f"{'  best' if improved else ''}  {entry['pairs_per_s']:.0f} pairs/s",
            event="epoch", **entry, best_mrr=state.best_mrr, best_epoch=state.best_epoch)
        self.report.update(best=f"best MRR {state.best_mrr:.3f} (epoch {state.best_epoch})")

    def checkpoint(self) -> None:
        """Write ``OUT/checkpoint.pt`` atomically: a killed run resumes from here."""
        atomic_torch_save({"format": CHECKPOINT_FORMAT, "toolkit_version": __version__,
                           "spec": self.spec, "model": self.enc.state_dict(),
                           "objective": self.obj.state_dict(),
                           "optimizer": self.optim.state_dict(), "state": self.state.to_dict()},
                          self.out / CHECKPOINT, checked=True)

    def _load_best(self) -> None:
        path = self.out / BEST
        self._apply(path, read_checkpoint(path, keys=("model", "objective")))

    def _apply(self, path: Path, ck: dict[str, Any], *, optimizer: bool = False) -> None:
        """Load a checkpoint's state dicts; a damaged one raises, naming the file."""
        if not isinstance(ck["model"], dict):
            raise IntegrityError(f"{path}: the model's weights are damaged")
        check_finite(ck["model"], str(path))
        try:
            self.enc.load_state_dict(ck["model"])
            self.obj.load_state_dict(ck["objective"])
            if optimizer:
                self.optim.load_state_dict(ck["optimizer"])
        except (RuntimeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise IntegrityError(f"{path}: the checkpoint does not fit this run (damaged?): "
                                 f"{detail}") from None

    @property
    def head_is_fixed(self) -> bool:
        """Whether the encoder has a CCA head the objective does not train (kept as it is)."""
        return self.enc.head is not None and self.obj.cca == "none"

    def refit_head(self) -> dict[str, Any] | None:
        """Refit the CCA head (when there is one) exactly, on a large training sample.

        A fixed head (:attr:`head_is_fixed`) was part of what the loss trained
        through, so it is kept, not refitted.
        """
        if self.enc.head is None or self.head_is_fixed:
            return None
        rows = evenly_spaced(len(self.train_pairs), self.cfg.refit_samples)
        self.report.say(
            f"refitting the CCA projection on {len(rows)} training pairs",
            event="refit", samples=int(len(rows)))
        feats_s, feats_a = [], []
        self.enc.eval()
        with torch.no_grad():
            for i in range(0, len(rows), 500):
                s, a = self.ds.batch(self.train_pairs, rows[i:i + 500])
                feats_s.append(self.enc.sheet_features(torch.from_numpy(s).to(self.device)).float())
                feats_a.append(self.enc.audio_features(torch.from_numpy(a).to(self.device)).float())
        corr = self.enc.head.fit(torch.cat(feats_s), torch.cat(feats_a))
        return {"samples": int(len(rows)), "correlation": float(corr.sum())}

    def finish(self) -> FitResult:
        """The best weights, the refitted head, a final validation, and the model folder."""
        state = self.state
        self._load_best()
        refit = self.refit_head()
        val = _validate(self.enc, self.ds, self.valid_pairs, self.val_index)
        self.enc.cpu()
        extra = {
            "objective": self.objective_name,
            "objective_params": self.objective_params,
            "dataset": {"name": self.dataset_name, "root": str(self.ds.root.resolve()),
                        **({"roots": roots} if isinstance(roots := self._roots(), list) else {}),
                        "spectrogram_bins": int(self.enc.audio_shape[0]),
                        "spectrogram": self.ds.spectrogram.to_dict(),
                        # the page scale: a user's scans are rescaled to it
                        **({"staff_space": self.ds.staff_space} if self.ds.staff_space else {}),
                        "system_margin": int(self.ds.system_margin)},
            "fit": {**dataclasses.asdict(self.cfg), "device": str(self.device), "amp": self.amp},
            "augmentations": self.augmenter.describe(),
            "held_out": {"from": list(self.cfg.hold_out), "pieces": sorted(self.held_out)},
            # the pieces it learnt from (and was validated on): `ast index` warns when a
            # collection holds them, since their results measure memory, not retrieval
            "trained_on": sorted({*self.train_pairs.pieces, *self.valid_pairs.pieces}),
            "init": self.init,
            "training": {"epochs": state.epoch, "best_epoch": state.best_epoch,
                         "stopped": state.stopped, "seconds": round(state.seconds, 1),
                         "cca_refit": refit, "valid": val,
                         "valid_candidates": int(len(self.val_index))},
        }
        atomic_write_text(self.out / LOG_FILE, "".join(json.dumps(e) + "\n" for e in state.log))
        self.enc.save(self.out, extra=extra)  # weights.pt, then config.json: the completion mark
        # reference rows for hubness correction of one-sided indexes (toolkit.learn.reference)
        ref = embed_pairs(self.enc, self.ds, self.valid_pairs,
                          evenly_spaced(len(self.valid_pairs), REFERENCE_ROWS))
        save_reference(self.out, ref.sheet, ref.audio,
                       f"{len(ref.sheet)} pairs of the valid split of {self.dataset_name}")
        for name in (CHECKPOINT, BEST):
            (self.out / name).unlink(missing_ok=True)
        shutil.rmtree(self.out / VARIANTS_DIR, ignore_errors=True)  # a cache of the run only
        return FitResult(self.out, state.epoch, state.best_epoch, val, state.seconds,
                         state.stopped, state.log)

    def run(self) -> FitResult:
        """Every step: train and validate epochs until a stop, checkpointing each, then finish."""
        self.out.mkdir(parents=True, exist_ok=True)
        self.report.say(
            f"training {self.encoder_name} with {self.objective_name} on "
            f"{self.ds.root}: {len(self.train_pairs)} training pairs, {len(self.val_index)} "
            f"validation pairs, {sum(p.numel() for p in self.trainable):,} parameters, device "
            f"{self.device}" + (" (bfloat16)" if self.amp else "")
            + (f", {len(self.held_out)} pieces held out" if self.held_out else ""),
            event="start", device=str(self.device), amp=self.amp,
            train_pairs=len(self.train_pairs), valid_pairs=int(len(self.val_index)))
        self.prepare_variants()
        if self.init is not None and not self.state.log:
            self.validate_start()
        while not self.state.stopped:
            entry = self.train_epoch()
            self.validate(entry)
            self.checkpoint()
        return self.finish()

    def prepare_variants(self) -> None:
        """Make (or read back from ``OUT/augmented/``) the rendition augmentations' variants
        of the training pieces, which the batches then draw from."""
        if self.augmenter.renditions:
            self.variants = make_variants(self.ds, self.train_pairs, self.augmenter, self.out,
                                          variants=self.cfg.variants, seed=self.cfg.seed,
                                          progress=self.report.callback)

    def validate_start(self) -> None:
        """Validate the starting weights of a fine-tuning run (epoch 0): they stay the
        best unless training beats them."""
        state = self.state
        t0 = time.monotonic()
        val = _validate(self.enc, self.ds, self.valid_pairs, self.val_index)
        entry = {"epoch": 0, "lr": state.lr, "loss": None, "pairs": 0, "skipped_batches": 0,
                 "pairs_per_s": 0.0, "valid_r1": val["r1"], "valid_mrr": val["mrr"],
                 "seconds": time.monotonic() - t0, "best": True}
        state.log.append(entry)
        state.best_mrr, state.best_epoch = val["mrr"], 0
        atomic_torch_save({"model": self.enc.state_dict(), "objective": self.obj.state_dict()},
                          self.out / BEST, checked=True)
        self.report.say(f"epoch   0  (--init)  valid R@1 {val['r1']:.3f}  MRR {val['mrr']:.3f}",
                        event="epoch", **entry, best_mrr=state.best_mrr, best_epoch=0)


def _finished(out: Path, encoder: str | None, objective: str, init: str | os.PathLike | None,
              registry: Registry | None) -> FitResult:
    """The result of a run that finished before (``exist_ok``), if it is the one asked for."""
    done = read_model_config(out)
    if init is not None:
        started = (done.get("init") or {}).get("sha256")
        if started != model_fingerprint(resolve_model_dir(init, registry)):
            raise ParameterError(f"{out} holds a model that was not fine-tuned from {init}")
        encoder = encoder or done["encoder"]
    if (done["encoder"], done.get("objective")) != (encoder or "cnn", objective):
        raise ParameterError(f"{out} holds a {done['encoder']} model trained with "
                             f"{done.get('objective')}, not {encoder or 'cnn'} with {objective}")
    train = done.get("training") or {}
    return FitResult(out, int(train.get("epochs", 0)), int(train.get("best_epoch", 0)),
                     dict(train.get("valid") or {}), float(train.get("seconds", 0.0)),
                     str(train.get("stopped", "")), already=True)


@writes_folder("out", what="ast fit")
def fit(dataset: str | os.PathLike | Dataset | list, out: str | os.PathLike, *, encoder: str | None = None,
        params: dict[str, Any] | None = None, objective: str = "ranking",
        objective_params: dict[str, Any] | None = None, config: FitConfig | None = None,
        resume: bool = False, exist_ok: bool = False, dataset_name: str | None = None,
        registry: Registry | None = None, register_as: str | None = None,
        registry_file: str | os.PathLike = "ast-registry.toml",
        init: str | os.PathLike | None = None,
        progress: Progress | None = None) -> FitResult:
    """Train ``encoder`` with ``objective`` on a dataset's aligned pairs.

    Parameters
    ----------
    dataset : str, path, Dataset or list of them
        A dataset folder, a registry name rendered to ``$AST_DATA/NAME``, or an
        open dataset; a list: several learnt from together (their pairs pooled,
        validation on all their valid splits).
    out : path
        The model folder to write (see the module docstring).
    encoder : str or None
        Encoder plugin name (``ast plugins list``); None: ``cnn``, or the
        ``init`` model's.
    objective : str
        Objective plugin name.
    params, objective_params : dict
        Their hyper-parameters.
    config : FitConfig
    resume : bool
        Continue the unfinished run in ``out`` from its last checkpoint.
    exist_ok : bool
        When ``out`` already holds a finished model of this encoder and
        objective, return it (``already=True``) instead of refusing.
    dataset_name : str or None
        Recorded in ``config.json``; None: the dataset's own name.
    registry : Registry or None
        For registry dataset names.
    register_as : str or None
        Add the finished model to ``registry_file`` under this name
        (:func:`~ast_toolkit.catalog.register_model`).
    registry_file : path
        The user registry file it is added to; read it with ``ast --registry FILE``.
    init : str, path or None
        Fine-tune: start from this model folder or registered model (trained
        here or imported with ``ast model import``) — its encoder, settings,
        head and weights; recorded in ``config.json`` as ``init``.
    progress : Progress or None
        Receives :class:`~ast_toolkit.progress.Step` reports: a bar per epoch
        (task ``"train"``, ``info`` with the running loss) and a message per
        event, whose ``info["event"]`` is ``start``, ``resume``, ``epoch``,
        ``refine`` or ``refit``.

    Examples
    --------
    >>> result = fit("data/demo", "models/demo-cnn", encoder="cnn",  # doctest: +SKIP
    ...              config=fit_config(lr=5e-4, time_limit=5))
    >>> result.stopped, round(result.valid["mrr"], 2)  # doctest: +SKIP
    ('time limit', 0.37)
    """
    out = Path(out)
    # we hold the folder's lock: temporary files are leftovers of a killed run
    for stale in out.glob(".*.tmp-*"):
        stale.unlink(missing_ok=True)
    if (exist_ok or resume) and (out / CONFIG_FILE).exists():
        # finished (perhaps killed between config.json and the clean-up): the
        # training files are leftovers, the finished model stands
        result = _finished(out, encoder, objective, init, registry)
        for name in (CHECKPOINT, BEST):
            (out / name).unlink(missing_ok=True)
    else:
        if resume and not (out / CHECKPOINT).exists():
            # killed before its first checkpoint: the run starts from the beginning
            resume = False
            Reporter(progress, "train", announce=False).say(
                f"{out}: no checkpoint yet (the run was stopped before its first epoch "
                "ended): starting from the beginning", event="restart")
        if (out / CHECKPOINT).exists() and not resume and not (out / CONFIG_FILE).exists():
            raise ParameterError(
                f"{out}: holds an unfinished training run; pass --resume to continue it, "
                "or choose another --out"
            )
        trainer = Trainer(dataset, out, encoder=encoder, params=params, objective=objective,
                          objective_params=objective_params, config=config,
                          dataset_name=dataset_name, registry=registry, init=init,
                          progress=progress)
        if resume:
            trainer.resume()
        result = trainer.run()
    if register_as:
        result.registered = register_model(registry_file, register_as, result.out)
    return result


def fit_config(**options: Any) -> FitConfig:
    """A :class:`FitConfig` from keyword options (None values keep defaults).

    Examples
    --------
    >>> cfg = fit_config(lr=5e-4, time_limit=None, device="cpu")
    >>> cfg.lr, cfg.time_limit, cfg.device
    (0.0005, None, 'cpu')
    >>> fit_config(batch=50)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.ParameterError: fit: unknown parameter 'batch'; did you mean 'batch_size'? Allowed: ...
    """
    return make_config(FitConfig, {k: v for k, v in options.items() if v is not None},
                       what="fit")

