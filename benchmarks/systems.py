"""Benchmark: system detection by the page readers on rendered pages, clean and degraded.

Engraves pieces of the music21 corpus with each renderer at 300 dpi (A4 at 2480
pixels, a staff space of 20 px: a printed 7-mm staff), degrades every page in
each way of :data:`ast_toolkit.data.degrade.DEGRADATIONS` (rotation +-3 deg,
noise, blur, 150 dpi, JPEG quality 30, binarised, a mild perspective), reads
it, and compares the systems found with the renderer's own system boxes:
system recall and precision, and the staff space's error (relative to the
renderer's, times the degradation's scale), per degradation.  Also the time
to read a page.

    .venv/bin/python benchmarks/systems.py [--pieces 4] [--renderers verovio,lilypond]
        [--reader classical] [--json benchmarks/results/systems.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from ast_toolkit import plugins
from ast_toolkit.data.degrade import DEGRADATIONS, degrade
from ast_toolkit.data.sources import expand_source, select
from ast_toolkit.errors import ToolkitError
from ast_toolkit.evaluation.systems import SystemScore, match_systems

#: Pieces engraved: monophonic tunes (one-staff systems), chorales and piano
#: music (grand staves); spread over the corpus as ``--limit`` does.
SOURCES = ("music21:essenFolksong/altdeu10.abc", "music21:bach/bwv*", "music21:mozart/k545/*",
           "music21:joplin/*", "music21:schumann_clara/polonaise_*")
PAGE_WIDTH, STAFF_SPACE = 2480, 20.0


def rendered_pages(renderer: str, pieces: int):
    """``(piece id, page image, its true system boxes)`` for ``pieces`` pieces per source."""
    r = plugins.create("renderers", renderer, page_width=PAGE_WIDTH, staff_space=STAFF_SPACE)
    for src in SOURCES:
        for score in select(expand_source(src), pieces):
            try:
                out = r.render(score)
            except ToolkitError as exc:
                print(f"  skipped {score.id}: {exc}")
                continue
            for p, page in enumerate(out.pages):
                boxes = [s.bbox for s in out.systems if s.page == p]
                if boxes:
                    yield score.id, np.asarray(page, np.uint8), boxes


def local_scale(m: np.ndarray, shape: tuple[int, int]) -> float:
    """How much the degradation's matrix stretches vertical lengths at the page's centre
    (the true staff space of a perspective-warped page varies over the page)."""
    h, w = shape
    pts = np.array([[w / 2, h / 2, 1.0], [w / 2, h / 2 + 100, 1.0]]) @ np.asarray(m).T
    pts = pts[:, :2] / pts[:, 2:]
    return float(np.linalg.norm(pts[1] - pts[0]) / 100)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pieces", type=int, default=4, help="pieces per corpus source")
    ap.add_argument("--renderers", default="verovio,lilypond")
    ap.add_argument("--reader", default="classical")
    ap.add_argument("--json", dest="json_out")
    args = ap.parse_args()
    reader = plugins.create("readers", args.reader)
    totals = {d: SystemScore(0, 0, 0) for d in DEGRADATIONS}
    errors: dict[str, list[float]] = {d: [] for d in DEGRADATIONS}
    failures: dict[str, list[str]] = {d: [] for d in DEGRADATIONS}
    seconds: list[float] = []
    n_pages = 0
    for renderer in args.renderers.split(","):
        for pid, page, boxes in rendered_pages(renderer, args.pieces):
            n_pages += 1
            for name in DEGRADATIONS:
                img, m = degrade(page, name, seed=n_pages)
                scale = float(m[0, 0]) if name.startswith("downscale") else 1.0
                truth = [tuple(v * scale for v in b) for b in boxes]
                t0 = time.perf_counter()
                try:
                    reading = reader.read(img)
                except ToolkitError as exc:
                    failures[name].append(f"{renderer} {pid}: {exc}")
                    totals[name] += SystemScore(len(truth), 0, 0)
                    continue
                seconds.append(time.perf_counter() - t0)
                score = match_systems(truth, [s.bbox for s in reading.systems])
                if score.matched < score.true or score.found > score.true:
                    failures[name].append(f"{renderer} {pid}: {score}")
                totals[name] += score
                errors[name].append(abs(reading.staff_space / (STAFF_SPACE * local_scale(m, page.shape)) - 1))
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores; reader "
          f"{args.reader}; {n_pages} rendered pages ({args.renderers}) at {PAGE_WIDTH} px, "
          f"staff space {STAFF_SPACE:g} px")
    print(f"{'degradation':18} {'systems':>7} {'recall':>7} {'precision':>9} {'staff-space error':>18}")
    rows = []
    for name, s in totals.items():
        err = errors[name]
        row = {"degradation": name, "systems": s.true, "found": s.found, "matched": s.matched,
               "recall": round(s.recall, 4), "precision": round(s.precision, 4),
               "staff_space_error_median": round(float(np.median(err)), 4) if err else None,
               "staff_space_error_max": round(float(np.max(err)), 4) if err else None,
               "failures": failures[name][:10]}
        rows.append(row)
        print(f"{name:18} {s.true:7} {s.recall:7.1%} {s.precision:9.1%} "
              f"{row['staff_space_error_median'] or 0:8.2%} (max {row['staff_space_error_max'] or 0:.2%})")
    print(f"read time per page: median {np.median(seconds):.2f} s, max {np.max(seconds):.2f} s")
    for name, f in failures.items():
        for line in f[:3]:
            print(f"  {name}: {line}")
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump({"pages": n_pages, "renderers": args.renderers, "reader": args.reader,
                       "page_width": PAGE_WIDTH, "staff_space": STAFF_SPACE,
                       "seconds_per_page_median": round(float(np.median(seconds)), 3),
                       "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
