"""A user's own files as one collection: scans and PDFs beside recordings.

``ast index --sheets PATH... --audio PATH...`` indexes both in one index, so that
both directions (a recording finds its score, a page finds its recording) run
across a user's own material.  :class:`Joined` puts two collections side by
side behind the one :class:`~ast_toolkit.interfaces.Dataset` interface;
:func:`user_collection` makes it from paths, and :func:`reopen` from what an
index recorded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ParameterError
from ..interfaces import Dataset, Reader
from ..types import (NoteEvent, NoteHead, PairTable, Performance, PieceSequence, SpectrogramSpec,
                     SystemBox)
from .recordings import Recordings
from .sheets import PDF_DPI, Sheets

__all__ = ["Joined", "user_collection", "reopen"]


class Joined(Dataset):
    """Collections side by side: every piece belongs to exactly one of them.

    Parameters
    ----------
    parts : sequence of Dataset
        Collections whose piece ids do not overlap.

    Examples
    --------
    >>> from ast_toolkit.types import SpectrogramSpec
    >>> Joined([])
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.ParameterError: nothing to join: give sheet music, recordings or both
    """

    def __init__(self, parts: Sequence[Dataset]) -> None:
        if not parts:
            raise ParameterError("nothing to join: give sheet music, recordings or both")
        roots = [str(p.root.resolve()) for p in parts]
        super().__init__(Path(os.path.commonpath(roots)) if len(set(roots)) > 1 else Path(roots[0]),
                         sheet_window=parts[0].sheet_window, audio_context=parts[0].audio_context)
        self.parts = list(parts)
        self.name = "+".join(p.name for p in parts)
        # the page scale the parts' sheets share (a model trained on them records it)
        spaces, margins = self._scales()
        self.staff_space = next(iter(spaces)) if len(spaces) == 1 else None
        self.system_margin = next(iter(margins)) if len(margins) == 1 else 0
        self._owner: dict[str, Dataset] = {}
        for part in parts:
            for pid in part.piece_ids():
                if pid in self._owner:
                    raise ParameterError(
                        f"two files make the piece id {pid!r} ({self._owner[pid].source(pid)} and "
                        f"{part.source(pid)}); rename one, or index them separately")
                self._owner[pid] = part

    def _scales(self) -> tuple[set[float], set[int]]:
        """The staff spaces and system margins of the parts' pages."""
        return ({p.staff_space for p in self.parts if getattr(p, "staff_space", None)},
                {int(getattr(p, "system_margin", 0)) for p in self.parts})

    def part(self, piece: str) -> Dataset:
        """The collection ``piece`` belongs to."""
        try:
            return self._owner[piece]
        except KeyError:
            raise ParameterError(f"no piece {piece!r} here") from None

    @property
    def spectrogram(self) -> SpectrogramSpec:
        return self.parts[0].spectrogram

    def piece_ids(self, split: str | None = None) -> list[str]:
        return sorted(pid for part in self.parts for pid in part.piece_ids(split))

    def source(self, piece: str) -> str:
        return self.part(piece).source(piece)

    def notes(self, piece: str) -> list[str]:
        return self.part(piece).notes(piece)

    def sequence(self, piece: str, *, sheet_hop: int = 50, audio_hop: int = 10,
                 performance: str | None = None) -> PieceSequence:
        return self.part(piece).sequence(piece, sheet_hop=sheet_hop, audio_hop=audio_hop,
                                         performance=performance)

    def pages(self, piece: str) -> int:
        return self.part(piece).pages(piece)

    def page(self, piece: str, index: int) -> np.ndarray:
        return self.part(piece).page(piece, index)

    def systems(self, piece: str) -> list[SystemBox]:
        return self.part(piece).systems(piece)

    def noteheads(self, piece: str) -> list[NoteHead]:
        return self.part(piece).noteheads(piece)

    def performances(self, piece: str) -> list[str]:
        return self.part(piece).performances(piece)

    def performance(self, piece: str, name: str | None = None) -> Performance:
        return self.part(piece).performance(piece, name)

    def performance_audio(self, piece: str, name: str) -> tuple[np.ndarray, int, list[NoteEvent]]:
        return self.part(piece).performance_audio(piece, name)

    # -- training on several datasets at once ----------------------------------------------

    def check_trainable(self) -> None:
        """Refuse parts a model cannot learn from together: other spectrogram settings,
        another page scale (staff space or system margin)."""
        first = self.parts[0]
        for part in self.parts[1:]:
            if part.spectrogram != first.spectrogram:
                raise ParameterError(f"{part.root} and {first.root} have other spectrogram "
                                     f"settings ({part.spectrogram} vs {first.spectrogram}); a "
                                     "model learns from one")
        if any(len(values) > 1 for values in self._scales()):
            shown = ", ".join(f"{p.root}: staff space {getattr(p, 'staff_space', None)}, "
                              f"margin {getattr(p, 'system_margin', 0)}" for p in self.parts)
            raise ParameterError(f"the datasets were engraved at other scales ({shown}); a model "
                                 "learns one page scale — render them with one preset")

    def pair_table(self, split: str) -> PairTable:
        """The parts' tables one after the other; sheet ids kept apart."""
        tables = [p.pair_table(split) for p in self.parts]
        names = {tuple(sorted(t.columns)) for t in tables if len(t)}
        if len(names) > 1:
            raise ParameterError("the datasets describe their pairs differently (dataset "
                                 "plugins of other kinds); train on one kind")
        pieces: list[str] = []
        ids, columns = [], {}
        offset = 0
        for t in tables:
            pieces.extend(t.pieces)
            ids.append(np.asarray(t.sheet_id, np.int64) + offset)
            offset += int(np.max(t.sheet_id)) + 1 if len(t) else 0
            for k, v in t.columns.items():
                columns.setdefault(k, []).append(v)
        return PairTable(tuple(pieces), np.concatenate(ids) if ids else np.zeros(0, np.int64),
                         {k: np.concatenate(v) for k, v in columns.items()})

    def batch(self, table: PairTable, rows: np.ndarray | None = None, **options: Any
              ) -> tuple[np.ndarray, np.ndarray]:
        """Each row cut by the part its piece belongs to, in the order asked."""
        rows = np.arange(len(table)) if rows is None else np.asarray(rows)
        owners = [self.parts.index(self.part(table.pieces[r])) for r in rows]
        sheets = audio = None
        for k in sorted(set(owners)):
            mine = np.flatnonzero(np.asarray(owners) == k)
            s, a = self.parts[k].batch(table.take(rows[mine]), **options)
            if sheets is None:
                sheets = np.zeros((len(rows),) + s.shape[1:], np.float32)
                audio = np.zeros((len(rows),) + a.shape[1:], np.float32)
            sheets[mine], audio[mine] = s, a
        if sheets is None:
            h, w = self.sheet_window
            return np.zeros((0, h, w), np.float32), np.zeros((0, 0, self.audio_context), np.float32)
        return sheets, audio


