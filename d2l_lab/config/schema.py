"""Typed configs as plain dataclasses, validated strictly when built from YAML or flags.

Each component declares its own dataclass with `param(...)` fields (default, help, allowed
range, what null means); `from_dict` builds it from untrusted input and turns every mistake into
one `UserError` line that names the dotted key, the bad value and what is allowed (nanoGPT's
configurator and minGPT's `merge_from_args` refuse unknown keys too; we also suggest the closest
valid one). A field accepts null only where `param(..., null=...)` says what it means (its help
then says so); numbers are decimal (`0x10`, `010`, `1:30` are refused, not read as 16, 8, 90).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from d2l_lab.config.keys import all_keys, short_name, type_hints
from d2l_lab.errors import ConfigKeyError, UserError

T = TypeVar("T")
STATED_DEFAULT = "the default stated above"
"""What null means for a field whose help states its default (`param(None, "...; default 10", null=...)`)."""
ECHO_LIMIT = 80
"""The most characters of a user's value an error message repeats."""
_YAML11_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")
_NOT_DECIMAL = (  # what `loading.StrictLoader` keeps as text, and 0o10, which YAML 1.1 never read as a number
    (re.compile(r"[-+]?0x[0-9a-f_]+", re.IGNORECASE), "hexadecimal"),
    (re.compile(r"[-+]?0b[01_]+", re.IGNORECASE), "binary"),
    (re.compile(r"[-+]?0o?[0-7_]+", re.IGNORECASE), "octal"),
    (re.compile(r"[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?"), "base 60"),
)


def clip(value: Any, limit: int = ECHO_LIMIT) -> str:
    """`value` as an error message may echo it: on one line (newlines and other control
    characters escaped) and at most `limit` characters, however large the input."""
    text = value if isinstance(value, str) else _bounded_repr(value, limit)
    text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text[:limit + 1])
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _echo(value: Any) -> str:
    """A bad value as an error shows it: clipped, strings quoted (as repr would), None as YAML's null."""
    return f"'{clip(value)}'" if isinstance(value, str) else "null" if value is None else clip(value)


def _bounded_repr(value: Any, limit: int) -> str:
    """repr, without building the whole text of a huge nested value."""
    import reprlib

    short = reprlib.Repr()
    short.maxstring = short.maxother = short.maxlong = limit
    short.maxlevel = 3
    return short.repr(value)


