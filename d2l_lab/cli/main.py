"""The `d2l` console script. Subcommands import their heavy dependencies (torch, matplotlib)
only when they run, so `d2l --help` stays instant for scripted sweeps."""

from __future__ import annotations

import re
import sys
from typing import Any

import typer

# typer (>= 0.29, see pyproject.toml) parses with its own copy of click; these are its usage errors.
from typer._click.exceptions import ClickException, NoArgsIsHelpError, NoSuchOption

from d2l_lab import __version__, exit_codes, plot_process
from d2l_lab.cli import bpe, data, embed, output, report, run, runs, sweep
from d2l_lab.cli.common import ignore_signals, own_signals

app = typer.Typer(
    help="d2l-lab: run the optimization and word-embedding experiments of Dive into Deep Learning.\n\n"
    + exit_codes.SUMMARY,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)
app.add_typer(run.app, name="run")
app.command("sweep")(sweep.sweep)
app.add_typer(runs.app, name="runs")
app.command("report")(report.report)
app.add_typer(embed.app, name="embed")
app.add_typer(bpe.app, name="bpe")
app.add_typer(data.app, name="data")


def _version(value: bool) -> None:
    if value:
        output.write_line(f"d2l-lab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="print the version and exit")) -> None:
    """Top-level options."""


def main() -> None:
    """Run the CLI; a usage mistake (unknown flag, unparsable value) is one line, exit 2. The exit
    code, once decided, is the process's: stop signals are ignored from then on (`own_signals`)."""
    own_signals()
    plot_process.enable()
    try:
        code = app(standalone_mode=False, prog_name="d2l")  # also under `python -m d2l_lab`: completion is for `d2l`
    except NoArgsIsHelpError:  # `d2l run` alone: typer has shown that command's help
        code = exit_codes.OK
    except ClickException as exc:
        context = getattr(exc, "ctx", None)
        hint = f" (see '{context.command_path} --help')" if context is not None else ""
        # typer words a refused choice "Value error, 'x' is not one of ..."; the prefix says nothing
        message = _unknown_option(exc) if isinstance(exc, NoSuchOption) else exc.format_message()
        output.error(f"{message.replace('Value error, ', '')}{hint}")
        code = exc.exit_code
    finally:
        ignore_signals()
    sys.exit(code if isinstance(code, int) else exit_codes.OK)  # typer turns Ctrl-C outside a run into 130


def _unknown_option(exc: NoSuchOption) -> str:
    """`No such option: --x`, with the options meant: click's close spellings, else those described
    by the words typed."""
    meant = sorted(exc.possibilities or []) or (
        _options_described_as(exc.option_name, exc.ctx.command.params) if exc.ctx is not None else [])
    listed = " or ".join([", ".join(meant[:-1]), meant[-1]] if len(meant) > 1 else meant)
    return exc.message + (f" (did you mean {listed}?)" if meant else "")


def _options_described_as(typed: str, params: list[Any]) -> list[str]:
    """The options whose help names the words of an unknown one in its first clause
    (`--learning-rate` -> `--lr`, "initial SGD learning rate; ..."): the name a learner reaches
    for, which no spelling is close to."""
    words = typed.lstrip("-").replace("_", " ").replace("-", " ").lower()
    return [param.opts[0] for param in params
            if len(words) > 2 and param.opts and param.opts[0].startswith("--")
            and re.search(rf"\b{re.escape(words)}\b", re.split(r"[;:(]", (getattr(param, "help", None) or "").lower())[0])]
