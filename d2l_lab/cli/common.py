"""What every `d2l` command shares: the generic run options, error handling, Ctrl-C, and the
dispatch from a `d2l run` command's parsed flags to the runner. Torch is imported only once a
command actually runs."""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from d2l_lab import exit_codes
from d2l_lab.cli import output
from d2l_lab.cli.completion import complete_preset, complete_resume
from d2l_lab.errors import ConfigKeyError, UserError

Preset = Annotated[Optional[str], typer.Option(help="preset from configs/<experiment>/NAME.yaml", show_default=False,
                                                autocompletion=complete_preset)]
ConfigFile = Annotated[Optional[Path], typer.Option("--config", help="YAML config file, e.g. a run's config.yaml",
                                                    show_default=False)]
Sets = Annotated[Optional[list[str]], typer.Option("--set", help="override any config key: --set section.key=value (repeatable; keys as in --print-config)",
                                                   show_default=False)]
OutRoot = Annotated[Path, typer.Option("--out", help="outputs root")]
RunName = Annotated[Optional[str], typer.Option("--name", help="run directory name (default: timestamp-confighash)",
                                                show_default=False)]
Resume = Annotated[Optional[Path], typer.Option("--resume", help="continue an interrupted run from its directory",
                                                autocompletion=complete_resume,
                                                show_default=False)]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="no progress (bar or log lines) and no final table")]
Json = Annotated[bool, typer.Option("--json", help="print exactly one line on stdout: the summary JSON (with --dry-run: the check; with --print-config: the config)")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="validate config, device and data; train nothing")]
PrintConfig = Annotated[bool, typer.Option("--print-config", help="print the resolved config as YAML and exit")]


@contextmanager
def cli_errors() -> Iterator[None]:
    """Bad input is one line and exit 2; anything else is our bug: traceback and exit 1."""
    try:
        yield
    except UserError as exc:
        output.error(str(exc))
        raise typer.Exit(exit_codes.BAD_INPUT) from None
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception:
        traceback.print_exc()
        output.note("internal error: this is a bug in d2l-lab; please report the traceback above")
        raise typer.Exit(exit_codes.INTERNAL) from None


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""Ctrl-C; the polite kill of `timeout`, `docker stop` and a Slurm preemption or time limit, which
send SIGTERM (often more than one: to each process of a group, again after a grace period) and
wait a while before SIGKILL; and the hang-up of a closed terminal or a dropped ssh session. Each
stops a run at the next step, saved, exit 130. A signal ignored when the process started (`nohup`
ignores SIGHUP, a shell ignores SIGINT in background jobs) stays ignored."""


class StopRequests:
    """The `should_stop` of a run in this process (true once a stop signal came), with how many
    came (`count`) and how many of them were Ctrl-C (`interrupts`)."""

    def __init__(self) -> None:
        self.count = self.interrupts = 0

    def __call__(self) -> bool:
        return self.count > 0


@contextmanager
def ctrl_c_stops(on_request: Callable[[], None] | None = None,
                 on_again: Callable[[], None] | None = None) -> Iterator[StopRequests]:
    """Stop signals (STOP_SIGNALS), however many and whenever they come, only ask the run to stop
    at the next step boundary, where it checkpoints and exits 130: the first calls `on_request()`
    at once (to say so), the second `on_again()`, and none ever raises, so no write is cut short
    and the summary always says how the run ended. Ctrl-\\ (SIGQUIT) or kill -9 end the process at
    once, losing the steps since the last checkpoint. In a `d2l` process (`own_signals`) the
    signals stay harmless after the block: the run's outcome is written and its exit code stands."""
    requests = StopRequests()
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield requests
        return
    owner = os.getpid()

    def handle(signum: int, frame: Any) -> None:
        if os.getpid() != owner:  # a forked worker process (hogwild) inherited this handler
            return
        requests.count += 1
        requests.interrupts += signum == signal.SIGINT
        say = on_request if requests.count == 1 else on_again if requests.count == 2 else None
        if say is not None:
            try:
                say()
            except Exception:  # noqa: BLE001  (a closed or hung-up stderr must not raise here, mid-write)
                pass

    previous = {number: signal.signal(number, handle) for number in _catchable()}
    try:
        yield requests
    finally:
        for number, handler in previous.items():
            signal.signal(number, _after_run if _OWNED else handler)


