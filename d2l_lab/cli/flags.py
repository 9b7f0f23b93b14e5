"""`d2l run` flags that set config keys: the flag's name, help and default come from the config
field it sets, so they are written once, in the config; its type is written in the command's
`Annotated` parameter, where a reader sees it (tests/test_cli_commands.py checks the two agree).
A field with a closed set of values (`choices`: the optimizer table's algorithms, the problems,
...) shows them as the flag's metavar and completes them; the config check refuses anything else,
with a did-you-mean, the same way for a flag, a `--set` and a YAML file.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from typing import Any

import typer

from d2l_lab.cli.completion import DEVICE_METAVAR, complete_device, complete_preset
from d2l_lab.config.keys import field_at, short_name
from d2l_lab.config.schema import default_of


def config_flag(config_class: type, key: str, **option: Any) -> Any:
    """The `typer.Option` of the flag that sets dotted `key`: `--<short name>`, the field's help and
    "(default: ...)", its choices as metavar and completions; `option` adds typer settings. The
    option remembers its key (`config_key`) for `config_values`."""
    field, _ = field_at(config_class, key)
    default = default_of(field)
    # A None default means "decided elsewhere" (the algorithm's own lr, the bundled corpus): the
    # field's help says what decides it, so "(default: null)" would only confuse.
    shown = "" if default is None else f" (default: {str(default).lower() if isinstance(default, bool) else default})"
    choices = field.metadata.get("choices")
    if choices:
        option = {"metavar": f"[{'|'.join(choices)}]", "autocompletion": _completion(choices), **option}
    flag = typer.Option(f"--{short_name(key)}", help=f"{field.metadata['help']}{shown}", show_default=False, **option)
    flag.config_key = key
    return flag


def _completion(choices: tuple[str, ...]) -> Callable[[str], list[str]]:
    def complete(incomplete: str) -> list[str]:
        return [choice for choice in choices if choice.startswith(incomplete)]

    return complete


def device_flag(config_class: type) -> Any:
    """`--device`: an open set (`cuda:N`), so a string with its names shown and completed."""
    return config_flag(config_class, "device", metavar=DEVICE_METAVAR, autocompletion=complete_device)


def preset_flag(experiment: str) -> Any:
    """`--preset NAME` of `d2l run <experiment>`, listing the presets found in its configs folder."""
    from d2l_lab.config.loading import available_presets

    names = available_presets(experiment)
    listed = f": {', '.join(names)}" if names else f" ({experiment} has none yet: --config takes any YAML file)"
    return typer.Option("--preset", help=f"preset from configs/{experiment}/NAME.yaml{listed}", metavar="NAME",
                        show_default=False, autocompletion=complete_preset)


def config_keys(command: Callable[..., Any]) -> dict[str, str]:
    """Parameter name -> dotted config key, for every parameter declared with `config_flag`."""
    hints = typing.get_type_hints(command, include_extras=True)
    return {name: meta.config_key for name, hint in hints.items() for meta in getattr(hint, "__metadata__", ())
            if hasattr(meta, "config_key")}


def config_values(command: Callable[..., Any], arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted config key -> the value the user gave (None where the flag was not given)."""
    return {key: arguments[name] for name, key in config_keys(command).items()}