def param(
    default: Any,
    help: str,
    *,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    choices: tuple[str, ...] | None = None,
    saved_when_set: bool = False,
    null: str | None = None,
) -> Any:
    """A config field with its help text and the values it accepts. `null` says what null means
    for a field whose type admits None (its help then ends "null: <meaning>"); a field without one
    refuses null, and a None default needs one. A `saved_when_set` field is left out of the saved
    config (and so of the config hash) while it holds its default: a section added later (`log`)
    then changes no earlier run's hash, and those runs still resume."""
    if default is None and not null:
        raise TypeError(f"a field whose default is None must say what null means: param(None, ..., null=...) "
                        f"({help[:40]!r})")
    help = f"{help}; null: {null}" if null else help
    metadata = {"help": help, "gt": gt, "ge": ge, "lt": lt, "le": le, "choices": choices,
                "saved_when_set": saved_when_set, "null": null}
    if isinstance(default, (list, dict)):
        raise TypeError("use a tuple default: configs must be immutable")
    if dataclasses.is_dataclass(default):
        return dataclasses.field(default_factory=lambda: default, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def to_dict(config: Any, unused: Iterable[str] = ()) -> dict[str, Any]:
    """A plain, YAML-ready dict (tuples become lists) in field order.

    A config may name fields that its current choice never reads (`unused_fields()`, e.g. the
    hyper-parameters another optimizer uses; a parent may name its sections' fields as
    `section.field`); they are left out, so a saved config holds exactly what the run used.
    """
    unused = set(unused) | set(config.unused_fields() if hasattr(config, "unused_fields") else ())
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        if f.name in unused:
            continue
        value = getattr(config, f.name)
        if f.metadata.get("saved_when_set") and value == default_of(f):
            continue
        if dataclasses.is_dataclass(value):
            value = to_dict(value, [name.partition(".")[2] for name in unused if name.startswith(f.name + ".")])
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def default_of(field: dataclasses.Field) -> Any:
    """A field's default value, whether given as a value or as a factory."""
    return field.default if field.default is not dataclasses.MISSING else field.default_factory()  # type: ignore[misc]


@dataclass(frozen=True)
class LogConfig:
    """Where a run's metrics go besides metrics.csv; nothing here changes what a run computes."""

    tensorboard: bool = param(False, "also write the metrics to <run>/tensorboard/ for `tensorboard --logdir "
                              "outputs`; needs the tensorboard package")

    def check(self) -> None:
        import importlib.util

        if self.tensorboard and importlib.util.find_spec("tensorboard") is None:
            raise UserError('log.tensorboard needs the tensorboard package: pip install "d2l-lab[tensorboard]"')


def log_section() -> Any:
    """The `log` field of a run config: saved only when it differs from the defaults."""
    return param(LogConfig(), "where metrics go besides metrics.csv", saved_when_set=True)


def refuse_unused(config: Any, section: str, unused: Iterable[str], chosen: str, uses: Sequence[str]) -> None:
    """One line when a field that the config's current choice never reads was given anyway (set
    to anything but its default): it would otherwise be silently ignored. It names what to drop."""
    fields = {f.name: f for f in dataclasses.fields(config)}
    given = [name for name in unused if getattr(config, name) != default_of(fields[name])]
    if given:
        using = f": it uses {', '.join(uses)}" if uses else ""
        raise ConfigKeyError([f"{chosen} does not use ", f"{using}; drop ", f", or change the {chosen.split()[0]}"],
                             [f"{section}.{name}" for name in given])


def _bad(key: str, problem: str) -> ConfigKeyError:
    """`config key 'KEY' PROBLEM`; the CLI names the flag instead where a flag set the key."""
    return ConfigKeyError(["", f" {problem}"], [key], form="config key '{}'")


def fill_defaults(config: T, defaults: Mapping[str, Any]) -> T:
    """A copy of `config` with each field of `defaults` that was left None set to its default:
    how a config whose current choice decides its defaults (an algorithm, a schedule, a problem)
    resolves them, so the saved config states every number the run used."""
    missing = {name: value for name, value in defaults.items() if getattr(config, name) is None}
    return dataclasses.replace(config, **missing) if missing else config


def from_dict(cls: type[T], data: Any, prefix: str = "") -> T:
    """Build `cls` from untrusted data, filling defaults and refusing anything unexpected."""
    where = f"config section '{prefix.rstrip('.')}'" if prefix else "the config"
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise UserError(
            f"{where} must be a mapping of key: value, got a {_type_name(data)}; "
            "check the YAML indentation"
        )
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = type_hints(cls)
    for key in data:
        if key not in fields:
            raise UserError(_unknown_key_message(cls, prefix, clip(key)))
    values = {}
    for name, value in data.items():
        values[name] = _convert(value, hints[name], fields[name], prefix + name)
    config = cls(**values)
    check = getattr(config, "check", None)
    if check is not None:
        check()
    return config


def _unknown_key_message(cls: type, prefix: str, key: str) -> str:
    valid = all_keys(cls, prefix)
    full = prefix + key
    close = difflib.get_close_matches(full, valid, n=1, cutoff=0.6)
    if not close:  # a short name (`lr`, `batch-size`) given at the top level means its full key
        names = {short_name(k): k for k in valid}
        close = [names[m] for m in difflib.get_close_matches(key.replace("_", "-"), list(names), n=1, cutoff=0.6)]
    if close:
        return f"unknown config key '{full}': did you mean '{close[0]}'?"
    return f"unknown config key '{full}': valid keys here are {', '.join(valid)}"


def _convert(value: Any, hint: Any, field: dataclasses.Field, key: str) -> Any:
    if value is None:
        return _null(hint, field, key)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, key + ".")
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        return _convert(value, non_none[0], field, key)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise _bad(key, f"must be a list, got {_echo(value)}")
        item_type = args[0]
        if len(args) != 2 or args[1] is not Ellipsis:
            if len(value) != len(args):
                raise _bad(key, f"must have {len(args)} items, got {len(value)}")
        return tuple(_scalar(v, item_type, field, key) for v in value)
    return _scalar(value, hint, field, key)


