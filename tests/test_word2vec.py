"""Word2vec training: hand-written gradients, learning, determinism, resume, config checks."""

import dataclasses

import numpy as np
import pytest
import torch
import yaml

from d2l_lab.config.schema import from_dict, to_dict
from d2l_lab.embeddings.vocab import Vocab
from d2l_lab.embeddings.word2vec import Word2VecTrainer, _Epoch, sgns_gradients
from d2l_lab.embeddings.word2vec_config import Word2VecConfig
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


def test_sgns_gradients_match_autograd():
    torch.manual_seed(0)
    groups, group, shared, dim, weight = 3, 4, 5, 6, 5 / 5
    tensors = [torch.randn(shape, dtype=torch.float64, requires_grad=True)
               for shape in ((groups, group, dim), (groups, group, dim), (groups, shared, dim))]
    mask = torch.ones(groups, group, dtype=torch.float64)
    mask[-1, -2:] = 0
    inputs, targets, noise = tensors
    positive = (inputs * targets).sum(-1)
    negative = inputs @ noise.transpose(1, 2)
    reference = -(torch.nn.functional.logsigmoid(positive)
                  + weight * torch.nn.functional.logsigmoid(-negative).sum(-1)) * mask
    reference.sum().backward()
    loss, *grads = sgns_gradients(*(t.detach() for t in tensors), weight, mask, scale=-0.5)
    assert torch.allclose(loss, reference.detach())
    for grad, tensor in zip(grads, tensors):
        assert torch.allclose(grad, -0.5 * tensor.grad)


