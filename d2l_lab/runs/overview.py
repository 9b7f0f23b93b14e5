"""What `d2l runs show` says about a run beyond its raw files: which settings differ from the
defaults it started from, and how to run it again.

The defaults a run is compared with are those of its experiment, or of the preset its command
line named (`--preset sgd`), resolved for the run's own choices: a run with `algo: adam` and
lr 0.01 used Adam's default lr, so only `algo` differs, not `lr` as well.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from d2l_lab.config.keys import field_at
from d2l_lab.config.loading import compose
from d2l_lab.config.schema import to_dict
from d2l_lab.errors import UserError
from d2l_lab.runs.catalog import flatten

NO_DEFAULT = object()
"""The default of a key the defaults do not have (a run directory from an older version)."""


@dataclass(frozen=True)
class Difference:
    key: str
    """Dotted config key."""
    value: Any
    default: Any
    """The default value, or NO_DEFAULT."""


def preset_in(command: str) -> str | None:
    """The `--preset NAME` of a recorded command line, if it has one."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    for i, word in enumerate(words):
        if word == "--preset" and i + 1 < len(words):
            return words[i + 1]
        if word.startswith("--preset="):
            return word.partition("=")[2]
    return None


def differences(config_class: type, experiment: str, config: dict[str, Any],
                preset: str | None = None) -> tuple[str, list[Difference]]:
    """(what the run is compared with, the settings that differ from it). A choice (algorithm,
    problem, schedule) is compared with the plain defaults; every other value with the defaults
    of the run's choices."""
    flat = flatten(config)
    against = f"preset '{preset}'" if preset else "the defaults"
    base = _defaults(config_class, experiment, preset, {})
    if base is None:  # the preset is gone or changed: compare with the experiment's defaults
        preset, against = None, "the defaults"
        base = _defaults(config_class, experiment, None, {}) or {}
    choices = {k: v for k, v in flat.items() if _is_choice(config_class, k)}
    resolved = _defaults(config_class, experiment, preset, choices) or base
    found = []
    for key, value in flat.items():
        reference = base if key in choices else resolved
        default = reference.get(key, NO_DEFAULT)
        if value != default:
            found.append(Difference(key, value, default))
    return against, found


def undertrained(config_class: type, experiment: str, epochs: Any) -> str | None:
    """One line when an embedding run trained fewer epochs than its experiment's default (`epochs`:
    summary.json's `final.epochs`): its nearest neighbours are then mostly noise (a one-epoch
    fastText run's `energetic (1.000)`), and nothing else would tell a learner why."""
    default = (_defaults(config_class, experiment, None, {}) or {}).get(f"{experiment.replace('-', '_')}.epochs")
    if not isinstance(default, int) or not isinstance(epochs, (int, float)) or epochs >= default:
        return None
    return (f"note: this {experiment} run trained {epochs:g} of the default {default} epochs: its vectors are "
            "undertrained (neighbours mostly noise)")


def reproduce_command(experiment: str, run_dir: str) -> str:
    """The command that re-runs exactly this config into a new run directory."""
    return f"d2l run {experiment} --config {shlex.quote(str(run_dir))}/config.yaml"


def _is_choice(config_class: type, key: str) -> bool:
    try:
        field, _ = field_at(config_class, key)
    except (KeyError, TypeError):
        return False
    return bool(field.metadata.get("choices"))


def _defaults(config_class: type, experiment: str, preset: str | None,
              choices: dict[str, Any]) -> dict[str, Any] | None:
    """The resolved default config (of `preset`, with `choices` set), flattened; None when that
    combination is refused (a preset's setting the chosen algorithm does not use)."""
    try:
        return flatten(to_dict(compose(config_class, experiment, preset=preset, flags=choices)))
    except UserError:
        return None
