"""Run directories: `<root>/<experiment>/<YYYYmmdd-HHMMSS>-<config hash>`, never shared.

`os.mkdir` is atomic, so two runs started in the same second (a shell loop, `xargs -P`) each
get their own directory: the loser of a race takes the next suffix.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any

from d2l_lab.config.schema import clip
from d2l_lab.errors import UserError

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]*")
"""Matched with `fullmatch`: `$` would also match before a final newline."""
MAX_NAME_LENGTH = 200
"""Characters in a --name (all ASCII): below the usual 255-byte file name limit, with room for
the `-N` suffix a taken name gets."""


def config_hash(config_dict: dict[str, Any]) -> str:
    """A short, stable fingerprint of a resolved config."""
    canonical = json.dumps(config_dict, sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(canonical.encode()).hexdigest()[:8]


def check_run_name(name: str) -> str:
    if not _SAFE_NAME.fullmatch(name) or ".." in name:
        raise UserError(
            f"run name '{clip(name)}' is not allowed: use letters, digits and . _ + = - "
            "(no path separators), so the run stays inside the outputs root"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise UserError(f"run name '{clip(name, 40)}' is {len(name)} characters long: "
                        f"give at most {MAX_NAME_LENGTH}")
    return name


def create_run_dir(root: str | Path, experiment: str, config_dict: dict[str, Any], name: str | None = None) -> Path:
    """Make a fresh, unique run directory and return it."""
    parent = Path(root) / experiment
    if name is not None:
        check_run_name(name)  # before anything is created; '' too, as `d2l sweep --name ''`
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create outputs directory '{parent}': {exc.strerror}; pick another --out") from None
    if not os.access(parent, os.W_OK):
        raise UserError(f"outputs directory '{parent}' is not writable: pick another --out")
    base = name if name is not None else f"{time.strftime('%Y%m%d-%H%M%S')}-{config_hash(config_dict)}"
    for attempt in range(1, 10_000):
        candidate = parent / (base if attempt == 1 else f"{base}-{attempt}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
        except OSError as exc:
            raise UserError(f"cannot create run directory '{clip(candidate)}': {exc.strerror}; "
                            "give a shorter --name or another --out") from None
    raise UserError(f"too many runs named '{base}' in '{parent}': give a new --name")
