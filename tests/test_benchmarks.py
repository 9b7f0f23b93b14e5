"""The benchmarks still run against the current presets and APIs (no speed is asserted: that is
docs/results.md's measurement, not a test).

They live outside the package and nothing else imports them, so without these smoke runs a
renamed config key or function would only surface when someone next quotes a benchmark.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import needs_extra

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
ROUNDING = 0.005
"""The step benchmark prints milliseconds and ratios to two decimals."""

pytestmark = pytest.mark.slow  # each starts a process that imports torch and times real work


def _run(*args: str) -> str:
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_optimizer_step_benchmark_runs_ours_against_torch() -> None:
    """Each row: ours, torch's default, foreach and fused medians (ms), and ours / the faster of
    default and foreach; the printed ratio must be that quotient of the printed medians."""
    out = _run(str(BENCHMARKS / "optim_step.py"), "--params", "1_000_000", "--repeats", "3", "--warmup", "1",
               "--threads", "1", "--algos", "sgd", "adam")
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:]}
    assert set(rows) == {"sgd", "adam"}
    for algo, (ours, default, foreach, _fused, ratio, _fused_ratio) in rows.items():
        ours_ms, best_ms = float(ours), min(float(default), float(foreach))
        assert all(math.isfinite(v) and v > 0 for v in (ours_ms, best_ms)), rows[algo]
        low = (ours_ms - ROUNDING) / (best_ms + ROUNDING) - ROUNDING
        high = (ours_ms + ROUNDING) / (best_ms - ROUNDING) + ROUNDING
        assert low <= float(ratio) <= high, (algo, rows[algo])


@pytest.mark.slow
@pytest.mark.parametrize("model", ["word2vec", "fasttext"])
def test_gensim_benchmark_trains_what_d2l_run_trains(model) -> None:
    """One epoch of the worker that the gensim comparison times gives, bit for bit, the WordSim-353
    rho of the default `d2l run word2vec` (`d2l run fasttext`) config trained for one epoch (seed 0, CPU)."""
    import torch

    from d2l_lab.config.schema import from_dict
    from d2l_lab.datasets.evalsets import load_wordsim353
    from d2l_lab.embeddings.evaluation import evaluate_similarity
    from d2l_lab.experiments import fasttext, word2vec

    experiment, run_config = {"word2vec": (word2vec, word2vec.Word2VecRunConfig),
                              "fasttext": (fasttext, fasttext.FastTextRunConfig)}[model]
    out = _run(str(BENCHMARKS / "word2vec_vs_gensim.py"), "--worker", "ours", "--model", model, "--epochs", "1",
               "--threads", "1")
    result = json.loads(out.strip().splitlines()[-1])
    task = experiment.build_task(from_dict(run_config, {model: {"epochs": 1}}), torch.device("cpu"))
    for step in range(1, task.total_steps + 1):  # the parts of one epoch
        task.train_step(step)
    rho = evaluate_similarity(task.trainer.word_vectors(), load_wordsim353())["rho"]
    assert [rho for _, rho in result["curve"]] == [rho] and result["ws353"] == rho
    assert result["raw_words"] == 887_521


def test_gensim_benchmark_trains_gensims_fasttext() -> None:
    """The peer's side of `--model fasttext`: one epoch of gensim's FastText with our settings runs and
    reports what the table needs."""
    needs_extra("gensim", "bench")
    out = _run(str(BENCHMARKS / "word2vec_vs_gensim.py"), "--worker", "gensim", "--model", "fasttext", "--epochs",
               "1", "--workers", "1")
    result = json.loads(out.strip().splitlines()[-1])
    assert len(result["curve"]) == 1 and result["raw_words"] == 887_521 and result["kept_words"] > 0
    assert all(math.isfinite(result[key]) for key in ("ws353", "simlex", "analogy"))


def test_scale_benchmark_prints_peak_rss_and_ratios_per_size(tmp_path) -> None:
    """A sliver of PTB at x1 and x2: a row per size and system with a positive peak RSS and speed,
    the ours / gensim ratios (when gensim is installed) and the peak growth line."""
    import importlib.util

    systems = ["word2vec", "glove"] + (["gensim-word2vec"] if importlib.util.find_spec("gensim") else [])
    out = _run(str(BENCHMARKS / "scale.py"), "--sizes", "1", "2", "--fraction", "0.01", "--work", str(tmp_path),
               "--systems", *systems)
    rows = [line.split() for line in out.splitlines() if line.startswith("x")]
    assert [(size, system) for size, _, system, *_ in rows] == [(s, m) for s in ("x1", "x2") for m in systems]
    assert all(float(peak) > 0 and float(speed.replace(",", "")) > 0 for *_, peak, speed, _wall in rows)
    assert ("ours / gensim at x2: word2vec peak" in out) == ("gensim-word2vec" in systems)
    assert "peak at x2 / x1: word2vec" in out


def test_losses_benchmark_times_every_loss_against_negative_sampling() -> None:
    """A row per (model, loss); the first loss is the baseline of the 'x ns' column."""
    out = _run(str(BENCHMARKS / "word2vec_losses.py"), "--model", "cbow", "--limit-batches", "3")
    rows = [line.split() for line in out.splitlines()[1:]]
    assert [(r[0], r[1]) for r in rows] == [("cbow", "ns"), ("cbow", "hs"), ("cbow", "softmax")]
    assert float(rows[0][4]) == 1.0 and all(float(r[3]) > 0 for r in rows)
    assert float(rows[2][4]) > float(rows[0][4])  # scoring every word costs more than K + 1 of them


def test_startup_benchmark_times_every_command_against_its_limit() -> None:
    """At a tiny vector file: every row of the table is there, with positive times, and each limit
    is the one the issue sets, in the numbers the table prints."""
    out = _run(str(BENCHMARKS / "startup.py"), "--repeats", "1", "--words", "2000", "--dim", "8")
    cells = {row[0]: row[1:] for line in out.splitlines()[3:]
             for row in [[cell.strip() for cell in line.strip("|").split("|")]]}
    seconds = {command: float(row[0]) for command, row in cells.items()}
    assert list(seconds)[:5] == ["python -c 'import torch'", "d2l run optim --algo adam --lr 0.01", "d2l --help",
                                 "d2l runs list", "d2l embed similar RUN chip"]
    assert len(seconds) in (7, 8)  # 8 with gensim's row
    assert all(float(row[0]) > 0 and float(row[1]) > 0 for row in cells.values())
    limits = {command: float(row[2]) for command, row in cells.items() if row[2]}
    torch_s = seconds["python -c 'import torch'"]
    assert abs(limits["d2l run optim --algo adam --lr 0.01"] - (torch_s + 1.0)) <= 2 * ROUNDING
    assert limits["d2l --help"] == limits["d2l runs list"] == 1.0
    assert limits["d2l embed similar --vectors F chip: next"] == 1.5
    assert all(row[-1] == ("yes" if seconds[c] <= limits[c] else "NO") for c, row in cells.items()
               if row[2] and abs(seconds[c] - limits[c]) > ROUNDING)


def test_fasttext_bin_benchmark_loads_the_model_it_writes(tmp_path) -> None:
    """A tiny model (gensim left out): ours whole and ours opening it alone, each a line with its
    word count."""
    out = _run(str(BENCHMARKS / "fasttext_bin_load.py"), "--words", "300", "--buckets", "50", "--dim", "8",
               "--systems", "ours", "ours-open", "--work", str(tmp_path))
    lines = out.splitlines()
    assert lines[0].startswith("model: 300 words + 50 buckets x 8")
    assert lines[1].startswith("ours ") and lines[1].endswith(" 300 words")
    assert lines[2].startswith("ours-open ") and lines[2].endswith(" 1 words")


def test_search_benchmark_compares_tpe_with_the_grid() -> None:
    """`--smoke`: row (a) on a 2 x 2 grid; the ratio printed is the quotient of the two best losses
    it prints, and the verdict is the target's."""
    needs_extra("optuna", "tune")
    (line,) = _run(str(BENCHMARKS / "search_vs_grid.py"), "--smoke").splitlines()
    name, ratio, detail = (cell.strip() for cell in line.split("|"))
    grid_best = float(detail.split("grid 4 points best ")[1].split(";")[0])
    tpe_best = float(detail.split("tpe 2 trials best ")[1].split(";")[0])
    assert name == "(a) airfoil adam: tpe best / grid best loss"
    assert math.isclose(float(ratio), tpe_best / grid_best, abs_tol=1e-3), line
    assert detail.endswith("target <= 1.01: " + ("met" if float(ratio) <= 1.01 else "NOT met")), line


