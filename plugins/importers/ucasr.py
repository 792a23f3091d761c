"""``ucasr``: the checkpoints of [Carvalho et al. 2023] (luisfvc/ucasr, PyTorch, MIT).

The authors' MSMD-trained models ("Self-Supervised Contrastive Learning for
Robust Audio–Sheet Music Retrieval Systems", ACM MMSys 2023,
:data:`~ast_toolkit.references.CARVALHO2023`) are ``torch.save({'model_params':
state_dict})`` files.  Their layout, read from the repository's
``models/vgg_model.py``, ``models/cca_layer.py`` and ``config/msmd_config.yaml``:

* ``x_net`` (sheet) and ``y_net`` (audio): ``encoder.block1..4`` — each
  ``conv1`` → ``bn1`` → ELU → ``conv2`` → ``bn2`` → ELU → 2×2 max-pool, 3×3
  convs without bias, 24/48/96/96 filters — then ``encoder.conv`` (1×1 → 32, no
  bias) + ``encoder.bn``, flattened, then ``mlp_head`` (``mlp_head_x`` in some
  checkpoints) Linear → 32.  That is the ``cnn`` encoder's layout, so the
  weights land in a ``cnn`` with no code of theirs.
* Sheet input: the 160 × 200 window divided by 255 (1 = paper), resized to
  80 × 100 (the ``cnn`` takes ``sheet_polarity = "paper"``); audio input: 92
  bins × 42, 84 or 168 frames — read off the audio head's input size.
* ``cca_layer``: ``U``, ``V``, ``mean1``, ``mean2`` (sheet = x, audio = y) and
  the covariances ``S11``, ``S22``, ``S12``; at test time
  ``(x − mean1) U`` and ``(y − mean2) V``, then L2-normalised — the ``cnn``'s
  CCA head.  ``eye_matrix`` is a constant identity and is checked, not kept.

Written from the layout, not from their code (which is not vendored).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch

from ast_toolkit import plugins
from ast_toolkit.catalog import PRESETS
from ast_toolkit.errors import IntegrityError
from ast_toolkit.interfaces import ImportedModel, Importer

__all__ = ["UcasrImporter", "convert_state_dict", "AUDIO_CONTEXTS"]

#: Audio head input features -> spectrogram frames (``snippet_len`` sc / mc / lc
#: of their config: 2.1, 4.2 and 8.4 s at 20 frames/s; 92 bins pooled to 5).
AUDIO_CONTEXTS = {32 * 5 * 2: 42, 32 * 5 * 5: 84, 32 * 5 * 10: 168}

_PATHWAYS = {"x_net": "sheet_net", "y_net": "audio_net"}
#: Their block member -> index in the ``cnn``'s block (conv, bn, ELU, conv, bn, ELU, pool).
_BLOCK_PARTS = {"conv1": 0, "bn1": 1, "conv2": 3, "bn2": 4}
_CCA = {"U": "proj_x", "V": "proj_y", "mean1": "mean_x", "mean2": "mean_y",
        "S11": "cov_xx", "S22": "cov_yy", "S12": "cov_xy"}
_BLOCK = re.compile(r"^(x_net|y_net)\.encoder\.block([1-9])\.(conv1|bn1|conv2|bn2)\.(\w+)$")
_TAIL = re.compile(r"^(x_net|y_net)\.(encoder\.conv|encoder\.bn|mlp_head|mlp_head_x)\.(\w+)$")
#: Pairs the authors' ``refine_cca.py`` refits the CCA layer on (``n_refine``).
_REFINE_PAIRS = 25000


def _target(key: str) -> str | None:
    """Our ``cnn`` state-dict key for one of theirs; None for a key known to be dropped."""
    if m := _BLOCK.match(key):
        net, block, part, leaf = m.groups()
        return f"{_PATHWAYS[net]}.blocks.{int(block) - 1}.{_BLOCK_PARTS[part]}.{leaf}"
    if m := _TAIL.match(key):
        net, part, leaf = m.groups()
        ours = {"encoder.conv": "project", "encoder.bn": "norm"}.get(part, "dense")
        return f"{_PATHWAYS[net]}.{ours}.{leaf}"
    if key.startswith("cca_layer."):
        name = key.split(".", 1)[1]
        if name == "eye_matrix":
            return None
        if name in _CCA:
            return f"head.{_CCA[name]}"
    raise KeyError(key)


def convert_state_dict(state: dict[str, torch.Tensor], *, origin: str = "checkpoint") -> tuple[dict[str, torch.Tensor], int]:
    """Their state dict -> the ``cnn``'s (with a CCA head), and the audio context in frames.

    Raises
    ------
    IntegrityError
        A key this layout does not have (named), a missing audio head, or an
        audio head of a size that matches no context.

    Examples
    --------
    >>> state = {"y_net.mlp_head.weight": torch.zeros(32, 800), "cca_layer.U": torch.eye(32),
    ...          "cca_layer.eye_matrix": torch.eye(32)}
    >>> ours, context = convert_state_dict(state)
    >>> sorted(ours), context
    (['audio_net.dense.weight', 'head.proj_x'], 84)
    >>> convert_state_dict({"y_net.mlp_head.weight": torch.zeros(32, 800), "x_net.attention.w": torch.zeros(1)})
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.IntegrityError: checkpoint: key 'x_net.attention.w' is not part of the ucasr layout (x_net/y_net encoder.block1-4, encoder.conv, encoder.bn, mlp_head[_x], cca_layer); refusing to drop it
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        try:
            target = _target(key)
        except KeyError:
            raise IntegrityError(
                f"{origin}: key {key!r} is not part of the ucasr layout (x_net/y_net "
                "encoder.block1-4, encoder.conv, encoder.bn, mlp_head[_x], cca_layer); "
                "refusing to drop it") from None
        if target is None:
            if not torch.equal(value, torch.eye(value.shape[0], dtype=value.dtype)):
                raise IntegrityError(f"{origin}: {key} is expected to be an identity matrix")
            continue
        if target in out:
            raise IntegrityError(f"{origin}: two keys map to {target} (both mlp_head and mlp_head_x?)")
        out[target] = value.detach().clone()
    head = out.get("audio_net.dense.weight")
    if head is None:
        raise IntegrityError(f"{origin}: no audio head (y_net.mlp_head.weight)")
    features = int(head.shape[1])
    if features not in AUDIO_CONTEXTS:
        raise IntegrityError(
            f"{origin}: the audio head takes {features} features; known sizes are "
            + ", ".join(f"{k} ({v} frames)" for k, v in AUDIO_CONTEXTS.items()))
    return out, AUDIO_CONTEXTS[features]


