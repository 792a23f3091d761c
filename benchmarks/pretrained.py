"""Benchmark: published MSMD-trained weights on our data, against our own models.

Imported weights — snippet retrieval of the checkpoints of Carvalho et al.
(MMSys 2023, luisfvc/ucasr; read from ``../shared/models/ucasr``, never copied
into the repository), imported with ``ast model import --format ucasr`` and
not fine-tuned, on rendered datasets (every pair of the split is a candidate)::

    .venv/bin/python benchmarks/pretrained.py snippets \
        --models ucasr-audio=models/ucasr-mc,ucasr-both=models/ucasr-mc-score \
        --datasets chorales=data/chorales40,piano=data/piano --split test

Comparison — the same, plus Table I of Carvalho & Widmer (2021) (piece
identification, each piece queried whole, both directions) from an index per
model of each dataset's test split (``DIR:SPLIT`` picks another; ``all`` for a
corpus no model was trained on)::

    .venv/bin/python benchmarks/pretrained.py compare \
        --models imported=models/ucasr-mc,scratch=models/chorales-cnn84,finetuned=models/ucasr-ft \
        --datasets chorales=data/chorales,piano=data/piano \
        --pieces chorales=data/chorales,piano=data/piano:all --matchers vote,shazam,dtw,sdtw

Models of one audio context see the same candidates (the ``msmd`` pair
selection keeps a pair only when its whole excerpt lies inside the
spectrogram, so the context decides which onsets near the ends are pairs).
Results go to ``benchmarks/results/pretrained-<command>.json`` and print as
Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from ast_toolkit.evaluation.pieces import evaluate_pieces
from ast_toolkit.evaluation.snippets import snippet_retrieval
from ast_toolkit.search.index import build_index

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
RUNS = HERE / "runs"


def _pairs(text: str) -> list[tuple[str, str]]:
    out = []
    for item in text.split(","):
        name, _, path = item.partition("=")
        if not path:
            raise SystemExit(f"expected NAME=PATH, got {item!r}")
        out.append((name, path))
    return out


def _split(path: str, default: str) -> tuple[str, str]:
    """``DIR`` or ``DIR:SPLIT`` (``all`` for every piece)."""
    folder, _, split = path.partition(":")
    return folder, split or default


def _hardware() -> str:
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def snippets(args: argparse.Namespace) -> list[dict]:
    rows = []
    for dname, dpath in _pairs(args.datasets):
        dpath, split = _split(dpath, args.split)
        if split == "all":
            continue  # snippet retrieval is per split
        for mname, mpath in _pairs(args.models):
            t0 = time.perf_counter()
            rep = snippet_retrieval(mpath, dpath, split=split, candidates=10**7)
            row = {"dataset": dname, "model": mname, "split": split,
                   "candidates": rep["candidates"], "seconds": round(time.perf_counter() - t0, 1)}
            for d, m in rep["directions"].items():
                row.update({f"{d} R@1": m["recall@1"], f"{d} R@10": m["recall@10"],
                            f"{d} MRR": m["mrr"], f"{d} MR": m["median-rank"]})
            rows.append(row)
            print(f"{dname} {mname}: {row}", flush=True)
    print()
    print("| dataset | model | candidates | A2S R@1 | R@10 | MRR | MR | S2A R@1 | R@10 | MRR | MR |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['dataset']} | {r['model']} | {r['candidates']:,} | "
              + " | ".join(f"{r[f'{d} R@1']:.3f} | {r[f'{d} R@10']:.3f} | {r[f'{d} MRR']:.3f} | "
                           f"{r[f'{d} MR']:g}" for d in ("a2s", "s2a")) + " |")
    return rows


def pieces(args: argparse.Namespace) -> list[dict]:
    rows = []
    for dname, dpath in _pairs(args.pieces or args.datasets):
        dpath, split = _split(dpath, args.split)
        for mname, mpath in _pairs(args.models):
            out = RUNS / "indexes" / f"{mname}-{dname}-{split}"
            build_index(mpath, out, dataset=dpath, split=split, overwrite=True)
            rep = evaluate_pieces(out, args.matchers.split(","), direction="both")
            for r in rep["results"]:
                rows.append({"dataset": dname, "model": mname, "pieces": rep["pieces"],
                             **{k: v for k, v in r.items() if k != "ranks"}})
            print(f"{dname} {mname}: indexed and evaluated", flush=True)
    print()
    print("| dataset (test pieces) | model | matcher | A2S R@1 | MRR | S2A R@1 | MRR |")
    print("|---|---|---|---|---|---|---|")
    keyed = {(r["dataset"], r["model"], r["matcher"], r["direction"]): r for r in rows}
    for (d, m, matcher, direction), r in keyed.items():
        if direction != "a2s":
            continue
        s = keyed.get((d, m, matcher, "s2a"))
        cells = [f"{r['R@1']} ({r['R@1'] / r['pieces']:.2f}) | {r['MRR']:.2f}"]
        cells.append(f"{s['R@1']} ({s['R@1'] / s['pieces']:.2f}) | {s['MRR']:.2f}" if s else "– | –")
        print(f"| {d} ({r['pieces']}) | {m} | {matcher} | " + " | ".join(cells) + " |")
    return rows


def compare(args: argparse.Namespace) -> dict:
    return {"snippets": snippets(args), "pieces": pieces(args)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("snippets", "compare"):
        p = sub.add_parser(name)
        p.add_argument("--models", required=True, help="NAME=MODEL_DIR,...")
        p.add_argument("--datasets", required=True, help="NAME=DATASET_DIR,...")
        p.add_argument("--split", default="test")
        p.add_argument("--matchers", default="vote,shazam,dtw,sdtw")
        p.add_argument("--pieces", help="NAME=DIR[:SPLIT],... for piece identification "
                       "(default: --datasets)")
        p.add_argument("--tag", help="Results go to pretrained-COMMAND-TAG.json.")
    args = parser.parse_args()
    t0 = time.perf_counter()
    result = {"snippets": snippets, "compare": compare}[args.command](args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"pretrained-{args.command}{'-' + args.tag if args.tag else ''}.json"
    out.write_text(json.dumps({"command": vars(args), "hardware": _hardware(),
                               "seconds": round(time.perf_counter() - t0, 1), "results": result},
                              indent=2) + "\n")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