def run_stops(shown: Any) -> AbstractContextManager[StopRequests]:
    """`ctrl_c_stops` for a run shown on a `cli.terminal.Terminal`, which says what a stop signal does."""
    return ctrl_c_stops(on_request=shown.stopping, on_again=shown.still_stopping)


_OWNED = False
"""Whether this process is a `d2l` command (`own_signals` ran), not a test or a library caller."""


def own_signals() -> None:
    """Called first by the `d2l` command: outside a run, SIGTERM and SIGHUP end it as Ctrl-C does
    (exit 130, nothing written yet), and after a run they change nothing (`ctrl_c_stops`)."""
    global _OWNED
    _OWNED = True
    for number in _catchable():
        if number != signal.SIGINT:
            signal.signal(number, signal.default_int_handler)


def ignore_signals() -> None:
    """The `d2l` command's last act: its exit code is decided, so stop signals are ignored (by the
    kernel: the interpreter's own exit puts back the default of signals it handles, and a SIGTERM
    there would end the process with 143)."""
    for number in _catchable():
        signal.signal(number, signal.SIG_IGN)


def disown_signals(handlers: dict[int, Any]) -> None:
    """Undo `own_signals` and `ignore_signals`, putting `handlers` back: for a test that runs
    `main` in its own process."""
    global _OWNED
    _OWNED = False
    for number, handler in handlers.items():
        signal.signal(number, handler)


def _catchable() -> list[int]:
    """STOP_SIGNALS but those ignored from the start (see STOP_SIGNALS)."""
    return [number for number in STOP_SIGNALS if signal.getsignal(number) is not signal.SIG_IGN]


def _after_run(signum: int, frame: Any) -> None:
    """A stop signal after the run's outcome is written: nothing is left to stop."""


def command_line() -> list[str]:
    """What the user typed, for command.txt."""
    return ["d2l", *sys.argv[1:]]


@dataclasses.dataclass(frozen=True)
class RunRequest:
    """Everything a `d2l run <experiment>` invocation asked for, before anything is resolved."""

    preset: str | None
    config_file: Path | None
    sets: list[str] | None
    out: Path
    name: str | None
    resume: Path | None
    quiet: bool
    json: bool
    dry_run: bool
    print_config: bool


def _compose_as_typed(config_class: type, experiment: str, request: RunRequest, flags: Mapping[str, Any]) -> Any:
    """`config.loading.compose`, whose refusals name a key set by a flag as that flag (`--algo`)."""
    from d2l_lab.config.keys import short_name
    from d2l_lab.config.loading import compose

    try:
        return compose(config_class, experiment, preset=request.preset, config_file=request.config_file,
                       flags=flags, sets=request.sets or ())
    except ConfigKeyError as exc:
        raise exc.naming({key: f"--{short_name(key)}" for key, value in flags.items() if value is not None}) from None


def run_experiment(experiment: str, request: RunRequest, flags: Mapping[str, Any]) -> None:
    """Compose the config, then print it, dry-run it, resume or start a run; exit with its code."""
    from d2l_lab.cli.terminal import terminal
    from d2l_lab.config.loading import dump_yaml
    from d2l_lab import plot_process
    from d2l_lab.config.schema import to_dict
    from d2l_lab.experiments.registry import experiment as find_experiment
    from d2l_lab.runs.runner import RunOptions, execute, resume

    with cli_errors():
        spec = find_experiment(experiment)
        if request.resume is not None:
            given = [k for k, v in flags.items() if v is not None]
            if given or request.preset or request.config_file or request.sets:
                raise UserError("--resume continues a run with its own config.yaml: drop the other config flags")
            plot_process.start()
            with terminal(quiet=request.quiet, json=request.json) as shown, \
                    run_stops(shown) as should_stop:
                result = resume(experiment, spec.config_class, request.resume, spec.build_task(),
                                should_stop=should_stop, subscribers=[shown])
            raise typer.Exit(result.exit_code)
        config = _compose_as_typed(spec.config_class, experiment, request, flags)
        if request.print_config:
            if request.json:
                output.write_json(to_dict(config))
            else:
                output.write_text(dump_yaml(config))
            return
        options = RunOptions(out_root=request.out, name=request.name, command=command_line(),
                             dry_run=request.dry_run)
        if not request.dry_run:
            plot_process.start()
        with terminal(quiet=request.quiet, json=request.json) as shown, \
                run_stops(shown) as should_stop:
            result = execute(experiment, config, spec.build_task(), options, should_stop=should_stop,
                             subscribers=[shown])
        raise typer.Exit(result.exit_code)
