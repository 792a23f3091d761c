"""Benchmark: real scans, photos, PDFs and recordings (``../shared/realworld``, read in place).

Nothing here was made by ``ast``; nothing is copied into the repository and no
model is trained on it.  Three parts:

* ``systems`` — every real page (scans, phone photos, born-digital PDFs of
  another engraver) read by the page reader; staves and systems found against
  the counts made by eye in ``benchmarks/realworld_truth.json``, staff space,
  and the time to load and read each page.
* ``retrieval`` — per model, one index holding the real scans, the real
  recordings, the pieces' own MusicXML engraved and performed by ``ast``
  (verovio, the ``msmd`` preset), and ``--others`` pieces of music21's corpus
  (engraved and performed): A2S — every real recording queried whole against
  every score (rank of its real scan, and of its engraved MusicXML); S2A — every
  real scan against every recording and rendered performance (rank of its real
  recordings, and of its own rendered performance).
* ``link`` — ``ast link`` over the real scans and the real recordings: the
  links it makes and the ones it refuses (Chopin Op. 28 No. 4 has a recording
  but no scan: it must stay unlinked).

    .venv/bin/python benchmarks/realworld.py \\
        --models msmd-audio=models/ucasr-mc,msmd-both=models/ucasr-mc-score \\
        [--realworld ../shared/realworld] [--others 100] [--matchers dtw,sdtw] \\
        [--work /tmp/ast-realworld] [--parts systems,retrieval,link] [--hubness csls] \\
        [--json benchmarks/results/realworld.json]

A model name may be a path to a ucasr checkpoint (``.pt``): it is imported into
the work folder first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from ast_toolkit import plugins
from ast_toolkit.catalog import DatasetSpec, SourceSpec
from ast_toolkit.data.build import render_dataset
from ast_toolkit.data.sources import expand_source
from ast_toolkit.data.collections import Joined
from ast_toolkit.data.datasets import open_dataset
from ast_toolkit.data.recordings import Recordings
from ast_toolkit.data.sheets import Sheets, load_page
from ast_toolkit.errors import ToolkitError
from ast_toolkit.learn.modelfile import load_encoder, model_sheet_scale, model_spectrogram
from ast_toolkit.search.index import Index, build_index
from ast_toolkit.search.linking import link_library
from ast_toolkit.search.queries import identify, piece_query
from _ranking import hubness_options

HERE = Path(__file__).resolve().parent
TRUTH = HERE / "realworld_truth.json"

#: The real material by piece: scans (files under ../shared/realworld), the
#: piece's own MusicXML, and real recordings.
PIECES: dict[str, dict[str, list[str]]] = {
    "chopin-op10-3": {
        "scans": ["chopin_op10no3/Chopin_op10_no3.pdf", "chopin_op10no3/Chopin_op10_no3.png",
                  "chopin_op10no3/Chopin_op10_no3_page1_extracted.png"],
        "xml": ["chopin_op10no3/Chopin_op10_no3.musicxml"],
        "audio": ["chopin_op10no3/Chopin_Op010-03-Measures1-8_Igoshina.wav",
                  "chopin_op10no3/Chopin_Op010-03-Measures1-8_Varsi.wav"]},
    "traeumerei": {
        "scans": ["schumann_op15no7_traeumerei/FMP_C3_F24_score.png"],
        "xml": ["schumann_op15no7_traeumerei/FMP_C3S3_Schumann_Op15No7_Traeumerei_MusicXML.xml"],
        "audio": [f"schumann_op15no7_traeumerei/FMP_C3S3_Schumann_Op15No7_Traeumerei_{n}.wav"
                  for n in ("ColliardLigoratti", "HernandezRomero", "TimKo", "Zbinden")]},
    "chopin-op28-4": {"scans": [], "xml": [],
                      "audio": ["chopin_op28no4_smd/FMP_C8_Audio_Chopin_Op028-04_SMD_beginning.wav"]},
    "chopin-op38": {"scans": ["vienna4x22_scans/Chopin_op38.pdf"],
                    "xml": ["vienna4x22_scans/Chopin_op38.musicxml"], "audio": []},
    "mozart-k331": {"scans": ["vienna4x22_scans/Mozart_K331_1st-mov.pdf"],
                    "xml": ["vienna4x22_scans/Mozart_K331_1st-mov.musicxml"], "audio": []},
    "schubert-d783-15": {"scans": ["vienna4x22_scans/Schubert_D783_no15.pdf"],
                         "xml": ["vienna4x22_scans/Schubert_D783_no15.musicxml"], "audio": []},
    "bach-bwv772": {"scans": ["scans_photos_other/IMSLP00747-000.png"],
                    "xml": ["scans_photos_other/IMSLP00747.golden.xml"], "audio": []},
    "bach-bwv776": {"scans": ["scans_photos_other/BachInvention5.jpg"],
                    "xml": ["scans_photos_other/Bwv776_Invention_n05.mxl"], "audio": []},
}
#: Corpus pieces engraved and performed beside the real material (distractors):
#: every piano piece of music21's corpus, then chorales and folk tunes (the
#: share of ``--others`` after the piano pieces, 60:40).
PIANO = ("music21:mozart/k545/*", "music21:joplin/*", "music21:chopin/*",
         "music21:schumann_clara/polonaise_*", "music21:cpebach/*.mxl")
FILLERS = (("music21:bach/bwv*", 0.6), ("music21:essenFolksong/*.abc", 0.4))


# --- systems ---------------------------------------------------------------------------------


def part_systems(root: Path, reader_name: str) -> dict:
    reader = plugins.create("readers", reader_name)
    truth = json.loads(TRUTH.read_text())["pages"]
    rows = []
    for t in truth:
        path = root / t["file"]
        t0 = time.perf_counter()
        row = {"file": t["file"], "page": t["page"] + 1, "kind": t["kind"], "true_staves": t["staves"],
               "true_systems": t["systems"]}
        try:
            gray = load_page(path, t["page"])
            t1 = time.perf_counter()
            r = reader.read(gray, page=t["page"])
            row.update(staves=len(r.staves), systems=len(r.systems), per_system=r.staves_per_system,
                       staff_space=round(r.staff_space, 2), skew=round(r.skew, 2),
                       warnings=r.warnings, error="")
            row["load_s"], row["read_s"] = round(t1 - t0, 3), round(time.perf_counter() - t1, 3)
        except ToolkitError as exc:
            row.update(staves=0, systems=0, per_system=[], error=str(exc))
        row["exact"] = row["systems"] == t["systems"] and row.get("per_system") == t["staves_per_system"]
        rows.append(row)
        print(f"  {'ok ' if row['exact'] else 'BAD'} {t['file']} p{t['page'] + 1}: systems "
              f"{row['systems']}/{t['systems']}, staves {row['staves']}/{t['staves']} "
              f"{row.get('error', '')}", flush=True)
    true = sum(r["true_systems"] for r in rows)
    found = sum(min(r["systems"], r["true_systems"]) for r in rows)
    pdf = [r["load_s"] + r["read_s"] for r in rows if r["file"].endswith(".pdf") and "load_s" in r]
    return {"pages": rows, "true_systems": true, "found_systems_by_count": found,
            "system_recall_by_count": round(found / true, 4),
            "extra_systems": sum(max(r["systems"] - r["true_systems"], 0) for r in rows),
            "pages_exact": sum(r["exact"] for r in rows), "pages_total": len(rows),
            "pdf_page_seconds_median": round(float(np.median(pdf)), 3) if pdf else None,
            "pdf_page_seconds_max": round(float(np.max(pdf)), 3) if pdf else None}


# --- retrieval -----------------------------------------------------------------------------


def rendered_corpus(root: Path, work: Path, others: int) -> Path:
    """The real pieces' MusicXML and ``others`` corpus pieces, engraved and performed (cached)."""
    out = work / f"rendered-{others}"
    sources = [SourceSpec(str(root / x)) for p in PIECES.values() for x in p["xml"]]
    piano = [SourceSpec(s) for s in PIANO]
    n_piano = sum(len(expand_source(s.path)) for s in piano)
    rest = max(others - n_piano, 0)
    sources += piano + [SourceSpec(s, limit=max(1, int(round(rest * share)))) for s, share in FILLERS]
    spec = DatasetSpec("realworld-and-corpus", tuple(sources))
    report = render_dataset(spec, out, workers=2)
    print(f"  rendered corpus: {len(report.built)} built now, {len(report.failed)} failed → {out}")
    return out


