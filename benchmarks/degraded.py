"""Benchmark: piece identification through the page reader, on clean and degraded renderings.

The test pieces of a rendered dataset are engraved again at 300 dpi (A4 at 2480
px, staff space 20 px — not the dataset's scale: the reader must rescale them
to the model's), degraded in each way of
:data:`ast_toolkit.data.degrade.DEGRADATIONS`, saved as PNG and indexed as a
user's scans (``ast index --sheets``) beside the pieces' own recordings (their
first rendition, as audio files).  Every recording is then queried against
the scans (A2S) and every scan against the recordings (S2A), whole pieces, one
model throughout: the rows compare each degradation with the clean scans, and
``native`` with the dataset's own pages (no reader).

    .venv/bin/python benchmarks/degraded.py --model models/demo-cnn --dataset data/demo \\
        [--split test] [--matchers dtw] [--degradations clean,noise,...] \\
        [--work /tmp/ast-degraded] [--json benchmarks/results/degraded.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path

import numpy as np
from PIL import Image

from ast_toolkit import plugins
from ast_toolkit.data.datasets import open_dataset
from ast_toolkit.data.degrade import DEGRADATIONS, degrade
from ast_toolkit.data.sources import piece_slug
from ast_toolkit.learn.modelfile import load_encoder
from ast_toolkit.search.index import Index, build_index
from _ranking import piece_ranks, summary
from ast_toolkit.types import ScoreSource


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--matchers", default="dtw")
    ap.add_argument("--degradations", default=",".join(DEGRADATIONS))
    ap.add_argument("--work", default="/tmp/ast-degraded")
    ap.add_argument("--json", dest="json_out")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    encoder, _ = load_encoder(Path(args.model))
    ds = open_dataset(args.dataset, encoder=encoder)
    ids = ds.piece_ids(args.split)
    renderer = plugins.create("renderers", "verovio", page_width=2480, staff_space=20.0)
    audio_dir = work / "recordings"
    pages: dict[str, list[np.ndarray]] = {}
    audio_dir.mkdir(exist_ok=True)
    for pid in ids:
        folder = ds.folder(pid)
        shutil.copy(sorted(folder.glob("renditions/*/audio.flac"))[0], audio_dir / f"{piece_slug(pid)}.flac")
        info = json.loads((folder / "score.json").read_text())
        out = renderer.render(ScoreSource(pid, Path(info["file"]), info.get("number")))
        pages[pid] = [np.asarray(p, np.uint8) for p in out.pages]
    result: dict = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
                    "model": args.model, "dataset": args.dataset, "split": args.split, "pieces": len(ids),
                    "rows": []}
    # native: the dataset's own pages and renditions, no reader
    t0 = time.perf_counter()
    native = work / "index-native"
    build_index(args.model, native, dataset=args.dataset, split=args.split)
    idx = Index(native)
    for matcher in args.matchers.split(","):
        row = {"degradation": "native (no reader)", "matcher": matcher,
               "a2s": summary(piece_ranks(idx, {p: p for p in ids}, "audio", matcher)),
               "s2a": summary(piece_ranks(idx, {p: p for p in ids}, "sheet", matcher))}
        result["rows"].append(row)
        print(json.dumps(row), flush=True)
    for name in args.degradations.split(","):
        sheets = work / f"scans-{name}"
        sheets.mkdir(exist_ok=True)
        for k, (pid, imgs) in enumerate(pages.items()):
            folder = sheets / piece_slug(pid)
            folder.mkdir(exist_ok=True)
            for n, img in enumerate(imgs):
                Image.fromarray(degrade(img, name, seed=k * 10 + n)[0]).save(folder / f"p{n + 1}.png")
        out = work / f"index-{name}"
        report = build_index(args.model, out, sheets=[sheets], audio=[audio_dir])
        idx = Index(out)
        to_sheet = {f"recordings/{piece_slug(p)}.flac": f"scans-{name}/{piece_slug(p)}" for p in ids}
        to_audio = {v: k for k, v in to_sheet.items() if v in idx.ids}
        for matcher in args.matchers.split(","):
            row = {"degradation": name, "matcher": matcher, "unreadable": len(report.failed),
                   "a2s": summary(piece_ranks(idx, {a: s for a, s in to_sheet.items()}, "audio", matcher)),
                   "s2a": summary(piece_ranks(idx, to_audio, "sheet", matcher))}
            result["rows"].append(row)
            print(json.dumps(row), flush=True)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    print("\n| scans | matcher | A2S R@1 | A2S MRR | S2A R@1 | S2A MRR |\n|---|---|---|---|---|---|")
    for r in result["rows"]:
        print(f"| {r['degradation']} | {r['matcher']} | {r['a2s']['r@1']:.2f} | {r['a2s']['mrr']:.2f} | "
              f"{r['s2a']['r@1']:.2f} | {r['s2a']['mrr']:.2f} |")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
