"""``rendered``: the Dataset plugin for folders written by ``ast data render``.

It reads the toolkit's render format (:data:`ast_toolkit.data.build.FORMAT`)
and yields MSMD-style pairs: a sheet window (160 × 200 px by default) centred
on a note head inside its system, cut from the *unrolled* score
(:mod:`ast_toolkit.data.snippets`), so windows near a system's end continue
into the next system; and a spectrogram excerpt centred on the note's onset
frame (42 frames = 2.1 s at 20 frames/s by default; 84 and 168 are the longer
contexts of the attention models).  Whole pieces come as snippet sequences for
matching.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ast_toolkit.data.audio import excerpts
from ast_toolkit.data.build import FORMAT, dataset_stats, iter_pieces, validate_dataset
from ast_toolkit.data.spectrogram import n_bins
from ast_toolkit.data.snippets import Strip, sheet_sequence, unroll_systems, window
from ast_toolkit.catalog import SnippetSpec
from ast_toolkit.errors import IntegrityError, ParameterError, UnknownNameError, did_you_mean
from ast_toolkit.interfaces import Dataset
from ast_toolkit import schemas
from ast_toolkit.io import read_json, read_npy, sha256
from ast_toolkit.types import (NoteEvent, NoteHead, PairTable, Performance, PieceSequence, SnippetPair,
                               SpectrogramSpec, SystemBox)

__all__ = ["RenderedDataset", "Rendition"]


@dataclass(frozen=True)
class Rendition(Performance):
    """One rendition of a piece: a performance with its soundfont and tempo factor."""

    soundfont: str = ""
    tempo: float = 1.0


class RenderedDataset(Dataset):
    """Read a dataset folder made by ``ast data render``.

    Parameters
    ----------
    root : path
        The dataset folder.
    sheet_window : (int, int)
        Sheet window ``(height, width)`` in pixels (MSMD: 160 × 200).
    audio_context : int
        Spectrogram excerpt length in frames (42 = 2.1 s at 20 frames/s).
    """

    reads = FORMAT

    def __init__(self, root: str | Path, *, sheet_window: tuple[int, int] = (160, 200),
                 audio_context: int = 42) -> None:
        super().__init__(root, sheet_window=sheet_window, audio_context=audio_context)
        entries = list(iter_pieces(self.root))  # raises IntegrityError if incomplete
        self._entries = {e["id"]: e for e in entries}
        info = read_json(self.root / "dataset.json", schema=schemas.RenderedDatasetMeta)
        self.name = info.get("name", self.root.name)
        self.spec = info.get("spec", {})
        #: How snippets are cut (a folder from before the setting existed: ``ast-v1``'s).
        self.snippets = SnippetSpec.from_dict(self.spec.get("snippets"))
        self.system_margin = self.snippets.system_margin
        render = self.spec.get("render") or {}
        self.staff_space = float(render["staff_space"]) if render.get("staff_space") else None

    @property
    def spectrogram(self) -> SpectrogramSpec:
        return SpectrogramSpec.from_dict(self.spec.get("spectrogram"))

    # -- index ----------------------------------------------------------------------

    def piece_ids(self, split: str | None = None) -> list[str]:
        if split is not None and split not in self.SPLITS:
            raise ParameterError(f"unknown split {split!r}; known: {', '.join(self.SPLITS)}")
        return sorted(pid for pid, e in self._entries.items() if split in (None, e["split"]))

    def split_of(self, piece: str) -> str:
        return self._entry(piece)["split"]

    def validate(self) -> tuple[list[str], list[str]]:
        return validate_dataset(self.root)

    def stats(self) -> dict[str, dict[str, float]]:
        return dataset_stats(self.root)  # from the JSON files only: quick on large datasets

    def _entry(self, piece: str) -> dict:
        try:
            return self._entries[piece]
        except KeyError:
            raise UnknownNameError(did_you_mean(
                piece, self._entries, what="piece", max_known=10,
                hint=f"`ast data stats {self.root} --pieces`")) from None

    def folder(self, piece: str) -> Path:
        """The piece's folder."""
        return self.root / self._entry(piece)["folder"]

    def source(self, piece: str) -> str:
        return str(self.folder(piece))

    # -- per-piece data (cached) -------------------------------------------------------

    # Integrity on open, cheaply: every file read is checked against the piece's
    # checksums.json (a spectrogram or page is read once and cached, so hashing it
    # costs a fraction of a millisecond against what is done with it) and every
    # array for its shape.  Only the audio, which nothing reads back, waits for
    # `ast data validate`.

    @functools.lru_cache(maxsize=16384)
    def _checksums(self, piece: str) -> dict[str, str]:
        return read_json(self.folder(piece) / "checksums.json", schema=schemas.Checksums)

    def _check(self, piece: str, path: Path) -> None:
        """Raise if ``path`` (a file of ``piece``'s folder) differs from its checksum."""
        rel = path.relative_to(self.folder(piece)).as_posix()
        want = self._checksums(piece).get(rel)
        if want is None:
            raise IntegrityError(f"{path}: not listed in checksums.json; {self._repair}")
        try:
            got = sha256(path)
        except FileNotFoundError:
            raise IntegrityError(f"{path}: missing; {self._repair}") from None
        if got != want:
            raise IntegrityError(f"{path}: content differs from its checksum (the file is "
                                 f"damaged); {self._repair}")

    @property
    def _repair(self) -> str:
        return f"`ast data validate {self.root} --repair` re-renders damaged pieces"

    def _read(self, piece: str, rel: str, schema) -> dict:
        path = self.folder(piece) / rel
        self._check(piece, path)
        return read_json(path, schema=schema)

    @functools.lru_cache(maxsize=16384)
    def score(self, piece: str) -> dict:
        """The piece's ``score.json``: pages, note heads, systems, events."""
        score = self._read(piece, "score.json", schemas.Score)
        if len(score["page_sizes"]) != len(score["pages"]):
            raise IntegrityError(f"{self.folder(piece) / 'score.json'}: {len(score['pages'])} "
                                 f"pages but {len(score['page_sizes'])} page sizes")
        return score

    def pages(self, piece: str) -> int:
        return len(self.score(piece)["pages"])

    def page(self, piece: str, index: int) -> np.ndarray:
        from PIL import Image

        score = self.score(piece)
        path = self.folder(piece) / score["pages"][index]
        self._check(piece, path)
        try:
            with Image.open(path) as img:
                page = np.asarray(img.convert("L"))
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise IntegrityError(f"{path}: cannot read image: {exc}; {self._repair}") from None
        if list(page.shape) != list(score["page_sizes"][index]):
            raise IntegrityError(f"{path}: {page.shape[0]} x {page.shape[1]} pixels, score.json "
                                 f"says {score['page_sizes'][index][0]} x "
                                 f"{score['page_sizes'][index][1]}; {self._repair}")
        return page

    def systems(self, piece: str) -> list[SystemBox]:
        return [SystemBox(int(i), int(p), (x0, y0, x1, y1))
                for i, p, x0, y0, x1, y1 in self.score(piece)["systems"]]

    def noteheads(self, piece: str) -> list[NoteHead]:
        return [NoteHead(nid, int(p), int(s), (x0, y0, x1, y1), int(pitch))
                for nid, p, s, x0, y0, x1, y1, pitch in self.score(piece)["noteheads"]]

    @functools.lru_cache(maxsize=16384)
    def strip(self, piece: str) -> Strip:
        """The piece's systems unrolled into one band of the window's height."""
        systems = self.systems(piece)
        if not systems:
            raise IntegrityError(f"{self.folder(piece)}: the score has no systems")
        return unroll_systems(lambda p: self.page(piece, p), systems, height=self.sheet_window[0],
                              margin=self.snippets.system_margin)

    @functools.lru_cache(maxsize=16384)
    def notehead_strip_x(self, piece: str) -> dict[str, float]:
        """Strip column of each note head's centre."""
        strip = self.strip(piece)
        return {h.id: strip.to_strip_x(h.system, (h.bbox[0] + h.bbox[2]) / 2)
                for h in self.noteheads(piece)}

    def performances(self, piece: str) -> list[str]:
        return list(self._renditions(piece))

    def renditions(self, piece: str) -> list[str]:
        """Names of the piece's renditions (its performances)."""
        return self.performances(piece)

    @functools.lru_cache(maxsize=16384)
    def _renditions(self, piece: str) -> tuple[str, ...]:
        # the renditions the piece was built with (its checksums list them), not
        # whatever folders are there: a missing one is an error, not a smaller piece
        names = sorted({rel.split("/")[1] for rel in self._checksums(piece)
                        if rel.startswith("renditions/") and rel.count("/") >= 2})
        for name in names:
            if not (self.folder(piece) / "renditions" / name).is_dir():
                raise IntegrityError(f"{self.folder(piece) / 'renditions' / name}: missing; "
                                     f"{self._repair}")
        return tuple(names)

    def performance(self, piece: str, name: str | None = None) -> Rendition:
        names = self._renditions(piece)
        if not names:
            raise IntegrityError(f"{self.folder(piece)}: no renditions")
        return self.rendition(piece, name or names[0])

    @functools.lru_cache(maxsize=65536)
    def rendition(self, piece: str, name: str) -> Rendition:
        """The rendition ``name`` of ``piece`` (cached)."""
        rdir = self.folder(piece) / "renditions" / name
        meta = self._read(piece, f"renditions/{name}/rendition.json", schemas.Rendition)
        self._check(piece, rdir / "spectrogram.npy")
        bins = n_bins(self.spectrogram)
        spec = read_npy(rdir / "spectrogram.npy", shape=(bins, meta["n_frames"]),
                        dtype=np.float16)
        if not np.isfinite(spec).all():
            raise IntegrityError(f"{rdir / 'spectrogram.npy'}: {int((~np.isfinite(spec)).sum())} "
                                 "non-finite values (NaN or inf): the file is damaged; "
                                 f"`ast data validate {self.root}` lists what to re-render")
        ev = meta["events"]
        return Rendition(
            name, spec, float(meta.get("fps", self.spectrogram.fps)),
            np.array([e[0] for e in ev], dtype=np.float64),
            np.array([e[4] for e in ev], dtype=np.int64),
            tuple(e[3] for e in ev),
            np.array([e[2] for e in ev], dtype=np.int64),
            label=f"{meta['soundfont']}, tempo ×{float(meta['tempo']):g}",
            soundfont=meta["soundfont"], tempo=float(meta["tempo"]),
        )

    # -- pairs -------------------------------------------------------------------------

    def window_at(self, piece: str, strip_x: float) -> np.ndarray:
        """The sheet window centred on strip column ``strip_x``: float32 [h, w]."""
        return window(self.strip(piece).image, int(round(strip_x)), self.sheet_window[1])

    def audio_window(self, piece: str, rendition: str, frame: int) -> np.ndarray:
        """The spectrogram excerpt centred on ``frame``: float32 [n_bins, context]."""
        return window(self.rendition(piece, rendition).spectrogram, int(frame),
                      self.audio_context)

    def pair_index(self, split: str) -> list[tuple[str, str, int]]:
        """Every pair of ``split`` as ``(piece, rendition, event index)``: one per
        performed onset of every rendition."""
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
            self.window_at(piece, x),
            self.audio_window(piece, rendition, int(r.frames[event])),
            piece, nid, float(r.onsets[event]),
        )

    def pairs(self, split: str) -> Iterator[SnippetPair]:
        """Every aligned pair of ``split``, piece by piece, one per performed onset."""
        for piece, rendition, event in self.pair_index(split):
            yield self.pair(piece, rendition, event)

    def pair_table(self, split: str) -> PairTable:
        """The aligned pairs of ``split``, chosen as the dataset's snippet setting says.

        Notes sounding together (a chord, the voices of a chorale) share one
        sheet window and one audio excerpt, so they are one pair, not several
        identical ones:

        * ``pairs = "msmd"`` (:class:`~ast_toolkit.catalog.SnippetSpec`) — as
          MSMD's data pools: one pair per onset *frame*, at the first note head
          played on it (events are ordered by onset, then pitch: the lowest),
          kept only when the whole sheet window lies inside the unrolled strip
          and the whole audio excerpt inside the spectrogram (of the piece's
          first rendition);
        * ``pairs = "onsets"`` — one pair per distinct onset time, the window
          centred on the mean of its note heads, zero-padded past the strip's ends.

        Columns: ``event`` (the pair's event, in every rendition of the piece)
        and ``x`` (strip column of the window's centre).
        """
        msmd = self.snippets.pairs == "msmd"
        w, ctx = self.sheet_window[1], self.audio_context
        pieces, events, xs, ids = [], [], [], []
        sheet_ids: dict[tuple[str, int], int] = {}
        for piece in self.piece_ids(split):
            names = self.renditions(piece)
            if not names:
                continue
            head_x = self.notehead_strip_x(piece)
            r = self.rendition(piece, names[0])
            width, n_frames = self.strip(piece).image.shape[1], r.spectrogram.shape[1]
            groups: dict[int, list[int]] = {}
            for i, (nid, onset) in enumerate(zip(r.noteheads, r.onsets)):
                if nid in head_x:
                    key = int(r.frames[i]) if msmd else int(round(onset * 1000))
                    groups.setdefault(key, []).append(i)
            for frame, idx in sorted(groups.items()):
                if msmd:
                    x = head_x[r.noteheads[idx[0]]]
                    start, first = int(round(x)) - w // 2, frame - ctx // 2
                    # strict upper bounds, as the authors' code (ucasr's snippet_dataset.py)
                    if start < 0 or start + w >= width or first < 0 or first + ctx >= n_frames:
                        continue
                    idx = idx[:1]
                else:
                    x = float(np.mean([head_x[r.noteheads[i]] for i in idx]))
                key = (piece, int(round(x)))
                pieces.append(piece)
                events.append(idx[0])
                xs.append(x)
                ids.append(sheet_ids.setdefault(key, len(sheet_ids)))
        return PairTable(tuple(pieces), np.array(ids, dtype=np.int64),
                         {"event": np.array(events, dtype=np.int64),
                          "x": np.array(xs, dtype=np.float64)})

    def batch(self, table: PairTable, rows: np.ndarray | None = None, *,
              rng: np.random.Generator | None = None, audio_jitter: int = 0,
              extent: tuple[int, int] | None = None,
              variants: Mapping[tuple[str, str], Sequence[np.ndarray]] | None = None,
              rendition: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Sheet windows and spectrogram excerpts of some pairs of a :class:`PairTable`.

        With a generator, each pair gets a random rendition of its piece
        (soundfont × tempo) — or one of that rendition's ``variants`` — and its
        onset frame moves by up to ``audio_jitter`` frames; without one, the
        result is deterministic (``rendition``, or each piece's first
        rendition).  ``extent``: see :meth:`Dataset.batch`.
        """
        rows = np.arange(len(table)) if rows is None else np.asarray(rows)
        h, w = self.sheet_window
        sheets = np.zeros((len(rows), h, w), dtype=np.float32)
        audio = None
        if extent is None:
            width, offset = self.audio_context, 0
        else:
            before, after = extent
            width = before + after
            offset = width // 2 - before  # window() centres: move the onset to column `before`
        events, xs = table.columns["event"], table.columns["x"]
        for k, row in enumerate(rows):
            piece, event = table.pieces[row], int(events[row])
            sheets[k] = self.window_at(piece, xs[row])
            names = self._renditions(piece)
            if rng is not None:
                name = names[int(rng.integers(len(names)))]
            else:
                name = rendition if rendition in names else names[0]
            r = self.rendition(piece, name)
            spectrogram = r.spectrogram
            extra = variants.get((piece, name)) if variants and rng is not None else None
            if extra:
                pick = int(rng.integers(len(extra) + 1))
                spectrogram = spectrogram if pick == 0 else extra[pick - 1]
            frame = int(r.frames[min(event, len(r.frames) - 1)])
            if rng is not None and audio_jitter:
                frame += int(rng.integers(-audio_jitter, audio_jitter + 1))
            excerpt = window(spectrogram, frame + offset, width)
            if audio is None:
                audio = np.zeros((len(rows),) + excerpt.shape, dtype=np.float32)
            audio[k] = excerpt
        if audio is None:
            audio = np.zeros((0, 0, width), dtype=np.float32)
        return sheets, audio

    def performance_audio(self, piece: str, name: str) -> tuple[np.ndarray, int, list[NoteEvent]]:
        """The rendition's ``audio.flac``, its sample rate and its notes (velocity: the
        dataset's synthesis setting)."""
        import soundfile as sf

        rdir = self.folder(piece) / "renditions" / name
        meta = self._read(piece, f"renditions/{name}/rendition.json", schemas.Rendition)
        path = rdir / "audio.flac"
        self._check(piece, path)
        try:
            audio, rate = sf.read(str(path), dtype="float32", always_2d=False)
        except (RuntimeError, sf.LibsndfileError) as exc:
            raise IntegrityError(f"{path}: cannot be read ({exc}); {self._repair}") from None
        velocity = int((self.spec.get("synthesis") or {}).get("velocity") or 64)
        events = [NoteEvent(float(e[0]), float(e[1]), int(e[2]), velocity, e[3])
                  for e in meta["events"] if int(e[2]) >= 0]
        return (audio if audio.ndim == 1 else audio.mean(axis=1)), int(rate), events

    # -- sequences ----------------------------------------------------------------------

    def sequence(self, piece: str, *, sheet_hop: int = 50, audio_hop: int = 10,
                 performance: str | None = None) -> PieceSequence:
        """Piece ``piece`` as snippet sequences (see the interface); ``performance``
        names a rendition (None: the first)."""
        names = self.renditions(piece)
        if performance is not None and performance not in names:
            raise ParameterError(f"no rendition {performance!r}; the piece has {', '.join(names)}")
        sheet, positions = sheet_sequence(self.strip(piece), width=self.sheet_window[1],
                                          hop=sheet_hop)
        r = self.performance(piece, performance)
        audio, centres = excerpts(np.asarray(r.spectrogram), self.audio_context, audio_hop)
        return PieceSequence(piece, sheet, positions, audio, (centres / r.fps).astype(np.float32),
                             duration=r.duration, performance=r.name)