def test_search_benchmark_counts_a_pruned_trials_epochs_by_its_steps(tmp_path) -> None:
    """Row (b)'s compute: 5 epochs times the fraction of steps each trial trained; a trial without
    a run (failed) trained nothing."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("search_vs_grid", BENCHMARKS / "search_vs_grid.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    for name, done in (("pruned", 1), ("full", 5)):
        (tmp_path / "word2vec" / name).mkdir(parents=True)
        (tmp_path / "word2vec" / name / "summary.json").write_text(json.dumps({"steps_done": done * 40,
                                                                               "total_steps": 200}))
    rows = [{"run_dir": "word2vec/pruned"}, {"run_dir": "word2vec/full"}, {"run_dir": None}]
    assert bench.epochs_trained(tmp_path, rows) == 6.0


def test_scale_benchmark_shuffled_copies_keep_each_copys_tokens_and_line_lengths(tmp_path) -> None:
    """`--sizes Ns`: every copy holds PTB's tokens in a new order, in lines of PTB's lengths."""
    import gzip
    import importlib.util

    spec = importlib.util.spec_from_file_location("scale", BENCHMARKS / "scale.py")
    scale = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scale)
    plain, shuffled = tmp_path / "plain.txt.gz", tmp_path / "shuffled.txt.gz"
    assert scale.build_corpus(plain, 2, 0.01) == scale.build_corpus(shuffled, 2, 0.01, shuffled=True)
    plain_lines = gzip.open(plain, "rt").read().splitlines()
    shuffled_lines = gzip.open(shuffled, "rt").read().splitlines()
    assert [len(line.split()) for line in shuffled_lines] == [len(line.split()) for line in plain_lines]
    half = len(plain_lines) // 2
    for copy in (slice(0, half), slice(half, None)):
        assert sorted(" ".join(shuffled_lines[copy]).split()) == sorted(" ".join(plain_lines[copy]).split())
    assert shuffled_lines[:half] != plain_lines[:half] and shuffled_lines[:half] != shuffled_lines[half:]
