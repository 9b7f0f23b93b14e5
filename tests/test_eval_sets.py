"""The evaluation sets are one table (`embeddings.eval_sets.EVAL_SETS`): a row added there is
scored by `d2l embed eval`, becomes a run's final metric and a column of `runs compare` and the
report, with nothing else to wire."""

from __future__ import annotations

import json

import pytest

from d2l_lab.embeddings import eval_sets
from d2l_lab.embeddings.eval_sets import EvalSet
from d2l_lab.experiments.registry import catalog_experiments
from d2l_lab.runs import compare
from d2l_lab.runs.catalog import select

from .conftest import d2l, run_on_corpus, write_topic_corpus

TINY = EvalSet("tiny", lambda: (("cat0", "cat1", 9.0), ("cat0", "dog0", 0.5), ("dog0", "dog1", 8.0),
                                ("cat1", "dog1", 1.0), ("cat0", "unknownword", 5.0)),
               "similarity", "tiny_agreement")
"""A made-up similarity set over the topic corpus's words; its metric's name says no direction,
so only the row can give it one."""


def test_the_bundled_sets_keep_their_names():
    assert [(s.name, s.kind, s.metric, s.direction) for s in eval_sets.EVAL_SETS] == [
        ("wordsim353", "similarity", "wordsim353_rho", "higher"),
        ("simlex999", "similarity", "simlex999_rho", "higher"),
        ("google_analogy", "analogy", "analogy_accuracy", "higher"),
        ("men3k", "similarity", "men3k_rho", "higher"),
        ("rw", "similarity", "rw_rho", "higher"),
        ("simverb3500", "similarity", "simverb3500_rho", "higher"),
        ("mturk771", "similarity", "mturk771_rho", "higher"),
        ("bats3", "analogy", "bats3_accuracy", "higher")]
    assert [s.name for s in eval_sets.DEFAULT_SETS] == ["wordsim353", "simlex999", "google_analogy"]
    assert eval_sets.EVERY_EPOCH in eval_sets.DEFAULT_SETS


@pytest.mark.slow
def test_an_added_row_is_evaluated_reported_and_compared(tmp_path, monkeypatch):
    monkeypatch.setenv("D2L_LAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(eval_sets, "EVAL_SETS", (*eval_sets.EVAL_SETS, TINY))
    monkeypatch.setattr(eval_sets, "DEFAULT_SETS", (*eval_sets.DEFAULT_SETS, TINY))
    assert compare.direction("tiny_agreement") == "higher"
    corpus = write_topic_corpus(tmp_path / "topics.txt", 10, 400, 8)
    out = tmp_path / "out"
    run = run_on_corpus("ppmi-svd", corpus, out, "--dim", "4", "--window", "3", "--min-count", "2", "--quiet")

    summary = json.loads((run / "summary.json").read_text())
    assert isinstance(summary["final"]["tiny_agreement"], float)
    assert list(summary["final"])[-2:] == ["tiny_agreement", "vocab_size"]
    assert summary["notes"]["evaluation"]["tiny"]["pairs_used"] == 4

    evaluated = d2l("embed", "eval", str(run), "--json")
    assert evaluated.exit_code == 0, evaluated.stderr
    result = json.loads(evaluated.stdout)
    assert list(result) == ["protocol", "wordsim353", "simlex999", "google_analogy", "tiny"]
    assert result["tiny"] == {"rho": summary["final"]["tiny_agreement"], "pairs_used": 4, "pairs_oov": 1,
                              "pairs_total": 5, "oov_ratio": 20.0}
    assert "tiny: rho" in d2l("embed", "eval", str(run)).stdout

    selected = select([run.name], out, catalog_experiments())
    curve = compare.Curve(selected[0], "progress", [], [], [summary["final"]["tiny_agreement"]])
    columns, rows = compare.table([compare.Group("ppmi", [curve])], "tiny_agreement")
    assert columns[3:5] == ["final tiny_agreement", "best tiny_agreement (higher)"]
    assert rows[0][3] == compare.cell(summary["final"]["tiny_agreement"])

    page = tmp_path / "report.md"
    assert d2l("report", run.name, "-o", str(page), "--out", str(out)).exit_code == 0
    header = next(line for line in page.read_text().splitlines() if line.startswith("| run |"))
    assert "| loss | tiny\\_agreement | epochs |" in header  # scored first (the bundled sets' are null here)
