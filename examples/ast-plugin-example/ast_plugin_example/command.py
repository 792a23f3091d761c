"""``ast arrays``: a command of its own — export a dataset as a folder of arrays.

A click command (here a group with one subcommand), registered in the
``ast.commands`` entry-point group; it parses options, calls a function, prints.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from ast_toolkit.data.datasets import open_dataset
from ast_toolkit.data.snippets import unroll_systems


def export_arrays(dataset, out, *, height: int = 160) -> int:
    """Write every piece of ``dataset`` (pages and a performance) as strip and spectrogram arrays.

    Returns the number of pieces written.
    """
    ds = open_dataset(dataset)
    out = Path(out)
    pieces = []
    for i, piece in enumerate(ds.piece_ids()):
        folder = out / "pieces" / f"{i:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        strip = unroll_systems(lambda p: ds.page(piece, p), ds.systems(piece), height=height)
        np.save(folder / "strip.npy", strip.image)
        np.save(folder / "strip_index.npy",
                np.stack([strip.system_offsets, strip.system_x0, strip.system_pages]))
        np.save(folder / "spectrogram.npy", np.asarray(ds.performance(piece).spectrogram))
        pieces.append({"id": piece, "folder": f"pieces/{i:04d}", "split": ds.split_of(piece)})
    # written last: a folder without it is not a dataset
    (out / "dataset.json").write_text(json.dumps({
        "plugin": "arrays", "name": f"{ds.name}-arrays",
        "spectrogram": ds.spectrogram.to_dict(), "pieces": pieces}, indent=1))
    return len(pieces)


@click.group("arrays")
def group() -> None:
    """Datasets as folders of precomputed arrays (the `arrays` dataset plugin)."""


@group.command("export")
@click.argument("dataset")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--height", default=160, show_default=True, help="Strip height in pixels.")
def export(dataset: str, out: str, height: int) -> None:
    """Write DATASET's pieces (unrolled systems and a spectrogram each) into OUT."""
    n = export_arrays(dataset, out, height=height)
    click.echo(f"{n} pieces → {out}")
