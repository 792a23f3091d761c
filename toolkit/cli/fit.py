"""``ast fit``: train an encoder."""

from __future__ import annotations

import click

from ..catalog import ENV_VAR
from ._common import (PluginOption, ProgressDisplay, console, err_console, parse_params, print_json,
                      register_options, registry_of)


@click.command("fit")
@click.option("--dataset", "-d", "dataset", required=True, multiple=True, metavar="NAME|DIR",
              help="A dataset folder, or a registry dataset rendered to $AST_DATA/NAME "
              "(default data/NAME).  Repeat it to learn from several datasets at once (same "
              "spectrogram and page scale: one preset).")
@click.option("--encoder", "-e", metavar="NAME", cls=PluginOption, plugin_group="encoders",
              help="Encoder plugin.  [default: cnn, or the --init model's]")
@click.option("--init", "init", metavar="NAME|DIR",
              help="Fine-tune: start from this model (a folder from `ast fit` or `ast model "
              "import`, or a registered name) — its encoder, settings, CCA head and weights.")
@click.option("--loss", "-l", "objective", default="ranking", show_default=True, metavar="NAME",
              cls=PluginOption, plugin_group="objectives", help="Objective plugin.")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False),
              help="Model folder to write (config.json, weights.pt, log.jsonl).")
@click.option("--param", "-p", "params", multiple=True, metavar="KEY=VALUE",
              help="Encoder hyper-parameter (repeatable; values are read as JSON), e.g. "
              "audio_context=168, filters=[16,32,64,64], sheet_backbone=resnet18; `ast plugins "
              "show encoders NAME` lists an encoder's; a wrong key gets a did-you-mean.")
@click.option("--loss-param", "loss_params", multiple=True, metavar="KEY=VALUE",
              help="Objective parameter (repeatable), e.g. margin=0.5, direction=a2s, temperature=0.1.")
@click.option("--epochs", type=int, help="Most epochs.  [default: 100]")
@click.option("--epoch-samples", type=int, help="Pairs per epoch.  [default: 10000]")
@click.option("--batch-size", type=int, help="Pairs per batch.  [default: 100]")
@click.option("--lr", type=float, help="Adam learning rate.  [default: 0.002]")
@click.option("--patience", type=int, help="Epochs without a better validation MRR before a "
              "refinement round.  [default: 10]")
@click.option("--refinements", type=int, help="Rounds that reload the best weights and halve "
              "the learning rate.  [default: 2]")
@click.option("--seed", type=int, help="Random seed.  [default: 0]")
@click.option("--val-candidates", type=int, help="Validation pairs per epoch.  [default: 1000]")
@click.option("--no-augment", is_flag=True, help="No sheet shift/scale, onset jitter or random renditions.")
@click.option("--augment", "augment", multiple=True, metavar="NAME[,NAME…]",
              help="Augmentation plugins (`ast plugins list --group augmentations`) or presets, "
              "applied in this order on top of the recipe's: sheet (rotate, scale, shift, "
              "elastic, blur, sheet-noise, ink, jpeg, paper), audio (tempo, tuning, reverb, "
              "audio-noise, eq), renditions (codec, soundfont: variants made once before "
              "training), all, none.")
@click.option("--augment-param", "augment_params", multiple=True, metavar="NAME.KEY=VALUE",
              help="An augmentation's setting (repeatable), e.g. tempo.high=1.3, reverb.p=0.3; "
              "`ast plugins show augmentations NAME` lists them.")
@click.option("--variants", type=int, help="Variants per training piece made by each "
              "rendition augmentation (codec, soundfont).  [default: 1]")
@click.option("--hold-out", "hold_out", multiple=True, metavar="NAME|DIR[:SPLIT]",
              help="Keep this dataset's pieces (its test split unless SPLIT is named: train, "
              "valid, test or all) out of training and validation, e.g. demo:test. Repeatable.")
@click.option("--time-limit", type=float, metavar="MINUTES",
              help="Stop training after this long and finish the model normally.")
@click.option("--device", default="auto", show_default=True,
              help="auto (CUDA when present, else CPU), cpu, cuda, cuda:N.")
@click.option("--no-amp", is_flag=True, help="No mixed precision on the GPU.")
@click.option("--resume", is_flag=True, help="Continue the unfinished run in --out.")
@click.option("--exist-ok", is_flag=True,
              help="If --out already holds a finished model, report it and do not train again.")