def _xml_piece(ids: list[str], xml: str) -> str | None:
    stem = Path(xml).name
    hits = [i for i in ids if stem in i]
    return hits[0] if hits else None


def part_retrieval(root: Path, work: Path, models: dict[str, Path], matchers: list[str],
                   others: int, reader_name: str, hubness: str = "none") -> dict:
    corpus = rendered_corpus(root, work, others)
    scans = {f"scan:{s}": [(root / s, None)] for p in PIECES.values() for s in p["scans"]}
    recs = {f"rec:{a}": root / a for p in PIECES.values() for a in p["audio"]}
    out: dict = {}
    for name, model_dir in models.items():
        encoder, cfg = load_encoder(model_dir)
        staff_space, margin = model_sheet_scale(cfg)
        rendered = open_dataset(corpus, encoder=encoder)
        sheets = Sheets.from_pieces(scans, model_spectrogram(cfg), reader=plugins.create("readers", reader_name),
                                    staff_space=staff_space, system_margin=margin,
                                    sheet_window=tuple(encoder.sheet_window),
                                    audio_context=encoder.audio_shape[1])
        audio = Recordings.from_files(recs, model_spectrogram(cfg), audio_context=encoder.audio_shape[1])
        joined = Joined([rendered, sheets, audio])
        folder = work / f"index-{name.split('+')[0]}-{others}"  # NAME+csls: NAME's index
        t0 = time.perf_counter()
        rep = build_index(model_dir, folder, dataset=joined, split="all")
        print(f"  {name}: index of {len(joined.piece_ids())} pieces ({len(rep.failed)} failed) "
              f"in {time.perf_counter() - t0:.0f} s", flush=True)
        idx = Index(folder)
        ids = idx.ids
        xml_of = {k: _xml_piece(ids, x) for k, p in PIECES.items() for x in p["xml"][:1]}
        res: dict = {"failed": rep.failed, "sheet_pieces": sum("sheet" in p for p in idx.pieces),
                     "audio_pieces": sum("audio" in p for p in idx.pieces)}
        for matcher in matchers:
            rows = []
            for key, p in PIECES.items():
                own_scans = [f"scan:{s}" for s in p["scans"] if f"scan:{s}" in ids]
                own_recs = [f"rec:{a}" for a in p["audio"] if f"rec:{a}" in ids]
                for a in own_recs:  # A2S
                    ranks = _ranks(idx, a, "audio", matcher, hubness)
                    rows.append({"direction": "a2s", "piece": key, "query": a[4:],
                                 "rank_real_scan": _best_rank(ranks, own_scans),
                                 "rank_engraved": _best_rank(ranks, [xml_of[key]] if xml_of.get(key) else []),
                                 "candidates": len(ranks), "best": next(iter(ranks), None)})
                for s in own_scans:  # S2A
                    ranks = _ranks(idx, s, "sheet", matcher, hubness)
                    rows.append({"direction": "s2a", "piece": key, "query": s[5:],
                                 "rank_real_recording": _best_rank(ranks, own_recs),
                                 "rank_engraved": _best_rank(ranks, [xml_of[key]] if xml_of.get(key) else []),
                                 "candidates": len(ranks), "best": next(iter(ranks), None)})
            for r in rows:
                print(f"    {name} {matcher} {r['direction']} {r['query']}: real "
                      f"{r.get('rank_real_scan', r.get('rank_real_recording'))}, engraved "
                      f"{r['rank_engraved']} of {r['candidates']}", flush=True)
            res[matcher] = rows
        out[name] = res
    return out


