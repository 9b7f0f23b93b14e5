"""The one table of optimizers: a row per algorithm, and everything else reads it.

A row names the scratch class (`module:Class`, imported on first use, so this module and the
configs stay torch-free for `d2l --help`), its `torch.optim` twin if there is one, the book's
default hyper-parameters (whose keys are exactly the hyper-parameters the algorithm uses), and
the largest stable learning rate on a quadratic where theory gives one. The config's `algo`
choices, its help texts, the builders, the package's exports, preset validation, the stability
hints of `d2l run optim` and the parity tests are all derived from these rows.

Adding an optimizer: write its class in a new file of this package, add its row here, and add a
preset to `configs/optim/`. Full-batch gradient descent is SGD on the whole data set, so it is a
preset (`gd.yaml`), not a row.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

HYPERPARAMETERS: tuple[str, ...] = ("lr", "momentum", "gamma", "rho", "beta1", "beta2", "momentum_decay", "eps",
                                    "weight_decay")
"""Every hyper-parameter a row may use; each is a field of `OptimizerConfig`."""

StableLr = Callable[[Mapping[str, float], float], float]


def gd_stable_lr(hyper: Mapping[str, float], lambda_max: float) -> float:
    """x <- x - lr*lambda*x contracts iff |1 - lr*lambda| < 1, i.e. lr < 2/lambda."""
    return 2 / lambda_max


def heavy_ball_stable_lr(hyper: Mapping[str, float], lambda_max: float) -> float:
    """The iteration x' = x - lr*v, v' = mu*v + lambda*x is stable iff lr*lambda < 2(1 + mu)."""
    return 2 * (1 + hyper["momentum"]) / lambda_max


def nesterov_stable_lr(hyper: Mapping[str, float], lambda_max: float) -> float:
    """Nesterov's look-ahead step is stable iff lr*lambda < 2(1 + mu)/(1 + 2mu)."""
    mu = hyper["momentum"]
    return 2 * (1 + mu) / ((1 + 2 * mu) * lambda_max)


