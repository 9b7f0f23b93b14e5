"""What every `d2l run` command shares: its generic options, error handling, and the dispatch
from parsed flags to the runner. Torch is imported only once a command actually runs."""

from __future__ import annotations

import dataclasses
import sys
import traceback
import typing
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from d2l_lab.errors import UserError

EXIT_BAD_INPUT, EXIT_INTERNAL = 2, 1

Preset = Annotated[Optional[str], typer.Option(help="preset from configs/<experiment>/NAME.yaml", show_default=False)]
ConfigFile = Annotated[Optional[Path], typer.Option("--config", help="YAML config file, e.g. a run's config.yaml",
                                                    show_default=False)]
Sets = Annotated[Optional[list[str]], typer.Option("--set", help="override any key: --set optimizer.lr=0.1 (repeatable)",
                                                   show_default=False)]
OutRoot = Annotated[Path, typer.Option("--out", help="outputs root")]
RunName = Annotated[Optional[str], typer.Option("--name", help="run directory name (default: timestamp-confighash)",
                                                show_default=False)]
Resume = Annotated[Optional[Path], typer.Option("--resume", help="continue an interrupted run from its directory",
                                                show_default=False)]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar and no final table")]
Json = Annotated[bool, typer.Option("--json", help="print exactly one line on stdout: the summary JSON")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="validate config, device and data; train nothing")]
PrintConfig = Annotated[bool, typer.Option("--print-config", help="print the resolved config as YAML and exit")]


def flag_help(config_class: type, dotted: str) -> str:
    """A flag's help: the config field's own help text and its default."""
    cls, field = config_class, None
    for part in dotted.split("."):
        field = {f.name: f for f in dataclasses.fields(cls)}[part]
        cls = typing.get_type_hints(cls)[part]
    assert field is not None
    default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
    shown = "from the algorithm" if default is None else default
    return f"{field.metadata['help']} (default: {shown})"


@contextmanager
def cli_errors() -> Iterator[None]:
    """Bad input is one line and exit 2; anything else is our bug: traceback and exit 1."""
    try:
        yield
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception:
        traceback.print_exc()
        print("internal error: this is a bug in d2l-lab; please report the traceback above", file=sys.stderr)
        raise typer.Exit(EXIT_INTERNAL) from None


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


def run_experiment(experiment: str, request: RunRequest, flags: Mapping[str, Any]) -> None:
    """Compose the config, then print it, dry-run it, resume or start a run; exit with its code."""
    from d2l_lab.config.loading import compose, dump_yaml
    from d2l_lab.experiments.registry import experiment as find_experiment
    from d2l_lab.runs.runner import RunOptions

    with cli_errors():
        spec = find_experiment(experiment)
        config_class, build_task = spec.config_class, spec.build_task
        options = RunOptions(out_root=request.out, name=request.name, command=["d2l", *sys.argv[1:]],
                             quiet=request.quiet, json=request.json, dry_run=request.dry_run)
        if request.resume is not None:
            given = [k for k, v in flags.items() if v is not None]
            if given or request.preset or request.config_file or request.sets:
                raise UserError("--resume continues a run with its own config.yaml: drop the other config flags")
            from d2l_lab.runs.runner import resume

            raise typer.Exit(resume(experiment, config_class, request.resume, build_task(), options))
        config = compose(config_class, experiment, preset=request.preset, config_file=request.config_file,
                         flags=flags, sets=request.sets or ())
        if request.print_config:
            sys.stdout.write(dump_yaml(config))
            return
        from d2l_lab.runs.runner import execute

        raise typer.Exit(execute(experiment, config, build_task(), options))
