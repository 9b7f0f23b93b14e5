"""Yogi and Lion have no torch.optim twin: they are checked against plain numpy transcriptions of
the book's (12.10.3) and the paper's (Chen et al. 2023, Algorithm 2) pseudo-code, and against
first steps worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from d2l_lab.optimizers import Lion, Yogi

START = (-5.0, -2.0)
CURVATURE = (0.2, 4.0)  # gradient of the book's f = 0.1*x1^2 + 2*x2^2 is (0.2*x1, 4*x2)


def run_ours(optimizer_cls, steps: int, **kwargs) -> tuple[np.ndarray, torch.optim.Optimizer]:
    x = torch.tensor(START, dtype=torch.float64, requires_grad=True)
    optimizer = optimizer_cls([x], **kwargs)
    for _ in range(steps):
        x.grad = x.detach() * torch.tensor(CURVATURE, dtype=torch.float64)
        optimizer.step()
    return x.detach().numpy(), optimizer


def book_yogi(steps: int, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float) -> np.ndarray:
    """d2l.ai 12.10.3's `yogi`, with the hyper-parameters as arguments and coupled L2 decay."""
    x = np.array(START)
    v, s = np.zeros(2), np.zeros(2)
    for t in range(1, steps + 1):
        g = x * np.array(CURVATURE) + weight_decay * x
        v = beta1 * v + (1 - beta1) * g
        s = s + (1 - beta2) * np.sign(np.square(g) - s) * np.square(g)
        v_bias_corr = v / (1 - beta1**t)
        s_bias_corr = s / (1 - beta2**t)
        x = x - lr * v_bias_corr / (np.sqrt(s_bias_corr) + eps)
    return x


def paper_lion(steps: int, lr: float, beta1: float, beta2: float, weight_decay: float) -> tuple[np.ndarray, int]:
    """Lion's Algorithm 2; also counts the steps whose update sign differs from the gradient's."""
    x, m, disagreements = np.array(START), np.zeros(2), 0
    for _ in range(steps):
        g = x * np.array(CURVATURE)
        c = beta1 * m + (1 - beta1) * g
        disagreements += int(np.any(np.sign(c) != np.sign(g)))
        x = x - lr * (np.sign(c) + weight_decay * x)
        m = beta2 * m + (1 - beta2) * g
    return x, disagreements


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
@pytest.mark.parametrize("lr", [0.01, 0.5])
def test_yogi_equals_the_books_code(lr, weight_decay):
    ours, _ = run_ours(Yogi, 20, lr=lr, weight_decay=weight_decay)
    book = book_yogi(20, lr, 0.9, 0.999, 1e-3, weight_decay)
    # The book's lines are bit-identical; our decay g + wd*x is one fused multiply-add in torch's
    # kernel (one rounding, numpy's has two), so with decay the last bit may differ.
    np.testing.assert_allclose(ours, book, rtol=1e-15 if weight_decay else 0, atol=0)


def test_yogi_first_step_by_hand():
    """Step 1 from (-5, -2): g = (-1, -8), so v_hat = g and s_hat = g^2 exactly (up to the
    rounding of 0.1*g / 0.1), and x moves by lr * |g| / (|g| + eps) toward 0 in each coordinate."""
    x, optimizer = run_ours(Yogi, 1)  # the book's lr 0.01, eps 1e-3
    assert x.tolist() == pytest.approx([-5 + 0.01 / 1.001, -2 + 0.08 / 8.001], rel=1e-15)
    state = optimizer.state[optimizer.param_groups[0]["params"][0]]
    assert state["exp_avg_sq"].tolist() == pytest.approx([0.001 * 1, 0.001 * 64], rel=1e-15)


def test_yogi_second_moment_moves_by_a_bounded_signed_step():
    """Adam's s would move by (1 - beta2) * (g^2 - s); Yogi's by (1 - beta2) * g^2 * sign(g^2 - s)."""
    x = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = Yogi([x], betas=(0.9, 0.5))
    for grad in (4.0, 1.0):  # s: 0 -> 0.5 * 16 = 8, then g^2 = 1 < 8 so s -> 8 - 0.5 * 1 = 7.5
        x.grad = torch.tensor([grad], dtype=torch.float64)
        optimizer.step()
    assert optimizer.state[x]["exp_avg_sq"].item() == 7.5  # Adam's rule would give 4.5


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
@pytest.mark.parametrize("lr", [0.01, 0.3])
def test_lion_equals_the_papers_algorithm(lr, weight_decay):
    ours, _ = run_ours(Lion, 20, lr=lr, betas=(0.9, 0.99), weight_decay=weight_decay)
    paper, disagreements = paper_lion(20, lr, 0.9, 0.99, weight_decay)
    assert np.array_equal(ours, paper), ours - paper
    if lr == 0.3:  # x2 overshoots: the interpolated momentum then outvotes the gradient's sign
        assert disagreements > 0


def test_lion_first_step_by_hand():
    """Step 1: m = 0, so c = 0.1 * g and sign(c) = sign(g) = (-1, -1); with lr 0.01 and decay 0.1,
    x1 = -5 - 0.01 * (-1 + 0.1 * -5) = -4.985 and x2 = -2 - 0.01 * (-1 + 0.1 * -2) = -1.988."""
    x, optimizer = run_ours(Lion, 1, lr=0.01, weight_decay=0.1)
    assert x.tolist() == pytest.approx([-4.985, -1.988], rel=1e-15)
    state = optimizer.state[optimizer.param_groups[0]["params"][0]]
    assert state["exp_avg"].tolist() == pytest.approx([0.01 * -1, 0.01 * -8], rel=1e-14)  # (1 - 0.99) * g
