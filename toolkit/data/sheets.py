"""A user's sheet music as a collection: scans, photos and PDFs, each piece with a sheet side.

``ast index --sheets PATH...`` indexes them and ``ast match -q page.png`` queries
with one, through the same :class:`~ast_toolkit.interfaces.Dataset` interface as
a rendered dataset.  Every page is

1. read from its file: PDF pages rasterised with PDFium (pypdfium2) at
   :data:`PDF_DPI`; PNG / JPEG / TIFF (1-bit, 8-bit, 16-bit, multi-page TIFF) with
   Pillow, EXIF orientation applied;
2. read by a page reader (``ast.readers``, default ``classical``): staff space,
   skew, staves, systems;
3. rescaled so that its staff space equals the model's training data's
   (:func:`normalise_page`) — the encoders see the scale they were trained on;
4. cut into windows along its unrolled systems exactly as a rendered page is
   (:mod:`ast_toolkit.data.snippets`).

Which files make a piece: a PDF is one piece (its pages in order); an image
named on the command line or lying directly in a folder named there is one
piece; a sub-folder holding images is one piece (its images the pages, in
natural order: ``p2`` before ``p10``).  A CSV manifest (``file,piece[,page]``)
groups and names pieces explicitly.
"""

from __future__ import annotations

import csv
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import ParameterError, SheetError, ToolkitError, TruncatedImageWarning
from ..interfaces import Dataset, Reader
from ..types import PageReading, PieceSequence, SpectrogramSpec, SystemBox
from .snippets import sheet_sequence, unroll_systems
from .spectrogram import n_bins

__all__ = ["SHEET_SUFFIXES", "PDF_DPI", "Sheets", "find_sheet_files", "page_count", "load_page",
           "normalise_page", "read_page", "sheet_kind"]