def _best_rank(ranks: dict[str, int], truth: list[str]) -> int | str | None:
    """The best rank of a true piece; ``"unmatched"`` when the matcher could align none
    of them (sdtw: a query longer than every true candidate), None when there is none."""
    if not truth:
        return None
    found = [ranks[t] for t in truth if t in ranks]
    return min(found) if found else "unmatched"


def _ranks(idx: Index, piece: str, modality: str, matcher: str,
           hubness: str = "none") -> dict[str, int]:
    """1-based rank of every candidate piece for a whole-piece query (errors: none)."""
    try:
        q = piece_query(idx, piece, modality)
        matches, _, _ = identify(idx, q, matcher, top=None, **hubness_options(hubness))
    except ToolkitError as exc:
        print(f"    {piece}: {exc}")
        return {}
    finite = [m for m in matches if np.isfinite(m.score)]
    return {m.piece: k for k, m in enumerate(finite, start=1)}


# --- link ------------------------------------------------------------------------------------


def part_link(root: Path, work: Path, models: dict[str, Path], reader_name: str) -> dict:
    scans = [root / s for p in PIECES.values() for s in p["scans"]]
    scans += [root / "born_digital_other_engravers"]
    scans += [root / "scans_photos_other" / n for n in (
        "D0392410-1.256.png", "IMSLP06053-1.png", "allegretto.png", "tabi.jpg", "hove.png")]
    recs = [root / a for p in PIECES.values() for a in p["audio"]]
    truth = {f"{Path(a).name}": {Path(s).name for s in p["scans"]} for p in PIECES.values() for a in p["audio"]}
    out: dict = {}
    for name, model_dir in models.items():
        report = link_library(scans, recs, work / f"link-{name}", model=model_dir, reader=reader_name,
                              pictures=False)
        rows = []
        for r in report.rows:
            if r["kind"] != "recording":
                continue
            own = truth.get(Path(r["piece"]).name, set())
            right = Path(r["best"]).name in own or any(r["best"].endswith(o) for o in own)
            rows.append({"recording": r["piece"], "best": r["best"], "margin": r["margin"],
                         "threshold": r["threshold"], "agree": r["agree"], "status": r["status"],
                         "correct": right if own else None, "has_scan": bool(own)})
            print(f"    {name} link {r['piece']} → {r['best']} ({r['status']}, "
                  f"{'right' if right else 'wrong' if own else 'no scan in the library'})", flush=True)
        out[name] = {"rows": rows, "threshold": report.threshold, "calibration": report.calibration,
                     "linked": sum(r["status"] == "linked" for r in rows),
                     "linked_correct": sum(r["status"] == "linked" and bool(r["correct"]) for r in rows),
                     "linked_wrong": sum(r["status"] == "linked" and r["correct"] is False for r in rows),
                     "absent_left_unlinked": all(r["status"] == "unlinked" for r in rows if not r["has_scan"])}
    return out


