"""``ast index``: embed a collection for piece identification."""

from __future__ import annotations

from pathlib import Path

import click

from ..search.index import Index, build_index
from ._common import (EXIT_PIECES_FAILED, ProgressDisplay, console, err_console, print_failures,
                      print_json, registry_of)


@click.command("index")
@click.option("--model", "-m", "model", metavar="NAME|DIR",
              help="A model folder (from `ast fit`) or a registered model name"
              "; default: the registry's default model (`ast registry list` marks it: the shipped ast-cnn unless a registry file of yours names another).")
@click.option("--dataset", "-d", metavar="NAME|DIR",
              help="Dataset to index (a folder, opened with the plugin its dataset.json names, "
              "or a registry name); default: the one the model was trained on.")
@click.option("--split", default="test", show_default=True, metavar="SPLIT",
              help="train, valid, test, a comma-separated list, or all.")
@click.option("--audio", "audio", multiple=True, type=click.Path(), metavar="PATH",
              help="Index these recordings instead of a dataset (files or folders, searched "
              "recursively; wav, flac, mp3, ogg, aiff; any sample rate or channel count). "
              "Repeatable. With --sheets, both go into one index.")
@click.option("--sheets", "sheets", multiple=True, type=click.Path(), metavar="PATH",
              help="Index these scans, photos and PDFs (files or folders; pdf, png, jpg, tif; "
              "1-bit or 8-bit, from 100 dpi). A PDF is one piece, an image named or lying in a "
              "folder named here is one piece, a sub-folder of images is one piece (its pages in "
              "natural order). Repeatable.")
@click.option("--manifest", type=click.Path(dir_okay=False), metavar="CSV",
              help="A CSV with columns file,piece[,page] that groups the --sheets files into "
              "named pieces (files relative to the CSV).")
@click.option("--reader", default="classical", show_default=True, metavar="NAME",
              help="Page reader plugin (`ast plugins list readers`).")
@click.option("--dpi", default=300, show_default=True, type=int,
              help="Resolution PDF pages are rasterised at.")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False),
              help="Index folder; running the same command again resumes or reports it complete.")
@click.option("--sheet-hop", default=50, show_default=True, type=int, metavar="PX",
              help="Pixels between sheet windows along the unrolled systems (Carvalho & "
              "Widmer 2021: 50).")
@click.option("--audio-hop", default=0.5, show_default=True, type=float, metavar="SECONDS",
              help="Seconds between excerpt centres (rounded to whole frames).")
@click.option("--rendition", metavar="NAME",
              help="Which performance of each dataset piece; default: its first.")
@click.option("--overwrite", is_flag=True, help="Replace an index of other settings in --out.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def command(ctx: click.Context, model: str | None, dataset: str | None, split: str,
            audio: tuple[str, ...], sheets: tuple[str, ...], manifest: str | None, reader: str,
            dpi: int, out: str, sheet_hop: int, audio_hop: float,
            rendition: str | None, overwrite: bool, as_json: bool) -> None:
    """Embed every piece of a collection for piece identification (`ast match`).

    Each piece becomes two embedding sequences: sheet windows slid along its
    unrolled systems and spectrogram excerpts slid over its recording, with
    what each row is (page, system, x — or seconds) and the model's
    fingerprint.  The arrays are memory-mapped when read.

    Your own material: --sheets takes scans, phone photos and PDFs (each page
    is read — staves, systems, skew — and rescaled to the staff space of the
    model's training data), --audio takes recordings; given together they make
    one index, so a recording finds its score and a page its recording (`ast
    match`, `ast link`).

    A killed run resumes where it stopped; a piece that cannot be indexed (an
    unreadable or encrypted PDF, an empty file, a page with no staves) is
    reported (piece, file, reason) in OUT/failures.json and the others go on;
    the exit status is then 3.

    \b
    Examples:
      ast index -d demo --out indexes/demo
      ast index -m models/demo-cnn --split all --out indexes/demo-all
      ast index --audio ~/recordings --out indexes/mine
      ast index --sheets ~/scans --audio ~/recordings --out indexes/library
    """
    try:
        with ProgressDisplay(enabled=not as_json) as show:
            report = build_index(model, out, dataset=dataset, split=split,
                                 audio=list(audio) if audio else None,
                                 sheets=list(sheets) if sheets else None, manifest=manifest,
                                 reader=reader, dpi=dpi, sheet_hop=sheet_hop,
                                 audio_hop=audio_hop, rendition=rendition, overwrite=overwrite,
                                 registry=registry_of(ctx), progress=show)
    except KeyboardInterrupt:
        err_console.print(f"interrupted: finished pieces are kept in {out}; run the same "
                          "command again to continue")
        ctx.exit(130)
    idx = Index(out)
    rows = ", ".join(f"{n:,} {m} rows" for m, n in idx.meta["rows"].items())
    if as_json:
        print_json({"out": str(out), "pieces": len(idx), "modalities": idx.modalities,
                    "rows": idx.meta["rows"], "built": len(report.built),
                    "resumed": len(report.resumed), "already_complete": report.already_complete,
                    "repaired": report.repaired, "rebuilt": report.rebuilt,
                    "failed": report.failed, "seconds": round(report.seconds, 2)})
    if not as_json and report.rebuilt:
        err_console.print(f"[yellow]the index was damaged ({report.rebuilt}): rebuilt[/]")
    if not as_json and report.repaired:
        err_console.print(f"[yellow]{len(report.repaired)} damaged piece(s) embedded again: "
                          f"{', '.join(report.repaired[:5])}{' …' if len(report.repaired) > 5 else ''}[/]")
    if as_json:
        pass
    elif report.already_complete:
        console.print(f"{out} is already a complete index of these settings: {len(idx)} pieces, "
                      + rows)
    else:
        console.print(
            f"[green]{len(idx)} pieces indexed[/] ({len(report.built)} embedded now, "
            f"{len(report.resumed)} from an earlier run), {rows}, "
            f"[{'red' if report.failed else 'green'}]{len(report.failed)} failed[/] "
            f"in {report.seconds:.1f} s → {out}")
    if report.failed and not as_json:
        print_failures(f"pieces not indexed (also in {Path(out) / 'failures.json'})", report.failed)
    if report.failed:
        ctx.exit(EXIT_PIECES_FAILED)