def user_collection(*, sheets: Sequence[str | os.PathLike] | None = None,
                    audio: Sequence[str | os.PathLike] | None = None, spectrogram: SpectrogramSpec,
                    reader: Reader, staff_space: float, system_margin: int = 0,
                    manifest: str | os.PathLike | None = None, dpi: int = PDF_DPI,
                    sheet_window: tuple[int, int] = (160, 200), audio_context: int = 42) -> Dataset:
    """A user's scans / PDFs and recordings as one collection (either may be absent).

    Examples
    --------
    >>> user_collection(spectrogram=SpectrogramSpec(), reader=None, staff_space=7.0)
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.ParameterError: nothing to join: give sheet music, recordings or both
    """
    parts: list[Dataset] = []
    if sheets:
        parts.append(Sheets(sheets, spectrogram, reader=reader, staff_space=staff_space,
                            system_margin=system_margin, manifest=manifest, dpi=dpi,
                            sheet_window=sheet_window, audio_context=audio_context))
    if audio:
        parts.append(Recordings(audio, spectrogram, audio_context=audio_context))
    return parts[0] if len(parts) == 1 else Joined(parts)


def reopen(source: dict[str, Any], *, spectrogram: SpectrogramSpec, reader: Reader,
           sheet_window: tuple[int, int], audio_context: int) -> Dataset:
    """The collection an index's ``source`` (kind ``files``) records, with the same piece ids."""
    parts: list[Dataset] = []
    if source.get("sheet_pieces"):
        parts.append(Sheets.from_pieces(
            {pid: [(Path(f), p) for f, p in pages] for pid, pages in source["sheet_pieces"].items()},
            spectrogram, reader=reader, staff_space=float(source["staff_space"]),
            system_margin=int(source.get("system_margin", 0)), dpi=int(source.get("dpi", PDF_DPI)),
            sheet_window=sheet_window, audio_context=audio_context))
    if source.get("audio_pieces"):
        parts.append(Recordings.from_files({pid: Path(f) for pid, f in source["audio_pieces"].items()},
                                           spectrogram, audio_context=audio_context))
    return parts[0] if len(parts) == 1 else Joined(parts)