SHEET_SUFFIXES = (".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp")
IMAGE_SUFFIXES = SHEET_SUFFIXES[1:]
# what a file's first bytes say it is (a page misnamed .wav is still a page)
_MAGIC = ((b"%PDF-", "pdf"), (b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpeg"),
          (b"II*\x00", "tiff"), (b"MM\x00*", "tiff"), (b"GIF87a", "gif"), (b"GIF89a", "gif"),
          (b"BM", "bmp"))
#: Resolution PDF pages are rasterised at (a scan inside a PDF keeps its detail at 300 dpi).
PDF_DPI = 300
#: Most pages one piece may have (a 1,000-page PDF is a library, not a piece).
MAX_PAGES = 200
# a page larger than this many pixels is refused (Pillow's decompression-bomb guard, raised)
_MAX_PIXELS = 300_000_000


def sheet_kind(path: str | os.PathLike) -> str | None:
    """``"pdf"``, an image format, or None: what a file is by its first bytes (by its
    name when it cannot be read).

    Examples
    --------
    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "page.wav"
    >>> _ = f.write_bytes(b"%PDF-1.7 ...")
    >>> sheet_kind(f), sheet_kind("take.flac"), sheet_kind("scan.tif")
    ('pdf', None, 'tiff')
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        head = b""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head and path.suffix.lower() not in SHEET_SUFFIXES:
        return None
    suffix = path.suffix.lower().lstrip(".")
    return {"jpg": "jpeg", "tif": "tiff"}.get(suffix, suffix) if f".{suffix}" in SHEET_SUFFIXES else None


def _check_complete(path: Path, kind: str) -> None:
    """Warn when a PNG or JPEG ends before its end marker (a truncated download or copy)."""
    marker = {"png": b"IEND\xaeB`\x82", "jpeg": b"\xff\xd9"}.get(kind)
    if marker is None:
        return
    with open(path, "rb") as fh:
        fh.seek(max(path.stat().st_size - 64, 0))
        tail = fh.read()
    if marker not in tail:
        warnings.warn(TruncatedImageWarning(
            f"{path}: the {kind.upper()} file seems truncated (no end marker); using what could be "
            "decoded"), stacklevel=3)


def _natural(text: str) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", text)]


def _open_pdf(path: Path):
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        reason = str(exc)
        if "password" in reason.lower():
            raise SheetError(f"{path}: the PDF is encrypted (password protected); "
                             "save an unprotected copy") from None
        raise SheetError(f"{path}: not a readable PDF ({reason})") from None


def _open_image(path: Path):
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = _MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
            img.size  # noqa: B018 - forces the header to be parsed
        return img
    except UnidentifiedImageError:
        raise SheetError(f"{path}: not an image Pillow can read (PNG, JPEG, TIFF)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise SheetError(f"{path}: the image is larger than {_MAX_PIXELS:,} pixels") from None
    except OSError as exc:
        raise SheetError(f"{path}: cannot be read ({exc})") from None


def _check_file(path: Path) -> None:
    if not path.exists():
        raise SheetError(f"{path}: no such file")
    if path.is_dir():
        raise SheetError(f"{path}: is a folder, not a PDF or image")
    if path.stat().st_size == 0:
        raise SheetError(f"{path}: the file is empty")


def page_count(path: str | os.PathLike) -> int:
    """Pages in a PDF or (multi-page) TIFF; 1 for other images.

    Raises
    ------
    SheetError
        Missing, empty, unreadable, encrypted, or with no pages.

    Examples
    --------
    >>> page_count("missing.pdf")
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.SheetError: missing.pdf: no such file
    """
    path = Path(path)
    _check_file(path)
    if sheet_kind(path) == "pdf":
        doc = _open_pdf(path)
        try:
            n = len(doc)
        finally:
            doc.close()
    else:
        img = _open_image(path)
        n = int(getattr(img, "n_frames", 1))
    if n < 1:
        raise SheetError(f"{path}: the file has no pages")
    return n


def load_page(path: str | os.PathLike, index: int = 0, *, dpi: int = PDF_DPI) -> np.ndarray:
    """Page ``index`` (0-based) of a PDF or image as a grayscale array.

    Parameters
    ----------
    path : path
        PDF, PNG, JPEG or TIFF.
    index : int
        The page.
    dpi : int
        Resolution a PDF page is rasterised at.

    Returns
    -------
    np.ndarray [shape=(height, width)], uint8
        255 = paper; an image's EXIF orientation applied, transparency on white.

    Raises
    ------
    SheetError
        The file cannot be read, or has no such page.
    """
    from PIL import Image, ImageOps

    path = Path(path)
    _check_file(path)
    kind = sheet_kind(path)
    if kind == "pdf":
        import pypdfium2 as pdfium

        doc = _open_pdf(path)
        try:
            if not 0 <= index < len(doc):
                raise SheetError(f"{path}: no page {index + 1} (it has {len(doc)})")
            try:
                page = doc[index]
            except pdfium.PdfiumError as exc:
                raise SheetError(f"{path}: page {index + 1} cannot be read ({exc})") from None
            w_pt, h_pt = page.get_size()
            pixels = w_pt * h_pt * (dpi / 72) ** 2
            if not (np.isfinite(pixels) and 0 < pixels <= _MAX_PIXELS):
                raise SheetError(f"{path}: page {index + 1} measures {w_pt:g} x {h_pt:g} points: "
                                 f"{pixels:,.0f} pixels at {dpi} dpi, more than {_MAX_PIXELS:,}")
            try:
                bitmap = page.render(scale=dpi / 72, grayscale=True, fill_color=(255, 255, 255, 255))
                img = bitmap.to_pil()
            except pdfium.PdfiumError as exc:
                raise SheetError(f"{path}: page {index + 1} cannot be rasterised ({exc})") from None
        finally:
            doc.close()
    else:
        img = _open_image(path)
        if kind:
            _check_complete(path, kind)
        n = int(getattr(img, "n_frames", 1))
        if not 0 <= index < n:
            raise SheetError(f"{path}: no page {index + 1} (it has {n})")
        try:
            if n > 1:
                img.seek(index)
            img = ImageOps.exif_transpose(img)
            if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
                img = img.convert("RGBA")
                white = Image.new("RGBA", img.size, (255, 255, 255, 255))
                img = Image.alpha_composite(white, img)
            if img.mode.startswith("I;16") or img.mode == "I":
                arr = np.asarray(img, dtype=np.float64)
                top = 65535.0 if arr.max() > 255 else 255.0
                return np.clip(arr / top * 255.0, 0, 255).astype(np.uint8)
            img = img.convert("L")
            img.load()
        except (OSError, ValueError, SyntaxError) as exc:
            raise SheetError(f"{path}: the image is damaged ({exc})") from None
    arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim != 2 or min(arr.shape) < 1:
        raise SheetError(f"{path}: page {index + 1} has no pixels")
    return arr


def normalise_page(reading: PageReading, staff_space: float) -> PageReading:
    """The reading rescaled so that its staff space is ``staff_space`` pixels.

    Examples
    --------
    >>> reading = PageReading(np.full((400, 300), 255, np.uint8), 14.0, 2.0, 0.0,
    ...                       [(10.0, 20.0, 290.0, 76.0)], [SystemBox(0, 0, (10.0, 20.0, 290.0, 76.0))], [1])
    >>> small = normalise_page(reading, 7.0)
    >>> small.image.shape, small.staff_space, small.systems[0].bbox
    ((200, 150), 7.0, (5.0, 10.0, 145.0, 38.0))
    """
    import cv2

    if not (np.isfinite(staff_space) and staff_space > 0):
        raise ParameterError(f"staff_space must be > 0 pixels, got {staff_space!r}")
    factor = staff_space / reading.staff_space
    h, w = reading.image.shape
    size = (max(1, int(round(w * factor))), max(1, int(round(h * factor))))
    image = cv2.resize(reading.image, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC)
    return reading.scaled(factor, image=image)


def read_page(reader: Reader, path: str | os.PathLike, index: int = 0, *, staff_space: float | None = None,
              dpi: int = PDF_DPI) -> PageReading:
    """Load page ``index`` of ``path``, read its layout, and rescale it to ``staff_space``.

    Raises
    ------
    SheetError
        The file or page cannot be read, naming the file and page.
    """
    gray = load_page(path, index, dpi=dpi)
    try:
        reading = reader.read(gray, page=index)
    except SheetError as exc:
        raise SheetError(f"{path}: page {index + 1}: {exc}") from None
    return normalise_page(reading, staff_space) if staff_space else reading


def find_sheet_files(paths: Sequence[str | os.PathLike], *,
                     manifest: str | os.PathLike | None = None) -> dict[str, list[tuple[Path, int | None]]]:
    """The pieces among ``paths``: id -> its pages as ``(file, page or None for every page)``.

    See the module's documentation for which files make a piece.

    Examples
    --------
    >>> import tempfile
    >>> lib = Path(tempfile.mkdtemp()) / "scans"
    >>> (lib / "sonata").mkdir(parents=True)
    >>> for name in ("song.pdf", "etude.png", "sonata/p10.png", "sonata/p2.png", "notes.txt"):
    ...     _ = (lib / name).write_bytes(b"x")
    >>> {k: [f.name for f, _ in v] for k, v in find_sheet_files([lib]).items()}
    {'scans/etude.png': ['etude.png'], 'scans/sonata': ['p2.png', 'p10.png'], 'scans/song.pdf': ['song.pdf']}
    """
    if manifest is not None:
        return _read_manifest(Path(manifest))
    out: dict[str, list[tuple[Path, int | None]]] = {}
    for p in paths:
        p = Path(p).expanduser()
        if p.is_dir():
            for f in sorted(p.iterdir(), key=lambda f: _natural(f.name)):
                if f.is_file() and f.suffix.lower() in SHEET_SUFFIXES:
                    out[f"{p.name}/{f.name}"] = [(f, None)]
            for sub in sorted(q for q in p.rglob("*") if q.is_dir()):
                rel = sub.relative_to(p).as_posix()
                images = sorted((f for f in sub.iterdir()
                                 if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES),
                                key=lambda f: _natural(f.name))
                if images:
                    out[f"{p.name}/{rel}"] = [(f, None) for f in images]
                for f in sorted(sub.iterdir()):
                    if f.is_file() and f.suffix.lower() == ".pdf":
                        out[f"{p.name}/{rel}/{f.name}"] = [(f, None)]
        elif p.exists() or p.suffix.lower() in SHEET_SUFFIXES:
            # a missing named file is kept: it fails as a piece, named, and the batch goes on
            out[p.name] = [(p, None)]
        else:
            raise ParameterError(f"{p}: no such file or folder")
    if not out:
        raise ParameterError("no sheet music found (looked for "
                             + ", ".join(s.lstrip(".") for s in SHEET_SUFFIXES) + ")")
    return dict(sorted(out.items()))


def _read_manifest(path: Path) -> dict[str, list[tuple[Path, int | None]]]:
    """``file,piece[,page]`` rows (a header row naming the columns); files relative to the CSV."""
    if not path.is_file():
        raise ParameterError(f"{path}: no such manifest")
    try:
        rows = list(csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines()))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ParameterError(f"{path}: not a CSV manifest ({exc})") from None
    if not rows or not {"file", "piece"} <= set(rows[0]):
        raise ParameterError(f"{path}: a manifest needs a header row with the columns file,piece[,page]")
    out: dict[str, list[tuple[Path, int | None]]] = {}
    for n, row in enumerate(rows, start=2):
        file, piece = (row.get("file") or "").strip(), (row.get("piece") or "").strip()
        if not file or not piece:
            raise ParameterError(f"{path}: line {n}: needs a file and a piece")
        page_text = (row.get("page") or "").strip()
        page: int | None = None
        if page_text:
            if not page_text.isdigit() or int(page_text) < 1:
                raise ParameterError(f"{path}: line {n}: page must be a number >= 1, got {page_text!r}")
            page = int(page_text) - 1
        f = Path(file)
        out.setdefault(piece, []).append((f if f.is_absolute() else path.parent / f, page))
    return dict(sorted(out.items()))


class Sheets(Dataset):
    """Scans, photos and PDFs as pieces with a sheet side.

    Parameters
    ----------
    paths : sequence of path
        Files and folders (see the module's documentation for pieces).
    spectrogram : SpectrogramSpec
        The model's (a sheet collection has no audio; recorded for queries).
    reader : Reader
        The page reader (``ast.readers``).
    staff_space : float
        Pixels between staff lines that pages are rescaled to: the model's
        training data's.
    system_margin : int
        Page pixels kept left and right of each system (the training data's).
    manifest : path or None
        A CSV ``file,piece[,page]`` that groups files into pieces.
    dpi : int
        PDF rasterising resolution.

    Every piece is in the ``test`` split.  A page the reader refuses (a title
    page without staves, a strongly slanted photo) is skipped and listed by
    :meth:`notes`; a piece none of whose pages can be read fails with the
    first page's reason.
    """

    def __init__(self, paths: Sequence[str | os.PathLike], spectrogram: SpectrogramSpec, *,
                 reader: Reader, staff_space: float = 7.0, system_margin: int = 0,
                 manifest: str | os.PathLike | None = None, dpi: int = PDF_DPI,
                 sheet_window: tuple[int, int] = (160, 200), audio_context: int = 42) -> None:
        self._setup(find_sheet_files(paths, manifest=manifest), spectrogram, reader=reader,
                    staff_space=staff_space, system_margin=system_margin, dpi=dpi,
                    sheet_window=sheet_window, audio_context=audio_context)

    @classmethod
    def from_pieces(cls, pieces: dict[str, list[tuple[Path, int | None]]], spectrogram: SpectrogramSpec,
                    *, reader: Reader, staff_space: float = 7.0, system_margin: int = 0,
                    dpi: int = PDF_DPI, sheet_window: tuple[int, int] = (160, 200),
                    audio_context: int = 42) -> Sheets:
        """Pieces given as id -> pages (``(file, page or None)``), as an index records them."""
        if not pieces:
            raise ParameterError("no sheet music given")
        self = cls.__new__(cls)
        self._setup(pieces, spectrogram, reader=reader, staff_space=staff_space,
                    system_margin=system_margin, dpi=dpi, sheet_window=sheet_window,
                    audio_context=audio_context)
        return self

    def _setup(self, pieces: dict[str, list[tuple[Path, int | None]]], spectrogram: SpectrogramSpec, *,
               reader: Reader, staff_space: float, system_margin: int, dpi: int,
               sheet_window: tuple[int, int], audio_context: int) -> None:
        if not (np.isfinite(staff_space) and 2.0 <= staff_space <= 100.0):
            raise ParameterError(f"staff_space must be 2..100 pixels, got {staff_space!r}")
        if not 50 <= dpi <= 1200:
            raise ParameterError(f"--dpi must be 50..1200, got {dpi!r}")
        files = [f.resolve() for pages in pieces.values() for f, _ in pages]
        root = Path(os.path.commonpath([str(f.parent) for f in files])) if files else Path(".")
        super().__init__(root, sheet_window=sheet_window, audio_context=audio_context)
        self.name = "sheets"
        self._pieces = {pid: [(f.resolve(), p) for f, p in pages] for pid, pages in pieces.items()}
        self._spectrogram = spectrogram
        self.reader = reader
        self.staff_space = float(staff_space)
        self.system_margin = int(system_margin)
        self.dpi = int(dpi)
        self._skipped: dict[str, list[str]] = {}
        # readings are cached per instance (a method-level lru_cache would keep instances alive)
        self._readings: dict[str, tuple[PageReading, ...]] = {}

    @property
    def spectrogram(self) -> SpectrogramSpec:
        return self._spectrogram

    def piece_ids(self, split: str | None = None) -> list[str]:
        if split is not None and split not in self.SPLITS:
            raise ParameterError(f"unknown split {split!r}; known: {', '.join(self.SPLITS)}")
        return sorted(self._pieces) if split in (None, "test") else []

    def files(self, piece: str) -> list[tuple[Path, int | None]]:
        """The piece's files, each with its page (None: every page)."""
        try:
            return self._pieces[piece]
        except KeyError:
            raise ParameterError(f"no sheet music {piece!r} here") from None

    def source(self, piece: str) -> str:
        files = self.files(piece)
        return str(files[0][0]) if len(files) == 1 else str(files[0][0].parent)

    def notes(self, piece: str) -> list[str]:
        """Pages of ``piece`` that were skipped (with the reason) and what the reader
        corrected, once the piece has been read."""
        notes = list(self._skipped.get(piece, []))
        for n, r in enumerate(self._readings.get(piece, ())):
            notes += [f"page {n + 1}: {w}" for w in r.warnings]
        return notes

    def readings(self, piece: str) -> tuple[PageReading, ...]:
        """Every readable page of ``piece``, rescaled to :attr:`staff_space`, systems
        numbered over the whole piece and pages renumbered 0, 1, ... in order."""
        if piece not in self._readings:
            if len(self._readings) >= 8:
                self._readings.pop(next(iter(self._readings)))
            self._readings[piece] = self._read(piece)
        return self._readings[piece]

    def _read(self, piece: str) -> tuple[PageReading, ...]:
        out: list[PageReading] = []
        errors: list[str] = []
        for path, page in self.files(piece):
            numbers = [page] if page is not None else range(page_count(path))
            if len(numbers) > MAX_PAGES:
                raise SheetError(f"{path}: {len(numbers)} pages, more than {MAX_PAGES} for one "
                                 "piece; split the file, or give a manifest or --page")
            for number in numbers:
                try:
                    r = read_page(self.reader, path, number, staff_space=self.staff_space, dpi=self.dpi)
                except SheetError as exc:
                    errors.append(str(exc))
                    continue
                first = sum(len(o.systems) for o in out)
                r.systems[:] = [SystemBox(first + i, len(out), s.bbox) for i, s in enumerate(r.systems)]
                out.append(r)
        self._skipped[piece] = errors
        if not out:
            raise SheetError(errors[0] if len(errors) == 1 else
                             f"{errors[0]} (and {len(errors) - 1} more pages: none could be read)")
        return tuple(out)

    def pages(self, piece: str) -> int:
        try:
            return len(self.readings(piece))
        except ToolkitError:
            return 0

    def page(self, piece: str, index: int) -> np.ndarray:
        pages = self.readings(piece)
        if not 0 <= index < len(pages):
            raise ParameterError(f"piece {piece!r} has {len(pages)} readable pages, not {index + 1}")
        return pages[index].image

    def systems(self, piece: str) -> list[SystemBox]:
        return [s for r in self.readings(piece) for s in r.systems]

    def sequence(self, piece: str, *, sheet_hop: int = 50, audio_hop: int = 10,
                 performance: str | None = None) -> PieceSequence:
        pages = self.readings(piece)
        strip = unroll_systems(lambda i: pages[i].image, self.systems(piece),
                               height=self.sheet_window[0], margin=self.system_margin)
        windows, positions = sheet_sequence(strip, width=self.sheet_window[1], hop=sheet_hop)
        return PieceSequence(piece, windows, positions,
                             np.zeros((0, n_bins(self._spectrogram), self.audio_context), np.float32),
                             np.zeros(0, np.float32))