@pytest.mark.parametrize("model", ["skipgram", "cbow"])
def test_a_training_step_is_sgd_on_the_batch_loss(model):
    """The whole hand-written step (gathers, shared noise, padding, CBOW mean, scatter of
    repeated rows) equals one SGD step on the batch loss differentiated by autograd. For CBOW
    every context word takes the full step of its example's mean (the C tool's and gensim's
    rule), not the mean's 1/n share of it."""
    cfg = dataclasses.replace(SMALL, model=model, batch_size=64, negative_group=16, shared_negatives=4)
    trainer = make_trainer(cfg, corpus=topic_corpus(sentences=21)[0])
    trainer.input_table.normal_(generator=torch.Generator().manual_seed(1))  # scores far from 0
    trainer.output_table.normal_(generator=torch.Generator().manual_seed(2))
    data = _Epoch(trainer, 0)
    tensors = trainer._to_device(data)
    last = data.batches - 1  # the padded batch
    start, stop = last * cfg.batch_size, data.examples
    pairs = stop - start
    assert pairs % cfg.negative_group, "the test corpus must leave a partial group"
    tables = [trainer.input_table.double().requires_grad_(), trainer.output_table.double().requires_grad_()]
    before = [t.detach().clone() for t in tables]
    w_in, w_out = tables
    if model == "skipgram":
        inputs = w_in[tensors["inputs"][start:stop]]
    else:
        lo, hi = data.member_starts[start], data.member_starts[stop]
        owner = tensors["members"][lo:hi] - start
        sums = torch.zeros(pairs, cfg.dim, dtype=torch.float64).index_add(0, owner, w_in[tensors["inputs"][lo:hi]])
        inputs = sums / torch.bincount(owner, minlength=pairs).unsqueeze(1)
        inputs.retain_grad()
    noise = w_out[tensors["noise"][last][torch.arange(pairs) // cfg.negative_group]]  # [pairs, S, dim]
    weight = cfg.negatives / cfg.shared_negatives
    loss = -(torch.nn.functional.logsigmoid((inputs * w_out[tensors["targets"][start:stop]]).sum(-1)).sum()
             + weight * torch.nn.functional.logsigmoid(-(noise @ inputs.unsqueeze(-1))).sum())
    loss.backward()
    lr = 0.3
    step_loss, examples = trainer._step(tensors, data, last, lr)
    assert examples == pairs
    assert step_loss.item() == pytest.approx(loss.item(), rel=1e-5)
    input_grad = w_in.grad
    if model == "cbow":
        context_ids = tensors["inputs"][lo:hi]
        input_grad = torch.zeros_like(w_in).index_add(0, context_ids, inputs.grad[owner])
    for grad, old, new in zip((input_grad, w_out.grad), before, (trainer.input_table, trainer.output_table)):
        assert torch.allclose(new.double(), old - lr * grad, atol=1e-5)


def topic_margin(trainer, topics):
    vectors = trainer.word_vectors()
    same = np.mean([vectors.similarity(a, b) for t in topics for a in t for b in t if a != b])
    across = np.mean([vectors.similarity(a, b) for a in topics[0] for b in topics[1]])
    return same - across


@pytest.mark.parametrize("model", ["skipgram", "cbow"])
def test_learns_planted_topics_and_loss_decreases(model):
    corpus, topics = topic_corpus()
    trainer = make_trainer(dataclasses.replace(SMALL, model=model, epochs=4), corpus=corpus)
    losses = [trainer.train_epoch(epoch)["loss"] for epoch in range(4)]
    assert losses[-1] < losses[0]
    assert topic_margin(trainer, topics) > 0.5  # same-topic cosine minus cross-topic cosine


def test_epoch_metrics_and_progress_callback(monkeypatch):
    import d2l_lab.embeddings.word2vec as word2vec

    monkeypatch.setattr(word2vec, "REPORT_EVERY", 2)
    trainer = make_trainer(dataclasses.replace(SMALL, batch_size=128))
    calls = []
    metrics = trainer.train_epoch(0, on_batch=lambda done, loss: calls.append((done, loss)))
    batches = trainer.batches_this_epoch
    assert [done for done, _ in calls] == sorted({*range(2, batches + 1, 2), batches})
    assert all(np.isfinite(loss) and loss > 0 for _, loss in calls)
    assert metrics["pairs"] > 0 and metrics["tokens"] == 600 * 8
    assert np.isfinite(metrics["loss"]) and metrics["raw_words_per_s"] > 0
    with pytest.raises(ValueError, match="in order"):
        trainer.train_epoch(2)


def test_same_seed_same_vectors_and_other_seed_differs():
    runs = []
    for seed in (0, 0, 1):
        trainer = make_trainer(seed=seed)
        trainer.train_epoch(0)
        runs.append(trainer.input_vectors())
    assert runs[0].dtype == np.float32 and runs[0].shape == (24, 16)
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


@pytest.mark.parametrize("model", ["skipgram", "cbow"])
def test_resume_from_a_checkpoint_repeats_the_run_exactly(model, tmp_path):
    cfg = dataclasses.replace(SMALL, model=model)
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


def test_state_of_another_shape_is_refused():
    state = make_trainer().state_dict()
    with pytest.raises(ValueError, match="state is for"):
        make_trainer(dataclasses.replace(SMALL, dim=8)).load_state_dict(state)


def test_learning_rate_schedules():
    trainer = make_trainer(dataclasses.replace(SMALL, lr=0.2, epochs=4, min_lr_ratio=0.01))
    assert trainer.learning_rate(0) == pytest.approx(0.2)
    assert trainer.learning_rate(2) == pytest.approx(0.1)
    assert trainer.learning_rate(4) == pytest.approx(0.002)  # the floor
    constant = make_trainer(dataclasses.replace(SMALL, lr=0.2, lr_schedule="constant"))
    assert constant.learning_rate(2.5) == 0.2


def test_probe_reports_neighbours_of_known_probe_words():
    corpus, topics = topic_corpus()
    trainer = make_trainer(dataclasses.replace(SMALL, probe_words=("sun0", "nowhere")), corpus=corpus)
    trainer.train_epoch(0)
    probe = trainer.probe(k=2)
    assert list(probe) == ["sun0"] and len(probe["sun0"]) == 2


def test_default_preset_file_is_the_config_default():
    from pathlib import Path

    preset = Path(__file__).resolve().parents[1] / "configs" / "word2vec" / "default.yaml"
    assert from_dict(Word2VecConfig, yaml.safe_load(preset.read_text())["word2vec"]) == Word2VecConfig()
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
