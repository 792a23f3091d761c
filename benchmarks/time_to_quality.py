"""Benchmark: time to quality — test snippet retrieval against minutes of training.

One training run (``ast fit``'s :class:`~ast_toolkit.learn.training.Trainer`,
its steps driven here); whenever the training time passes a mark (minutes on
this machine, evaluation not counted), the best weights so far (by validation
MRR, what the finished model would keep) are evaluated on the *test* split:
A2S and S2A R@1 and MRR among ``--candidates`` pairs (2,000 as [Dorfer et al.
2018a]).  Training minutes and process CPU minutes (all threads) are both
recorded.  From scratch, or fine-tuned from a model (``--init``, e.g. the
imported MSMD weights; minute 0 is then the starting weights).

    .venv/bin/python benchmarks/time_to_quality.py --dataset data/chorales --encoder cnn \\
        --lr 5e-4 --epoch-samples 4000 --minutes 30 --marks 2,5,10,15,20,30 \\
        --out benchmarks/runs/ttq-cnn --json benchmarks/results/ttq-cnn.json
    .venv/bin/python benchmarks/time_to_quality.py --dataset data/chorales \\
        --init models/ucasr-mc --lr 1e-4 ... --out benchmarks/runs/ttq-ucasr-ft

The run folder is resumable: run the same command again to continue (marks
already measured are kept in ``OUT/ttq.json``).  The curves of several runs in
one picture::

    .venv/bin/python benchmarks/time_to_quality.py --plot docs/time-to-quality.png \
        "from scratch=benchmarks/results/ttq-cnn-scratch.json" \
        "MSMD weights, fine-tuned=benchmarks/results/ttq-ucasr-ft.json"
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import time
from pathlib import Path

import torch

from ast_toolkit.evaluation.snippets import evaluate_snippets
from ast_toolkit.learn.encoder import read_checkpoint
from ast_toolkit.learn.training import BEST, CHECKPOINT, Trainer, fit_config


def _evaluate(trainer: Trainer, candidates: int) -> dict:
    enc = copy.deepcopy(trainer.enc)
    best = trainer.out / BEST
    if best.exists():
        enc.load_state_dict(read_checkpoint(best, keys=("model", "objective"))["model"])
    enc.eval()
    report, _ = evaluate_snippets(enc, trainer.ds, split="test", candidates=candidates,
                                  metrics=("recall@1", "recall@10", "mrr"))
    d = report["directions"]
    return {"a2s_r1": d["a2s"]["recall@1"], "a2s_mrr": d["a2s"]["mrr"],
            "s2a_r1": d["s2a"]["recall@1"], "s2a_mrr": d["s2a"]["mrr"],
            "candidates": report["candidates"]}


def plot(out: str, curves: list[str], target: float = 0.5) -> None:
    from ast_toolkit.plotting import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for item in curves:
        label, _, path = item.rpartition("=")
        record = json.loads(Path(path).read_text())
        pts = sorted(record["points"], key=lambda p: p["train_minutes"])
        x = [p["train_minutes"] for p in pts]
        ax.plot(x, [p["a2s_r1"] for p in pts], "o-", label=f"{label or path}: A2S R@1")
        ax.plot(x, [p["s2a_r1"] for p in pts], "s--", alpha=0.6, label=f"{label or path}: S2A R@1")
    ax.axhline(target, color="grey", lw=0.8, ls=":")
    ax.axvline(30, color="grey", lw=0.8, ls=":")
    ax.text(30.3, target + 0.01, "target", color="grey", fontsize=8)
    cands = {json.loads(Path(c.rpartition("=")[2]).read_text()).get("candidates") for c in curves}
    ax.set_xlabel("training minutes (2-core CPU)")
    ax.set_ylabel(f"test R@1 among {', '.join(str(c) for c in cands if c)} chorale pairs")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    save_figure(fig, out, dpi=120)


def main() -> None:
    import sys

    if len(sys.argv) > 2 and sys.argv[1] == "--plot":
        plot(sys.argv[2], sys.argv[3:])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="data/chorales")
    ap.add_argument("--encoder", default=None)
    ap.add_argument("--param", action="append", default=[], help="encoder KEY=VALUE")
    ap.add_argument("--init", default=None)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--epoch-samples", type=int, default=4000)
    ap.add_argument("--augment", default="", help="augmentations / presets, comma-separated")
    ap.add_argument("--amp", default="on", choices=("on", "off"))
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--marks", default="2,5,10,15,20,30")
    ap.add_argument("--candidates", type=int, default=2000)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from ast_toolkit.config import parse_param

    marks = sorted(float(m) for m in args.marks.split(","))
    cfg = fit_config(lr=args.lr, epoch_samples=args.epoch_samples, max_epochs=10_000,
                     patience=10_000, refinements=0, time_limit=args.minutes,
                     augmentations=tuple(a for a in args.augment.split(",") if a) or None,
                     amp=args.amp == "on")
    trainer = Trainer(args.dataset, args.out, encoder=args.encoder,
                      params=dict(parse_param(p) for p in args.param) or None, init=args.init,
                      config=cfg)
    args.out.mkdir(parents=True, exist_ok=True)
    record_path = args.out / "ttq.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {"points": []}
    if (args.out / CHECKPOINT).exists():
        trainer.resume()
    cpu0 = time.process_time() - record.get("cpu_seconds", 0.0)
    trainer.prepare_variants()
    done = {p["mark"] for p in record["points"]}

    def measure(mark: float) -> None:
        nonlocal cpu0
        t0, c0 = time.monotonic(), time.process_time()
        point = {"mark": mark, "train_minutes": trainer.state.seconds / 60,
                 "cpu_minutes": (time.process_time() - cpu0) / 60, "epoch": trainer.state.epoch,
                 **_evaluate(trainer, args.candidates)}
        record["points"].append(point)
        done.add(mark)
        print(f"{mark:5.1f} min (epoch {point['epoch']}, {point['cpu_minutes']:.1f} CPU min): "
              f"A2S R@1 {point['a2s_r1']:.3f} MRR {point['a2s_mrr']:.3f}  "
              f"S2A R@1 {point['s2a_r1']:.3f} MRR {point['s2a_mrr']:.3f}", flush=True)
        # the evaluation is not training time
        trainer._started += time.monotonic() - t0
        cpu0 += time.process_time() - c0
        record["cpu_seconds"] = time.process_time() - cpu0
        record_path.write_text(json.dumps(record, indent=1) + "\n")

    if args.init and 0.0 not in done:
        trainer.validate_start()
        measure(0.0)
    while not trainer.state.stopped:
        entry = trainer.train_epoch()
        trainer.validate(entry)
        trainer.checkpoint()
        minutes = trainer.state.seconds / 60
        for mark in marks:
            if mark not in done and (minutes >= mark or trainer.state.stopped):
                measure(mark)
                break
    record.update({
        "dataset": args.dataset, "encoder": trainer.encoder_name, "init": args.init,
        "lr": args.lr, "epoch_samples": args.epoch_samples, "augment": args.augment,
        "amp": trainer.amp, "candidates": args.candidates,
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "torch_threads": torch.get_num_threads()},
    })
    record_path.write_text(json.dumps(record, indent=1) + "\n")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
