"""Convergence theory of GD, heavy ball and Nesterov on a separable quadratic, from OUR update.

On f = sum_i c_i x_i^2 each coordinate is an eigen-direction with Hessian eigenvalue lambda_i =
2 c_i and gradient g = lambda_i x_i, so the optimizer is a linear map per direction. With torch's
SGD form (`optimizers/sgd.py`, dampening 0, the buffer starting as the first gradient, which is
the same as starting it at 0), the state s = (x, v) moves by s' = M s:

    GD:        x' = (1 - lr*lambda) x                                  M = [[1 - lr*lambda]]
    momentum:  v' = mu v + lambda x,  x' = x - lr v'                  M = [[1 - lr*lambda, -lr*mu],
                                                                            [lambda,         mu   ]]
    Nesterov:  v' = mu v + lambda x,  x' = x - lr (lambda x + mu v')  M = [[1 - lr*lambda*(1 + mu), -lr*mu^2],
                                                                            [lambda,                 mu      ]]

so s_k = M^k s_0 exactly, and the distance along direction i shrinks asymptotically as rho(M_i)^k,
its spectral radius. Momentum's form is Polyak's heavy ball with step lr: -lr*v_k = x_k - x_{k-1},
so x' = x - lr*lambda*x + mu (x - x_prev); Polyak's optimal step and momentum apply unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

ALGORITHMS = ("sgd", "momentum", "nesterov")
"""The table's rows this theory covers (`sgd` on a 2-D surface is full-batch GD)."""


def iteration_matrix(algo: str, lr: float, momentum: float, eigenvalue: float) -> np.ndarray:
    """M of the module docstring for one eigen-direction (1x1 for GD, 2x2 on (x, v) otherwise)."""
    lam, mu = eigenvalue, momentum
    if algo == "sgd":
        return np.array([[1 - lr * lam]])
    if algo == "momentum":
        return np.array([[1 - lr * lam, -lr * mu], [lam, mu]])
    if algo == "nesterov":
        return np.array([[1 - lr * lam * (1 + mu), -lr * mu * mu], [lam, mu]])
    raise ValueError(f"no convergence theory for '{algo}': only {', '.join(ALGORITHMS)}")


def spectral_radius(matrix: np.ndarray) -> float:
    """The largest |eigenvalue|: the asymptotic factor by which the direction shrinks per step."""
    return float(max(abs(np.linalg.eigvals(matrix))))


def predicted_iterates(algo: str, lr: float, momentum: float, eigenvalue: float, start: float,
                       steps: int) -> list[float]:
    """x_0..x_steps along one direction: the first coordinate of M^k (x_0, 0)."""
    matrix = iteration_matrix(algo, lr, momentum, eigenvalue)
    state = np.zeros(len(matrix))
    state[0] = start
    out = [float(start)]
    for _ in range(steps):
        state = matrix @ state
        out.append(float(state[0]))
    return out


def optimal_settings(eigenvalues: Sequence[float]) -> dict[str, dict[str, float]]:
    """Closed-form best constant settings for Hessian eigenvalues in [lambda_min, lambda_max].

    GD: lr = 2/(lambda_min + lambda_max), rate (kappa - 1)/(kappa + 1). Heavy ball (Polyak):
    lr = 4/(sqrt(lambda_max) + sqrt(lambda_min))^2, mu = ((sqrt(kappa) - 1)/(sqrt(kappa) + 1))^2,
    rate (sqrt(kappa) - 1)/(sqrt(kappa) + 1); torch's lr and momentum are Polyak's step and mu
    (module docstring), so nothing is rescaled. Nesterov: M has the trace and determinant of the
    classical look-ahead form with step lr and momentum mu, whose quadratic tuning (Lessard, Recht
    and Packard 2016) is lr = 4/(3 lambda_max + lambda_min), mu = (sqrt(3 kappa + 1) - 2)/(sqrt(3
    kappa + 1) + 2), rate 1 - 2/sqrt(3 kappa + 1)."""
    low, high = min(eigenvalues), max(eigenvalues)
    kappa = high / low
    root = (math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1)
    third = math.sqrt(3 * kappa + 1)
    return {
        "sgd": {"lr": 2 / (low + high), "rate": (kappa - 1) / (kappa + 1)},
        "momentum": {"lr": 4 / (math.sqrt(high) + math.sqrt(low)) ** 2, "momentum": root**2, "rate": root},
        "nesterov": {"lr": 4 / (3 * high + low), "momentum": (third - 2) / (third + 2), "rate": 1 - 2 / third},
    }


