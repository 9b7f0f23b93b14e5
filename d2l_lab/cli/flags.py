"""`d2l run` flags that set config keys: the flag's name, help and default come from the config
field it sets, so they are written once, in the config; its type is written in the command's
`Annotated` parameter, where a reader sees it (tests/test_cli_commands.py checks the two agree).
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from typing import Any

import typer

from d2l_lab.config.keys import default_of, field_at, short_name


def config_flag(config_class: type, key: str) -> Any:
    """The `typer.Option` of the flag that sets dotted `key`: `--<short name>`, the field's help and
    "(default: ...)". The option remembers its key (`config_key`) for `config_values`."""
    field, _ = field_at(config_class, key)
    default = default_of(field)
    # A None default means "decided elsewhere" (the algorithm's own lr, the bundled corpus): the
    # field's help says what decides it, so "(default: null)" would only confuse.
    shown = "" if default is None else f" (default: {default})"
    choices = field.metadata.get("choices") or ()
    listed = "" if all(choice in field.metadata["help"] for choice in choices) else f"; one of {', '.join(choices)}"
    option = typer.Option(f"--{short_name(key)}", help=f"{field.metadata['help']}{listed}{shown}",
                          show_default=False)
    option.config_key = key
    return option


def config_keys(command: Callable[..., Any]) -> dict[str, str]:
    """Parameter name -> dotted config key, for every parameter declared with `config_flag`."""
    hints = typing.get_type_hints(command, include_extras=True)
    return {name: meta.config_key for name, hint in hints.items() for meta in getattr(hint, "__metadata__", ())
            if hasattr(meta, "config_key")}


def config_values(command: Callable[..., Any], arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted config key -> the value the user gave (None where the flag was not given)."""
    return {key: arguments[name] for name, key in config_keys(command).items()}
