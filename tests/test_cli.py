"""The ast command line: help of every command, version, JSON output, errors."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from ast_toolkit import __version__
from ast_toolkit.cli import cli


def subcommand(group: click.Group, name: str) -> click.Command:
    # the root group loads its subcommands from the `ast.commands` entry points
    return group.get_command(click.Context(group), name)


def all_commands(group: click.Group, prefix=()):
    yield prefix
    for name in sorted(group.list_commands(click.Context(group))):
        cmd = subcommand(group, name)
        if isinstance(cmd, click.Group):
            yield from all_commands(cmd, prefix + (name,))
        else:
            yield prefix + (name,)


COMMANDS = list(all_commands(cli))


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "ast")
def test_help_of_every_command(path):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output
    cmd = cli
    for name in path:
        cmd = subcommand(cmd, name)
    # Every command explains itself: its docstring's first line is in the help.
    first_line = (cmd.help or "").strip().splitlines()[0]
    assert first_line[:40] in " ".join(result.output.split())


def test_version(ast_cmd):
    out = ast_cmd("--version", check=True)
    assert out.stdout.strip() == f"ast, version {__version__}"


def test_plugins_list_json(ast_cmd):
    out = ast_cmd("plugins", "list", "--json", check=True)
    rows = json.loads(out.stdout)["plugins"]
    mrr = next(r for r in rows if r["group"] == "metrics" and r["name"] == "mrr")
    assert mrr["distribution"] == "ast-toolkit"
    assert mrr["status"] == "ok"


def test_plugins_list_no_check_imports_nothing(ast_cmd):
    out = ast_cmd("plugins", "list", "--no-check", "--group", "metrics", "--json", check=True)
    assert {r["status"] for r in json.loads(out.stdout)["plugins"]} == {"unchecked"}


def test_plugins_list_table(ast_cmd):
    out = ast_cmd("plugins", "list", check=True)
    assert "recall@k" in out.stdout and "ast-toolkit" in out.stdout


def test_unknown_group_is_a_clear_error(ast_cmd):
    out = ast_cmd("plugins", "list", "--group", "metric")
    assert out.returncode == 1
    assert "did you mean 'metrics'?" in out.stderr


def write_scores(path):
    # query 0: relevant ranked 1st; query 1: relevant ranked 3rd
    path.write_text(
        "query,score,relevant\n"
        "0,0.9,1\n0,0.5,0\n0,0.1,0\n"
        "1,0.9,0\n1,0.8,false\n1,0.7,true\n"
    )
    return path


def test_eval_scores(tmp_path, ast_cmd):
    csv = write_scores(tmp_path / "scores.csv")
    out = ast_cmd("eval", "scores", str(csv), "--metric", "recall@1,recall@3,mrr,median-rank", "--json", check=True)
    values = json.loads(out.stdout)["metrics"]
    assert values == {"recall@1": 0.5, "recall@3": 1.0, "mrr": pytest.approx((1 + 1 / 3) / 2), "median-rank": 2.0}
    table = ast_cmd("eval", "scores", str(csv), check=True)
    assert "2 queries" in table.stdout and "recall@10" in table.stdout


@pytest.mark.parametrize(
    "content, args, message",
    [
        (None, (), "cannot read"),
        ("q,score\n0,1\n", (), "missing column(s) ['query', 'relevant']"),
        ("query,score,relevant\n0,abc,1\n", (), "line 2: cannot read"),
        ("query,score,relevant\n0,0.5,1\n", ("--metric", "mmr"), "did you mean 'mrr'?"),
    ],
)
def test_eval_scores_errors(tmp_path, ast_cmd, content, args, message):
    path = tmp_path / "s.csv"
    if content is not None:
        path.write_text(content)
    out = ast_cmd("eval", "scores", str(path), *args)
    assert out.returncode == 1
    assert message in out.stderr
    assert "Traceback" not in out.stderr