def rate(algo: str, lr: float, momentum: float, eigenvalues: Sequence[float]) -> float:
    """The predicted asymptotic rate of the whole iterate: the slowest direction's."""
    return max(spectral_radius(iteration_matrix(algo, lr, momentum, lam)) for lam in eigenvalues)


def measured_rate(algo: str, lr: float, momentum: float, eigenvalues: Sequence[float],
                  offsets: Sequence[Sequence[float]]) -> float | None:
    """The per-step factor by which the measured iterates shrank over the run's second half, in the
    slowest direction. `offsets` are x_k - x* per step. Each direction's state s_k = (x_k, v_k) is
    rebuilt from consecutive iterates (momentum: lr v_k = x_{k-1} - x_k) and measured in M's
    eigen-coordinates, where a complex pair shrinks by exactly its modulus each step: the plain
    distance oscillates, and a line through its logarithm over a few periods would be biased.
    None with fewer than 3 steps or when a direction reached x* exactly."""
    if len(offsets) < 3:
        return None
    rates = []
    for lam, xs in zip(eigenvalues, zip(*offsets)):
        states = _states(algo, lr, momentum, lam, [float(x) for x in xs])
        vectors = np.linalg.eig(iteration_matrix(algo, lr, momentum, lam))[1]
        if np.linalg.cond(vectors) > 1e8:  # a double eigenvalue (Jordan block): no eigenbasis, use x alone
            norms = [abs(s[0]) for s in states]
        else:
            coordinates = np.linalg.inv(vectors)
            norms = [float(np.linalg.norm(coordinates @ s)) for s in states]
        half, last = (len(norms) - 1) // 2, len(norms) - 1
        if not (norms[half] > 0 and norms[last] > 0 and all(map(math.isfinite, (norms[half], norms[last])))):
            return None
        rates.append((norms[last] / norms[half]) ** (1 / (last - half)))
    return max(rates)


def _states(algo: str, lr: float, momentum: float, eigenvalue: float, xs: Sequence[float]) -> list[np.ndarray]:
    """(x_k, v_k) from the iterates alone, inverting the update of the module docstring; k >= 1
    (v_0 is 0 by construction)."""
    if algo == "sgd":
        return [np.array([x]) for x in xs[1:]]
    out = []
    for before, x in zip(xs, xs[1:]):
        step = (before - x) / lr  # momentum: v_k; Nesterov: lambda x_{k-1} + mu v_k
        velocity = step if algo == "momentum" else (step - eigenvalue * before) / momentum
        out.append(np.array([x, velocity]))
    return out


def analysis(algo: str, lr: float, momentum: float, eigenvalues: Sequence[float]) -> dict[str, Any]:
    """What a quadratic run's summary notes: each direction's predicted rate, the whole iterate's
    predicted rate and the optimal settings (the task adds `measured_rate`, from its path)."""
    directions = [{"eigenvalue": lam, "predicted_rate": spectral_radius(iteration_matrix(algo, lr, momentum, lam))}
                  for lam in eigenvalues]
    return {
        "algo": algo, "lr": lr, **({"momentum": momentum} if algo != "sgd" else {}),
        "directions": directions,
        "predicted_rate": max(d["predicted_rate"] for d in directions),
        "optimal": optimal_settings(eigenvalues)[algo],
    }


def predicted_distances(algo: str, lr: float, momentum: float, eigenvalues: Sequence[float],
                        start: Sequence[float], minimum: Sequence[float], steps: int) -> list[float]:
    """|x_k - x*| for k = 0..steps from the per-direction predictions."""
    paths = [predicted_iterates(algo, lr, momentum, lam, s - m, steps)
             for lam, s, m in zip(eigenvalues, start, minimum)]
    return [math.hypot(*point) for point in zip(*paths)]


def theory_for(config: Any, eigenvalues: Sequence[float] | None) -> dict[str, Any] | None:
    """The analysis of a run the theory covers (a quadratic, GD/momentum/Nesterov at a constant lr
    without weight decay), else None. `config` is the resolved `OptimRunConfig`."""
    opt = config.optimizer
    if (eigenvalues is None or opt.algo not in ALGORITHMS or config.schedule.name != "constant"
            or opt.weight_decay):
        return None
    return analysis(opt.algo, opt.lr, opt.momentum if opt.algo != "sgd" else 0.0, eigenvalues)
