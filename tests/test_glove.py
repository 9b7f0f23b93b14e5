"""GloVe trainer: weighting, hand-written gradients and sparse AdaGrad, fitting, reproducibility."""

from __future__ import annotations

import dataclasses
import io
import math

import numpy as np
import pytest
import torch

from d2l_lab.config.schema import from_dict
from d2l_lab.embeddings.cooccurrence import Cooccurrences, count_cooccurrences
from d2l_lab.embeddings.epochs import REPORT_EVERY
from d2l_lab.embeddings.glove import trainer as glove
from d2l_lab.embeddings.glove.config import GloveConfig
from d2l_lab.embeddings.glove.trainer import (
    GloveTrainer,
    glove_gradients,
    glove_loss,
    weighting,
)
from d2l_lab.errors import UserError

CPU = torch.device("cpu")


def toy_cooccurrences(vocab_size: int = 40, seed: int = 0) -> Cooccurrences:
    rng = np.random.default_rng(seed)
    ids = np.minimum(rng.zipf(1.3, size=3000) - 1, vocab_size - 1)  # frequent words, like text
    offsets = np.arange(0, ids.size + 1, 20)
    return count_cooccurrences(ids, offsets, vocab_size, window=5)


def trainer(cooc: Cooccurrences, seed: int = 0, **overrides) -> GloveTrainer:
    cfg = dataclasses.replace(GloveConfig(dim=8, batch_size=256, lr=0.1), **overrides)
    return GloveTrainer(cooc, [f"w{i}" for i in range(cooc.vocab_size)], cfg, seed, CPU)


def test_weighting_function():
    x_max, alpha = 100.0, 0.75
    x = np.array([0.0, x_max / 2, x_max, 10 * x_max])
    expected = [0.0, 0.5 ** 0.75, 1.0, 1.0]
    np.testing.assert_allclose(weighting(x, x_max, alpha), expected)
    np.testing.assert_allclose(weighting(torch.tensor(x), x_max, alpha).numpy(), expected)
    assert weighting(np.array([1e-3]), x_max, 1.0) == pytest.approx(1e-5)