@register_options
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def command(ctx: click.Context, dataset: tuple[str, ...], encoder: str | None, init: str | None,
            objective: str, out: str,
            params: tuple[str, ...], loss_params: tuple[str, ...], epochs: int | None,
            epoch_samples: int | None, batch_size: int | None, lr: float | None,
            patience: int | None, refinements: int | None, seed: int | None,
            val_candidates: int | None, no_augment: bool, augment: tuple[str, ...],
            augment_params: tuple[str, ...], variants: int | None, hold_out: tuple[str, ...],
            time_limit: float | None,
            device: str, no_amp: bool, resume: bool, exist_ok: bool,
            register_name: str | None, registry_file: str, as_json: bool) -> None:
    """Train an encoder on aligned sheet/audio snippet pairs of a dataset.

    The recipe of Dorfer et al. (TISMIR 2018) by default: Adam (lr 2e-3,
    batches of 100), epochs of 10,000 sampled pairs, validation R@1 / MRR
    (audio -> sheet) after each epoch, early stopping, then refinement rounds
    at half the learning rate.  Every epoch is checkpointed; an interrupted
    run continues with --resume.

    \b
    Examples:
      ast fit -d demo -e attention --lr 5e-4 --time-limit 5 -o models/demo-att
      ast fit -d chorales -e cnn --loss cca -o models/chorales-cnn-cca
      ast fit -d chorales -e attention -p audio_context=168 -o models/chorales-att8s
      ast fit -d folk-dcca -e dcca --loss dcca -o models/folk-dcca
      ast fit -d chorales -e timm -p sheet_backbone=resnet18 -o models/chorales-r18
      ast fit -d chorales --init models/ucasr-mc --lr 1e-4 --time-limit 10 -o models/ucasr-ft
      ast fit -d chorales --augment sheet,audio -o models/chorales-robust
      ast fit -d folk -d chorales -d piano --augment all -o models/mixed
      ast fit -d chorales --augment tempo,reverb --augment-param tempo.high=1.3 -o models/c
    """
    from ..learn.augment import expand
    from ..learn.training import fit, fit_config  # torch: imported when training, not for --help

    names = expand(augment)  # a misspelt name fails now, with a did-you-mean

    cfg = fit_config(max_epochs=epochs, epoch_samples=epoch_samples, batch_size=batch_size,
                     lr=lr, patience=patience, refinements=refinements, seed=seed,
                     val_candidates=val_candidates, augment=False if no_augment else None,
                     augmentations=names or None, augment_params=augment_params or None,
                     variants=variants, hold_out=hold_out or None,
                     time_limit=time_limit, device=device, amp=False if no_amp else None)
    try:
        with ProgressDisplay(enabled=not as_json) as show:
            result = fit(list(dataset) if len(dataset) > 1 else dataset[0], out, encoder=encoder, params=parse_params(params),
                         objective=objective, objective_params=parse_params(loss_params, "--loss-param"),
                         config=cfg, resume=resume, exist_ok=exist_ok, registry=registry_of(ctx),
                         register_as=register_name, registry_file=registry_file, init=init,
                         progress=show)
    except KeyboardInterrupt:
        err_console.print(f"interrupted: the last finished epoch is checkpointed in {out}; "
                          "run the same command with --resume to continue")
        ctx.exit(130)
    summary = {"out": str(result.out), "epochs": result.epochs, "best_epoch": result.best_epoch,
               "stopped": result.stopped, "seconds": round(result.seconds, 1),
               "valid": result.valid, "already": result.already,
               "registered": str(result.registered) if result.registered else None}
    if as_json:
        print_json(summary)
        return
    if result.already:
        console.print(f"{out} already holds a finished {encoder or 'cnn'} model ({result.epochs} epochs, "
                      f"valid MRR {result.valid.get('mrr', float('nan')):.3f}); not training again")
    else:
        console.print(f"[green]model written to {result.out}[/]: {result.epochs} epochs "
                      f"({result.stopped}), best epoch {result.best_epoch}, valid R@1 "
                      f"{result.valid['r1']:.3f}, MRR {result.valid['mrr']:.3f}, "
                      f"{result.seconds / 60:.1f} min")
    if result.registered:
        console.print(f"registered as {register_name!r} in {result.registered} "
                      f"(use `ast --registry {result.registered} ...` or ${ENV_VAR})")
