"""Where d2l-lab keeps what it can rebuild or re-download: co-occurrence counts, fetched vectors."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """$D2L_LAB_CACHE, else $XDG_CACHE_HOME/d2l-lab, else ~/.cache/d2l-lab."""
    if os.environ.get("D2L_LAB_CACHE"):
        return Path(os.environ["D2L_LAB_CACHE"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "d2l-lab"
    return Path.home() / ".cache" / "d2l-lab"
