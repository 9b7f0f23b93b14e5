"""Compose a run's config: built-in defaults < preset or --config file < typed flags < --set.

Everything here works on plain nested dicts; `schema.from_dict` validates the result once, so a
bad value is reported with its dotted key wherever it came from.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml

from d2l_lab.config.schema import clip, from_dict, to_dict
from d2l_lab.errors import UserError

T = TypeVar("T")
PATH_KEYS = ("corpus",)
"""Top-level config keys that name a user's file: saved absolute, so `runs rerun`, `--config` and
`--resume` find the same file from any working directory."""


def presets_dir(experiment: str) -> Path:
    """Where an experiment's presets live: inside the wheel, or `configs/` in a source tree."""
    packaged = resources.files("d2l_lab") / "configs" / experiment
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "configs" / experiment


def available_presets(experiment: str) -> list[str]:
    return sorted(p.stem for p in presets_dir(experiment).glob("*.yaml"))


def preset_path(experiment: str, name: str) -> Path:
    path = presets_dir(experiment) / f"{name}.yaml"
    if "/" in name or "\\" in name or not path.is_file():
        names = ", ".join(available_presets(experiment)) or "none"
        raise UserError(f"unknown preset '{name}' for {experiment}: available presets are {names}")
    return path


class _RefusedYaml(yaml.MarkedYAMLError):
    """A construct our configs refuse: duplicate keys, aliases."""


class StrictLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that refuses a key given twice in one mapping (PyYAML lets the last one
    silently win), aliases (`*name`: a config never needs them, and nested aliases expand
    exponentially: a few hundred bytes of "billion laughs" become gigabytes) and nesting deeper
    than MAX_CONFIG_DEPTH (`[[[[...]]]]` would overflow the recursive composer). Numbers are
    decimal: YAML 1.1's hexadecimal, binary, octal and base-60 forms stay text (`_decimal_int`)."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.CollectionStartEvent):
            self._depth += 1
            if self._depth > MAX_CONFIG_DEPTH:
                raise _RefusedYaml(problem=f"nested more than {MAX_CONFIG_DEPTH} levels deep; a config has "
                                   "sections of plain values", problem_mark=self.peek_event().start_mark)
            try:
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _RefusedYaml(problem=f"alias '*{clip(event.anchor, 40)}' is not allowed in a config; "
                               "write the value out", problem_mark=event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: SafeLoader reports it
                break
            if duplicate:
                raise _RefusedYaml(problem=f"key '{clip(key, 40)}' is given twice (first at line "
                                   f"{seen[key].line + 1}); keep one", problem_mark=key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


_DECIMAL_INT = re.compile(r"[-+]?(0|[1-9][0-9_]*)")


def _decimal_int(loader: StrictLoader, node: Any) -> Any:
    """A YAML 1.1 int written in decimal; any other (`0x10`, `0b11`, octal `010`, base-60 `1:30`) is
    kept as its text, for the config check to refuse in a number field (naming the key) and to take
    as text in a text field (`--set corpus=0755`)."""
    text = loader.construct_scalar(node)
    if not _DECIMAL_INT.fullmatch(text) or len(text) > 4000:  # Python converts at most 4,300 digits
        return text
    return loader.construct_yaml_int(node)


def _decimal_float(loader: StrictLoader, node: Any) -> Any:
    """A YAML 1.1 float, except base 60 (`1:30.5`), which is kept as its text as `_decimal_int` does."""
    text = loader.construct_scalar(node)
    return text if ":" in text else loader.construct_yaml_float(node)


StrictLoader.add_constructor("tag:yaml.org,2002:int", _decimal_int)
StrictLoader.add_constructor("tag:yaml.org,2002:float", _decimal_float)


def load_yaml_text(text: str) -> Any:
    """`text` parsed as by `yaml.safe_load`, with `StrictLoader`'s refusals."""
    loader = StrictLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


MAX_CONFIG_BYTES = 1 << 20
"""A config is a few hundred bytes; a bigger file is a mistake (or an attack) and parsing it would
take minutes, so it is refused before it is read."""
MAX_CONFIG_DEPTH = 20
"""Nesting deeper than this is refused (ours is two levels); far deeper would exhaust the stack."""


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping with `StrictLoader` (safe_load, no duplicate keys, no aliases); any
    problem becomes one actionable line."""
    path = Path(path)
    if not path.is_file():
        what = ("is a directory" if path.is_dir() else "does not exist" if not path.exists() else
                "is a pipe or a device, not a regular file")
        raise UserError(f"config file '{path}' {what}: give the path of a YAML file")
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise UserError(f"config file '{path}' is {size:,} bytes, more than a config can need "
                        f"({MAX_CONFIG_BYTES:,}): give a run's config.yaml or a preset-sized YAML file")
    try:
        text = path.read_text(encoding="utf-8")
        data = load_yaml_text(text)
    except OSError as exc:
        raise UserError(f"config file '{path}' cannot be read ({exc.strerror or exc}): give a YAML file") from None
    except UnicodeDecodeError:
        raise UserError(f"config file '{path}' is not UTF-8 text: give a YAML file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        fix = "" if isinstance(exc, _RefusedYaml) else "; fix the syntax"
        raise UserError(f"malformed YAML in '{path}'{where}: {clip(problem, 160)}{fix}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(
            f"config file '{path}' must hold a mapping of key: value at the top level, "
            f"got a {type(data).__name__}"
        )
    return data


def parse_set(item: str) -> tuple[str, Any]:
    """`--set key=value`: the value is read as a YAML scalar (`0.1`, `true`, `[1, 2]`)."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UserError(f"--set expects key=value (e.g. --set seed=1), got '{clip(item)}'")
    try:
        value = load_yaml_text(raw) if raw.strip() else None
    except yaml.YAMLError:
        raise UserError(f"--set {clip(key)}: cannot read value '{clip(raw)}' as YAML; quote it") from None
    return key, value


def set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    """Set `a.b.c` in nested dicts, creating sections as needed."""
    parts = key.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise UserError(f"cannot set '{clip(key)}': '{clip('.'.join(parts[: i + 1]))}' is not a section")
        node = child
    node[parts[-1]] = value


def merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge `update` into a copy of `base` (sections merge, values replace)."""
    out = copy.deepcopy(dict(base))
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def compose(
    config_class: type[T],
    experiment: str,
    *,
    preset: str | None = None,
    config_file: str | Path | None = None,
    flags: Mapping[str, Any] | None = None,
    sets: Iterable[str] = (),
) -> T:
    """Resolve one run's config from its sources, in increasing precedence."""
    if preset is not None and config_file:
        raise UserError("give either --preset or --config, not both")
    data = to_dict(config_class())
    if preset is not None:
        data = merge(data, read_yaml(preset_path(experiment, preset)))
    elif config_file:
        data = merge(data, read_yaml(config_file))
    for key, value in (flags or {}).items():
        if value is not None:
            set_dotted(data, key, value)
    for item in sets:
        set_dotted(data, *parse_set(item))
    config = from_dict(config_class, data)
    # Fill "use the default of what you picked" values (e.g. an algorithm's own lr), so the saved
    # config states every number the run used.
    config = config.resolved() if hasattr(config, "resolved") else config
    return _absolute_paths(config)


def _absolute_paths(config: T) -> T:
    import dataclasses
    import os

    absolute = {key: os.path.abspath(value) for key in PATH_KEYS
                if isinstance(value := getattr(config, key, None), str) and value and not os.path.isabs(value)}
    return dataclasses.replace(config, **absolute) if absolute else config


def dump_yaml(config: Any) -> str:
    """The resolved config as YAML, in field order, re-runnable with --config."""
    return yaml.safe_dump(to_dict(config), sort_keys=False, default_flow_style=None)