@dataclass(frozen=True)
class AlgorithmSpec:
    name: str
    summary: str
    """A few words for `--help`: where the book has it, or what it is when the book does not."""
    scratch: str
    """`module:Class` of our implementation; its constructor is its torch twin's (names and order)."""
    defaults: Mapping[str, float]
    """The book's values of the hyper-parameters this algorithm uses (the keys ARE what it uses)."""
    torch_class: str | None
    """Name of the `torch.optim` class computing the same iterates, or None."""
    torch_names: Mapping[str, str] = field(default_factory=dict)
    """The config's (book's) name -> the constructor keyword, where they differ (RMSProp's gamma is
    torch's alpha, and our class's too)."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """Fixed constructor switches, passed to both implementations (Nesterov's `nesterov=True`)."""
    max_stable_lr: StableLr | None = None
    """(hyper-parameters, largest Hessian eigenvalue) -> largest lr that does not diverge."""
    convergence_lrs: Mapping[str, float] = field(default_factory=dict)
    """tests/test_convergence.py's lr per problem ("parabola", "rosenbrock") where the book's lr
    (tuned for airfoil's 300 steps) does not reach the minimum within that test's steps; a problem
    not named here is run at the book's lr."""

    @property
    def uses(self) -> tuple[str, ...]:
        return tuple(self.defaults)

    @property
    def class_name(self) -> str:
        return self.scratch.partition(":")[2]

    def scratch_class(self) -> type:
        """Import the scratch class (and torch) only now, when an optimizer is built."""
        module = self.scratch.partition(":")[0]
        return getattr(importlib.import_module(module), self.class_name)


# Chapter 12's training calls: train_sgd(.05, 10), train_momentum(0.02, 0.5), AdaGrad 0.1,
# RMSProp (0.01, gamma 0.9), AdaDelta rho 0.9, Adam 0.01, Yogi 0.01 (eps 1e-3). The eps values
# are those hard-coded in the book's from-scratch code. AdaDelta has no learning rate in the
# book: torch's lr multiplies its step, so 1.0 is the book's algorithm.
ALGORITHMS: dict[str, AlgorithmSpec] = {spec.name: spec for spec in (
    AlgorithmSpec("sgd", "the book's baseline, 12.4-12.5",
                  "d2l_lab.optimizers.sgd:SGD", {"lr": 0.05, "weight_decay": 0.0},
                  torch_class="SGD", max_stable_lr=gd_stable_lr, convergence_lrs={"rosenbrock": 0.015}),
    AlgorithmSpec("momentum", "heavy ball, 12.6",
                  "d2l_lab.optimizers.sgd:Momentum", {"lr": 0.02, "momentum": 0.5, "weight_decay": 0.0},
                  torch_class="SGD", max_stable_lr=heavy_ball_stable_lr),
    AlgorithmSpec("nesterov", "look-ahead momentum",
                  "d2l_lab.optimizers.sgd:Momentum", {"lr": 0.02, "momentum": 0.5, "weight_decay": 0.0},
                  torch_class="SGD", options={"nesterov": True}, max_stable_lr=nesterov_stable_lr,
                  convergence_lrs={"rosenbrock": 0.01}),
    AlgorithmSpec("adagrad", "12.7",
                  "d2l_lab.optimizers.adaptive:AdaGrad", {"lr": 0.1, "eps": 1e-6, "weight_decay": 0.0},
                  torch_class="Adagrad", convergence_lrs={"parabola": 0.3}),
    AlgorithmSpec("rmsprop", "12.8",
                  "d2l_lab.optimizers.adaptive:RMSProp",
                  {"lr": 0.01, "gamma": 0.9, "eps": 1e-6, "weight_decay": 0.0},
                  torch_class="RMSprop", torch_names={"gamma": "alpha"}, convergence_lrs={"rosenbrock": 0.003}),
    AlgorithmSpec("adadelta", "12.9",
                  "d2l_lab.optimizers.adaptive:AdaDelta",
                  {"lr": 1.0, "rho": 0.9, "eps": 1e-5, "weight_decay": 0.0},
                  torch_class="Adadelta", convergence_lrs={"rosenbrock": 0.1}),
    AlgorithmSpec("adam", "12.10",
                  "d2l_lab.optimizers.adam:Adam",
                  {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-6, "weight_decay": 0.0},
                  torch_class="Adam", convergence_lrs={"parabola": 0.03}),
    AlgorithmSpec("adamw", "Adam with decoupled decay",
                  "d2l_lab.optimizers.adam:AdamW",
                  {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-6, "weight_decay": 0.01},
                  torch_class="AdamW", convergence_lrs={"parabola": 0.1}),
    AlgorithmSpec("yogi", "12.10.3",
                  "d2l_lab.optimizers.yogi:Yogi",
                  {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-3, "weight_decay": 0.0},
                  torch_class=None, convergence_lrs={"parabola": 0.03}),
    # Lion moves every weight by lr per step, so lr sets both how far 300 airfoil steps can go
    # and the jitter at the end: 0.01 reaches the minimum where 10x smaller does not (docs/results.md).
    # The paper's runs use lr 3-10x below AdamW's on deep nets.
    AlgorithmSpec("lion", "Chen et al. 2023",
                  "d2l_lab.optimizers.lion:Lion",
                  {"lr": 0.01, "beta1": 0.9, "beta2": 0.99, "weight_decay": 0.0},
                  torch_class=None, convergence_lrs={"parabola": 0.1, "rosenbrock": 0.005}),
    AlgorithmSpec("nadam", "Adam with Nesterov momentum, Dozat 2016",
                  "d2l_lab.optimizers.nadam:NAdam",
                  {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "momentum_decay": 0.004, "eps": 1e-6,
                   "weight_decay": 0.0},
                  torch_class="NAdam", convergence_lrs={"parabola": 0.03}),
    AlgorithmSpec("radam", "rectified Adam, Liu et al. 2020",
                  "d2l_lab.optimizers.radam:RAdam",
                  {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-6, "weight_decay": 0.0},
                  torch_class="RAdam", convergence_lrs={"parabola": 0.1}),
)}