def _null(hint: Any, field: dataclasses.Field, key: str) -> None:
    """None where the field says what null means; else one line (null, or an empty `--set key=`,
    would otherwise quietly mean a default)."""
    if field.metadata.get("null") and type(None) in typing.get_args(hint):
        return None
    if dataclasses.is_dataclass(hint):
        raise UserError(f"config section '{key}' is null (empty): give its keys, or leave the section out")
    default = default_of(field)
    shown = "" if dataclasses.is_dataclass(default) else \
        f" (the default is {clip(list(default) if isinstance(default, tuple) else default, 40)})"
    raise _bad(key, f"needs a value, got null{shown}: give one, or leave the key out")


def _not_decimal(value: Any, key: str) -> None:
    """One line for a number written in hexadecimal, binary, octal or base 60 (YAML 1.1 reads `0x10`
    as 16, `010` as 8, `1:30` as 90: never what a config means)."""
    if not isinstance(value, str):
        return
    text = value.strip().replace("_", "")
    if re.fullmatch(r"[-+]?[0-9]{100,}", text):  # decimal, but more digits than YAML converts
        raise _bad(key, f"must be a number of magnitude below 2**63, got {_echo(value)}")
    form = next((form for pattern, form in _NOT_DECIMAL if pattern.fullmatch(text)), None)
    if form is None:
        return
    fix = "write it in decimal"
    if len(text) <= 30:  # else its decimal would be a wall of digits
        sign, digits = (-1, text[1:]) if text[0] == "-" else (1, text.lstrip("+"))
        if form == "base 60":
            read = f"{sign * sum(float(part) * 60**i for i, part in enumerate(reversed(digits.split(':')))):g}"
        else:
            read = str(sign * (int(digits.replace("o", "").replace("O", ""), 8) if form == "octal" else int(digits, 0)))
        decimal = str(sign * int(digits)) if form == "octal" and digits.isdigit() else read
        fix = f"that is {read}): write {read}" + (f", or {decimal} without the leading 0" if decimal != read else "")
    else:
        fix = f"{fix})"
    raise _bad(key, f"must be a decimal number, got {_echo(value)} ({form}, {fix}")


def _scalar(value: Any, hint: Any, field: dataclasses.Field, key: str) -> Any:
    meta = field.metadata
    if hint in (int, float):
        _not_decimal(value, key)
    if hint is bool:
        if not isinstance(value, bool):
            raise _bad(key, f"must be true or false, got {_echo(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(key, f"must be a whole number, got {_echo(value)}")
        if abs(value) >= 2**63:  # beyond what numpy, torch and the file formats hold
            raise _bad(key, f"must be a whole number of magnitude below 2**63, got {_echo(value)}")
        _check_range(value, meta, key)
        return value
    if hint is float:
        if isinstance(value, str) and _YAML11_FLOAT.match(value):
            value = float(value)  # PyYAML reads `1e-3` (no dot) as a string; users mean a number
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _bad(key, f"must be a number, got {_echo(value)}")
        if not (abs(value) < 2**1024 and math.isfinite(value)):  # a 400-digit int is beyond every float too
            raise _bad(key, f"must be a finite number, got {_echo(value)}")
        _check_range(float(value), meta, key)
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise _bad(key, f"must be a string, got {_echo(value)}")
        choices = meta.get("choices")
        if choices and value not in choices:
            close = difflib.get_close_matches(value, choices, n=1)
            hint_text = f" (did you mean '{close[0]}'?)" if close else ""
            raise _bad(key, f"must be one of {', '.join(choices)}; got {_echo(value)}{hint_text}")
        return value
    raise TypeError(f"unsupported config type {hint!r} for '{key}'")


_BOUNDS = {
    "gt": (">", lambda a, b: a > b),
    "ge": (">=", lambda a, b: a >= b),
    "lt": ("<", lambda a, b: a < b),
    "le": ("<=", lambda a, b: a <= b),
}


def _check_range(value: float, meta: Mapping[str, Any], key: str) -> None:
    for name, (_, ok) in _BOUNDS.items():
        bound = meta.get(name)
        if bound is not None and not ok(value, bound):
            raise _bad(key, f"must be {_describe_range(meta)}, got {_echo(value)}")


def _describe_range(meta: Mapping[str, Any]) -> str:
    parts = [f"{symbol} {meta[name]}" for name, (symbol, _) in _BOUNDS.items()
             if meta.get(name) is not None]
    return " and ".join(parts)


def _type_name(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number"}.get(type(value), type(value).__name__)
