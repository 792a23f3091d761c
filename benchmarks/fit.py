"""Benchmark: training throughput and snippet-retrieval quality (``ast fit``, ``ast eval snippets``).

Throughput — training pairs per second of every encoder (forward, backward and
Adam step on batches of real rendered pairs, after two warm-up steps), on the
CPU and, when one is present, on the GPU (bfloat16 autocast)::

    .venv/bin/python benchmarks/fit.py throughput --dataset data/demo [--steps 5]

Quality — train models on a rendered dataset (each for at most --time-limit
minutes, or until early stopping) and print the table of Dorfer et al. (2016, 2018): R@1,
R@10, MRR and MR in both directions for each candidate count (pairs taken
evenly over the test split; "all" when the split has fewer)::

    .venv/bin/python benchmarks/fit.py quality --dataset data/chorales \
        --models cnn:ranking,attention:ranking,timm:ranking --candidates 2000,10000 \
        --time-limit 15 --json benchmarks/results/fit-chorales.json

A model folder that already holds a finished model (benchmarks/runs/...) is
evaluated again, not retrained; an unfinished one is resumed.
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
from ast_toolkit.data.spectrogram import n_bins
from ast_toolkit.evaluation.snippets import evaluate_snippets
from ast_toolkit.learn.modelfile import load_encoder
from ast_toolkit.learn.training import FitConfig, augment_sheets, fit, pick_device

RUNS = Path(__file__).resolve().parent / "runs"


def _hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def throughput(args: argparse.Namespace) -> list[dict]:
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    rows = []
    for device in devices:
        for name in args.encoders.split(","):
            torch.manual_seed(0)
            enc = plugins.create("encoders", name).to(device)
            obj = plugins.create("objectives", "ranking")
            ds = open_dataset(args.dataset, sheet_window=enc.sheet_window,
                              audio_context=enc.audio_shape[1])
            bins = n_bins(ds.spectrogram)
            if bins != enc.audio_shape[0]:
                enc = plugins.create("encoders", name, audio_bins=bins).to(device)
            table = ds.pair_table("train")
            rng = np.random.default_rng(0)
            opt = torch.optim.Adam(enc.parameters(), lr=1e-3)
            amp = device.type == "cuda"
            batches = [ds.batch(table, rng.integers(len(table), size=args.batch), rng=rng,
                                audio_jitter=1) for _ in range(args.steps + 2)]
            enc.train()
            for i, (s, a) in enumerate(batches):
                if i == 2:
                    if device.type == "cuda":
                        torch.cuda.synchronize()
                    t0 = time.perf_counter()
                xs = augment_sheets(torch.from_numpy(s)[:, None].to(device), rng, shift=5,
                                    scale=(0.95, 1.05))
                xa = torch.from_numpy(a)[:, None].to(device)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                    zs, za = enc.sheet_features(xs), enc.audio_features(xa)
                loss = obj.loss(zs.float(), za.float())
                opt.zero_grad()
                loss.backward()
                opt.step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - t0
            row = {"encoder": name, "device": _hardware(device),
                   "pairs_per_s": round(args.steps * args.batch / seconds, 1),
                   "parameters": sum(p.numel() for p in enc.parameters())}
            print(f"{name:10} {row['device']:40} {row['pairs_per_s']:9.1f} pairs/s "
                  f"({row['parameters']:,} parameters)", flush=True)
            rows.append(row)
    return rows


def quality(args: argparse.Namespace) -> list[dict]:
    dataset = Path(args.dataset)
    rows = []
    for spec in args.models.split(","):
        encoder, _, objective = spec.partition(":")
        objective = objective or "ranking"
        params = {}
        if encoder == "timm":
            params = {"sheet_backbone": args.backbone, "audio_backbone": args.backbone}
        out = RUNS / f"{dataset.name}-{encoder}-{objective}"
        if not (out / "config.json").exists():
            cfg = FitConfig(lr=args.lr, epoch_samples=args.epoch_samples,
                            val_candidates=args.val_candidates, patience=args.patience,
                            time_limit=args.time_limit, device=args.device)
            t0 = time.time()
            print(f"training {spec} on {dataset} (<= {args.time_limit} min)", flush=True)
            fit(dataset, out, encoder=encoder, params=params, objective=objective, config=cfg,
                resume=(out / "checkpoint.pt").exists(), dataset_name=dataset.name,
                progress=lambda s: s.info.get("event") == "epoch" and print(
                    f"  epoch {s.info['epoch']}: valid R@1 {s.info['valid_r1']:.3f} MRR "
                    f"{s.info['valid_mrr']:.3f} ({s.info['pairs_per_s']:.0f} pairs/s)", flush=True))
            print(f"  trained in {(time.time() - t0) / 60:.1f} min", flush=True)
        enc, cfg = load_encoder(str(out))
        ds = open_dataset(dataset, encoder=enc)
        for n in (int(c) for c in args.candidates.split(",")):
            report, _ = evaluate_snippets(enc, ds, split="test", candidates=n,
                                          metrics=("recall@1", "recall@10", "mrr", "median-rank"))
            for direction, v in report["directions"].items():
                row = {"dataset": dataset.name, "model": spec, "candidates": report["candidates"],
                       "asked": n, "direction": direction, "r1": v["recall@1"],
                       "r10": v["recall@10"], "mrr": v["mrr"], "mr": v["median-rank"],
                       "epochs": cfg["training"]["epochs"],
                       "train_minutes": round(cfg["training"]["seconds"] / 60, 1),
                       "device": cfg["fit"]["device"]}
                rows.append(row)
                print(f"| {dataset.name} | {spec} | {row['candidates']} | {direction} | "
                      f"{row['r1']:.3f} | {row['r10']:.3f} | {row['mrr']:.3f} | {row['mr']:g} | "
                      f"{row['epochs']} ep, {row['train_minutes']} min |", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--dataset", default="data/demo")
    t.add_argument("--encoders", default=",".join(plugins.names("encoders")))
    t.add_argument("--batch", type=int, default=100)
    t.add_argument("--steps", type=int, default=5)
    q = sub.add_parser("quality")
    q.add_argument("--dataset", default="data/chorales")
    q.add_argument("--models", default="cnn:ranking,attention:ranking,timm:ranking")
    q.add_argument("--backbone", default="resnet18")
    q.add_argument("--candidates", default="2000,10000")
    q.add_argument("--time-limit", type=float, default=15.0)
    q.add_argument("--epoch-samples", type=int, default=10_000)
    q.add_argument("--val-candidates", type=int, default=1000)
    q.add_argument("--patience", type=int, default=10)
    q.add_argument("--lr", type=float, default=2e-3)
    q.add_argument("--device", default="auto")
    for p in (t, q):
        p.add_argument("--json", dest="json_out")
    args = ap.parse_args()
    print(f"# {platform.node()}: {os.cpu_count()} cores, torch {torch.__version__}, "
          f"device {pick_device('auto')}", flush=True)
    rows = throughput(args) if args.what == "throughput" else quality(args)
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