class UcasrImporter(Importer):
    """Import an MSMD-trained checkpoint of luisfvc/ucasr into a ``cnn`` model.

    The result embeds exactly as their model at test time: the sheet pathway
    reads 1 = paper windows, the CCA layer projects, both views are
    L2-normalised.  Its data setting is MSMD's (the ``msmd`` preset).

    Examples
    --------
    >>> from ast_toolkit import plugins
    >>> plugins.create("importers", "ucasr").read(__file__)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.IntegrityError: ...ucasr.py: not a PyTorch checkpoint (...)
    """

    def read(self, file: str | os.PathLike) -> ImportedModel:
        path = Path(file)
        if not path.is_file():
            raise IntegrityError(f"{path}: no such file")
        if path.stat().st_size == 0:
            raise IntegrityError(f"{path}: the file is empty (0 bytes)")
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # zip / pickle errors of a file that is not a checkpoint
            detail = str(exc).splitlines()[0] if str(exc) else ""
            if "Weights only load failed" in detail:  # torch's long advice: not ours to give
                detail = "neither a zip nor a pickle of tensors that torch loads safely"
            raise IntegrityError(f"{path}: not a PyTorch checkpoint ({type(exc).__name__}: "
                                 f"{detail[:200]})") from None
        if not isinstance(data, dict) or not isinstance(data.get("model_params"), dict):
            keys = list(data)[:5] if isinstance(data, dict) else type(data).__name__
            raise IntegrityError(f"{path}: expected {{'model_params': state_dict}} (ucasr's "
                                 f"layout), got {keys}")
        state, context = convert_state_dict(data["model_params"], origin=str(path))
        encoder = plugins.create("encoders", "cnn", audio_context=context,
                                 sheet_polarity="paper", head="cca")
        mine = encoder.state_dict()
        # the statistics' sample size is not stored: their refit's (refine_cca.py)
        state["head.n_seen"] = torch.tensor(_REFINE_PAIRS, dtype=torch.int64)
        missing = sorted(k for k in mine if k not in state and not k.endswith("num_batches_tracked"))
        if missing:
            raise IntegrityError(f"{path}: the checkpoint lacks {', '.join(missing[:4])}"
                                 f"{' …' if len(missing) > 4 else ''}")
        for key, value in state.items():
            if key not in mine:
                raise IntegrityError(f"{path}: {key} has no place in the cnn")  # a bug here
            if tuple(value.shape) != tuple(mine[key].shape):
                raise IntegrityError(f"{path}: {key}: shape {tuple(value.shape)}, the cnn's is "
                                     f"{tuple(mine[key].shape)}")
            state[key] = value.to(mine[key].dtype)
        for key in mine:
            state.setdefault(key, mine[key])  # num_batches_tracked, when absent
        encoder.load_state_dict(state)
        encoder.eval()
        msmd = PRESETS["msmd"]
        return ImportedModel(
            encoder,
            dataset={"name": "MSMD", "preset": "msmd",
                     "spectrogram_bins": int(encoder.audio_shape[0]),
                     "spectrogram": msmd.spectrogram.to_dict(),
                     "snippets": {"system_margin": msmd.snippets.system_margin,
                                  "pairs": msmd.snippets.pairs},
                     "staff_space": msmd.render.staff_space,
                     "system_margin": msmd.snippets.system_margin},
            source={"format": "ucasr", "code": "https://github.com/luisfvc/ucasr",
                    "paper": "Carvalho, Washüttl & Widmer, ACM MMSys 2023 (arXiv 2309.12134)",
                    "licence": "MIT", "audio_context": context},
        )
