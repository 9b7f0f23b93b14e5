"""Word2vec training: learning, determinism, resume, config checks (its steps against the book's
model: `test_reference.py`)."""

import dataclasses

import numpy as np
import pytest
import torch

from d2l_lab.config.schema import from_dict, to_dict
from d2l_lab.embeddings.vocab import Vocab
from d2l_lab.embeddings.word2vec.config import Word2VecConfig
from d2l_lab.embeddings.word2vec.objectives import OBJECTIVES
from d2l_lab.embeddings.word2vec.trainer import Word2VecTrainer
from d2l_lab.errors import UserError

CPU = torch.device("cpu")
# Every word of a 24-word corpus occurs dozens of times per batch, and each row's step sums
# them all: such tiny vocabularies need a lower learning rate than PTB's 0.05 (0.1 diverges).
SMALL = Word2VecConfig(dim=16, window=3, min_count=1, subsample=0.0, epochs=3, batch_size=256,
                       negative_group=16, shared_negatives=8, lr=0.04, threads=1)


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """Trainers set the process's torch threads; leave other test files the default."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def topic_corpus(sentences=600, length=8, words_per_topic=12, seed=0):
    """Two topics: each sentence uses the words of one topic only, so skip-gram must learn
    that same-topic words are similar."""
    rng = np.random.default_rng(seed)
    topics = [[f"{name}{i}" for i in range(words_per_topic)] for name in ("sun", "ice")]
    corpus = [list(rng.choice(topics[rng.integers(2)], size=length)) for _ in range(sentences)]
    return corpus, topics


def make_trainer(cfg=SMALL, seed=0, corpus=None):
    return Word2VecTrainer.from_sentences(corpus or topic_corpus()[0], cfg, seed, CPU)


def topic_margin(trainer, topics):
    vectors = trainer.word_vectors()
    same = np.mean([vectors.similarity(a, b) for t in topics for a in t for b in t if a != b])
    across = np.mean([vectors.similarity(a, b) for a in topics[0] for b in topics[1]])
    return same - across


@pytest.mark.parametrize("loss", list(OBJECTIVES))
@pytest.mark.parametrize("model", ["skipgram", "cbow"])
def test_learns_planted_topics_and_loss_decreases(model, loss):
    corpus, topics = topic_corpus()
    trainer = make_trainer(dataclasses.replace(SMALL, model=model, loss=loss, epochs=4), corpus=corpus)
    losses = [trainer.train_epoch(epoch)["loss"] for epoch in range(4)]
    assert losses[-1] < losses[0]
    assert topic_margin(trainer, topics) > 0.5  # same-topic cosine minus cross-topic cosine


def test_epoch_metrics_and_progress_callback(monkeypatch):
    import d2l_lab.embeddings.epochs as parts

    monkeypatch.setattr(parts, "REPORT_EVERY", 2)
    trainer = make_trainer(dataclasses.replace(SMALL, batch_size=128))
    positions = []
    metrics = trainer.train_epoch(0, on_batch=lambda position, loss: positions.append((position, loss)))
    batches = trainer.batches_this_epoch
    # One chunk: the batch ending at position p (in epochs) is batch p * batches of the epoch.
    calls = [(round(position * batches), loss) for position, loss in positions]
    assert [position for position, _ in positions] == pytest.approx([done / batches for done, _ in calls], abs=1e-12)
    assert [done for done, _ in calls] == sorted({*range(2, batches + 1, 2), batches})
    assert positions[-1][0] == 1.0 and metrics["position"] == 1.0
    # Each call reports the mean over its batches' pairs, so the epoch loss is their weighted mean.
    pairs = make_trainer(dataclasses.replace(SMALL, batch_size=128)).draw_chunk(0, 0).counts["pairs"]
    assert metrics["pairs"] == pairs and metrics["tokens"] == 600 * 8
    sizes = [min(done * 128, pairs) - min(previous * 128, pairs)
             for previous, done in zip([0, *(d for d, _ in calls)], (d for d, _ in calls))]
    assert metrics["loss"] == pytest.approx(np.dot(sizes, [loss for _, loss in calls]) / pairs, rel=1e-9)
    with pytest.raises(ValueError, match="in order"):
        trainer.train_epoch(2)


def test_a_curve_point_never_covers_only_a_handful_of_batches():
    """Every 50 batches and after the epoch's last, a regular point skipped when fewer than 25
    batches would follow it; with the batches left unknown (a chunk before the epoch's last),
    every 50."""
    from d2l_lab.embeddings.epochs import REPORT_EVERY, report_due

    assert REPORT_EVERY == 50

    def points(batches):
        return [done for done in range(1, batches + 1) if report_due(done, batches - done)]

    assert points(110) == [50, 110]
    assert points(125) == [50, 100, 125]
    assert points(100) == [50, 100]
    assert points(20) == [20]
    assert [done for done in range(1, 120) if report_due(done, None)] == [50, 100]


def test_same_seed_same_vectors_and_other_seed_differs():
    runs = []
    for seed in (0, 0, 1):
        trainer = make_trainer(seed=seed)
        trainer.train_epoch(0)
        runs.append(trainer.input_vectors())
    assert runs[0].dtype == np.float32 and runs[0].shape == (24, 16)
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


@pytest.mark.parametrize("loss", list(OBJECTIVES))
@pytest.mark.parametrize("model", ["skipgram", "cbow"])
def test_resume_from_a_checkpoint_repeats_the_run_exactly(model, loss, tmp_path):
    cfg = dataclasses.replace(SMALL, model=model, loss=loss)
    straight = make_trainer(cfg)
    for epoch in range(2):
        straight.train_epoch(epoch)

    first = make_trainer(cfg)
    first.train_epoch(0)
    torch.save(first.state_dict(), tmp_path / "state.pt")
    resumed = make_trainer(cfg)
    resumed.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    resumed.train_epoch(1)
    assert np.array_equal(resumed.input_vectors(), straight.input_vectors())
    assert resumed.state_dict()["epochs_done"] == 2


@pytest.mark.parametrize("other", [{"dim": 8}, {"loss": "hs"}])
def test_state_of_another_model_is_refused(other):
    state = make_trainer().state_dict()
    with pytest.raises(ValueError, match="state is for"):
        make_trainer(dataclasses.replace(SMALL, **other)).load_state_dict(state)


def test_learning_rate_schedules():
    trainer = make_trainer(dataclasses.replace(SMALL, lr=0.2, epochs=4, min_lr_ratio=0.01))
    assert trainer.learning_rate(0) == pytest.approx(0.2)
    assert trainer.learning_rate(2) == pytest.approx(0.1)
    assert trainer.learning_rate(4) == pytest.approx(0.002)  # the floor
    constant = make_trainer(dataclasses.replace(SMALL, lr=0.2, lr_schedule="constant"))
    assert constant.learning_rate(2.5) == 0.2


def test_config_round_trips_through_its_dict():
    assert from_dict(Word2VecConfig, to_dict(Word2VecConfig())) == Word2VecConfig()


@pytest.mark.parametrize("bad", [
    {"model": "skipgrm"}, {"dim": 0}, {"window": 0}, {"negatives": 0}, {"lr": 0},
    {"lr": -0.1}, {"subsample": -1e-4}, {"epochs": 0}, {"lr_schedule": "cosine"},
    {"min_lr_ratio": 2}, {"threads": 0}, {"batch_size": 1000, "negative_group": 32},
    {"negative": 5}, {"dim": 1.5}, {"probe_words": "chip"},
])
def test_config_rejects_bad_values(bad):
    with pytest.raises(UserError):
        from_dict(Word2VecConfig, bad)


def test_vocabulary_built_by_the_trainer_respects_min_count():
    corpus = [["a", "a", "b"], ["a", "c", "c"]]
    trainer = Word2VecTrainer.from_sentences(corpus, dataclasses.replace(SMALL, min_count=2), 0, CPU)
    assert trainer.vocab.words == ["a", "c"]
    assert isinstance(trainer.vocab, Vocab)


def test_a_batch_step_never_branches_on_the_loss():
    """The trainer builds its objective once (`objectives.OBJECTIVES`); the step of the trainer,
    of its layouts and of every objective reads neither the config's loss nor a loss's name."""
    import ast
    import inspect

    from d2l_lab.embeddings.word2vec import examples

    steps = [Word2VecTrainer.step, *(spec.objective_class().step for spec in OBJECTIVES.values()),
             *(cls.inputs for cls in (examples.Pairs, examples.ContextMeans, examples.ContextsOfCentre))]
    for function in steps:
        tree = ast.parse(inspect.cleandoc("\n" + inspect.getsource(function)))
        names = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)}
        attributes = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
        assert not names & set(OBJECTIVES) and "loss" not in attributes, function.__qualname__
