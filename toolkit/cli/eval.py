"""``ast eval``: snippet retrieval, piece identification, fragments, scalability, scores."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from ..evaluation.pieces import evaluate_fragments, evaluate_pieces, evaluate_scale
from ..evaluation.scores import score_file
from ..evaluation.snippets import DEFAULT_METRICS, snippet_retrieval
from ..search.hubness import HUBNESS
from ._common import HUBNESS_HELP, AstGroup, PluginOption, ProgressDisplay, console, err_console, print_json, \
    registry_of


class _IntList(click.ParamType):
    """Comma-separated integers >= 1."""

    name = "N,N,..."

    def convert(self, value: Any, param: Any, ctx: Any) -> list[int]:
        if isinstance(value, list):
            return value
        try:
            values = [int(v) for v in str(value).split(",") if v.strip()]
        except ValueError:
            self.fail(f"{value!r}: comma-separated integers", param, ctx)
        if not values or min(values) < 1:
            self.fail(f"{value!r}: integers >= 1", param, ctx)
        return values


class _NameList(click.ParamType):
    """Comma-separated names."""

    name = "NAME,NAME,..."

    def convert(self, value: Any, param: Any, ctx: Any) -> list[str]:
        if isinstance(value, list):
            return value
        return [v.strip() for v in str(value).split(",") if v.strip()]


INTS, NAMES = _IntList(), _NameList()


@click.group("eval", cls=AstGroup)
def group() -> None:
    """Evaluate: snippet retrieval, piece identification, fragments, scalability, scores."""


@group.command("scores")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--metric", "-m", "metric_names", type=NAMES, cls=PluginOption, plugin_group="metrics",
              default="recall@1,recall@5,recall@10,mrr,median-rank,mean-rank", show_default=True,
              help="Comma-separated metric plugins; NAME@K sets k (recall@25).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def scores_command(file: str, metric_names: list[str], as_json: bool) -> None:
    """Score a CSV of retrieval results (columns query,score,relevant: one row per
    query–candidate pair) with metric plugins."""
    report = score_file(file, metric_names)
    if as_json:
        print_json(report)
        return
    table = Table(title=f"{file}: {report['queries']} queries")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in report["metrics"].items():
        table.add_row(name, f"{value:.4f}")
    console.print(table)


@group.command("snippets")
@click.option("--model", "-m", "model", metavar="NAME|DIR",
              help="A model folder (from `ast fit`) or a registered model name"
              "; default: the registry's default model (`ast registry list` marks it: the shipped ast-cnn unless a registry file of yours names another).")
@click.option("--dataset", "-d", metavar="NAME|DIR",
              help="Dataset folder or registry name; default: the one the model was trained on.")
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "valid", "test"]))
@click.option("--candidates", "-n", default=2000, show_default=True, type=int,
              help="Pairs taken evenly over the split; each query ranks all of them "
              "(2,000 / 10,000 as Dorfer et al. 2018, 16,000 as Dorfer et al. 2016).")
@click.option("--direction", default="both", show_default=True,
              type=click.Choice(["a2s", "s2a", "both"]),
              help="a2s: audio query -> sheet snippets; s2a: sheet query -> audio.")
@click.option("--metric", "metric_names", type=NAMES, cls=PluginOption, plugin_group="metrics",
              default=",".join(DEFAULT_METRICS), show_default=True,
              help="Comma-separated metric plugins.")
@click.option("--figure", type=click.Path(dir_okay=False),
              help="PNG: one audio query with its top-ranked sheet snippets "
              "(and, for attention models, the attention over the spectrogram).")
@click.option("--query", "query_index", default=0, show_default=True, type=int,
              help="Which candidate is the --figure's query (0-based).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def snippets_command(ctx: click.Context, model: str | None, dataset: str | None, split: str,
                     candidates: int, direction: str, metric_names: list[str], figure: str | None,
                     query_index: int, as_json: bool) -> None:
    """Snippet retrieval: audio excerpt -> sheet snippet and sheet -> audio.

    Prints R@k, MRR, median and mean rank per direction (the tables of Dorfer
    et al. 2016 and 2018).  A candidate is correct when it shows the same sheet
    window as the query's partner; ties count against the query.
    """
    with ProgressDisplay(enabled=not as_json, transient=True) as show:
        report = snippet_retrieval(model, dataset, registry=registry_of(ctx), split=split,
                                   candidates=candidates, direction=direction,
                                   metrics=metric_names, figure=figure, query=query_index,
                                   progress=show)
    if as_json:
        print_json(report)
        return
    if report["candidates"] < candidates:
        err_console.print(f"[yellow]note:[/] the {split} split has only {report['available']} "
                          f"pairs; all of them are candidates")
    table = Table(title=f"snippet retrieval: {model} on {report['dataset']} ({split}, "
                        f"{report['candidates']} candidates)")
    table.add_column("direction")
    for m in metric_names:
        table.add_column(m.replace("recall@", "R@").replace("median-rank", "MR")
                         .replace("mean-rank", "mean rank").replace("mrr", "MRR"), justify="right")
    for d, values in report["directions"].items():
        table.add_row(d, *(f"{values[m]:.3f}" if "rank" not in m else f"{values[m]:.1f}"
                           for m in metric_names))
    console.print(table)
    if figure:
        console.print(f"figure written to {figure}")


def _identification_options(f: Any) -> Any:
    """Options every piece-identification evaluation takes."""
    options = [
        click.option("--index", "-i", "index_dir", required=True, type=click.Path(file_okay=False),
                     help="An index folder made by `ast index` from a dataset (both sides)."),
        click.option("--direction", default="both", show_default=True,
                     type=click.Choice(["a2s", "s2a", "both"]),
                     help="a2s: recordings query the scores; s2a: scores query the recordings."),
        click.option("--prefilter", metavar="NAME:K",
                     help="Score only the prefilter's K best pieces (e.g. vote:50)."),
        click.option("--matcher-param", "matcher_params", multiple=True,
                     metavar="MATCHER.KEY=VALUE", help="Matcher hyper-parameter (repeatable)."),
        click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


_MATCHERS_HELP = "Comma-separated matcher plugins; NAME+OTHER:K runs NAME on OTHER's K best pieces."


@group.command("pieces")
@_identification_options
@click.option("--matcher", "-M", "matchers", type=NAMES, default="vote,shazam,dtw,sdtw",
              show_default=True, cls=PluginOption, plugin_group="matchers", help=_MATCHERS_HELP)
@click.option("--hubness", type=click.Choice(list(HUBNESS)), default="none", show_default=True,
              help=HUBNESS_HELP)
def pieces_command(index_dir: str, direction: str, prefilter: str | None,
                   matcher_params: tuple[str, ...], as_json: bool, matchers: list[str],
                   hubness: str) -> None:
    """Piece identification, Table I of Carvalho & Widmer (2021): each piece queried whole.

    Every piece's recording queries all scores (A2S) and every score all
    recordings (S2A); the table gives R@1, R@5 and R@10 as counts and
    fractions, the mean reciprocal rank and the median rank, per matcher.
    Pieces scoring the same as the true piece count against it.
    """
    with ProgressDisplay(enabled=not as_json, transient=True) as show:
        report = evaluate_pieces(index_dir, matchers, direction=direction, prefilter=prefilter,
                                 params=matcher_params, hubness=hubness, progress=show)
    if as_json:
        print_json(report)
        return
    n = report["queries"]
    for d in ("a2s", "s2a"):
        rows = [r for r in report["results"] if r["direction"] == d]
        if not rows:
            continue
        title = {"a2s": "Audio-to-score (A2S)", "s2a": "Score-to-audio (S2A)"}[d]
        hub = "" if hubness == "none" else f", hubness {hubness}"
        table = Table(title=f"{title} piece identification: {n} queries, {report['index']}{hub}")
        for col in ("Method", "R@1", "R@5", "R@10", "MRR", "MR", "ms / query"):
            table.add_column(col, justify="left" if col == "Method" else "right")
        for r in rows:
            table.add_row(r["matcher"], *(f"{r[f'R@{k}']} ({r[f'R@{k} fraction']:.2f})"
                                         for k in (1, 5, 10)),
                          f"{r['MRR']:.2f}", f"{r['MR']:g}", f"{1000 * r['seconds per query']:.1f}")
        console.print(table)


@group.command("fragments")
@_identification_options
@click.option("--matcher", "-M", default="sdtw", show_default=True, cls=PluginOption,
              plugin_group="matchers", help=_MATCHERS_HELP)
@click.option("--lengths", type=INTS, default="10,20,30,40,50,60,70,80", show_default=True,
              help="Audio query lengths in seconds (A2S).")
@click.option("--systems", type=INTS, default="1,2,3,4,5,6,7,8", show_default=True,
              help="Score query lengths in systems (S2A).")
@click.option("--queries", "-n", default=100, show_default=True, type=int,
              help="Random queries per length (Carvalho & Widmer 2021: 1,500).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the random queries.")
def fragments_command(index_dir: str, direction: str, prefilter: str | None,
                      matcher_params: tuple[str, ...], as_json: bool, matcher: str,
                      lengths: list[int], systems: list[int], queries: int, seed: int) -> None:
    """Fragment retrieval, Table II of Carvalho & Widmer (2021): MRR by query length.

    Random audio fragments of each length (seconds) query the scores; random
    runs of consecutive systems query the recordings.  Fragments are drawn
    from the pieces long enough, with a seeded generator; a length no piece
    reaches has no queries (shown as -).
    """
    with ProgressDisplay(enabled=not as_json, transient=True) as show:
        report = evaluate_fragments(index_dir, matcher, direction=direction,
                                    audio_lengths=lengths, system_counts=systems, queries=queries,
                                    seed=seed, prefilter=prefilter, params=matcher_params,
                                    progress=show)
    if as_json:
        print_json(report)
        return
    for d, unit in (("a2s", "Length (s)"), ("s2a", "Systems")):
        rows = [r for r in report["results"] if r["direction"] == d]
        if not rows:
            continue
        name = {"a2s": "Audio-to-score", "s2a": "Score-to-audio"}[d]
        table = Table(title=f"{name} fragments, {rows[0]['matcher']}, seed {seed}: {report['index']}")
        table.add_column(unit, justify="left")
        for r in rows:
            table.add_column(f"{r['length']:g}", justify="right")
        table.add_row("MRR", *("-" if r["MRR"] is None else f"{r['MRR']:.2f}" for r in rows))
        table.add_row("R@1", *("-" if r["MRR"] is None else f"{r['R@1 fraction']:.2f}" for r in rows))
        table.add_row("queries", *(str(r["queries"]) for r in rows), style="dim")
        table.add_row("pieces", *(str(r["pieces"]) for r in rows), style="dim")
        console.print(table)


@group.command("scale")
@_identification_options
@click.option("--matcher", "-M", default="sdtw", show_default=True, cls=PluginOption,
              plugin_group="matchers", help=_MATCHERS_HELP)
@click.option("--sizes", type=INTS, help="Collection sizes in pieces, comma-separated; default: "
              "an eighth, a quarter, half and all of the index.")
@click.option("--repeats", default=10, show_default=True, type=int,
              help="Random subsets per size (Carvalho & Widmer 2021: 10).")
@click.option("--queries", "-n", default=100, show_default=True, type=int,
              help="Queries per subset (Carvalho & Widmer 2021: 1,000).")
@click.option("--audio-seconds", default=50.0, show_default=True, type=float,
              help="Length of the audio queries (Carvalho & Widmer 2021: 50 s).")
@click.option("--query-systems", default=4, show_default=True, type=int,
              help="Length of the score queries in systems (Carvalho & Widmer 2021: 4).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--figure", type=click.Path(dir_okay=False),
              help="PNG of MRR and search time against collection size (Carvalho & Widmer 2021, "
              "Fig. 3).")
def scale_command(index_dir: str, direction: str, prefilter: str | None,
                  matcher_params: tuple[str, ...], as_json: bool, matcher: str,
                  sizes: list[int] | None, repeats: int, queries: int, audio_seconds: float,
                  query_systems: int, seed: int, figure: str | None) -> None:
    """Scalability, Fig. 3 of Carvalho & Widmer (2021): MRR and search time against
    collection size.

    Random subsets of the index's pieces of each size, each searched with
    fixed-size fragments of its own pieces; fitting the matcher is not timed,
    the search is.  For collections larger than a rendered dataset, see
    benchmarks/match.py.
    """
    with ProgressDisplay(enabled=not as_json, transient=True) as show:
        report = evaluate_scale(index_dir, matcher, direction=direction, sizes=sizes,
                                repeats=repeats, queries=queries, audio_seconds=audio_seconds,
                                systems=query_systems, seed=seed, prefilter=prefilter,
                                params=matcher_params, progress=show, figure=figure)
    if as_json:
        print_json(report)
        return
    table = Table(title=f"scalability of {report['results'][0]['matcher']}: {report['index']} "
                        f"({repeats} subsets × {queries} queries per size)")
    table.add_column("pieces", justify="right")
    dirs = sorted({r["direction"] for r in report["results"]})
    for d in dirs:
        table.add_column(f"{d.upper()} MRR", justify="right")
        table.add_column(f"{d.upper()} ms / query", justify="right")
    for size in sorted({r["pieces"] for r in report["results"]}):
        cells = []
        for d in dirs:
            r = next(x for x in report["results"] if x["pieces"] == size and x["direction"] == d)
            cells += [f"{r['MRR']:.2f} ± {r['MRR std']:.2f}", f"{1000 * r['seconds per query']:.1f}"]
        table.add_row(str(size), *cells)
    console.print(table)
    if figure:
        console.print(f"figure written to {figure}")
