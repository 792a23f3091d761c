"""Training augmentation: the ``ast.augmentations`` plugins chosen with ``ast fit --augment``.

An :class:`Augmenter` holds the chosen plugins in the order given and applies
them to every training batch: the sheet ones to the sheet windows, the audio
ones to spectrogram excerpts cut wide enough for all of them (a tempo change
reads further than the excerpt, a reverberation tail reads its past) and then
cropped to the encoder's context.  Rendition augmentations run once, before
training (:func:`make_variants`): each training piece gets ``variants``
variants per augmentation of a random one of its renditions, cached in the
model folder so a resumed run does not make them again.

Names may be presets (:data:`PRESETS`): ``sheet``, ``audio``, ``renditions``,
``all``; ``none`` is none.  Settings: ``NAME.KEY=VALUE``.

Examples
--------
>>> expand(["sheet", "tempo"])[:3], expand(["none"])
(('rotate', 'scale', 'shift'), ())
>>> aug = Augmenter(["tempo", "reverb"], ["reverb.bank=1"])
>>> aug.extent(21, 21)  # frames before / after the onset the excerpts must hold
(73, 31)
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import plugins
from ..config import parse_param
from ..errors import ParameterError, UnknownNameError, did_you_mean
from ..interfaces import Augmentation, Dataset
from ..io import read_npy, save_npy
from ..progress import Progress, Reporter
from ..types import PairTable, SpectrogramSpec

__all__ = ["PRESETS", "expand", "Augmenter", "make_variants", "crop"]

#: Named sets of augmentations (``ast fit --augment sheet,audio``).
PRESETS: dict[str, tuple[str, ...]] = {
    "none": (),
    "sheet": ("rotate", "scale", "shift", "elastic", "blur", "sheet-noise", "ink", "jpeg",
              "paper"),
    "audio": ("tempo", "tuning", "reverb", "audio-noise", "eq"),
    "renditions": ("codec", "soundfont"),
}
PRESETS["all"] = PRESETS["sheet"] + PRESETS["audio"] + PRESETS["renditions"]

VARIANTS_DIR = "augmented"


def expand(names: Sequence[str]) -> tuple[str, ...]:
    """Presets replaced by their members, duplicates dropped, order kept; unknown names
    fail with a did-you-mean over presets and registered augmentations."""
    out: list[str] = []
    known = set(plugins.names("augmentations"))
    for raw in names:
        for name in (n.strip() for n in str(raw).split(",")):
            if not name:
                continue
            members = PRESETS.get(name, (name,))
            for m in members:
                if m not in known:
                    raise UnknownNameError(did_you_mean(m, sorted(known | set(PRESETS)),
                                                        what="augmentation"))
                if m not in out:
                    out.append(m)
    return tuple(out)


def crop(x: torch.Tensor, before: int, context: int) -> torch.Tensor:
    """Columns ``[before - context//2, before - context//2 + context)``: the excerpt of
    ``context`` frames about the onset of a wide excerpt whose onset column is ``before``."""
    start = before - context // 2
    return x[..., start:start + context]


class Augmenter:
    """The augmentations of a training run.

    Parameters
    ----------
    names : sequence of str
        Augmentation names or presets, in the order they apply.
    params : sequence of str
        ``NAME.KEY=VALUE`` settings.
    spectrogram : SpectrogramSpec or None
        The dataset's, for bin frequencies and the frame rate.
    """

    def __init__(self, names: Sequence[str], params: Sequence[str] = (), *,
                 spectrogram: SpectrogramSpec | None = None) -> None:
        self.names = expand(names)
        settings: dict[str, dict[str, Any]] = {n: {} for n in self.names}
        for item in params:
            key, value = parse_param(item)
            name, dot, field = key.rpartition(".")
            if not dot:
                raise ParameterError(f"--augment-param {item!r}: expected NAME.KEY=VALUE "
                                     "(e.g. tempo.high=1.3)")
            if name not in settings:
                raise ParameterError(f"--augment-param {item!r}: {name!r} is not among the "
                                     f"augmentations of this run ({', '.join(self.names) or 'none'})")
            settings[name][field] = value
        self.plugins: list[Augmentation] = []
        for name in self.names:
            aug = plugins.create("augmentations", name, **settings[name])
            aug.setup(spectrogram=spectrogram)
            self.plugins.append(aug)
        self.sheet = [a for a in self.plugins if a.modality == "sheet" and a.stage == "batch"]
        self.audio = [a for a in self.plugins if a.modality == "audio" and a.stage == "batch"]
        self.renditions = [a for a in self.plugins if a.stage == "rendition"]

    def __bool__(self) -> bool:
        return bool(self.plugins)

    def describe(self) -> dict[str, Any]:
        """Names and settings, for a model's ``config.json``."""
        import dataclasses

        return {a.name: dataclasses.asdict(a.config) for a in self.plugins}

    def extent(self, before: int, after: int) -> tuple[int, int]:
        """Frames the excerpts must hold before and after the onset so that ``before`` /
        ``after`` frames survive every audio augmentation."""
        for aug in reversed(self.audio):
            before, after = aug.extent(before, after)
        return before, after

    def apply_sheets(self, x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        for aug in self.sheet:
            x = aug.apply(x, rng)
        return x

    def apply_audio(self, x: torch.Tensor, rng: np.random.Generator, *, before: int,
                    context: int) -> torch.Tensor:
        """Augment wide excerpts (onset at column ``before``) and crop them to ``context``."""
        for aug in self.audio:
            x = aug.apply(x, rng)
        return crop(x, before, context).contiguous()


def _variant_path(root: Path, piece: str, aug: str, k: int) -> Path:
    digest = hashlib.sha1(piece.encode("utf-8")).hexdigest()[:16]
    return root / VARIANTS_DIR / aug / f"{digest}-{k}.npy"


def make_variants(dataset: Dataset, table: PairTable, augmenter: Augmenter, out: Path, *,
                  variants: int = 1, seed: int = 0, progress: Progress | None = None
                  ) -> dict[tuple[str, str], list[np.ndarray]]:
    """Rendition variants of the training pieces of ``table``: for each piece and
    rendition augmentation, ``variants`` variants of a random rendition, written to
    ``out/augmented/`` (atomically: a killed run leaves no half file) and read back
    when they are there.

    Returns
    -------
    dict
        ``(piece, rendition)`` -> its variants' spectrograms (float16).
    """
    from ..data.spectrogram import spectrogram_of

    result: dict[tuple[str, str], list[np.ndarray]] = {}
    if not augmenter.renditions or variants < 1:
        return result
    pieces = sorted(set(table.pieces))
    report = Reporter(progress, "variants", total=len(pieces) * len(augmenter.renditions),
                      unit="variants")
    report.say(f"rendition augmentations ({', '.join(a.name for a in augmenter.renditions)}): "
               f"{variants} variant(s) per piece for {len(pieces)} pieces, cached in "
               f"{out / VARIANTS_DIR}", event="variants")
    spec = dataset.spectrogram
    for aug in augmenter.renditions:
        for piece in pieces:
            names = dataset.performances(piece)
            for k in range(variants):
                rng = np.random.default_rng([seed, k, int(hashlib.sha1(
                    f"{aug.name}\0{piece}".encode()).hexdigest()[:12], 16)])
                name = names[int(rng.integers(len(names)))]
                path = _variant_path(out, piece, aug.name, k)
                source = dataset.performance(piece, name)
                shape = tuple(np.asarray(source.spectrogram).shape)
                if path.exists():
                    spectrogram = read_npy(path, shape=shape, dtype=np.float16)
                else:
                    audio, rate, events = dataset.performance_audio(piece, name)
                    wave = aug.vary(audio, rate, events, rng)
                    if len(wave) != len(audio) or not np.isfinite(wave).all():
                        raise ParameterError(f"augmentation {aug.name!r} changed the length of "
                                             f"{piece} / {name} or made non-finite samples")
                    spectrogram = spectrogram_of(wave, spec)[:, : shape[1]]
                    if spectrogram.shape != shape:
                        pad = np.zeros(shape, np.float32)
                        pad[:, : spectrogram.shape[1]] = spectrogram
                        spectrogram = pad
                    spectrogram = spectrogram.astype(np.float16)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    save_npy(path, spectrogram)
                result.setdefault((piece, name), []).append(spectrogram)
            report.advance(1)
    return result

