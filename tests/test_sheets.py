"""Reading sheet music a user has: page readers, page files, degradations, sheet collections.

Pages are engraved in the test (verovio at 300 dpi: A4 at 2480 px, a staff
space of 20 px) from real corpus pieces, degraded as a scanner or a phone
would, saved as PNG / JPEG / TIFF / PDF, and read back; the renderer's own
system boxes are the truth.  Nothing here reads ``../shared``.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ast_toolkit import plugins
from ast_toolkit.data.degrade import DEGRADATIONS, degrade, transform_box
from ast_toolkit.data.sheets import (Sheets, find_sheet_files, load_page, normalise_page, page_count,
                                     read_page)
from ast_toolkit.data.sources import expand_source, select
from ast_toolkit.errors import ParameterError, SheetError, UnknownNameError
from ast_toolkit.evaluation.systems import match_systems
from ast_toolkit.types import SpectrogramSpec

READERS = plugins.names("readers")
PAGE_WIDTH, STAFF_SPACE = 2480, 20.0


@pytest.fixture(scope="module")
def pages() -> list[tuple[str, np.ndarray, list]]:
    """First pages of a folk tune (one-staff systems) and a Bach chorale (two-staff
    systems), engraved at 300 dpi, with the renderer's system boxes."""
    r = plugins.create("renderers", "verovio", page_width=PAGE_WIDTH, staff_space=STAFF_SPACE)
    out = []
    for src in ("music21:essenFolksong/altdeu10.abc", "music21:bach/bwv*"):
        score = select(expand_source(src), 1)[0]
        rendered = r.render(score)
        boxes = [s.bbox for s in rendered.systems if s.page == 0]
        out.append((score.id, np.asarray(rendered.pages[0], np.uint8), boxes))
    return out


def _vertical_scale(m: np.ndarray, shape: tuple[int, int]) -> float:
    h, w = shape
    a, b = transform_box((w / 2, h / 2, w / 2, h / 2), m), transform_box((w / 2, h / 2 + 100, w / 2, h / 2 + 100), m)
    return (b[1] - a[1]) / 100


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("degradation", sorted(DEGRADATIONS))
def test_reader_finds_every_system_of_degraded_renderings(pages, reader, degradation):
    r = plugins.create("readers", reader)
    for pid, page, boxes in pages:
        img, m = degrade(page, degradation, seed=1)
        reading = r.read(img, page=0)
        scale = float(m[0, 0]) if degradation.startswith("downscale") else 1.0
        truth = [tuple(v * scale for v in b) for b in boxes]
        score = match_systems(truth, [s.bbox for s in reading.systems])
        assert score.recall == 1.0, (pid, degradation, score)
        assert score.precision >= 0.8, (pid, degradation, score)
        expected = STAFF_SPACE * _vertical_scale(m, page.shape)
        assert abs(reading.staff_space / expected - 1) < 0.03, (pid, degradation, reading.staff_space)
        assert reading.image.shape[0] > 0 and reading.image.dtype == np.uint8
    # the chorale's systems are grand staves: two staves each
    assert set(r.read(pages[1][1]).staves_per_system) == {2}
    assert set(r.read(pages[0][1]).staves_per_system) == {1}


@pytest.mark.parametrize("reader", READERS)
def test_reader_measures_skew_and_refuses_what_it_cannot_trust(pages, reader):
    r = plugins.create("readers", reader)
    page = pages[0][1]
    turned, _ = degrade(page, "rotate+3")
    assert abs(abs(r.read(turned).skew) - 3.0) < 0.2
    with pytest.raises(SheetError, match="blank"):
        r.read(np.full((3000, 2000), 255, np.uint8))
    with pytest.raises(SheetError, match="no staves|no staff lines"):
        r.read(np.random.default_rng(0).integers(0, 256, (1500, 1000)).astype(np.uint8))
    from ast_toolkit.data.degrade import rotate
    with pytest.raises(SheetError, match="turned"):
        r.read(rotate(page, 12.0)[0])
    with pytest.raises(SheetError, match="too small"):
        r.read(np.zeros((20, 20), np.uint8))
    with pytest.raises(ParameterError, match="2-D uint8"):
        r.read(np.zeros((100, 100, 3), np.uint8))


