"""A user's library: scans and recordings indexed together, matched and linked.

The "scans" are the tunes' own scores engraved in the test at 300 dpi (another
page size and staff space than the model was trained on: the reader must
rescale them), some degraded as a scanner would, saved as PNG, JPEG and a PDF
with a blank title page; the "recordings" are the tunes' renditions as audio
files.  One more recording has no score in the library: `ast link` must leave
it unlinked.  A corrupt PDF must be reported and skipped.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ast_toolkit import plugins
from ast_toolkit.data.datasets import open_dataset
from ast_toolkit.data.degrade import degrade
from ast_toolkit.search.index import Index
from ast_toolkit.types import ScoreSource

N_SCORES = 5


@pytest.fixture(scope="module")
def library(tunes, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("library")
    sheets, audio = root / "scans", root / "recordings"
    sheets.mkdir()
    audio.mkdir()
    ds = open_dataset(tunes)
    ids = ds.piece_ids("train")[:N_SCORES + 1]
    r = plugins.create("renderers", "verovio", page_width=2480, staff_space=20.0)
    names = {}
    for k, pid in enumerate(ids):
        folder = ds.folder(pid)
        flac = sorted(folder.glob("renditions/*/audio.flac"))[0]
        rec = audio / f"take{k}.flac"
        shutil.copy(flac, rec)
        names[pid] = {"audio": f"recordings/{rec.name}"}
        if k == N_SCORES:
            continue  # the last recording's score is not in the library
        info = json.loads((folder / "score.json").read_text())
        page = np.asarray(r.render(ScoreSource(pid, Path(info["file"]), info.get("number"))).pages[0],
                          np.uint8)
        if k == 0:  # a PDF whose first page is a blank title page
            path = sheets / f"score{k}.pdf"
            Image.fromarray(np.full_like(page, 255)).save(
                path, save_all=True, append_images=[Image.fromarray(page)], resolution=300)
        elif k == 1:  # a phone-like JPEG, turned 2 degrees
            path = sheets / f"score{k}.jpg"
            Image.fromarray(degrade(page, "rotate+3")[0]).save(path, quality=60)
        else:
            path = sheets / f"score{k}.png"
            Image.fromarray(degrade(page, "noise" if k == 2 else "clean")[0]).save(path)
        names[pid]["sheet"] = f"scans/{path.name}"
    (sheets / "corrupt.pdf").write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 8)
    return {"root": root, "sheets": sheets, "audio": audio, "names": names}


@pytest.fixture(scope="module")
def library_index(model, library) -> Path:
    from conftest import run_ast

    out = library["root"] / "index"
    proc = run_ast("index", "-m", str(model), "--sheets", str(library["sheets"]), "--audio",
                   str(library["audio"]), "--out", str(out), "--json")
    assert proc.returncode == 3, proc.stdout + proc.stderr  # one piece failed, the rest indexed
    report = json.loads(proc.stdout)
    assert [f["piece"] for f in report["failed"]] == ["scans/corrupt.pdf"]
    assert "not a readable PDF" in report["failed"][0]["reason"]
    return out


def test_scans_and_recordings_share_one_index(library_index, library, ast_cmd, model):
    idx = Index(library_index)
    sheet_pieces = [p["id"] for p in idx.pieces if "sheet" in p]
    audio_pieces = [p["id"] for p in idx.pieces if "audio" in p]
    assert len(sheet_pieces) == N_SCORES and len(audio_pieces) == N_SCORES + 1
    pdf = next(p for p in idx.pieces if p["id"] == "scans/score0.pdf")
    assert any("page 1" in n and "blank" in n for n in pdf.get("notes", []))
    assert idx.settings["source"]["kind"] == "files"
    # the model's staff space is recorded and the pages were rescaled to it
    assert idx.settings["source"]["staff_space"] == pytest.approx(7.0)
    reopened = idx.dataset()
    assert reopened.pages("scans/score2.png") == 1 and reopened.performances("recordings/take0.flac")
    # the same command again: complete, nothing embedded again
    proc = ast_cmd("index", "-m", str(model), "--sheets", str(library["sheets"]), "--audio",
                   str(library["audio"]), "--out", str(library_index), "--json")
    assert json.loads(proc.stdout)["already_complete"] is True


def _queries(ast_cmd, library_index, library, side: str):
    """``(result, the true piece of the other side)`` of every piece with a scan, queried
    with its ``side`` file (``sheet`` or ``audio``)."""
    other = "audio" if side == "sheet" else "sheet"
    for files in library["names"].values():
        if "sheet" not in files:
            continue
        proc = ast_cmd("match", "-i", str(library_index), "-q", str(library["root"] / files[side]),
                       "--json", "-n", "3")
        assert proc.returncode == 0, proc.stderr
        yield json.loads(proc.stdout), files[other]


def test_a_page_image_query_finds_its_recording(library_index, library, ast_cmd, tmp_path):
    hits = 0
    for result, truth in _queries(ast_cmd, library_index, library, "sheet"):
        assert result["query_modality"] == "sheet" and result["results"][0]["modality"] == "audio"
        hits += result["results"][0]["piece"] == truth
    assert hits >= N_SCORES - 1, hits
    report = tmp_path / "match.png"
    proc = ast_cmd("match", "-i", str(library_index), "-q", str(library["sheets"] / "score0.pdf"),
                   "--page", "2", "--systems", "1-2", "--report", str(report))
    assert proc.returncode == 0, proc.stderr
    assert report.stat().st_size > 20_000
    proc = ast_cmd("match", "-i", str(library_index), "-q", str(library["sheets"] / "score0.pdf"),
                   "--page", "5")
    assert proc.returncode == 1 and "no page 5" in proc.stderr
    proc = ast_cmd("match", "-i", str(library_index), "-q", str(library["sheets"] / "corrupt.pdf"))
    assert proc.returncode == 1 and "corrupt.pdf" in proc.stderr and "Traceback" not in proc.stderr


def test_a_recording_finds_its_scan(library_index, library, ast_cmd):
    hits = sum(result["results"][0]["piece"] == truth
               for result, truth in _queries(ast_cmd, library_index, library, "audio"))
    assert hits >= N_SCORES - 1, hits


def test_link_links_the_library_and_leaves_a_recording_without_its_score_unlinked(
        ast_cmd, model, library, tmp_path):
    out = tmp_path / "links"
    proc = ast_cmd("link", "--sheets", str(library["sheets"]), "--audio", str(library["audio"]),
                   "-m", str(model), "--out", str(out), "--json")
    assert proc.returncode == 3, proc.stdout + proc.stderr  # the corrupt PDF
    result = json.loads(proc.stdout)
    rows = {r["piece"]: r for r in result["links"]}
    absent = [f["audio"] for f in library["names"].values() if "sheet" not in f][0]
    assert rows[absent]["status"] == "unlinked", rows[absent]
    linked = [r for r in result["links"] if r["kind"] == "recording" and r["status"] == "linked"]
    truth = {f["audio"]: f.get("sheet") for f in library["names"].values()}
    assert all(truth[r["piece"]] == r["best"] for r in linked), linked  # no wrong link
    assert len(linked) >= N_SCORES - 2, result["links"]
    assert (out / "links.csv").read_text().count("\n") == len(result["links"]) + 1
    assert len(list((out / "links").glob("*.png"))) == len(linked)


def test_a_first_match_needs_neither_an_index_nor_a_model(library, tmp_path):
    """``ast match -q REC --sheets DIR``: the scans are indexed with the shipped default
    model on the first call and the index is kept for the next."""
    from conftest import run_ast

    env = {"AST_CACHE": str(tmp_path / "cache")}
    hits, folders = 0, set()
    for files in library["names"].values():
        if "sheet" not in files:
            continue
        proc = run_ast("match", "-q", str(library["root"] / files["audio"]), "--sheets",
                       str(library["sheets"]), "--json", "-n", "3", env=env)
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout)
        assert [f["piece"] for f in result["not_indexed"]] == ["scans/corrupt.pdf"]
        folders.add(result["index"])
        hits += result["results"][0]["piece"] == files["sheet"]
    [folder] = folders  # one index, made once and reused
    assert Path(folder).parent == tmp_path / "cache" / "indexes"
    assert Index(folder).settings["model"]["folder"].endswith("weights/ast-cnn")
    assert hits >= N_SCORES - 1, hits
    # an index of the default model without -m, and both ways of asking at once refused
    out = tmp_path / "recordings"
    proc = run_ast("index", "--audio", str(library["audio"]), "--out", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    assert Index(out).settings["model"]["folder"].endswith("weights/ast-cnn")
    proc = run_ast("match", "-i", str(out), "--sheets", str(library["sheets"]), "-q", "x.wav")
    assert proc.returncode == 2 and "not both" in proc.stderr
