"""The benchmarks still run against the current presets and APIs (no timings are asserted).

They live outside the package and nothing else imports them, so without these smoke runs a
renamed config key or function would only surface when someone next quotes a benchmark.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _run(*args: str) -> str:
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_optimizer_step_benchmark_runs_ours_against_torch() -> None:
    out = _run(str(BENCHMARKS / "optim_step.py"), "--params", "20_000", "--repeats", "2", "--warmup", "1",
               "--threads", "1", "--algos", "sgd", "adam")
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:]}
    assert set(rows) == {"sgd", "adam"}
    assert all(float(ratio) > 0 for *_, ratio in rows.values())  # ours / torch's best path


def test_word2vec_benchmark_trains_the_default_preset() -> None:
    """One epoch of the worker that the gensim comparison times, with its evaluation."""
    out = _run(str(BENCHMARKS / "word2vec_vs_gensim.py"), "--worker", "ours", "--epochs", "1", "--threads", "1")
    result = json.loads(out.strip().splitlines()[-1])
    assert len(result["curve"]) == 1
    assert 0.0 < result["ws353"] < 1.0  # one epoch already learns something
    assert result["raw_words"] == 887_521
