"""Records: two identical runs leave the same bytes in every file that holds no clock reading or
path (docs/runs.md, "Reproducibility", lists them), checkpoint.pt included."""

from __future__ import annotations

import json

import pytest

from tests.conftest import d2l, only_run_dir, write_topic_corpus
from tests.doc_pages import assert_quoted

SAME_BYTES = ("config.yaml", "checkpoint.pt", "loss.png")


def test_docs_runs_lists_the_files_these_tests_compare():
    assert_quoted("runs.md", "Two identical runs (same config, data and machine) write the same bytes to",
                  "`config.yaml`, `checkpoint.pt` (it saves the global RNG", "the plots, `vectors.txt` and `vocab.tsv`,"
                  " and the same `metrics.csv` except its timing column", "`tests/test_records.py` compares two runs")


def _twice(tmp_path, *args: str):
    runs = []
    for root in ("a", "b"):
        result = d2l("run", *args, "--device", "cpu", "--quiet", "--out", str(tmp_path / root))
        assert result.exit_code == 0, result.stderr
        runs.append(only_run_dir(tmp_path / root / args[0]))
    return runs


@pytest.mark.slow
def test_two_identical_optim_runs_write_the_same_bytes(tmp_path):
    first, second = _twice(tmp_path, "optim", "--algo", "adam", "--epochs", "1")
    for name in (*SAME_BYTES, "metrics.csv"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    summaries = [json.loads((run / "summary.json").read_text()) for run in (first, second)]
    assert summaries[0]["final"] == summaries[1]["final"] and summaries[0]["wall_time_s"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("experiment", ["word2vec", "glove"])
def test_two_identical_embedding_runs_write_the_same_checkpoint(tmp_path, experiment):
    corpus = write_topic_corpus(tmp_path / "corpus.txt", words_per_topic=10, sentences=200, length=8)
    first, second = _twice(tmp_path, experiment, "--corpus", str(corpus), "--epochs", "2", "--min-count", "1",
                           "--dim", "8")
    for name in (*SAME_BYTES, "vectors.txt", "vocab.tsv"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


@pytest.mark.slow
def test_a_resumed_run_ends_with_the_uninterrupted_checkpoint_and_adds_up_its_wall_time(tmp_path):
    """The checkpoint holds no clock reading: the time before the interruption comes back from
    summary.json, and the resumed run's last checkpoint is the uninterrupted run's, byte for byte."""
    from d2l_lab.config.loading import compose
    from d2l_lab.experiments.registry import experiment
    from d2l_lab.runs.runner import RunOptions, execute, resume

    spec = experiment("optim")
    config = compose(spec.config_class, "optim", sets=["problem.name=quadratic", "train.steps=20", "device=cpu"])
    whole = execute("optim", config, spec.build_task(), RunOptions(out_root=tmp_path / "whole"))
    asked = iter(range(100))
    stopped = execute("optim", config, spec.build_task(), RunOptions(out_root=tmp_path / "stopped"),
                      should_stop=lambda: next(asked) >= 8)
    before = json.loads((stopped.run_dir / "summary.json").read_text())["wall_time_s"]
    summary = json.loads((stopped.run_dir / "summary.json").read_text())
    (stopped.run_dir / "summary.json").write_text(json.dumps({**summary, "wall_time_s": before + 100}))
    resumed = resume("optim", spec.config_class, stopped.run_dir, spec.build_task())
    assert resumed.summary["status"] == "completed" and resumed.summary["wall_time_s"] > before + 100
    assert (stopped.run_dir / "checkpoint.pt").read_bytes() == (whole.run_dir / "checkpoint.pt").read_bytes()
