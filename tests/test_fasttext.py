"""fastText: the subword step against autograd, vectors of seen and unseen words, resume,
config checks, and `d2l run fasttext` / `d2l embed similar` end to end on generated corpora."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from d2l_lab.config.schema import from_dict
from d2l_lab.embeddings.fasttext import config as fasttext
from d2l_lab.embeddings.fasttext.config import FastTextConfig
from d2l_lab.embeddings.fasttext.trainer import FastTextTrainer
from d2l_lab.embeddings.sampling import context_pairs
from d2l_lab.embeddings.subwords import COMBINES, SubwordScheme
from d2l_lab.embeddings.vector_formats import load_vectors
from d2l_lab.embeddings.word2vec.examples import PairsOfCentre
from d2l_lab.embeddings.word2vec.rows import add_owners_steps, sorted_with_positions
from d2l_lab.errors import UserError
from d2l_lab.experiments import embedding_task

from .conftest import d2l, only_run_dir, run_on_corpus

CPU = torch.device("cpu")
SUFFIXES = ["beam", "dial", "rise", "spot", "lamp", "fold", "kind", "wave", "glow", "path", "mark", "tone"]
SMALL = FastTextConfig(dim=16, window=3, min_count=1, subsample=0.0, epochs=3, batch_size=256,
                       negative_group=16, shared_negatives=8, lr=0.02, threads=1)


def prefix_corpus(sentences=600, length=8, seed=0):
    """Two topics, "sun*" and "ice*" words, with the same suffixes: only the prefix n-grams
    tell the topics apart, so an unseen "sun*" word can only be placed by its subwords."""
    rng = np.random.default_rng(seed)
    topics = [[prefix + suffix for suffix in SUFFIXES] for prefix in ("sun", "ice")]
    return [list(rng.choice(topics[rng.integers(2)], size=length)) for _ in range(sentences)], topics


def make_trainer(cfg=SMALL, seed=0, corpus=None):
    return FastTextTrainer.from_sentences(corpus or prefix_corpus()[0], cfg, seed, CPU)


@pytest.mark.parametrize("combine", ["mean", "sum"])
def test_a_step_is_fasttexts_update_of_the_combined_input(combine):
    """One step (shared noise, padding, repeated centre words and rows) against autograd.

    sum: plain SGD on the batch loss. mean: fastText's update, where every row of a word takes
    the full step of the word's mean vector, i.e. SGD on sum_p n_p L_p for the input rows
    (n_p: rows of pair p's centre word) and on sum_p L_p for the output rows."""
    cfg = dataclasses.replace(SMALL, combine=combine, batch_size=64, shared_negatives=4)
    trainer = make_trainer(cfg, corpus=prefix_corpus(sentences=21)[0])
    trainer.table.normal_(generator=torch.Generator().manual_seed(1)).mul_(0.5)
    trainer.output_table.normal_(generator=torch.Generator().manual_seed(2)).mul_(0.5)
    data = trainer.draw_chunk(0, 0)
    last = data.batches - 1
    start, stop = last * cfg.batch_size, data.targets.numel()
    assert (stop - start) % cfg.negative_group, "the test corpus must leave a partial group"
    table, out = (t.double().requires_grad_() for t in (trainer.table, trainer.output_table))
    before = [t.detach().clone() for t in (table, out)]
    bags = [trainer._rows[trainer._starts[w]:trainer._starts[w + 1]] for w in data.words[start:stop].tolist()]
    inputs = torch.stack([table[rows].mean(0) if combine == "mean" else table[rows].sum(0) for rows in bags])
    noise = out[data.draws[last][torch.arange(stop - start) // cfg.negative_group]]
    weight = cfg.negatives / cfg.shared_negatives
    losses = -(torch.nn.functional.logsigmoid((inputs * out[data.targets[start:stop]]).sum(-1))
               + weight * torch.nn.functional.logsigmoid(-(noise @ inputs.unsqueeze(-1))).squeeze(-1).sum(-1))
    rows_per_pair = torch.tensor([float(len(rows)) for rows in bags], dtype=torch.float64)
    row_weights = rows_per_pair if combine == "mean" else torch.ones_like(rows_per_pair)
    (table_grad,) = torch.autograd.grad((losses * row_weights).sum(), table, retain_graph=True)
    (out_grad,) = torch.autograd.grad(losses.sum(), out)
    lr = 0.3
    step_loss, examples = trainer.step(data, last, lr)
    assert examples == stop - start
    assert step_loss.item() == pytest.approx(losses.sum().item(), rel=1e-5)
    assert torch.allclose(trainer.table.double(), before[0] - lr * table_grad, atol=1e-5)
    assert torch.allclose(trainer.output_table.double(), before[1] - lr * out_grad, atol=1e-5)
    assert trainer.input_table.data_ptr() == trainer.table.data_ptr()  # still the word rows of `table`


@pytest.mark.parametrize("run", [64, 100])
def test_a_centres_contexts_lie_in_one_run_of_pairs_shuffled_inside_it(run):
    """fastText's layout holds every (centre, context) pair once, a centre's contexts in one run of
    `run` pairs (but for the centres cut by a run's ends) and in random order inside it."""
    ids = np.arange(3000)  # every position its own word: a pair's word names its centre
    offsets = np.arange(0, ids.size + 1, 30)
    centres, contexts, _ = context_pairs(ids, offsets, 5, np.random.default_rng(0))
    pairs = PairsOfCentre(ids, offsets, 5, 256, np.random.default_rng(0), CPU, run=run)
    words, targets = pairs.words.numpy(), pairs.targets.numpy()
    assert sorted(zip(words, targets)) == sorted(zip(centres, contexts))
    runs = np.arange(words.size) // run
    first_run = np.full(ids.size, runs[-1] + 1)
    np.minimum.at(first_run, words, runs)
    last_run = np.zeros(ids.size, dtype=np.int64)
    np.maximum.at(last_run, words, runs)
    cut = last_run > first_run
    assert np.all(last_run[cut] - first_run[cut] == 1) and cut.sum() <= runs[-1]
    assert np.mean(words[1:] == words[:-1]) < 0.1  # in centre order, most neighbours share a centre


def test_each_row_takes_the_summed_steps_of_its_owners():
    generator = torch.Generator().manual_seed(0)
    table = torch.randn(50, 4, generator=generator, dtype=torch.float64)
    rows = torch.randint(0, 50, (300,), generator=generator)
    owners = torch.randint(0, 20, (300,), generator=generator)
    steps = torch.randn(20, 4, generator=generator, dtype=torch.float64)
    expected = table.clone()
    for row, owner in zip(rows.tolist(), owners.tolist()):
        expected[row] += steps[owner]
    add_owners_steps(table, rows, owners, steps)
    assert torch.allclose(table, expected)


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 5, 255, 256, 257, 4097])
@pytest.mark.parametrize("high", [1, 3, 2_000_000])
def test_sorted_with_positions_is_a_stable_sort(size, high):
    """Every size (the keys' position bits change at powers of two) and many or few ties."""
    values = torch.randint(0, high, (size,), generator=torch.Generator().manual_seed(size))
    expected = torch.sort(values, stable=True)
    assert all(map(torch.equal, sorted_with_positions(values), (expected.values, expected.indices)))


def ngram_table_rows(trainer, word):
    """Rows of `trainer.table` holding the word's n-grams, None for buckets never trained."""
    scheme = SubwordScheme(0, trainer.cfg.buckets, trainer.cfg.min_n, trainer.cfg.max_n)
    rows = []
    for bucket in scheme.ngram_ids(word):
        where = np.searchsorted(trainer.bucket_ids, bucket)
        known = where < trainer.bucket_ids.size and trainer.bucket_ids[where] == bucket
        rows.append(len(trainer.vocab) + int(where) if known else None)
    return rows


@pytest.mark.parametrize("combine", ["mean", "sum"])
def test_vectors_combine_the_rows_and_unseen_words_use_only_their_ngram_rows(combine):
    trainer = make_trainer(dataclasses.replace(SMALL, combine=combine, epochs=1))
    trainer.train_epoch(0)
    vectors = trainer.word_vectors()
    table = trainer.table.numpy()
    reduce = np.mean if combine == "mean" else np.sum
    word = "sunbeam"
    expected = reduce(table[[trainer.vocab.index[word], *ngram_table_rows(trainer, word)]], axis=0)
    np.testing.assert_allclose(vectors.vector(word), expected, rtol=1e-5, atol=1e-7)
    unseen = "sunzork"
    assert unseen not in vectors
    rows = ngram_table_rows(trainer, unseen)
    assert any(r is not None for r in rows) and None in rows  # "<sun" was trained, "zork" never
    expected = table[[r for r in rows if r is not None]].sum(axis=0) / (len(rows) if combine == "mean" else 1)
    np.testing.assert_allclose(vectors.vector(unseen), expected, rtol=1e-5, atol=1e-7)


def test_unseen_word_lands_among_the_words_sharing_its_ngrams():
    corpus, (sun, ice) = prefix_corpus()
    trainer = make_trainer(corpus=corpus)
    for epoch in range(SMALL.epochs):
        trainer.train_epoch(epoch)
    vectors = trainer.word_vectors()
    for unseen, relatives, others in (("sunzork", sun, ice), ("icezork", ice, sun)):
        assert unseen not in vectors
        assert all(w in relatives for w, _ in vectors.most_similar(unseen, k=5))
        near = np.mean([vectors.similarity(unseen, w) for w in relatives])
        far = np.mean([vectors.similarity(unseen, w) for w in others])
        assert near - far > 0.5, (near, far)


@pytest.mark.slow
def test_resume_from_a_state_dict_equals_uninterrupted_training(tmp_path):
    full = make_trainer()
    for epoch in range(3):
        full.train_epoch(epoch)
    first = make_trainer()
    first.train_epoch(0)
    torch.save(first.state_dict(), tmp_path / "state.pt")
    resumed = make_trainer()
    resumed.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    for epoch in (1, 2):
        resumed.train_epoch(epoch)
    assert torch.equal(resumed.table, full.table) and torch.equal(resumed.output_table, full.output_table)
    with pytest.raises(ValueError, match="fastText state"):
        make_trainer(dataclasses.replace(SMALL, max_n=5)).load_state_dict(full.state_dict())


def test_config_offers_the_combiners_the_subword_tables_implement():
    assert fasttext.COMBINES == COMBINES


@pytest.mark.parametrize("bad", [
    {"min_n": 4, "max_n": 3}, {"buckets": 0}, {"min_n": 0}, {"combine": "max"}, {"model": "cbow"},
])
def test_config_rejects_bad_values(bad):
    with pytest.raises(UserError):
        from_dict(FastTextConfig, bad)


# End to end, through the CLI.

TINY = ["--epochs", "3", "--min-count", "2", "--subsample", "0", "--dim", "16", "--batch-size", "512",
        "--lr", "0.01", "--device", "cpu", "--quiet", "--set", "fasttext.threads=1"]


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    corpus, _ = prefix_corpus(sentences=800, length=10)
    path = tmp_path_factory.mktemp("corpus") / "prefixes.txt"
    path.write_text("\n".join(" ".join(s) for s in corpus) + "\n")
    return path


def run_fasttext(corpus, out, *extra):
    return run_on_corpus("fasttext", corpus, out, *TINY, *extra)


@pytest.mark.slow
def test_run_dir_is_complete_and_embed_similar_answers_unseen_words(corpus_file, tmp_path):
    run = run_fasttext(corpus_file, tmp_path)
    assert {"config.yaml", "command.txt", "metrics.csv", "summary.json", "loss.png", "checkpoint.pt",
            "vectors.txt", "vocab.tsv", "subwords.npz"} <= {p.name for p in run.iterdir()}
    assert len(load_vectors(run / "vectors.txt")) == 24
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and "wordsim353_rho" in summary["final"]
    assert "sunzork" not in corpus_file.read_text().split()
    result = d2l("embed", "similar", str(run), "sunzork", "-k", "3", "--json")
    assert result.exit_code == 0, result.stderr
    assert all(word.startswith("sun") for word, _ in json.loads(result.stdout)["sunzork"])
    result = d2l("embed", "similar", str(run), "qqq")
    assert result.exit_code == 2 and "none of its character 3-6-grams" in result.stderr


@pytest.mark.slow
def test_interrupted_run_resumed_equals_uninterrupted(corpus_file, tmp_path, monkeypatch):
    full = run_fasttext(corpus_file, tmp_path / "full")
    train_step = embedding_task.EmbeddingTask.train_step

    def stop_before_epoch_3(task, step):
        if step == 3:
            raise KeyboardInterrupt
        return train_step(task, step)

    monkeypatch.setattr(embedding_task.EmbeddingTask, "train_step", stop_before_epoch_3)
    result = d2l("run", "fasttext", "--corpus", str(corpus_file), *TINY, "--out", str(tmp_path / "cut"))
    assert result.exit_code == 130
    monkeypatch.setattr(embedding_task.EmbeddingTask, "train_step", train_step)
    cut = only_run_dir(tmp_path / "cut" / "fasttext")
    assert not (cut / "vectors.txt").exists()
    result = d2l("run", "fasttext", "--resume", str(cut), "--quiet")
    assert result.exit_code == 0, result.stderr
    assert (cut / "vectors.txt").read_bytes() == (full / "vectors.txt").read_bytes()
    with np.load(cut / "subwords.npz") as resumed, np.load(full / "subwords.npz") as uninterrupted:
        for key in uninterrupted.files:
            np.testing.assert_array_equal(resumed[key], uninterrupted[key])


@pytest.mark.parametrize(("args", "message"), [
    (["--min-n", "4", "--max-n", "3"], "'min_n' (4) must be <= 'max_n' (3)"),
    (["--buckets", "0"], "--buckets must be >= 1"),
    (["--set", "fasttext.combine=max"], "must be one of mean, sum"),
])
def test_bad_fasttext_input_is_one_line_exit_2(tmp_path, args, message):
    result = d2l("run", "fasttext", *args, "--out", str(tmp_path))
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_workers_off_the_cpu_are_refused_by_fasttexts_own_key():
    with pytest.raises(UserError, match=r"^fasttext\.workers=2 trains on the CPU only \(device meta\)"):
        FastTextTrainer.from_sentences(prefix_corpus()[0], dataclasses.replace(SMALL, workers=2), 0,
                                       torch.device("meta"))
