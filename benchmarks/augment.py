"""Benchmark: what each augmentation costs, against what a training step costs.

For every registered augmentation (``ast.augmentations``) it times ``apply``
on batches of real training pairs (sheet windows 160 x 200, spectrogram
excerpts cut as wide as the augmentation needs) at ``p = 1`` (every sample
changed: the worst case), and for rendition augmentations ``vary`` on whole
renditions, in seconds per minute of audio.  Beside them: the data loading
(``Dataset.batch``) and one training step (forward, backward, Adam) of the
``cnn`` encoder on the same batch, in pairs per second, so that one can see
whether augmentation would become the bottleneck.  Threads: torch's default
(the machine's cores).

    .venv/bin/python benchmarks/augment.py --dataset data/demo [--batches 10] \\
        [--json benchmarks/results/augment.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from ast_toolkit import plugins
from ast_toolkit.data.datasets import open_dataset
from ast_toolkit.learn.augment import Augmenter
from ast_toolkit.learn.training import cpu_bfloat16


def _time(fn, repeats: int) -> float:
    fn()  # warm-up (kernels, caches)
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="data/demo")
    ap.add_argument("--encoder", default="cnn")
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--renditions", type=int, default=4,
                    help="renditions varied per rendition augmentation")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    enc = plugins.create("encoders", args.encoder)
    ds = open_dataset(args.dataset, encoder=enc)
    table = ds.pair_table("train")
    rng = np.random.default_rng(0)
    rows = rng.choice(len(table), args.batch_size, replace=False)
    context = int(ds.audio_context)
    n = args.batch_size
    rows_out = []

    load_s = _time(lambda: ds.batch(table, rows, rng=np.random.default_rng(1), audio_jitter=1),
                   args.batches)
    sheets, audio = ds.batch(table, rows, rng=np.random.default_rng(1), audio_jitter=1)
    xs, xa = torch.from_numpy(sheets)[:, None], torch.from_numpy(audio)[:, None]
    obj = plugins.create("objectives", "ranking")
    optim = torch.optim.Adam(enc.parameters(), lr=1e-4)
    enc.train()

    def step(bf16: bool = False) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            s, a = enc.sheet_features(xs), enc.audio_features(xa)
        loss = obj.loss(s.float(), a.float())
        optim.zero_grad()
        loss.backward()
        optim.step()

    step_s = _time(step, args.batches)
    rows_out.append({"what": "data loading (Dataset.batch)", "kind": "pipeline",
                     "pairs_per_s": n / load_s, "ms_per_batch": 1000 * load_s})
    rows_out.append({"what": f"training step ({args.encoder}, float32: forward + backward + Adam)",
                     "kind": "pipeline", "pairs_per_s": n / step_s, "ms_per_batch": 1000 * step_s})
    if cpu_bfloat16():
        bf_s = _time(lambda: step(True), args.batches)
        rows_out.append({"what": f"training step ({args.encoder}, bfloat16 autocast, as ast fit)",
                         "kind": "pipeline", "pairs_per_s": n / bf_s, "ms_per_batch": 1000 * bf_s})

    ref_s = bf_s if cpu_bfloat16() else step_s  # the step ast fit takes here
    pieces = sorted(set(table.pieces))[: args.renditions]

    def batch_runner(aug: Augmenter, modality: str):
        """One call of ``aug`` on the batch: sheet windows, or excerpts cut as wide as it needs."""
        if modality == "sheet":
            return lambda: aug.apply_sheets(xs, np.random.default_rng(2))
        before, after = aug.extent(context // 2, context - context // 2)
        _, wide = ds.batch(table, rows, rng=np.random.default_rng(1), audio_jitter=1,
                           extent=(before, after))
        xw = torch.from_numpy(wide)[:, None]
        return lambda: aug.apply_audio(xw, np.random.default_rng(2), before=before, context=context)
    for name in plugins.names("augmentations"):
        t_setup = time.perf_counter()
        aug = Augmenter([name], [f"{name}.p=1.0"], spectrogram=ds.spectrogram)
        setup_s = time.perf_counter() - t_setup
        plugin = aug.plugins[0]
        if plugin.stage == "rendition":
            seconds, audio_s = 0.0, 0.0
            for piece in pieces:
                perf = ds.performances(piece)[0]
                wave, rate, events = ds.performance_audio(piece, perf)
                t0 = time.perf_counter()
                plugin.vary(wave, rate, events, np.random.default_rng(0))
                seconds += time.perf_counter() - t0
                audio_s += len(wave) / rate
            rows_out.append({"what": name, "kind": "rendition (once, before training)",
                             "s_per_audio_minute": seconds / (audio_s / 60), "setup_s": setup_s})
            continue
        sec = _time(batch_runner(aug, plugin.modality), args.batches)
        rows_out.append({"what": name, "kind": f"{plugin.modality} batch", "pairs_per_s": n / sec,
                         "ms_per_batch": 1000 * sec, "setup_s": setup_s,
                         "share_of_step": sec / ref_s})

    # the presets as training uses them: default p, in order, every augmentation of the preset
    for preset in ("sheet", "audio"):
        aug = Augmenter([preset], ["reverb.bank=4"] if preset == "audio" else [],
                        spectrogram=ds.spectrogram)
        sec = _time(batch_runner(aug, preset), args.batches)
        rows_out.append({"what": f"preset {preset} (default p, all of it)", "kind": "preset",
                         "pairs_per_s": n / sec, "ms_per_batch": 1000 * sec,
                         "share_of_step": sec / ref_s})

    print(f"| augmentation | kind | pairs/s | ms per batch of {n} | vs the training step |")
    print("|---|---|---|---|---|")
    for r in rows_out:
        if "s_per_audio_minute" in r:
            print(f"| `{r['what']}` | {r['kind']} | — | {r['s_per_audio_minute']:.2f} s per "
                  "minute of audio | — |")
        else:
            share = f"{100 * r['share_of_step']:.0f} %" if "share_of_step" in r else "—"
            print(f"| {r['what'] if r['kind'] in ('pipeline', 'preset') else '`' + r['what'] + '`'} | "
                  f"{r['kind']} | {r['pairs_per_s']:,.0f} | {r['ms_per_batch']:.1f} | {share} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "dataset": str(args.dataset), "batch_size": n, "batches": args.batches,
            "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                        "torch_threads": torch.get_num_threads()},
            "rows": rows_out}, indent=1) + "\n")


if __name__ == "__main__":
    main()
