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


def run_on_corpus(experiment: str, corpus: Path, out: Path, *args: str) -> Path:
    """`d2l run EXPERIMENT --corpus CORPUS ARGS --out OUT` must succeed; returns its run dir."""
    result = d2l("run", experiment, "--corpus", str(corpus), *args, "--out", str(out))
    assert result.exit_code == 0, result.stderr
    return only_run_dir(out / experiment)


def write_topic_corpus(path: Path, words_per_topic: int, sentences: int, length: int) -> Path:
    """Two topics whose words co-occur only within their topic: vectors must separate them."""
    import numpy as np

    rng = np.random.default_rng(0)
    topics = [[f"cat{i}" for i in range(words_per_topic)], [f"dog{i}" for i in range(words_per_topic)]]
    path.write_text("\n".join(" ".join(rng.choice(topics[rng.integers(2)], size=length))
                              for _ in range(sentences)) + "\n")
    return path
