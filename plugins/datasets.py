"""``rendered``: the Dataset plugin for folders written by ``ast data render``.

It yields MSMD-style pairs: a sheet window (160 × 200 px by default) centred on a
note head inside its system, cut from the *unrolled* score — every system cropped
to a band of the window's height around its centre and the bands concatenated
left to right — so windows near a system's end continue into the next system;
and a spectrogram excerpt centred on the note's onset frame (42 frames = 2.1 s at
20 frames/s by default; 84 and 168 are the longer contexts of the attention
models).  Whole pieces come as snippet sequences for matching.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolkit.audio import excerpt_centres
from toolkit.build import iter_pieces, validate_dataset
from toolkit.errors import IntegrityError, ParameterError, UnknownPluginError, did_you_mean
from toolkit.interfaces import Dataset
from toolkit.types import PieceSequence, SnippetPair

__all__ = ["RenderedDataset", "Strip", "Rendition", "PairTable"]

#: Margin (pixels) kept left and right of each system when unrolling.
SYSTEM_MARGIN = 10


@dataclass(frozen=True)
class Strip:
    """A piece's systems unrolled into one band.

    Attributes
    ----------
    image : np.ndarray [shape=(height, width)], float16
        Ink in [0, 1] (1 = black); float16 halves the memory of a training run
        that keeps every strip of a large dataset in memory.
    system_offsets : np.ndarray [shape=(n_systems,)], int
        Column of the strip where each system's crop starts.
    system_x0 : np.ndarray [shape=(n_systems,)], int
        Page column of that crop's left edge.
    system_pages : np.ndarray [shape=(n_systems,)], int
    """

    image: np.ndarray
    system_offsets: np.ndarray
    system_x0: np.ndarray
    system_pages: np.ndarray

    def to_strip_x(self, system: int, page_x: float) -> float:
        return float(self.system_offsets[system] + page_x - self.system_x0[system])

    def to_page(self, strip_x: float) -> tuple[int, int, float]:
        """``(page, system, x)`` of a strip column."""
        s = int(np.searchsorted(self.system_offsets, strip_x, side="right") - 1)
        s = max(s, 0)
        return int(self.system_pages[s]), s, float(strip_x - self.system_offsets[s] + self.system_x0[s])


@dataclass(frozen=True)
class Rendition:
    """One performance of a piece."""

    name: str
    soundfont: str
    tempo: float
    spectrogram: np.ndarray  # [n_bins, n_frames] float16, as stored
    onsets: np.ndarray  # [n_events] seconds
    frames: np.ndarray  # [n_events] int
    noteheads: tuple[str, ...]  # [n_events]
    pitches: np.ndarray  # [n_events]


@dataclass(frozen=True)
class PairTable:
    """The training / evaluation pairs of a split: one per distinct onset of a piece.

    Notes sounding together (a chord, the voices of a chorale) share one onset
    and one sheet window, so they are one pair, not several identical ones.

    Attributes
    ----------
    pieces : tuple of str [n_pairs]
    events : np.ndarray [shape=(n_pairs,)], int
        Index of the onset's first event in every rendition of the piece.
    x : np.ndarray [shape=(n_pairs,)], float
        Strip column of the sheet window's centre (mean of the onset's note heads).
    sheet_id : np.ndarray [shape=(n_pairs,)], int
        Pairs with the same sheet window (a repeated passage played twice) share
        an id: for retrieval they are each other's correct answers.
    """

    pieces: tuple[str, ...]
    events: np.ndarray
    x: np.ndarray
    sheet_id: np.ndarray

    def __len__(self) -> int:
        return len(self.events)

    def take(self, index: np.ndarray) -> PairTable:
        index = np.asarray(index)
        return PairTable(tuple(self.pieces[i] for i in index), self.events[index],
                         self.x[index], self.sheet_id[index])


def window(array: np.ndarray, centre: int, width: int) -> np.ndarray:
    """Columns ``[centre - width//2, centre - width//2 + width)`` of ``array``, zero-padded."""
    start = centre - width // 2
    out = np.zeros(array.shape[:-1] + (width,), dtype=np.float32)
    lo, hi = max(start, 0), min(start + width, array.shape[-1])
    if hi > lo:
        out[..., lo - start: hi - start] = array[..., lo:hi]
    return out


class RenderedDataset(Dataset):
    """Read a dataset folder made by ``ast data render``.

    Parameters
    ----------
    root : path
        The dataset folder.
    sheet_shape : (int, int)
        Sheet window ``(height, width)`` in pixels (MSMD: 160 × 200).
    audio_context : int
        Spectrogram excerpt length in frames (42 = 2.1 s at 20 frames/s).
    """

    def __init__(self, root: str | Path, *, sheet_shape: tuple[int, int] = (160, 200),
                 audio_context: int = 42) -> None:
        self.root = Path(root)
        entries = list(iter_pieces(self.root))  # raises IntegrityError if incomplete
        self._entries = {e["id"]: e for e in entries}
        if len(sheet_shape) != 2 or min(sheet_shape) < 1:
            raise ParameterError(f"sheet_shape must be (height, width) > 0, got {sheet_shape}")
        if audio_context < 1:
            raise ParameterError(f"audio_context must be >= 1 frame, got {audio_context}")
        self.sheet_shape = (int(sheet_shape[0]), int(sheet_shape[1]))
        self.audio_context = int(audio_context)
        info = json.loads((self.root / "dataset.json").read_text())
        self.name = info.get("name", self.root.name)
        self.spec = info.get("spec", {})

    # -- index ----------------------------------------------------------------------

    def piece_ids(self, split: str | None = None) -> list[str]:
        if split is not None and split not in self.SPLITS:
            raise ParameterError(f"unknown split {split!r}; known: {', '.join(self.SPLITS)}")
        return sorted(pid for pid, e in self._entries.items() if split in (None, e["split"]))

    def split_of(self, piece: str) -> str:
        return self._entry(piece)["split"]

    def validate(self) -> tuple[list[str], list[str]]:
        return validate_dataset(self.root)

    def _entry(self, piece: str) -> dict:
        try:
            return self._entries[piece]
        except KeyError:
            raise UnknownPluginError(did_you_mean(
                piece, self._entries, what="piece", max_known=10,
                hint=f"`ast data stats {self.root} --pieces`")) from None

    def folder(self, piece: str) -> Path:
        return self.root / self._entry(piece)["folder"]

    # -- per-piece data (cached) -------------------------------------------------------

    @functools.lru_cache(maxsize=16384)
    def score(self, piece: str) -> dict:
        """The piece's ``score.json``: pages, note heads, systems, events."""
        path = self.folder(piece) / "score.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise IntegrityError(f"{path}: cannot read: {exc}") from None

    def page(self, piece: str, index: int) -> np.ndarray:
        """Page ``index`` as uint8 [height, width] (255 = paper)."""
        from PIL import Image

        path = self.folder(piece) / self.score(piece)["pages"][index]
        try:
            return np.asarray(Image.open(path).convert("L"))
        except OSError as exc:
            raise IntegrityError(f"{path}: cannot read image: {exc}") from None

    @functools.lru_cache(maxsize=16384)
    def strip(self, piece: str) -> Strip:
        """The piece's systems unrolled into one band of the window's height."""
        score = self.score(piece)
        height = self.sheet_shape[0]
        pages = {}
        bands, offsets, x0s, spages = [], [], [], []
        offset = 0
        for index, page, x0, y0, x1, y1 in score["systems"]:
            if page not in pages:
                pages[page] = 1.0 - self.page(piece, page).astype(np.float32) / 255.0
            img = pages[page]
            cy = int(round((y0 + y1) / 2))
            left = max(int(np.floor(x0)) - SYSTEM_MARGIN, 0)
            right = min(int(np.ceil(x1)) + SYSTEM_MARGIN, img.shape[1])
            band = np.zeros((height, right - left), dtype=np.float32)
            top = cy - height // 2
            lo, hi = max(top, 0), min(top + height, img.shape[0])
            band[lo - top: hi - top] = img[lo:hi, left:right]
            bands.append(band)
            offsets.append(offset)
            x0s.append(left)
            spages.append(page)
            offset += band.shape[1]
        if not bands:
            raise IntegrityError(f"{self.folder(piece)}: the score has no systems")
        return Strip(np.concatenate(bands, axis=1).astype(np.float16), np.array(offsets),
                     np.array(x0s), np.array(spages))

    @functools.lru_cache(maxsize=16384)
    def notehead_strip_x(self, piece: str) -> dict[str, float]:
        """Strip column of each note head's centre."""
        strip = self.strip(piece)
        return {
            nid: strip.to_strip_x(system, (x0 + x1) / 2)
            for nid, page, system, x0, y0, x1, y1, pitch in self.score(piece)["noteheads"]
        }

    def renditions(self, piece: str) -> list[str]:
        """Names of the piece's renditions."""
        return list(self._renditions(piece))

    @functools.lru_cache(maxsize=16384)
    def _renditions(self, piece: str) -> tuple[str, ...]:
        rdir = self.folder(piece) / "renditions"
        return tuple(sorted(p.name for p in rdir.iterdir() if p.is_dir()))

    @functools.lru_cache(maxsize=65536)
    def rendition(self, piece: str, name: str) -> Rendition:
        rdir = self.folder(piece) / "renditions" / name
        try:
            meta = json.loads((rdir / "rendition.json").read_text())
            spec = np.load(rdir / "spectrogram.npy").astype(np.float16, copy=False)
        except (OSError, ValueError) as exc:
            raise IntegrityError(f"{rdir}: cannot read rendition: {exc}") from None
        ev = meta["events"]
        return Rendition(
            name, meta["soundfont"], float(meta["tempo"]), spec,
            np.array([e[0] for e in ev], dtype=np.float64),
            np.array([e[4] for e in ev], dtype=np.int64),
            tuple(e[3] for e in ev),
            np.array([e[2] for e in ev], dtype=np.int64),
        )

    # -- pairs -------------------------------------------------------------------------

    def sheet_window(self, piece: str, strip_x: float) -> np.ndarray:
        """The sheet window centred on strip column ``strip_x``: float32 [h, w]."""
        return window(self.strip(piece).image, int(round(strip_x)), self.sheet_shape[1])

    def audio_window(self, piece: str, rendition: str, frame: int) -> np.ndarray:
        """The spectrogram excerpt centred on ``frame``: float32 [n_bins, context]."""
        return window(self.rendition(piece, rendition).spectrogram, int(frame),
                      self.audio_context)

    def pair_index(self, split: str) -> list[tuple[str, str, int]]:
        """Every pair of ``split`` as ``(piece, rendition, event index)``."""
        out = []
        for piece in self.piece_ids(split):
            xs = self.notehead_strip_x(piece)
            for rname in self.renditions(piece):
                r = self.rendition(piece, rname)
                out.extend((piece, rname, i) for i, n in enumerate(r.noteheads) if n in xs)
        return out

    def pair(self, piece: str, rendition: str, event: int) -> SnippetPair:
        """One aligned pair."""
        r = self.rendition(piece, rendition)
        nid = r.noteheads[event]
        x = self.notehead_strip_x(piece)[nid]
        return SnippetPair(
            self.sheet_window(piece, x),
            self.audio_window(piece, rendition, int(r.frames[event])),
            piece, nid, float(r.onsets[event]),
        )

    def pair_table(self, split: str) -> PairTable:
        """One pair per distinct onset of every piece of ``split`` (see :class:`PairTable`)."""
        pieces, events, xs, ids = [], [], [], []
        sheet_ids: dict[tuple[str, int], int] = {}
        for piece in self.piece_ids(split):
            names = self.renditions(piece)
            if not names:
                continue
            head_x = self.notehead_strip_x(piece)
            r = self.rendition(piece, names[0])
            groups: dict[int, list[int]] = {}
            for i, (nid, onset) in enumerate(zip(r.noteheads, r.onsets)):
                if nid in head_x:
                    groups.setdefault(int(round(onset * 1000)), []).append(i)
            for _, idx in sorted(groups.items()):
                x = float(np.mean([head_x[r.noteheads[i]] for i in idx]))
                key = (piece, int(round(x)))
                pieces.append(piece)
                events.append(idx[0])
                xs.append(x)
                ids.append(sheet_ids.setdefault(key, len(sheet_ids)))
        return PairTable(tuple(pieces), np.array(events, dtype=np.int64),
                         np.array(xs, dtype=np.float64), np.array(ids, dtype=np.int64))

    def batch(self, table: PairTable, index: np.ndarray | None = None, *,
              rng: np.random.Generator | None = None, audio_jitter: int = 0,
              rendition: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Sheet windows and spectrogram excerpts of some pairs of a :class:`PairTable`.

        Parameters
        ----------
        table : PairTable
        index : np.ndarray [shape=(n,)], int or None
            Rows of ``table``; None takes every row.
        rng : np.random.Generator or None
            With a generator, each pair gets a random rendition of its piece
            (soundfont × tempo) and its onset frame moves by up to ``audio_jitter``
            frames; without one, the result is deterministic (``rendition``, or each
            piece's first rendition).
        audio_jitter : int
            Largest onset shift in frames (augmentation).

        Returns
        -------
        sheets : np.ndarray [shape=(n, height, width)], float32
        audio : np.ndarray [shape=(n, n_bins, audio_context)], float32
        """
        index = np.arange(len(table)) if index is None else np.asarray(index)
        h, w = self.sheet_shape
        sheets = np.zeros((len(index), h, w), dtype=np.float32)
        audio = None
        for k, row in enumerate(index):
            piece, event = table.pieces[row], int(table.events[row])
            sheets[k] = self.sheet_window(piece, table.x[row])
            names = self._renditions(piece)
            if rng is not None:
                name = names[int(rng.integers(len(names)))]
            else:
                name = rendition if rendition in names else names[0]
            r = self.rendition(piece, name)
            frame = int(r.frames[min(event, len(r.frames) - 1)])
            if rng is not None and audio_jitter:
                frame += int(rng.integers(-audio_jitter, audio_jitter + 1))
            excerpt = window(r.spectrogram, frame, self.audio_context)
            if audio is None:
                audio = np.zeros((len(index),) + excerpt.shape, dtype=np.float32)
            audio[k] = excerpt
        if audio is None:
            audio = np.zeros((0, 0, self.audio_context), dtype=np.float32)
        return sheets, audio

    @functools.cached_property
    def spectrogram_bins(self) -> int:
        """Bins of the dataset's spectrograms."""
        for piece in self.piece_ids():
            names = self.renditions(piece)
            if names:
                return int(self.rendition(piece, names[0]).spectrogram.shape[0])
        raise IntegrityError(f"{self.root}: no renditions")

    def pairs(self, split: str, **options) -> Iterator[SnippetPair]:
        """Every aligned pair of ``split``, piece by piece, one per performed onset."""
        if options:
            raise ParameterError(f"unknown options {sorted(options)}")
        for piece, rendition, event in self.pair_index(split):
            yield self.pair(piece, rendition, event)

    # -- sequences ----------------------------------------------------------------------

    def sequence(self, piece: str, *, sheet_hop: int = 50, audio_hop: int = 10,
                 rendition: str | None = None) -> PieceSequence:
        """Piece ``piece`` as snippet sequences.

        Parameters
        ----------
        sheet_hop : int
            Pixels between sheet windows along the unrolled systems (seed 002: 50).
        audio_hop : int
            Frames between spectrogram excerpts (10 = 0.5 s at 20 frames/s).
        rendition : str or None
            Which performance; None takes the first.
        """
        strip = self.strip(piece)
        xs = np.arange(self.sheet_shape[1] // 2, max(strip.image.shape[1], 1), sheet_hop)
        sheet = np.stack([self.sheet_window(piece, x) for x in xs])
        positions = np.array([strip.to_page(x) for x in xs], dtype=np.float32)
        names = self.renditions(piece)
        if not names:
            raise IntegrityError(f"{self.folder(piece)}: no renditions")
        r = self.rendition(piece, rendition or names[0])
        n_frames = r.spectrogram.shape[1]
        centres = excerpt_centres(n_frames, self.audio_context, audio_hop)
        audio = np.stack([window(r.spectrogram, c, self.audio_context) for c in centres])
        fps = float(self.spec.get("spectrogram", {}).get("fps", 20.0))
        return PieceSequence(piece, sheet, positions, audio, (centres / fps).astype(np.float32))
