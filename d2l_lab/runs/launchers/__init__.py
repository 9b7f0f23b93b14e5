"""Where a sweep's points run: THE table of launchers, and their options.

A launcher only knows how to get "one point request -> one result dict" done somewhere (see
`base.Launcher`); the sweep driver (`cli/sweep.py`: validation, the cache of finished points,
results.csv and index.json, Ctrl-C, exit codes) is the same for all of them, and every launcher
ends in the same per-point code (`runs/worker.py:run_point`), so reuse, resume and the point lock
behave identically. Like Hydra's launcher plugins, each row names an existing engine; the engine is
imported only when its launcher is chosen, so `d2l --help` imports neither Ray nor submitit.

Options compose as run configs do: defaults < the `launcher:` section of `--launcher-config` <
flags. An option that the chosen launcher does not use is refused rather than ignored.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from d2l_lab.config.loading import read_yaml
from d2l_lab.config.schema import clip
from d2l_lab.errors import UserError
from d2l_lab.runs.launchers.options import LauncherOptions

if TYPE_CHECKING:
    from d2l_lab.runs.launchers.base import Launcher


@dataclass(frozen=True)
class LauncherInfo:
    """One row: the class (`module:Class`, imported on use), the module its extra provides, and
    the options it reads."""

    target: str
    engine: str | None
    extra: str | None
    options: tuple[str, ...]


LAUNCHERS: dict[str, LauncherInfo] = {
    "local": LauncherInfo("d2l_lab.runs.launchers.local:LocalLauncher", None, None, ("jobs",)),
    "ray": LauncherInfo("d2l_lab.runs.launchers.ray_tasks:RayLauncher", "ray", "ray",
                        ("jobs", "address", "cpus_per_run", "gpus_per_run")),
    "slurm": LauncherInfo("d2l_lab.runs.launchers.slurm_jobs:SlurmLauncher", "submitit", "slurm",
                          ("jobs", "cpus_per_run", "gpus_per_run", "partition", "time", "mem", "max_concurrent",
                           "slurm_set", "cluster")),
}

FILE_SECTION = "launcher"
FILE_KEYS = tuple(f.name for f in dataclasses.fields(LauncherOptions))
_POSITIVE = ("jobs", "cpus_per_run", "max_concurrent")


def compose_options(file: Path | None, flags: Mapping[str, Any]) -> LauncherOptions:
    """Defaults < the file's `launcher:` section < flags (those not None); validated once."""
    values: dict[str, Any] = dict(_file_section(file)) if file is not None else {}
    given = {k: v for k, v in flags.items() if v is not None and v != {}}
    if "slurm_set" in given:
        given["slurm_set"] = {**values.get("slurm_set", {}), **given["slurm_set"]}
    values.update(given)
    options = LauncherOptions(**values)
    _check(options, set(values))
    return options


