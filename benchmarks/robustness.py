"""Benchmark: robustness — piece identification under what the world changes, several models.

Test pieces the models never trained on (evenly over the test split of each
``--datasets`` folder) and pieces of music21 corpora outside the training
registry entries (``--unseen``), each made into a user's files:

sheet variants (PNG pages at 300 dpi, read by the page reader as a user's scans):
  ``verovio``   the pieces engraved by Verovio, A4 at 2480 px (staff space 20 px)
  ``lilypond``  the other engraver, LilyPond, same size
  ``degraded``  the Verovio pages, each piece degraded one way of
                :data:`ast_toolkit.data.degrade.DEGRADATIONS` in turn
                (rotation ±3°, noise, blur, 150 dpi, JPEG q30, 1-bit, perspective)

audio variants (FLAC, played from the pieces' performed notes with FluidSynth,
gain 0.2 and velocity 64 as the training data):
  ``fluid``     FluidR3_GM (a training soundfont), tempo 1
  ``musescore`` MuseScore_General, held out of every training rendition
  ``tempo-X``   FluidR3_GM at X times the tempo (0.7, 0.8, 1.25, 1.4)
  ``room``      FluidR3_GM convolved with a room impulse response (pyroomacoustics,
                RT60 0.6–1.2 s, rooms drawn apart from the training bank), pink noise
                at 20 dB SNR, and an MP3 round trip at compression 0.9 — on the
                waveform, not the training augmentations' spectrogram approximations

Each row puts one sheet variant and one audio variant of the same pieces in
one index (``ast index --sheets --audio``) and queries every recording against
the scans (A2S) and every scan against the recordings (S2A), whole pieces,
with ``--matcher``; the same pieces, variants and candidates for every model.

    .venv/bin/python benchmarks/robustness.py \\
        --models imported=models/ucasr-mc,cnn=models/cnn-scratch,cnn-aug=models/cnn-aug \\
        --datasets data/chorales,data/folk600,data/piano --per-dataset 20 \\
        --unseen "music21:monteverdi/*,music21:palestrina/*" --unseen-limit 20 \\
        [--rows clean,soundfont,...] [--work /tmp/ast-robust] [--json benchmarks/results/robustness.json]

Files are made once in ``--work`` and reused by later runs.  Rows already in the
``--json`` file (same pieces, same weights) are kept, not measured again: models
can be added to one table one run at a time (``--again`` measures the named rows
of the named models once more).  Each row records every piece's rank both ways,
and the file each piece's onsets per second (how much music an excerpt holds).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image

from ast_toolkit import plugins
from ast_toolkit.data.collections import Joined
from ast_toolkit.data.datasets import open_dataset
from ast_toolkit.data.degrade import DEGRADATIONS, degrade
from ast_toolkit.data.recordings import Recordings
from ast_toolkit.data.sheets import Sheets
from ast_toolkit.data.sources import expand_source, piece_slug, select
from ast_toolkit.learn.modelfile import load_encoder, model_fingerprint, model_sheet_scale
from ast_toolkit.search.index import Index, build_index
from _ranking import piece_rank_map, summary
from ast_toolkit.types import NoteEvent, ScoreSource

SR = 22050
TEMPI = (0.7, 0.8, 1.25, 1.4)
#: row -> (sheet variant, audio variant, piece set)
ROWS = {
    "clean": ("verovio", "fluid", "test"),
    "soundfont": ("verovio", "musescore", "test"),
    **{f"tempo-{t:g}": ("verovio", f"tempo-{t:g}", "test") for t in TEMPI},
    "room": ("verovio", "room", "test"),
    "degraded": ("degraded", "fluid", "test"),
    "engraver": ("lilypond", "fluid", "test"),
    "unseen": ("verovio", "fluid", "unseen"),
}
LABELS = {
    "clean": "clean (training soundfont, tempo 1)",
    "soundfont": "unseen soundfont (MuseScore_General)",
    **{f"tempo-{t:g}": f"tempo ×{t:g}" for t in TEMPI},
    "room": "room + noise 20 dB + MP3",
    "degraded": "degraded pages (scan / photo)",
    "engraver": "other engraver (LilyPond)",
    "unseen": "unseen corpora",
}


def _pieces(datasets: list[str], per: int, unseen: list[str], unseen_limit: int) -> dict:
    """``{"test": [(id, file, number)], "unseen": [...]}``."""
    out: dict[str, list] = {"test": [], "unseen": []}
    for d in datasets:
        ds = open_dataset(d)
        ids = ds.piece_ids("test")
        for i in np.linspace(0, len(ids) - 1, min(per, len(ids))).astype(int):
            info = json.loads((ds.folder(ids[i]) / "score.json").read_text())
            out["test"].append((ids[i], info["file"], info.get("number")))
    for glob in unseen:
        sources = select(expand_source(glob), unseen_limit)
        out["unseen"] += [(s.id, str(s.path), s.number) for s in sources]
    return out


def _render(work: Path, pieces: list, renderers: dict) -> dict:
    """Pages per renderer and the performed notes, rendered once (cached as files)."""
    notes: dict[str, list[NoteEvent]] = {}
    for pid, file, number in pieces:
        slug = piece_slug(pid)
        cache = work / "notes" / f"{slug}.json"
        for name, renderer in renderers.items():
            folder = work / f"sheets-{name}" / slug
            if folder.is_dir() and any(folder.iterdir()):
                continue
            try:
                out = renderer.render(ScoreSource(pid, Path(file), number))
            except Exception as exc:  # noqa: BLE001 - one failing piece stays out of the row
                print(f"  {name} cannot render {pid}: {exc}", flush=True)
                continue
            tmp = folder.with_name(folder.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            for n, page in enumerate(out.pages):
                Image.fromarray(np.asarray(page, np.uint8)).save(tmp / f"p{n + 1:02d}.png")
            tmp.rename(folder)
            if name == "verovio" and not cache.exists():
                cache.parent.mkdir(parents=True, exist_ok=True)
                cache.write_text(json.dumps([[e.onset, e.duration, e.pitch] for e in out.events]))
        if cache.exists():
            notes[pid] = [NoteEvent(o, d, p, 64) for o, d, p in json.loads(cache.read_text())]
    return notes


def _degraded(work: Path, pieces: list) -> None:
    names = [n for n in DEGRADATIONS if n != "clean"]
    for k, (pid, _, _) in enumerate(pieces):
        slug = piece_slug(pid)
        src, dst = work / "sheets-verovio" / slug, work / "sheets-degraded" / slug
        if dst.is_dir() or not src.is_dir():
            continue
        tmp = dst.with_name(dst.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for n, page in enumerate(sorted(src.glob("*.png"))):
            img = np.asarray(Image.open(page).convert("L"))
            Image.fromarray(degrade(img, names[k % len(names)], seed=k * 10 + n)[0]).save(tmp / page.name)
        tmp.rename(dst)


def _room(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from scipy.signal import fftconvolve

    from ast_toolkit_plugins.augmentations.audio import room_impulse_response

    rir = room_impulse_response(float(rng.uniform(0.6, 1.2)), SR, rng)
    wet = fftconvolve(audio, rir)[: len(audio)].astype(np.float32)
    wet *= np.abs(audio).max() / (np.abs(wet).max() + 1e-9)
    white = rng.standard_normal(len(wet) + 1)
    spectrum = np.fft.rfft(white)
    spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))  # pink: power 1/f
    pink = np.fft.irfft(spectrum, len(white))[: len(wet)]
    pink *= np.sqrt(np.mean(wet ** 2) / np.mean(pink ** 2) / 10 ** (20 / 10))
    noisy = (wet + pink).astype(np.float32)
    buf = io.BytesIO()
    peak = max(float(np.abs(noisy).max()), 1e-9)
    sf.write(buf, noisy * (0.9 / peak), SR, format="MP3", subtype="MPEG_LAYER_III",
             compression_level=0.9)
    buf.seek(0)
    back, _ = sf.read(buf, dtype="float32")
    out = np.zeros(len(noisy), np.float32)
    out[: min(len(back), len(out))] = back[: len(out)] * (peak / 0.9)
    return out


def _audio(work: Path, notes: dict, variant: str) -> Path:
    folder = work / f"audio-{variant}"
    folder.mkdir(parents=True, exist_ok=True)
    synth = plugins.create("synthesizers", "fluidsynth", sample_rate=SR, program=0, gain=0.2)
    for k, (pid, events) in enumerate(sorted(notes.items())):
        path = folder / f"{piece_slug(pid)}.flac"
        if path.exists():
            continue
        font = "MuseScore_General" if variant == "musescore" else "FluidR3_GM"
        tempo = float(variant.split("-")[1]) if variant.startswith("tempo-") else 1.0
        audio = synth.synthesize(events, soundfont=font, tempo_factor=tempo)
        if variant == "room":
            audio = _room(audio, np.random.default_rng(1000 + k))
        tmp = path.with_suffix(".tmp.flac")
        sf.write(tmp, audio, SR)
        tmp.rename(path)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", required=True, help="name=folder,...")
    ap.add_argument("--datasets", default="data/chorales,data/folk600,data/piano")
    ap.add_argument("--per-dataset", type=int, default=20)
    ap.add_argument("--unseen", default="music21:monteverdi/*,music21:palestrina/*")
    ap.add_argument("--unseen-limit", type=int, default=20)
    ap.add_argument("--rows", default=",".join(ROWS))
    ap.add_argument("--matcher", default="dtw")
    ap.add_argument("--work", default="/tmp/ast-robust")
    ap.add_argument("--json", dest="json_out")
    ap.add_argument("--hubness", default="none", choices=["none", "csls", "csls-ref"],
                    help="hubness correction of this run's --models (name them apart, e.g. "
                    "ast-cnn+csls=weights/ast-cnn: the part before + names the index reused)")
    ap.add_argument("--again", action="store_true",
                    help="measure --rows of --models again even where --json has them")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    models = dict(item.split("=", 1) for item in args.models.split(","))
    rows = args.rows.split(",")
    t0 = time.perf_counter()
    sets = _pieces(args.datasets.split(","), args.per_dataset,
                   [g for g in args.unseen.split(",") if g], args.unseen_limit)
    renderers = {"verovio": plugins.create("renderers", "verovio", page_width=2480, staff_space=20.0)}
    if any(ROWS[r][0] == "lilypond" for r in rows):
        renderers["lilypond"] = plugins.create("renderers", "lilypond", page_width=2480,
                                               staff_space=20.0)
    notes = {name: _render(work, pieces, renderers if name == "test" else
                           {"verovio": renderers["verovio"]})
             for name, pieces in sets.items() if pieces}
    if any(ROWS[r][0] == "degraded" for r in rows):
        _degraded(work, sets["test"])
    print(f"pieces: {len(notes.get('test', {}))} test, {len(notes.get('unseen', {}))} unseen; "
          f"files ready in {time.perf_counter() - t0:.0f} s", flush=True)
    result = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              "models": models, "datasets": args.datasets, "unseen": args.unseen,
              "matcher": args.matcher, "pieces": {k: sorted(v) for k, v in notes.items()},
              "onsets_per_second": {pid: onset_rate(events) for piece_notes in notes.values()
                                    for pid, events in sorted(piece_notes.items())},
              "rows": []}
    # rows of an earlier run into the same --json, on the same pieces, of the same
    # weights, are kept: models can be added one run at a time and share one table
    earlier = json.loads(Path(args.json_out).read_text()) \
        if args.json_out and Path(args.json_out).is_file() else None
    result["weights"] = {name: model_fingerprint(folder) for name, folder in models.items()}
    result["hubness"] = {name: args.hubness for name in models}
    if earlier and earlier.get("pieces") == result["pieces"]:
        same = {n for n, sha in (earlier.get("weights") or {}).items()
                if result["weights"].get(n, sha) == sha}  # not rerun, or the same weights
        result["models"] = {**earlier["models"], **models}
        result["weights"] = {**earlier.get("weights", {}), **result["weights"]}
        result["hubness"] = {**{n: "none" for n in earlier["models"]},
                             **earlier.get("hubness", {}), **result["hubness"]}
        result["rows"] = [r for r in earlier["rows"] if r["model"] in same
                          and not (args.again and r["model"] in models and r["row"] in rows)]
    done = {(r["model"], r["row"]) for r in result["rows"]}
    collections: dict = {}
    for model_name, model in models.items():
        encoder, cfg = load_encoder(Path(model))
        staff_space, margin = model_sheet_scale(cfg)
        reader = plugins.create("readers", "classical")
        for row in rows:
            sheet_variant, audio_variant, piece_set = ROWS[row]
            if piece_set not in notes or (model_name, row) in done:
                continue
            ids = sorted(notes[piece_set])
            audio_dir = _audio(work / piece_set, notes[piece_set], audio_variant) \
                if piece_set == "unseen" else _audio(work, notes[piece_set], audio_variant)
            sizes = {"sheet_window": tuple(encoder.sheet_window),
                     "audio_context": int(encoder.audio_shape[1])}
            # each piece's recording and pages under their index ids
            rec = {p: f"audio-{audio_variant}/{piece_slug(p)}.flac" for p in ids}
            page = {p: f"sheets-{sheet_variant}/{piece_slug(p)}" for p in ids}
            key = (sheet_variant, piece_set, staff_space, margin, *sizes.values())
            if key not in collections:
                root = work / f"sheets-{sheet_variant}"
                pieces = {page[p]: [(f, None) for f in sorted((root / piece_slug(p)).glob("*.png"))]
                          for p in ids if (root / piece_slug(p)).is_dir()}
                collections[key] = Sheets.from_pieces(pieces, encoder_spectrogram(cfg),
                                                      reader=reader, staff_space=staff_space,
                                                      system_margin=margin, **sizes)
            files = {rec[p]: audio_dir / f"{piece_slug(p)}.flac" for p in ids}
            recordings = Recordings.from_files(files, encoder_spectrogram(cfg),
                                               audio_context=sizes["audio_context"])
            both = Joined([collections[key], recordings])
            # one index per weights and row: a model name's variants (NAME+csls) share it
            out = work / "indexes" / f"{model_name.split('+')[0]}-{row}"
            report = build_index(model, out, dataset=both, split="all", overwrite=True)
            # named in the row: a refused recording has no A2S query and ranks last in S2A
            for f in report.failed:
                print(f"  {model_name} {row}: not indexed {f['piece']}: {f['reason']}", flush=True)
            idx = Index(out)
            a2s = piece_rank_map(idx, {rec[p]: page[p] for p in ids}, "audio", args.matcher,
                                 args.hubness)
            s2a = piece_rank_map(idx, {page[p]: rec[p] for p in ids}, "sheet", args.matcher,
                                 args.hubness)
            entry = {"model": model_name, "row": row, "label": LABELS[row],
                     "a2s": summary(list(a2s.values())), "s2a": summary(list(s2a.values())),
                     "candidates": len(ids),
                     "not_indexed": report.failed}
            print(json.dumps(entry), flush=True)
            # each piece's rank both ways, by piece id (what a row's MRR is made of)
            entry["ranks"] = {"a2s": {p: a2s[rec[p]] for p in ids if rec[p] in a2s},
                              "s2a": {p: s2a[page[p]] for p in ids if page[p] in s2a}}
            result["rows"].append(entry)
    took = round(time.perf_counter() - t0, 1)  # this run's, under each of its models' names
    earlier_s = (earlier or {}).get("seconds")
    result["seconds"] = {**(earlier_s if isinstance(earlier_s, dict) else {}),
                         **{name: took for name in models}}
    print("\n" + table(result, rows))
    # rows by model, then in the table's order, however many runs added them
    order = {name: i for i, name in enumerate(result["models"])}
    position = {row: i for i, row in enumerate(LABELS)}
    result["rows"].sort(key=lambda r: (order.get(r["model"], len(order)),
                                       position.get(r["row"], len(position))))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=1))


def table(result: dict, rows: list[str]) -> str:
    """The rows as README shows them: MRR with R@1 in brackets, both directions per model."""
    shown = list(result["models"])
    out = ["| condition | pieces | " + " | ".join(f"{m} A2S | {m} S2A" for m in shown) + " |",
           "|---|---|" + "---|" * (2 * len(shown))]
    for row in rows:
        cells, pieces = [], "—"
        for m in shown:
            e = next((r for r in result["rows"] if r["model"] == m and r["row"] == row), None)
            if e is None:
                cells += ["—", "—"]
                continue
            pieces = str(e.get("candidates", pieces))
            cells += [f"{e[d]['mrr']:.2f} ({e[d]['r@1']:.2f})" if e[d].get("n") else "—"
                      for d in ("a2s", "s2a")]
        out.append(f"| {LABELS[row]} | {pieces} | {' | '.join(cells)} |")
    return "\n".join(out)


def onset_rate(events: list[NoteEvent]) -> float:
    """Distinct note onsets per second of a piece's performance at tempo 1: how
    much music a fixed-length audio excerpt holds (slow polyphony has few)."""
    if not events:
        return 0.0
    end = max(e.onset + e.duration for e in events)
    return round(len({round(e.onset, 3) for e in events}) / max(end, 1e-9), 3)


def encoder_spectrogram(cfg: dict):
    from ast_toolkit.types import SpectrogramSpec

    return SpectrogramSpec.from_dict((cfg.get("dataset") or {}).get("spectrogram"))


if __name__ == "__main__":
    main()
