"""Convergence theory on quadratics against our optimizers' iterates: the per-direction iteration
matrices, the predicted rates, the closed-form optimal settings, and the notes and plot of a run."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from d2l_lab.experiments.optim import convergence
from d2l_lab.optimizers import build_optimizer
from d2l_lab.optimizers.config import OptimizerConfig

from .conftest import d2l, only_run_dir

BOOK = (0.1, 2.0)
KAPPA_1000 = (0.1, 100.0)
START = (-5.0, -2.0)
SETTINGS = {  # (algo, lr, momentum) per problem: stable, and oscillating (complex eigenvalues) for momentum
    BOOK: [("sgd", 0.4, 0.0), ("momentum", 0.6, 0.5), ("nesterov", 0.3, 0.5)],
    KAPPA_1000: [("sgd", 0.009, 0.0), ("momentum", 0.015, 0.9), ("nesterov", 0.006, 0.9)],
}
CASES = [(c, *s) for c, settings in SETTINGS.items() for s in settings]


def _iterates(algo: str, lr: float, momentum: float, coefficients: tuple[float, float], steps: int,
              start: tuple[float, float] = START) -> np.ndarray:
    """Our optimizer's x_0..x_steps on f = a*x1^2 + b*x2^2, in float64 (gradient (2a x1, 2b x2)
    written out: autograd would make these tests several times slower)."""
    x = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    hyper = {"lr": lr, **({"momentum": momentum} if algo != "sgd" else {})}
    optimizer = build_optimizer([x], OptimizerConfig(algo=algo, **hyper).resolved())
    curvature = 2 * torch.tensor(coefficients, dtype=torch.float64)
    out = [x.detach().clone()]
    for _ in range(steps):
        x.grad = curvature * x.detach()
        optimizer.step()
        out.append(x.detach().clone())
    return torch.stack(out).numpy()


@pytest.mark.parametrize("coefficients, algo, lr, momentum", CASES)
def test_each_direction_follows_the_powers_of_its_iteration_matrix(coefficients, algo, lr, momentum):
    """lambda = 2c for f = c*x^2, and x_k = first coordinate of M^k (x_0, 0), to 1e-9 of the state."""
    steps = 200
    path = _iterates(algo, lr, momentum, coefficients, steps)
    for i, c in enumerate(coefficients):
        matrix = convergence.iteration_matrix(algo, lr, momentum, 2 * c)
        state = np.zeros(len(matrix))
        state[0] = START[i]
        for k in range(1, steps + 1):
            state = matrix @ state
            assert abs(path[k, i] - state[0]) <= 1e-9 * max(np.linalg.norm(state), 1e-300), (i, k)
        assert convergence.predicted_iterates(algo, lr, momentum, 2 * c, START[i], steps) == pytest.approx(
            path[:, i].tolist(), rel=1e-9, abs=1e-300)


@pytest.mark.parametrize("coefficients, algo, lr, momentum", CASES)
def test_the_measured_rate_is_the_predicted_spectral_radius(coefficients, algo, lr, momentum):
    steps = 400
    path = _iterates(algo, lr, momentum, coefficients, steps)
    eigenvalues = [2 * c for c in coefficients]
    predicted = convergence.rate(algo, lr, momentum, eigenvalues)
    measured = convergence.measured_rate(algo, lr, momentum, eigenvalues, path.tolist())
    assert 0.3 < predicted < 1
    assert measured == pytest.approx(predicted, rel=0.01)


def test_known_rates_and_settings():
    """GD: |1 - lr*lambda|; heavy ball with mu above ((1 - sqrt(lr*lambda))^2) oscillates at sqrt(mu);
    the closed forms of the optimal settings at kappa = 20."""
    assert convergence.rate("sgd", 0.4, 0, [0.2, 4.0]) == pytest.approx(max(abs(1 - 0.08), abs(1 - 1.6)))
    assert convergence.rate("momentum", 0.6, 0.5, [0.2, 4.0]) == pytest.approx(math.sqrt(0.5))
    best = convergence.optimal_settings([0.2, 4.0])
    assert best["sgd"] == pytest.approx({"lr": 2 / 4.2, "rate": 19 / 21})
    root = (math.sqrt(20) - 1) / (math.sqrt(20) + 1)
    assert best["momentum"] == pytest.approx({"lr": 4 / (2 + math.sqrt(0.2)) ** 2, "momentum": root**2, "rate": root})
    for algo, s in best.items():
        assert convergence.rate(algo, s["lr"], s.get("momentum", 0.0), [0.2, 4.0]) == pytest.approx(s["rate"])


@pytest.mark.parametrize("coefficients", [BOOK, KAPPA_1000])
@pytest.mark.parametrize("algo", convergence.ALGORITHMS)
def test_the_optimal_settings_beat_them_scaled_by_0_8_and_1_2(coefficients, algo):
    """The measured rate over 200 steps of the optimal settings is below that of the same settings
    with lr (or momentum) scaled by 0.8 or 1.2. (The rate, not the distance after a few steps: at
    kappa 1000 the optimum equalises the extreme directions, and a setting that kills the fast one
    early is closer for a while.)"""
    eigenvalues = [2 * c for c in coefficients]
    best = convergence.optimal_settings(eigenvalues)[algo]
    lr, mu = best["lr"], best.get("momentum", 0.0)

    def measured(lr: float, mu: float) -> float:
        rate = convergence.measured_rate(algo, lr, mu, eigenvalues, _iterates(algo, lr, mu, coefficients, 200).tolist())
        return math.inf if rate is None else rate

    optimal = measured(lr, mu)
    assert optimal == pytest.approx(best["rate"], rel=0.01)
    others = [(lr * f, mu) for f in (0.8, 1.2)] + ([(lr, mu * f) for f in (0.8, 1.2) if mu * f < 1] if mu else [])
    for setting in others:
        assert optimal < measured(*setting), setting


@pytest.mark.slow
def test_a_quadratic_run_notes_both_rates_and_draws_convergence_png(tmp_path):
    result = d2l("run", "optim", "--problem", "quadratic", "--coefficients", "0.1", "100", "--algo", "nesterov",
                 "--lr", "0.006", "--momentum", "0.9", "--steps", "300", "--json", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    notes = json.loads(result.stdout)["notes"]["convergence"]
    assert [d["eigenvalue"] for d in notes["directions"]] == pytest.approx([0.2, 200.0])
    assert notes["predicted_rate"] == pytest.approx(convergence.rate("nesterov", 0.006, 0.9, [0.2, 200.0]))
    assert notes["measured_rate"] == pytest.approx(notes["predicted_rate"], rel=1e-3)
    assert notes["optimal"]["lr"] == pytest.approx(4 / (3 * 200 + 0.2))
    assert (only_run_dir(tmp_path / "optim") / "convergence.png").stat().st_size > 10_000


@pytest.mark.slow
def test_runs_outside_the_theory_draw_no_convergence_png(tmp_path):
    result = d2l("run", "optim", "--problem", "quadratic", "--algo", "adam", "--lr", "0.5", "--json",
                 "--out", str(tmp_path))
    assert "convergence" not in json.loads(result.stdout)["notes"]
    assert not (only_run_dir(tmp_path / "optim") / "convergence.png").exists()
