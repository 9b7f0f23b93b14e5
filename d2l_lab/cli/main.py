"""The `d2l` console script. Subcommands import their heavy dependencies (torch, matplotlib)
only when they run, so `d2l --help` stays instant for scripted sweeps."""

from __future__ import annotations

import gc
import importlib
import re
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import typer
import typer.main

# typer (>= 0.29, see pyproject.toml) parses with its own copy of click; these are its usage errors.
from typer._click.exceptions import ClickException, NoArgsIsHelpError, NoSuchOption
from typer.core import TyperGroup
from typer.models import CommandInfo

from d2l_lab import __version__, exit_codes, plot_process
from d2l_lab.cli import output
from d2l_lab.cli.common import ignore_signals, own_signals

SUBCOMMANDS = {
    "run": "d2l_lab.cli.run:app",
    "sweep": "d2l_lab.cli.sweep:sweep",
    "runs": "d2l_lab.cli.runs:app",
    "report": "d2l_lab.cli.report:report",
    "embed": "d2l_lab.cli.embed:app",
    "bpe": "d2l_lab.cli.bpe:app",
    "data": "d2l_lab.cli.data:app",
}
"""`d2l`'s subcommands, in the order its help lists them: a Typer group or a command function each."""


class LazyCommands(Mapping[str, Any]):
    """The root's subcommands, each imported and built by Typer only when asked for: click's
    lazy-loading pattern. `d2l run optim` then builds the `run` group alone; building every
    command of every group (and importing their modules) took a fifth of a second, while help,
    completion and the docs generator, which list them all, still see them all."""

    def __init__(self, specs: Mapping[str, str]):
        self.specs, self.built = specs, {}

    def __getitem__(self, name: str) -> Any:
        if name not in self.built:
            module, _, attribute = self.specs[name].partition(":")  # an unknown name is a KeyError, as in a dict
            self.built[name] = _command(name, getattr(importlib.import_module(module), attribute))
        return self.built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.specs)

    def __len__(self) -> int:
        return len(self.specs)


def _command(name: str, target: Any) -> Any:
    """The click command Typer would build for `add_typer(target, name=name)` or
    `command(name)(target)`."""
    if isinstance(target, typer.Typer):
        group = typer.main.get_group(target)
        group.name = name
        return group
    return typer.main.get_command_from_info(CommandInfo(name=name, callback=target),
                                            pretty_exceptions_short=app.pretty_exceptions_short,
                                            rich_markup_mode=app.rich_markup_mode)


class RootGroup(TyperGroup):
    """`d2l` itself: a Typer group whose subcommands are LazyCommands."""

    def __init__(self, **attrs: Any):
        super().__init__(**attrs)
        self.commands = LazyCommands(SUBCOMMANDS)


app = typer.Typer(
    cls=RootGroup,
    help="d2l-lab: run the optimization and word-embedding experiments of Dive into Deep Learning.\n\n"
    + exit_codes.SUMMARY,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


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
    # The process ends here, every file closed and synced. Freezing the collector's objects spares
    # the interpreter's exit its passes over the ~1.6 million that torch creates: 0.6-0.8 s of a
    # 3-4 s `d2l run` (benchmarks/startup.py), paid by every run of a shell-scripted sweep.
    gc.freeze()
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
