"""Model cards: what a model folder is, written from what it recorded (``ast model card``).

Everything in a card comes from the folder itself — ``config.json`` (encoder,
settings, data, augmentations, the schedule and its outcome) and ``log.jsonl``
(one line per epoch) — and, when given, from a robustness benchmark's results
file (``benchmarks/robustness.py --json``): nothing is typed by hand, so a card
cannot drift from its weights.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import ParameterError
from ..io import read_json
from .modelfile import CONFIG_FILE, LOG_FILE, WEIGHTS_FILE, model_fingerprint, read_model_config

__all__ = ["model_card"]


def _log(folder: Path) -> list[dict[str, Any]]:
    path = folder / LOG_FILE
    if not path.is_file():
        return []
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            raise ParameterError(f"{path}: line {n} is not JSON") from None
    return [r for r in rows if isinstance(r, dict) and "epoch" in r]


def _robustness(path: Path, folder: Path) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
    """This model's rows of a robustness results file: found by its weights' sha256 where
    the file records them (rows of other weights in the same folder are not its own),
    else by its folder."""
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise ParameterError(f"{path}: not a results file of benchmarks/robustness.py (no rows)")
    sha, recorded = model_fingerprint(folder), data.get("weights") or {}
    names = [n for n, f in (data.get("models") or {}).items()
             if (recorded[n] == sha if n in recorded else Path(f).resolve() == folder.resolve())]
    if not names:
        raise ParameterError(f"{path}: has no rows of {folder} (models: "
                             f"{', '.join(data.get('models') or {}) or 'none'})")
    rows = [r for r in data["rows"] if r.get("model") == names[0]]
    return names[0], rows, data


def _cell(summary: dict[str, Any]) -> str:
    if not summary.get("n"):
        return "—"
    return f"{summary['mrr']:.2f} ({summary['r@1']:.2f})"


def model_card(model: str | os.PathLike, *, name: str | None = None,
               robustness: str | os.PathLike | None = None) -> str:
    """A Markdown model card of the model folder ``model``.

    Parameters
    ----------
    model : path
        A finished model folder (``config.json``, ``weights.pt``, and ``log.jsonl``
        when it was trained here).
    name : str or None
        The title; default: the folder's name.
    robustness : path or None
        A ``benchmarks/robustness.py --json`` results file with rows of this model.

    Examples
    --------
    >>> card = model_card("weights/ast-cnn")
    >>> card.splitlines()[0], "## Training data" in card, "## Validation" in card
    ('# Model card: ast-cnn', True, True)
    """
    folder = Path(model)
    cfg = read_model_config(folder)
    title = name or folder.name
    params = cfg.get("params") or {}
    data = cfg.get("dataset") or {}
    spec = data.get("spectrogram") or {}
    fit = cfg.get("fit") or {}
    training = cfg.get("training") or {}
    fps = float(spec.get("fps") or 20.0)
    weights = folder / WEIGHTS_FILE
    lines = [f"# Model card: {title}", "",
             f"Written by `ast model card` from `{CONFIG_FILE}` and `{LOG_FILE}` of this folder"
             + (f" and `{Path(robustness).name}`" if robustness else "") + ".", "",
             "## What it is", "",
             f"- Encoder `{cfg['encoder']}`, objective `{cfg.get('objective', '?')}`, "
             f"{cfg.get('dim', '?')}-dimensional embeddings, head `{cfg.get('head', 'none')}`.",
             f"- Sheet window {cfg['sheet_window'][0]}×{cfg['sheet_window'][1]} px of pages at "
             f"staff space {data.get('staff_space', '?')} px (a user's scans are rescaled to it); "
             f"audio excerpt {cfg['audio_shape'][1]} frames = "
             f"{cfg['audio_shape'][1] / fps:.1f} s of a {cfg['audio_shape'][0]}-band log-frequency "
             f"spectrogram at {fps:g} frames/s ({spec.get('fmin', '?')}–{spec.get('fmax', '?')} Hz).",
             "- Settings: " + ", ".join(f"`{k}={v}`" for k, v in params.items()) + ".",
             f"- Weights: `{WEIGHTS_FILE}`, {weights.stat().st_size / 1e6:.1f} MB, sha256 "
             f"`{cfg.get('weights_sha256', '?')}`; trained with toolkit "
             f"{cfg.get('toolkit_version', '?')}, torch {cfg.get('torch_version', '?')}.",
             "- Initialisation: " + ("this project's own (trained from scratch)"
                                     if not cfg.get("init") else
                                     f"fine-tuned from `{cfg['init'].get('folder', cfg['init'])}`")
             + ".", ""]
    roots = data.get("roots") or ([data["root"]] if data.get("root") else [])
    held = cfg.get("held_out") or {}
    lines += ["## Training data", "",
              f"- The train splits of {', '.join(f'`{Path(r).name}`' for r in roots) or '?'} "
              f"(dataset `{data.get('name', '?')}`); validation on their valid splits.",
              "- Held out of training and validation: "
              + (f"{len(held['pieces'])} pieces of {', '.join(f'`{h}`' for h in held['from'])}"
                 if held.get("pieces") else "nothing beyond the datasets' own test splits") + ".",
              ""]
    augs = cfg.get("augmentations") or {}
    if augs:
        lines += ["## Augmentation", "", "| augmentation | settings |", "|---|---|"]
        lines += [f"| `{n}` | " + ", ".join(f"{k}={v}" for k, v in s.items()) + " |"
                  for n, s in augs.items()]
        lines += [""]
    log = _log(folder)
    pairs = sum(int(r.get("pairs") or 0) for r in log)
    lines += ["## Schedule", "",
              f"- Adam, lr {fit.get('lr')}, batches of {fit.get('batch_size')}, epochs of "
              f"{fit.get('epoch_samples')} pairs; {training.get('epochs')} epochs "
              f"({pairs:,} pairs), best epoch {training.get('best_epoch')}, stopped by "
              f"{training.get('stopped')}.",
              f"- {float(training.get('seconds') or 0) / 60:.1f} minutes on `{fit.get('device')}`"
              + (" with bfloat16 autocast" if fit.get("amp") else "") + ".", ""]
    valid = training.get("valid") or {}
    lines += ["## Validation", "",
              f"Audio → sheet snippet retrieval among {training.get('valid_candidates', '?')} "
              f"validation pairs: R@1 {valid.get('r1', float('nan')):.3f}, MRR "
              f"{valid.get('mrr', float('nan')):.3f} (best epoch).", ""]
    if log:
        step = max(1, len(log) // 10)
        shown = log[::step] + ([log[-1]] if (len(log) - 1) % step else [])
        lines += ["| epoch | loss | valid R@1 | valid MRR |", "|---|---|---|---|"]
        lines += [f"| {r['epoch']} | {r.get('loss') or float('nan'):.2f} | "
                  f"{r.get('valid_r1', float('nan')):.3f} | {r.get('valid_mrr', float('nan')):.3f} |"
                  for r in shown]
        lines += [""]
    if robustness:
        label, rows, meta = _robustness(Path(robustness), folder)
        lines += ["## Robustness", "",
                  f"Piece identification, whole pieces, matcher `{meta.get('matcher', '?')}`, "
                  f"MRR (R@1 in brackets); rows `{label}` of `{Path(robustness).name}` "
                  f"({meta.get('machine', '?')}). Test pieces of `{meta.get('datasets', '?')}` "
                  f"and unseen corpora `{meta.get('unseen', '?')}`.", "",
                  "| condition | pieces | audio → sheet | sheet → audio |", "|---|---|---|---|"]
        lines += [f"| {r.get('label', r.get('row'))} | {r.get('candidates', '?')} | "
                  f"{_cell(r.get('a2s') or {})} | {_cell(r.get('s2a') or {})} |" for r in rows]
        lines += [""]
    return "\n".join(lines)