def test_hand_written_gradients_match_autograd():
    gen = torch.Generator().manual_seed(0)
    center = torch.randn(7, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    context = torch.randn(7, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    log_x = torch.randn(7, generator=gen, dtype=torch.float64)
    weight = torch.rand(7, generator=gen, dtype=torch.float64)
    loss = glove_loss(center, context, log_x, weight)
    loss.backward()
    with torch.no_grad():
        hand_loss, grad_center, grad_context = glove_gradients(center, context, log_x, weight)
    assert float(hand_loss) == pytest.approx(loss.item(), rel=1e-12)
    torch.testing.assert_close(grad_center, center.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad_context, context.grad, rtol=1e-12, atol=1e-12)


@pytest.mark.slow
def test_sparse_update_equals_dense_adagrad():
    """One batch holding every entry (rows repeat) must move the tables as torch's dense AdaGrad
    on the full-table loss does (in the GloVe tool's form: accumulators start at 1 and add
    (lr g)^2, i.e. lr 1 and initial accumulator 1/lr^2): repeats summed, other rows untouched."""
    cooc = toy_cooccurrences(vocab_size=12)
    t = trainer(cooc, batch_size=cooc.nnz, lr=0.3)
    center = t.center.clone().double().requires_grad_()
    context = t.context.clone().double().requires_grad_()
    optimizer = torch.optim.Adagrad([center, context], lr=1.0, initial_accumulator_value=1 / 0.3**2, eps=0.0)
    rows, cols = torch.from_numpy(cooc.rows), torch.from_numpy(cooc.cols)
    log_x = torch.from_numpy(np.log(cooc.values))
    weight = torch.from_numpy(weighting(cooc.values, 100.0, 0.75))
    glove_loss(center[rows], context[cols], log_x, weight).backward()
    optimizer.step()
    t.train_epoch(0)
    torch.testing.assert_close(t.center.double(), center.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(t.context.double(), context.detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_loss_decreases():
    t = trainer(toy_cooccurrences())
    losses = [t.train_epoch(epoch)["loss"] for epoch in range(15)]
    assert all(math.isfinite(loss) for loss in losses)
    assert losses[-1] < 0.3 * losses[0]
    assert losses[-1] <= min(losses[:-1]) * 1.05


def test_fits_an_exactly_factorizable_matrix():
    """log x = W C^T + b + c with 2-D vectors: GloVe with dim 2 must recover it closely."""
    rng = np.random.default_rng(0)
    size, dim = 6, 2
    log_x = (rng.normal(size=(size, dim)) @ rng.normal(size=(dim, size))
             + 0.5 * rng.normal(size=(size, 1)) + 0.5 * rng.normal(size=(1, size)) + 2)
    rows, cols = np.divmod(np.arange(size * size), size)
    cooc = Cooccurrences(rows, cols, np.exp(log_x).ravel(), size)
    t = trainer(cooc, dim=dim, x_max=1.0, lr=0.3, batch_size=size * size)
    for epoch in range(500):
        t.train_epoch(epoch)
    center, context = t.center.double(), t.context.double()
    fitted = center[:, :-1] @ context[:, :-1].T + center[:, -1:] + context[:, -1][None, :]
    assert np.abs(fitted.numpy() - log_x).max() < 0.02


def test_train_epoch_reports_and_calls_back_rarely():
    cooc = toy_cooccurrences()
    t = trainer(cooc, batch_size=4)
    positions = []
    stats = t.train_epoch(0, on_batch=lambda position, loss: positions.append((position, loss)))
    batches = math.ceil(cooc.nnz / 4)
    calls = [(round(position * batches), loss) for position, loss in positions]  # the batch ending there
    assert [position for position, _ in positions] == [b / batches for b, _ in calls]
    # Every REPORT_EVERY (50) batches and after the last, but 250 would leave a point over 9 batches.
    assert REPORT_EVERY == 50 and batches == 259
    assert [b for b, _ in calls] == [50, 100, 150, 200, 259]
    # Each call reports the mean over its batches' entries, so the epoch loss is their weighted mean.
    sizes = [min(b * 4, cooc.nnz) - min(previous * 4, cooc.nnz)
             for previous, b in zip([0, *(b for b, _ in calls)], (b for b, _ in calls))]
    assert stats["loss"] == pytest.approx(np.dot(sizes, [loss for _, loss in calls]) / cooc.nnz, rel=1e-9)
    assert stats["entries"] == cooc.nnz and stats["lr"] == 0.1


def test_vectors_are_center_plus_context():
    t = trainer(toy_cooccurrences())
    t.train_epoch(0)
    vectors = t.vectors()
    assert vectors.dtype == np.float32 and vectors.shape == (40, 8)
    np.testing.assert_array_equal(vectors, (t.center[:, :-1] + t.context[:, :-1]).numpy())


def test_deterministic_given_seed():
    cooc = toy_cooccurrences()
    runs = []
    for seed in (3, 3, 4):
        t = trainer(cooc, seed=seed)
        for epoch in (0, 1):
            t.train_epoch(epoch)
        runs.append(t.vectors())
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_resume_equals_uninterrupted():
    cooc = toy_cooccurrences()
    straight = trainer(cooc, seed=7)
    for epoch in (0, 1, 2):
        straight.train_epoch(epoch)

    first = trainer(cooc, seed=7)
    first.train_epoch(0)
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    resumed = trainer(cooc, seed=7)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    for epoch in (1, 2):
        resumed.train_epoch(epoch)
    assert torch.equal(resumed.center, straight.center) and torch.equal(resumed.context, straight.context)
    np.testing.assert_array_equal(resumed.vectors(), straight.vectors())


def test_epochs_must_run_in_order():
    t = trainer(toy_cooccurrences())
    with pytest.raises(ValueError, match="in order"):
        t.train_epoch(1)


def test_state_of_another_model_is_refused():
    cooc = toy_cooccurrences()
    with pytest.raises(ValueError, match="dim"):
        trainer(cooc, dim=4).load_state_dict(trainer(cooc).state_dict())


@pytest.mark.parametrize("data, key", [
    ({"dim": 0}, "dim"), ({"window": 0}, "window"), ({"min_count": 0}, "min_count"),
    ({"x_max": 0}, "x_max"), ({"alpha": 1.5}, "alpha"), ({"epochs": 0}, "epochs"),
    ({"batch_size": 0}, "batch_size"), ({"lr": -0.1}, "lr"), ({"optimizer": "sgd"}, "optimizer"),
    ({"probe_words": "chip"}, "probe_words"), ({"threads": 0}, "threads"),
    ({"learning_rate": 0.1}, "learning_rate"),
])
def test_config_rejects_bad_values(data, key):
    with pytest.raises(UserError, match=key):
        from_dict(GloveConfig, data)


def test_two_workers_fit_as_one_does_and_report_every_batch(monkeypatch):
    """Hogwild workers (`glove.workers`): the epoch is one part, every batch is trained and
    reported at the serial loop's positions, the tables are shared, and the fit is as good."""
    monkeypatch.setattr(glove, "PART_ENTRIES", 256)  # several parts per epoch for the serial trainer
    cooc = toy_cooccurrences()
    serial, parallel = trainer(cooc, batch_size=64), trainer(cooc, batch_size=64, workers=2)
    assert parallel.parts_per_epoch == 1 and serial.parts_per_epoch > 1
    for epoch in range(8):
        calls, serial_calls = [], []
        metrics = parallel.train_epoch(epoch, on_batch=lambda position, loss: calls.append(position))
        serial_metrics = serial.train_epoch(epoch, on_batch=lambda position, loss: serial_calls.append(position))
        assert calls == serial_calls and metrics["entries"] == serial_metrics["entries"] == cooc.nnz
    assert parallel.center.is_shared() and parallel.context_sq.is_shared()
    assert metrics["loss"] == pytest.approx(serial_metrics["loss"], rel=0.1)
    assert not torch.equal(parallel.center, serial.center)  # trained, in another order of updates


@pytest.mark.parametrize("bad", [{"workers": 0}, {"workers": 2, "threads": 2}, {"workers": 2, "threads": None}])
def test_bad_worker_settings_are_refused(bad):
    with pytest.raises(UserError, match="workers|threads"):
        from_dict(GloveConfig, bad)


def test_glove_workers_are_for_the_cpu_only():
    cooc = toy_cooccurrences()
    cfg = GloveConfig(dim=8, batch_size=256, workers=2)
    with pytest.raises(UserError, match="CPU only"):
        GloveTrainer(cooc, [f"w{i}" for i in range(cooc.vocab_size)], cfg, 0, torch.device("meta"))
