"""`d2l run glove` end to end on a small generated corpus, with its co-occurrence cache."""

from __future__ import annotations

import json

import pytest

from d2l_lab.embeddings.vector_formats import load_vectors

from .conftest import d2l, only_run_dir, write_topic_corpus


@pytest.mark.slow
def test_glove_run_writes_vectors_and_reuses_the_cooccurrence_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("D2L_LAB_CACHE", str(tmp_path / "cache"))
    corpus = write_topic_corpus(tmp_path / "topics.txt", 20, 800, 10)
    args = ("run", "glove", "--corpus", str(corpus), "--min-count", "2", "--dim", "8", "--window", "3",
            "--epochs", "2", "--batch-size", "1024", "--device", "cpu", "--json")
    first = d2l(*args, "--out", str(tmp_path / "a"))
    assert first.exit_code == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["status"] == "completed" and summary["final"]["vocab_size"] == 40
    cached = list((tmp_path / "cache" / "cooccurrence").glob("*.entries"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    second = d2l(*args, "--lr", "0.05", "--out", str(tmp_path / "b"))
    assert second.exit_code == 0, second.stderr
    assert cached[0].stat().st_mtime_ns == stamp  # the sweep-style re-run did not recount
    run = only_run_dir(tmp_path / "b" / "glove")
    assert len(load_vectors(run / "vectors.txt")) == 40 and (run / "vocab.tsv").exists()
    assert list((tmp_path / "cache" / "cooccurrence").iterdir()) == cached  # no chunk files left
    whole = cached[0].read_bytes()
    cached[0].write_bytes(whole[:-10])  # cut short: counted again, never trained on
    third = d2l(*args, "--out", str(tmp_path / "c"))
    assert third.exit_code == 0, third.stderr
    assert cached[0].read_bytes() == whole
    assert (only_run_dir(tmp_path / "c" / "glove") / "vectors.txt").read_bytes() == \
        (only_run_dir(tmp_path / "a" / "glove") / "vectors.txt").read_bytes()
