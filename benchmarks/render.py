"""Benchmark: dataset rendering throughput (``ast data render``).

Renders the first N pieces (taken evenly, as ``--limit`` does) of the named
datasets with each renderer, with the dataset's own renditions (MSMD-like:
three training renditions; test pieces one rendition with the held-out
MuseScore_General soundfont, whose loading costs ~4 s per worker and is part of
the measured time), and reports pieces per minute and minutes of audio per
minute of wall-clock time.

    .venv/bin/python benchmarks/render.py [--datasets folk,chorales] [--pieces 120]
        [--renderers verovio,lilypond] [--workers 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile

from ast_toolkit import plugins
from ast_toolkit.catalog import load_registry
from ast_toolkit.data.build import dataset_spec, dataset_stats, render_dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="folk,chorales")
    ap.add_argument("--renderers", default=",".join(plugins.names("renderers")))
    ap.add_argument("--pieces", type=int, default=120)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", dest="json_out")
    args = ap.parse_args()
    registry = load_registry()
    rows = []
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{args.workers} workers, {args.pieces} pieces per run")
    print(f"{'dataset':10} {'renderer':9} {'built':>5} {'failed':>6} {'seconds':>8} "
          f"{'pieces/min':>10} {'audio min/min':>13}")
    for name in args.datasets.split(","):
        for renderer in args.renderers.split(","):
            spec = dataset_spec(registry, name, renderer=renderer)
            with tempfile.TemporaryDirectory() as tmp:
                report = render_dataset(spec, tmp, workers=args.workers, limit=args.pieces)
                stats = dataset_stats(tmp).get("all", {"hours": 0.0})
            minutes = report.seconds / 60
            row = {
                "dataset": name, "renderer": renderer, "built": len(report.built),
                "failed": len(report.failed), "seconds": round(report.seconds, 1),
                "pieces_per_min": round(len(report.built) / minutes, 1),
                "audio_min_per_min": round(stats["hours"] * 60 / minutes, 1),
                "failures": [f.reason for f in report.failed][:5],
            }
            rows.append(row)
            print(f"{name:10} {renderer:9} {row['built']:5} {row['failed']:6} {row['seconds']:8} "
                  f"{row['pieces_per_min']:10} {row['audio_min_per_min']:13}", flush=True)
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump({"workers": args.workers, "pieces": args.pieces, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
