"""The `d2l` console script. Subcommands import their heavy dependencies (torch, matplotlib)
only when they run, so `d2l --help` stays instant for scripted sweeps."""

from __future__ import annotations

import sys

import typer

from d2l_lab import __version__
from d2l_lab.cli import bpe, data, embed, run
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
app.add_typer(data.app, name="data")
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
    """Run the CLI; a usage mistake (unknown flag, unparsable value) is one line, exit 2."""
    try:
        code = app(standalone_mode=False)
    except Exception as exc:
        usage_error = hasattr(exc, "format_message") and hasattr(exc, "exit_code")
        if not usage_error or type(exc).__name__ == "NoArgsIsHelpError":
            if usage_error:  # `d2l run` alone: show that command's help
                print(exc.ctx.get_help() if getattr(exc, "ctx", None) else exc.format_message())
                sys.exit(0)
            raise
        context = getattr(exc, "ctx", None)
        hint = f" (see '{context.command_path} --help')" if context is not None else ""
        print(f"error: {exc.format_message()}{hint}", file=sys.stderr)
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