def _models(spec: str, work: Path) -> dict[str, Path]:
    from ast_toolkit.learn.importing import import_model

    models = {}
    for item in filter(None, spec.split(",")):
        name, _, path = item.partition("=")
        p = Path(path)
        if p.suffix == ".pt":
            folder = work / f"model-{name}"
            if not (folder / "config.json").is_file():
                import_model(p, folder, format="ucasr")
            p = folder
        models[name] = p
    return models


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--realworld", default=str(HERE.parent.parent / "shared" / "realworld"))
    ap.add_argument("--models", default="", help="NAME=MODEL_DIR_or_ucasr.pt,...")
    ap.add_argument("--others", type=int, default=100)
    ap.add_argument("--matchers", default="dtw,sdtw")
    ap.add_argument("--reader", default="classical")
    ap.add_argument("--work", default="/tmp/ast-realworld")
    ap.add_argument("--parts", default="systems,retrieval,link")
    ap.add_argument("--hubness", default="none", choices=["none", "csls", "csls-ref"],
                    help="hubness correction in retrieval (name the model apart, e.g. "
                    "ast-cnn+csls=weights/ast-cnn: the part before + names the index reused)")
    ap.add_argument("--json", dest="json_out")
    args = ap.parse_args()
    root, work = Path(args.realworld), Path(args.work)
    if not root.is_dir():
        raise SystemExit(f"{root}: no real-world material here (see ../shared/realworld/README.md)")
    work.mkdir(parents=True, exist_ok=True)
    parts = args.parts.split(",")
    result: dict = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
                    "reader": args.reader, "others": args.others, "hubness": args.hubness,
                    "date": time.strftime("%Y-%m-%d")}
    t0 = time.perf_counter()
    if "systems" in parts:
        print("# systems on the real pages")
        result["systems"] = part_systems(root, args.reader)
        s = result["systems"]
        print(f"systems found (by count): {s['found_systems_by_count']}/{s['true_systems']} "
              f"({s['system_recall_by_count']:.1%}), {s['extra_systems']} extra; pages exact "
              f"{s['pages_exact']}/{s['pages_total']}; PDF page load+read median "
              f"{s['pdf_page_seconds_median']} s")
    models = _models(args.models, work)
    if "retrieval" in parts and models:
        print("# retrieval")
        result["retrieval"] = part_retrieval(root, work, models, args.matchers.split(","), args.others,
                                             args.reader, args.hubness)
    if "link" in parts and models:
        print("# ast link")
        result["link"] = part_link(root, work, models, args.reader)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=1))
        print(f"written to {args.json_out}")


if __name__ == "__main__":
    main()
