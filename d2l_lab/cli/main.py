"""The `d2l` console script. Subcommands import their heavy dependencies (torch, matplotlib)
only when they run, so `d2l --help` stays instant for scripted sweeps."""

from __future__ import annotations

import typer

from d2l_lab import __version__
from d2l_lab.cli import bpe, embed, run
from d2l_lab.cli import report, runs, sweep

app = typer.Typer(
    help="d2l-lab: run the optimization and word-embedding experiments of Dive into Deep Learning.\n\n"
    "Exit codes: 0 done, 1 internal error, 2 bad input, 3 diverged, 130 interrupted.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(run.app, name="run")
app.add_typer(embed.app, name="embed")
app.add_typer(bpe.app, name="bpe")
app.command("sweep")(sweep.sweep)
app.add_typer(runs.app, name="runs")
app.command("report")(report.report)


def _version(value: bool) -> None:
    if value:
        print(f"d2l-lab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="print the version and exit")) -> None:
    """Top-level options."""


def main() -> None:
    app()
