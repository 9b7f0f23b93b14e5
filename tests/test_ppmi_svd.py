"""PPMI + truncated SVD: PPMI and the factorisation against answers computed by hand, and a run on
a generated corpus sharing GloVe's cached counts."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from d2l_lab.config.schema import from_dict
from d2l_lab.embeddings.run_vectors import load_run_vectors
from d2l_lab.experiments.ppmi_svd import PPMISVDRunConfig, build_task, ppmi, truncated_svd_vectors
from d2l_lab.runs.runner import RunOptions, execute

from .conftest import d2l, write_topic_corpus
from .doc_pages import table_rows


def test_ppmi_of_a_hand_made_count_matrix():
    """x = [[2, 1], [1, 0]]: N = 4, word counts (3, 1), context counts (3, 1) smoothed to
    (3^a, 1) / (3^a + 1). PMI(0,0) = log(8/9 * (3^a + 1) / 3^a * 3/4) < 0 is clipped to 0;
    PMI(0,1) = log((3^a + 1) / 3) and PMI(1,0) = log(1 + 3^-a)."""
    rows, cols, counts = np.array([0, 0, 1]), np.array([0, 1, 0]), np.array([2.0, 1.0, 1.0])
    a = 0.75
    expected = [0.0, math.log((3 ** a + 1) / 3), math.log(1 + 3 ** -a)]
    np.testing.assert_allclose(ppmi(rows, cols, counts, 2, a), expected, rtol=1e-12, atol=1e-15)
    # Without smoothing PMI is symmetric here: log(4/3) both ways.
    np.testing.assert_allclose(ppmi(rows, cols, counts, 2, 1.0), [0.0, math.log(4 / 3), math.log(4 / 3)], rtol=1e-12)


def low_rank_psd(size: int = 20, singular_values: tuple[float, ...] = (3.0, 2.0, 1.0)) -> torch.Tensor:
    """Q diag(s) Q^T with orthonormal Q: its SVD is known exactly."""
    q, _ = torch.linalg.qr(torch.randn(size, len(singular_values), generator=torch.Generator().manual_seed(0),
                                       dtype=torch.float64))
    return q @ torch.diag(torch.tensor(singular_values, dtype=torch.float64)) @ q.T


def test_symmetric_weighting_reconstructs_an_exact_low_rank_matrix():
    """For M = Q S Q^T of rank 3, W = U S^0.5 at dim 3 gives W W^T = M and leaves nothing out;
    at dim 2 it leaves out exactly s_3^2 / sum s^2 = 1 / 14."""
    matrix = low_rank_psd()
    vectors, left_out = truncated_svd_vectors(matrix.to_sparse(), 3, 0.5, seed=0)
    torch.testing.assert_close(vectors @ vectors.T, matrix, rtol=0, atol=1e-10)
    assert left_out == pytest.approx(0.0, abs=1e-12)
    vectors, left_out = truncated_svd_vectors(matrix.to_sparse(), 2, 1.0, seed=0)
    assert left_out == pytest.approx(1 / 14, rel=1e-9)
    torch.testing.assert_close(vectors.norm(dim=0), torch.tensor([3.0, 2.0], dtype=torch.float64), rtol=1e-9, atol=0)


def run(corpus: Path, out: Path, **ppmi_svd: object) -> Path:
    config = from_dict(PPMISVDRunConfig, {"corpus": str(corpus), "device": "cpu",
                                          "ppmi_svd": {"dim": 8, "window": 3, "min_count": 2, **ppmi_svd}})
    result = execute("ppmi-svd", config, build_task, RunOptions(out_root=out))
    assert result.exit_code == 0
    return Path(result.run_dir)


@pytest.mark.slow
def test_run_shares_glove_counts_and_leaves_an_embedding_run_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("D2L_LAB_CACHE", str(tmp_path / "cache"))
    corpus = write_topic_corpus(tmp_path / "topics.txt", 20, 800, 10)
    run_dir = run(corpus, tmp_path / "out")
    assert {"config.yaml", "command.txt", "metrics.csv", "summary.json", "checkpoint.pt", "vectors.txt",
            "vocab.tsv"} <= {p.name for p in run_dir.iterdir()}
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["final"]["vocab_size"] == 40
    vectors = load_run_vectors(run_dir)
    assert all(w.startswith("cat") for w, _ in vectors.most_similar("cat0", k=10))
    cached = list((tmp_path / "cache" / "cooccurrence").glob("*.entries"))
    assert len(cached) == 1
    # GloVe with the same corpus, min_count and window reads the very same counts.
    from d2l_lab.experiments import glove

    stamp = cached[0].stat().st_mtime_ns
    glove.build_task(from_dict(glove.GloveRunConfig, {"corpus": str(corpus), "device": "cpu", "glove": {
        "window": 3, "min_count": 2}}), torch.device("cpu"))
    assert list((tmp_path / "cache" / "cooccurrence").glob("*.entries")) == cached
    assert cached[0].stat().st_mtime_ns == stamp
    result = d2l("embed", "eval", str(run_dir), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["wordsim353"]["pairs_oov"] == 353


@pytest.mark.slow
def test_ptb_run_gives_the_rho_of_docs_results(tmp_path, monkeypatch):
    """docs/results.md's figures (the model table): the default run on the bundled PTB (seed 0, CPU):
    WordSim-353 rho 0.344, SimLex-999 rho 0.149, analogy accuracy 0.073."""
    monkeypatch.setenv("D2L_LAB_CACHE", str(tmp_path / "cache"))  # counts PTB afresh, as a first run does
    config = from_dict(PPMISVDRunConfig, {"device": "cpu"})
    result = execute("ppmi-svd", config, build_task, RunOptions(out_root=tmp_path))
    assert result.exit_code == 0
    final = result.summary["final"]
    assert (round(final["wordsim353_rho"], 3), round(final["simlex999_rho"], 3),
            round(final["analogy_accuracy"], 3)) == (0.344, 0.149, 0.073)


def test_docs_results_quotes_the_figures_the_ptb_run_is_held_to():
    row = next(r for r in table_rows("results.md", "Word embeddings on PTB") if r[0].startswith("PPMI + SVD"))
    assert (row[3], row[5], row[6]) == ("0.344", "0.149", "0.073"), row


def test_more_dimensions_than_words_is_one_line_exit_2(tmp_path, monkeypatch):
    monkeypatch.setenv("D2L_LAB_CACHE", str(tmp_path / "cache"))
    corpus = write_topic_corpus(tmp_path / "topics.txt", 5, 100, 6)
    result = d2l("run", "ppmi-svd", "--corpus", str(corpus), "--min-count", "1", "--dim", "11",
                 "--out", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    assert "'ppmi_svd.dim' (11) is more than the 10 words" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()
