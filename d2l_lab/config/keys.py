"""Dotted config keys: the field each one names, and their short names, one scheme for run flags, `--grid` keys, `runs list`
columns and did-you-mean suggestions, so a key is called the same everywhere a user meets it.

A key's short name is its last part with `_` written `-` (`train.batch_size` -> `batch-size`),
except a section's `name` selector, which is called by its section (`problem.name` -> `problem`,
`schedule.name` -> `schedule`). A short name stands for a key only when no other key of the
config shares it (`lr` is `optimizer.lr` for optim; a bare `name` is ambiguous).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any


@functools.cache
def type_hints(cls: type) -> dict[str, Any]:
    """`typing.get_type_hints(cls)`, evaluated once per class: it evaluates every annotation string
    on each call, and building the CLI asks for the hints of a config class some 300 times."""
    return typing.get_type_hints(cls)


def all_keys(cls: type, prefix: str = "") -> list[str]:
    """Every dotted key the config accepts, for suggestions and documentation."""
    keys = []
    hints = type_hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            keys.extend(all_keys(hints[f.name], prefix + f.name + "."))
        else:
            keys.append(prefix + f.name)
    return keys


def short_name(key: str) -> str:
    """`optimizer.lr` -> `lr`, `train.batch_size` -> `batch-size`, `problem.name` -> `problem`."""
    section, _, leaf = key.rpartition(".")
    if leaf == "name" and section:
        leaf = section.rsplit(".", 1)[-1]
    return leaf.replace("_", "-")


def short_names(config_class: type) -> dict[str, str]:
    """Short name -> dotted key, for every short name that belongs to exactly one key."""
    found: dict[str, list[str]] = {}
    for key in all_keys(config_class):
        found.setdefault(short_name(key), []).append(key)
    return {name: keys[0] for name, keys in found.items() if len(keys) == 1}


def sharing(config_class: type, name: str) -> list[str]:
    """The dotted keys a short `name` could mean: those it is the short name or the last part of
    (more than one: the name is ambiguous)."""
    return [key for key in all_keys(config_class)
            if name in (short_name(key), key.rsplit(".", 1)[-1].replace("_", "-"))]


def column_name(key: str, config_class: type) -> str:
    """What a table calls `key`: its short name when that is unambiguous, else the dotted key."""
    name = short_name(key)
    return name if short_names(config_class).get(name) == key else key


def field_at(config_class: type, key: str) -> tuple[dataclasses.Field, Any]:
    """The dataclass field a dotted key names and its value type (`X | None` read as `X`)."""
    cls: Any = config_class
    field, hint = None, None
    for part in key.split("."):
        field = {f.name: f for f in dataclasses.fields(cls)}[part]
        hint = cls = type_hints(cls)[part]
    assert field is not None
    return field, value_type(hint)


def value_type(hint: Any) -> Any:
    """`float | None` -> float: the type a flag reads (None stays the config's "not given")."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        non_none = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(non_none) == 1:
            return non_none[0]
    return hint