def test_match_systems_counts_misses_and_extras():
    truth = [(0, 100, 800, 160), (0, 300, 800, 360)]
    assert match_systems(truth, truth).recall == 1.0
    s = match_systems(truth, [(0, 102, 800, 161)])
    assert (s.recall, s.precision) == (0.5, 1.0)
    s = match_systems(truth, [(0, 100, 800, 160), (0, 200, 800, 260), (0, 300, 800, 360)])
    assert (s.recall, s.precision) == (1.0, 2 / 3)


def test_degradations_are_named_deterministic_and_checked(pages):
    page = pages[0][1]
    for name in DEGRADATIONS:
        a, ma = degrade(page, name, seed=3)
        b, _ = degrade(page, name, seed=3)
        assert np.array_equal(a, b) and a.dtype == np.uint8 and ma.shape == (3, 3)
    assert set(np.unique(degrade(page, "binarised")[0])) <= {0, 255}
    assert degrade(page, "downscale-150dpi")[0].shape == (page.shape[0] // 2, page.shape[1] // 2)
    with pytest.raises(UnknownNameError, match="did you mean|Known"):
        degrade(page, "blurr")


# --- page files -----------------------------------------------------------------------


def _save(img: np.ndarray, path: Path, **kw) -> Path:
    Image.fromarray(img).save(path, **kw)
    return path


def test_load_page_reads_every_format_and_orientation(pages, tmp_path):
    page = pages[0][1]
    small = page[::2, ::2].copy()
    png8 = _save(small, tmp_path / "p8.png")
    one_bit = tmp_path / "p1.png"
    Image.fromarray(small).convert("1").save(one_bit)
    p16 = tmp_path / "p16.png"
    Image.fromarray(small.astype(np.uint16) * 257).save(p16)
    jpg = _save(small, tmp_path / "p.jpg", quality=90)
    tif = tmp_path / "two.tif"
    Image.fromarray(small).save(tif, save_all=True, append_images=[Image.fromarray(255 - small)])
    for path in (png8, one_bit, p16, jpg):
        got = load_page(path)
        assert got.shape == small.shape and got.dtype == np.uint8
        assert abs(float(got.mean()) - float(small.mean())) < 12, path
    assert page_count(tif) == 2
    assert load_page(tif, 1).mean() < 128  # the inverted second page
    # EXIF orientation 6 (turned 90 degrees clockwise for display) is applied
    exif = Image.Exif()
    exif[0x0112] = 6
    turned = tmp_path / "phone.jpg"
    Image.fromarray(small).save(turned, exif=exif.tobytes())
    assert load_page(turned).shape == small.shape[::-1]
    # a two-page PDF, rasterised at the resolution asked for
    pdf = tmp_path / "score.pdf"
    Image.fromarray(small).save(pdf, save_all=True, append_images=[Image.fromarray(small)], resolution=150)
    assert page_count(pdf) == 2
    raster = load_page(pdf, 1, dpi=150)
    assert abs(raster.shape[1] - small.shape[1]) <= 2
    with pytest.raises(SheetError, match="no page 3"):
        load_page(pdf, 2)


@pytest.mark.parametrize("name,data,reason", [
    ("empty.pdf", b"", "the file is empty"),
    ("noise.png", bytes(range(256)) * 20, "not an image"),
    ("noise.pdf", b"%PDF-1.4\n" + bytes(range(256)) * 20, "not a readable PDF"),
    ("cut.png", None, "damaged|cannot be read|truncated"),
])
@pytest.mark.filterwarnings("ignore::ast_toolkit.errors.TruncatedImageWarning")
def test_bad_page_files_are_refused_with_the_file_and_reason(tmp_path, pages, name, data, reason):
    path = tmp_path / name
    if data is None:
        buf = io.BytesIO()
        Image.fromarray(pages[0][1]).save(buf, format="PNG")
        data = buf.getvalue()[: len(buf.getvalue()) // 2]
    path.write_bytes(data)
    with pytest.raises(SheetError, match=reason) as err:
        load_page(path)
    assert str(path) in str(err.value)


def test_read_page_rescales_to_the_models_staff_space(pages, tmp_path):
    path = _save(pages[1][1], tmp_path / "chorale.png")
    reading = read_page(plugins.create("readers", "classical"), path, staff_space=7.0)
    assert abs(reading.staff_space - 7.0) < 1e-6
    assert abs(reading.image.shape[1] - PAGE_WIDTH * 7.0 / STAFF_SPACE) < PAGE_WIDTH * 0.03
    assert all(s.bbox[2] <= reading.image.shape[1] + 1 for s in reading.systems)
    half = normalise_page(reading, 3.5)
    assert half.systems[0].bbox[1] == pytest.approx(reading.systems[0].bbox[1] / 2, rel=1e-6)


def test_find_sheet_files_groups_pieces_and_reads_a_manifest(tmp_path):
    lib = tmp_path / "lib"
    (lib / "sonata").mkdir(parents=True)
    for name in ("a.pdf", "b.png", "sonata/p10.png", "sonata/p2.png", "sonata/extra.pdf", "readme.txt"):
        (lib / name).write_bytes(b"x")
    found = find_sheet_files([lib])
    assert sorted(found) == ["lib/a.pdf", "lib/b.png", "lib/sonata", "lib/sonata/extra.pdf"]
    assert [f.name for f, _ in found["lib/sonata"]] == ["p2.png", "p10.png"]
    manifest = tmp_path / "pieces.csv"
    manifest.write_text("file,piece,page\nlib/a.pdf,Sonata,2\nlib/b.png,Sonata,\nlib/a.pdf,Etude,1\n")
    got = find_sheet_files([], manifest=manifest)
    assert [(f.name, p) for f, p in got["Sonata"]] == [("a.pdf", 1), ("b.png", None)]
    assert [(f.name, p) for f, p in got["Etude"]] == [("a.pdf", 0)]
    manifest.write_text("name,piece\nx,y\n")
    with pytest.raises(ParameterError, match="file,piece"):
        find_sheet_files([], manifest=manifest)
    with pytest.raises(ParameterError, match="no such file or folder"):
        find_sheet_files([tmp_path / "missing"])
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("x")
    with pytest.raises(ParameterError, match="no sheet music found"):
        find_sheet_files([tmp_path / "texts"])


def test_sheets_collection_skips_pages_without_staves_and_says_so(pages, tmp_path):
    blank = Image.fromarray(np.full((3508, 2480), 255, np.uint8))
    music = Image.fromarray(pages[0][1])
    pdf = tmp_path / "tune.pdf"
    blank.save(pdf, save_all=True, append_images=[music], resolution=300)  # a title page first
    ds = Sheets([pdf], SpectrogramSpec(), reader=plugins.create("readers", "classical"), staff_space=7.0)
    (pid,) = ds.piece_ids()
    seq = ds.sequence(pid)
    assert seq.sides == ("sheet",) and seq.sheet.shape[1:] == (160, 200)
    assert set(seq.sheet_positions[:, 0].astype(int)) == {0}  # the readable page, renumbered
    assert len(ds.systems(pid)) == len(pages[0][2])
    assert any("page 1" in n and "blank" in n for n in ds.notes(pid))
    only_blank = tmp_path / "blank.png"
    blank.save(only_blank)
    ds = Sheets([only_blank], SpectrogramSpec(), reader=plugins.create("readers", "classical"))
    with pytest.raises(SheetError, match="blank"):
        ds.sequence(ds.piece_ids()[0])


def test_a_page_cut_after_its_pixels_is_read_with_a_warning_and_sniffed_by_content(pages, tmp_path):
    from ast_toolkit.data.sheets import sheet_kind
    from ast_toolkit.errors import TruncatedImageWarning

    buf = io.BytesIO()
    Image.fromarray(pages[0][1]).save(buf, format="PNG")
    cut = tmp_path / "cut.png"
    cut.write_bytes(buf.getvalue()[:-12])  # the IEND chunk lost
    with pytest.warns(TruncatedImageWarning, match="cut.png.*truncated"):
        assert load_page(cut).shape == pages[0][1].shape
    misnamed = tmp_path / "page.wav"
    misnamed.write_bytes(buf.getvalue())
    assert sheet_kind(misnamed) == "png" and load_page(misnamed).shape == pages[0][1].shape
    assert sheet_kind(tmp_path / "take.flac") is None