def _file_section(path: Path) -> dict[str, Any]:
    data = read_yaml(path)
    if set(data) != {FILE_SECTION}:
        extra = ", ".join(sorted(str(k) for k in data if k != FILE_SECTION)) or "nothing"
        raise UserError(f"launcher config '{path}' must hold one '{FILE_SECTION}:' section, found {clip(extra, 80)}")
    section = data[FILE_SECTION]
    if not isinstance(section, dict):
        raise UserError(f"launcher config '{path}': '{FILE_SECTION}:' must be a mapping of option: value")
    for key, value in section.items():
        if key not in FILE_KEYS:
            close = difflib.get_close_matches(str(key), FILE_KEYS, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else f"valid keys: {', '.join(FILE_KEYS)}"
            raise UserError(f"launcher config '{path}': unknown key '{clip(key, 40)}': {hint}")
        expected = _expected_type(key)
        if key == "slurm_set":
            if not isinstance(value, dict) or not all(isinstance(v, (str, int, float)) for v in value.values()):
                raise UserError(f"launcher config '{path}': slurm_set must be a mapping of key: value")
            section[key] = {str(k): str(v) for k, v in value.items()}
        elif not isinstance(value, expected) or isinstance(value, bool):
            raise UserError(f"launcher config '{path}': {key} must be {_type_name(expected)}, got "
                            f"'{clip(value, 40)}'")
        elif key in ("time", "address", "partition", "mem", "name", "cluster"):
            section[key] = str(value)
    return section


def _expected_type(key: str) -> tuple[type, ...]:
    if key == "gpus_per_run":
        return (int, float)
    if key in _POSITIVE:
        return (int,)
    if key == "time":
        return (str, int)
    return (str,)


def _type_name(expected: tuple[type, ...]) -> str:
    return " or ".join({"int": "an integer", "float": "a number", "str": "a string"}[t.__name__] for t in expected)


def _check(options: LauncherOptions, given: set[str]) -> None:
    if options.name not in LAUNCHERS:
        raise UserError(f"unknown launcher '{clip(options.name, 40)}': choose one of {', '.join(LAUNCHERS)}")
    info = LAUNCHERS[options.name]
    unused = sorted(given - set(info.options) - {"name"})
    if unused:
        users = [n for n, row in LAUNCHERS.items() if unused[0] in row.options]
        raise UserError(f"{_flag(unused[0])} is not used by the {options.name} launcher (it is for "
                        f"{' and '.join(users)}): drop it or pick that launcher")
    for key in _POSITIVE:
        value = getattr(options, key)
        if value is not None and value < 1:
            raise UserError(f"{_flag(key)} must be >= 1, got {value}")
    if options.address is not None and not options.address.strip():
        raise UserError("--address is empty: give the Ray head's host:port, or leave it out for a local Ray")
    if options.gpus_per_run < 0:
        raise UserError(f"--gpus-per-run must be >= 0, got {options.gpus_per_run}")
    if options.name == "slurm":
        time_minutes(options.time)
        if options.gpus_per_run != int(options.gpus_per_run):
            raise UserError(f"--gpus-per-run must be a whole number on slurm, got {options.gpus_per_run}")
        if options.mem is not None and not re.fullmatch(r"\d+[KMGT]?", options.mem):
            raise UserError(f"--mem '{clip(options.mem, 40)}' is not a Slurm memory size: write e.g. 4G or 16000M")
        if options.cluster not in ("slurm", "local"):
            raise UserError(f"launcher cluster '{clip(options.cluster, 40)}' is unknown: use slurm or local")


def _flag(key: str) -> str:
    return f"--{key.replace('_', '-')}"


def time_minutes(text: str) -> int:
    """A Slurm time limit (minutes, MM:SS, HH:MM:SS, D-HH[:MM[:SS]]) in whole minutes, rounded up."""
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text.strip())
    if not match:
        raise UserError(f"--time '{clip(text, 40)}' is not a Slurm time: write minutes (90) or [D-]HH:MM:SS")
    days, first, second, third = (int(g) if g else None for g in match.groups())
    if days is not None:  # D-HH[:MM[:SS]]
        seconds = days * 86400 + first * 3600 + (second or 0) * 60 + (third or 0)
    elif third is not None:  # HH:MM:SS
        seconds = first * 3600 + second * 60 + third
    elif second is not None:  # MM:SS
        seconds = first * 60 + second
    else:
        seconds = first * 60
    if seconds <= 0:
        raise UserError(f"--time '{clip(text, 40)}' must be more than zero")
    return -(-seconds // 60)


def parse_slurm_sets(items: Sequence[str]) -> dict[str, str]:
    """`--slurm-set key=value` items as a mapping (later wins)."""
    found: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"[a-z][a-z0-9_-]*", key.strip()):
            raise UserError(f"--slurm-set '{clip(item, 60)}' must be key=value with an sbatch option name as key, "
                            "e.g. --slurm-set qos=long")
        found[key.strip()] = value.strip()
    return found


def open_launcher(options: LauncherOptions, worker_command: Sequence[str],
                  point_function: Callable[[dict[str, Any]], dict[str, Any]]) -> Launcher:
    """The chosen launcher, built; a missing extra is one line naming the pip command.

    `worker_command` starts a local worker process; `point_function` runs one request on a cluster
    worker (both from the CLI, which knows the experiments).
    """
    info = LAUNCHERS[options.name]
    if info.engine is not None:
        try:
            importlib.import_module(info.engine)
        except ImportError:
            raise UserError(f"the {options.name} launcher needs {info.engine}, which is not installed: "
                            f"pip install \"d2l-lab[{info.extra}]\"") from None
    module, _, name = info.target.partition(":")
    return getattr(importlib.import_module(module), name)(options, worker_command, point_function)
