"""Shared helpers: invoke the CLI in-process, as a user would from a shell."""

from __future__ import annotations

import sys
from pathlib import Path

from typer.testing import CliRunner, Result

from d2l_lab.cli.main import app


def d2l(*args: str) -> Result:
    """Run `d2l ARGS...` in-process; `command.txt` records what a shell would have typed."""
    saved = sys.argv
    sys.argv = ["d2l", *args]
    try:
        return CliRunner().invoke(app, list(args), catch_exceptions=False)
    finally:
        sys.argv = saved


def only_run_dir(parent: Path) -> Path:
    runs = [p for p in parent.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]
