"""``ast model``: bring models from elsewhere into model folders."""

from __future__ import annotations

from pathlib import Path

import click

from ..catalog import ENV_VAR
from ._common import (AstGroup, PluginOption, ProgressDisplay, console, print_json,
                      register_options, registry_of)


@click.group("model", cls=AstGroup)
def group() -> None:
    """Model folders: import other code bases' checkpoints, describe a model (card), embed
    its reference rows (hubness correction of one-sided indexes)."""


@group.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--format", "-f", "fmt", required=True, metavar="NAME", cls=PluginOption,
              plugin_group="importers",
              help="The checkpoint's layout: an importer plugin (ucasr: the MSMD-trained "
              "weights of Carvalho et al., MMSys 2023, luisfvc/ucasr).")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False),
              help="Model folder to write (config.json, weights.pt).")
@click.option("--exist-ok", is_flag=True,
              help="If --out already holds the import of this file, report it and stop.")
@register_options
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def import_command(file: str, fmt: str, out: str, exist_ok: bool, register_name: str | None,
                   registry_file: str, as_json: bool) -> None:
    """Turn a published checkpoint FILE into an `ast` model folder.

    The folder works with every command that takes a model: `ast fit --init`
    (fine-tuning), `ast index`, `ast match`, `ast eval`.  Every key of the
    checkpoint is mapped or the import is refused with the key's name.

    Models trained on MSMD expect data made as MSMD was: render with the
    default `msmd` preset (`ast data render ... --preset msmd`).

    \b
    Examples:
      ast model import --format ucasr params_mc_audio.pt -o models/ucasr-mc
      ast eval snippets -m models/ucasr-mc -d data/chorales --candidates 2000
      ast fit --init models/ucasr-mc -d chorales --lr 1e-4 --time-limit 10 -o models/ucasr-ft
    """
    from ..learn.importing import import_model  # torch: imported when importing, not for --help

    result = import_model(file, out, format=fmt, exist_ok=exist_ok, register_as=register_name,
                          registry_file=registry_file)
    summary = {"out": str(result.out), "encoder": result.encoder, "params": result.params,
               "already": result.already,
               "registered": str(result.registered) if result.registered else None}
    if as_json:
        print_json(summary)
        return
    verb = "already holds" if result.already else "written:"
    params = ", ".join(f"{k}={v}" for k, v in result.params.items()
                       if k in ("audio_context", "sheet_polarity"))
    console.print(f"[green]{result.out}[/] {verb} a {result.encoder} model ({params}) from {file}")
    if result.registered:
        console.print(f"registered as {register_name!r} in {result.registered} "
                      f"(use `ast --registry {result.registered} ...` or ${ENV_VAR})")


@group.command("card")
@click.argument("model", metavar="MODEL")
@click.option("--robustness", type=click.Path(dir_okay=False, exists=True), metavar="JSON",
              help="Add this model's rows of a robustness results file "
              "(benchmarks/robustness.py --json).")
@click.option("--name", help="The card's title; default: the folder's name.")
@click.option("--out", "-o", type=click.Path(dir_okay=False),
              help="Write the card to this file (e.g. MODEL/MODEL_CARD.md) instead of printing it.")
@click.pass_context
def card_command(ctx: click.Context, model: str, robustness: str | None, name: str | None,
                 out: str | None) -> None:
    """A Markdown model card of MODEL (a folder or a registered name).

    Written from what the folder recorded — encoder and settings, training data
    and held-out pieces, augmentations, schedule, validation curve — and, with
    --robustness, the model's rows of the robustness benchmark.

    \b
    Examples:
      ast model card ast-cnn
      ast model card models/mine --robustness benchmarks/results/robustness.json -o models/mine/MODEL_CARD.md
    """
    from ..catalog import resolve_model_dir
    from ..io import atomic_write_text
    from ..learn.card import model_card

    folder = resolve_model_dir(model, registry_of(ctx))
    text = model_card(folder, name=name or (model if not Path(model).is_dir() else None),
                      robustness=robustness)
    if out:
        atomic_write_text(Path(out), text)
        console.print(f"model card written to {out}")
    else:
        click.echo(text)


@group.command("reference")
@click.argument("model", metavar="MODEL")
@click.option("--dataset", "-d", "datasets", multiple=True, metavar="NAME|DIR",
              help="Datasets whose aligned pairs are embedded (repeatable); default: those the "
              "model was trained on.  An imported model needs one (for MSMD weights, a dataset "
              "rendered with --preset msmd).")
@click.option("--split", default="valid", show_default=True,
              help="The split the pairs come from.")
@click.option("--rows", default=4000, show_default=True, type=click.IntRange(min=20),
              help="Pairs to embed (evenly spaced over the split).")
@click.pass_context
def reference_command(ctx: click.Context, model: str, datasets: tuple[str, ...], split: str,
                      rows: int) -> None:
    """Embed MODEL's reference rows: aligned sheet and audio snippets, kept as
    MODEL/reference.npz (float16, with the weights' sha256).

    `--hubness csls` measures how crowded each candidate's neighbourhood is
    among rows of the query's modality.  An index of scans only (or of
    recordings only) has none; it uses these instead.  `ast fit` writes them
    when it finishes; this command writes them for an imported checkpoint or
    an older model folder.

    \b
    Examples:
      ast model reference models/mine
      ast model reference models/ucasr-mc -d data/msmd-chorales
    """
    from ..learn.reference import read_reference, write_reference

    with ProgressDisplay() as show:
        path = write_reference(model, list(datasets) or None, split=split, rows=rows,
                               registry=registry_of(ctx), progress=show)
    ref = read_reference(path.parent)
    console.print(f"[green]{path}[/]: {ref['source']} ({path.stat().st_size / 1e3:.0f} kB)")
