"""The optimizer table and the per-algorithm config it drives: saved configs hold exactly the
hyper-parameters a run used, presets only what differs from the defaults, and every row's class,
torch twin and help text agree with the table."""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from d2l_lab.config.loading import available_presets, compose, dump_yaml, preset_path, read_yaml
from d2l_lab.config.schema import from_dict, to_dict
from d2l_lab.errors import UserError
from d2l_lab.experiments.optim.config import OptimRunConfig
from d2l_lab.optimizers import ALGORITHMS, OptimizerConfig, build_optimizer
from d2l_lab.optimizers.table import HYPERPARAMETERS

TWINNED = [name for name, spec in ALGORITHMS.items() if spec.torch_class is not None]


def make(**kwargs) -> OptimRunConfig:
    return compose(OptimRunConfig, "optim", **kwargs)


def test_every_row_uses_only_config_fields_and_names_a_loadable_class():
    import torch

    config_fields = {f.name for f in dataclasses.fields(OptimizerConfig)}
    assert set(HYPERPARAMETERS) <= config_fields
    for name, spec in ALGORITHMS.items():
        assert spec.name == name and "lr" in spec.uses and set(spec.uses) <= set(HYPERPARAMETERS)
        assert issubclass(spec.scratch_class(), torch.optim.Optimizer)


STABILITY_CASES = [(name, momentum) for name, spec in ALGORITHMS.items() if spec.max_stable_lr is not None
                   for momentum in ((0.2, 0.5, 0.9) if "momentum" in spec.uses else (None,))]


@pytest.mark.parametrize(("algo", "momentum"), STABILITY_CASES)
def test_the_stability_limit_is_tight(algo, momentum):
    """On f = 2 x^2 (curvature 4), 2% below the table's limit x shrinks and 2% above it grows."""
    import torch

    cfg = OptimizerConfig(algo=algo, momentum=momentum)
    limit = cfg.max_stable_lr(4.0)
    ends = []
    for lr in (0.98 * limit, 1.02 * limit):
        x = torch.ones(1, dtype=torch.float64, requires_grad=True)
        optimizer = build_optimizer([x], dataclasses.replace(cfg, lr=lr))
        for _ in range(3000):
            x.grad = 4 * x.detach()
            optimizer.step()
            if not 1e-4 < abs(x.item()) < 1e4:
                break
        ends.append(abs(x.item()))
    assert ends[0] < 1e-3 and ends[1] > 1e3


@pytest.mark.parametrize("algo", list(ALGORITHMS))
def test_a_bare_scratch_class_starts_from_the_tables_defaults(algo):
    """`Adam(params)` and `d2l run optim --algo adam` start from the same numbers."""
    import torch

    import d2l_lab.optimizers as package

    spec = ALGORITHMS[algo]
    cls = getattr(package, spec.class_name)  # the lazy export
    optimizer = cls([torch.zeros(1, requires_grad=True)], **spec.options)
    hyper = dict(optimizer.defaults)
    if "betas" in hyper:
        hyper["beta1"], hyper["beta2"] = hyper.pop("betas")
    assert {k: hyper[spec.torch_names.get(k, k)] for k in spec.uses} == dict(spec.defaults)
    # Every other constructor keyword is a torch.optim switch (off by default) or a hyper-parameter
    # the book's algorithm does not use (0 by default: momentum of plain SGD, lr_decay, ...).
    book = {spec.torch_names.get(name, name) for name in spec.uses if not name.startswith("beta")}
    for name, parameter in inspect.signature(cls).parameters.items():
        if name not in book | {"params", "betas"} | set(spec.options):
            assert parameter.default in (0, False, None), name


@pytest.mark.parametrize("algo", list(ALGORITHMS))
def test_saved_config_holds_exactly_the_fields_the_algorithm_uses(algo):
    config = make(flags={"optimizer.algo": algo})
    saved = yaml.safe_load(dump_yaml(config))["optimizer"]
    assert list(saved) == ["algo", "impl", *[h for h in HYPERPARAMETERS if h in ALGORITHMS[algo].uses]]
    assert {k: saved[k] for k in ALGORITHMS[algo].uses} == dict(ALGORITHMS[algo].defaults)


def test_sgd_config_is_algo_impl_lr_weight_decay():
    optimizer = to_dict(make(flags={"optimizer.algo": "sgd"}).optimizer)
    assert optimizer == {"algo": "sgd", "impl": "scratch", "lr": 0.05, "weight_decay": 0.0}


@pytest.mark.parametrize(("algo", "impl"), [*[(a, "scratch") for a in ALGORITHMS], *[(a, "torch") for a in TWINNED]])
def test_dumped_config_reads_back_identical(tmp_path, algo, impl):
    original = make(flags={"optimizer.algo": algo, "optimizer.impl": impl, "optimizer.lr": 0.003}, sets=["seed=4"])
    path = tmp_path / "config.yaml"
    path.write_text(dump_yaml(original))
    again = make(config_file=path)
    assert again == original and dump_yaml(again) == dump_yaml(original)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"flags": {"optimizer.algo": "sgd", "optimizer.momentum": 0.9}},
         r"^algo 'sgd' does not use optimizer.momentum: it uses lr, weight_decay; drop optimizer.momentum, or change"),
        ({"sets": ["optimizer.algo=adagrad", "optimizer.beta1=0.8", "optimizer.gamma=0.5"]},
         r"^algo 'adagrad' does not use optimizer.gamma, optimizer.beta1: it uses lr, eps, weight_decay;"),
        ({"preset": "adam", "sets": ["optimizer.rho=0.9"]}, r"^algo 'adam' does not use optimizer.rho"),
        ({"flags": {"optimizer.algo": "lion", "optimizer.eps": 1e-8}}, r"^algo 'lion' does not use optimizer.eps"),
    ],
)
def test_a_hyperparameter_the_algorithm_never_reads_is_refused(source, message):
    with pytest.raises(UserError, match=message) as error:
        make(**source)
    assert "\n" not in str(error.value)


def test_an_unused_hyperparameter_in_a_config_file_is_refused(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("optimizer: {algo: rmsprop, beta2: 0.99}\n")
    with pytest.raises(UserError, match="algo 'rmsprop' does not use optimizer.beta2: it uses lr, gamma, eps"):
        make(config_file=path)


@pytest.mark.parametrize("algo", [name for name in ALGORITHMS if name not in TWINNED])
def test_impl_torch_without_a_twin_is_refused(algo):
    with pytest.raises(UserError, match=f"^algo '{algo}' has no torch.optim twin: use --impl scratch$"):
        make(flags={"optimizer.algo": algo, "optimizer.impl": "torch"})


def test_config_rejects_meaningless_settings():
    with pytest.raises(UserError, match="'optimizer.momentum' must be > 0 for algo 'nesterov'"):
        from_dict(OptimizerConfig, {"algo": "nesterov", "momentum": 0.0})
    with pytest.raises(UserError, match="'gamma' must be >= 0 and < 1"):
        from_dict(OptimizerConfig, {"algo": "rmsprop", "gamma": 1.0})
    with pytest.raises(UserError, match="'impl' must be one of scratch, torch"):
        from_dict(OptimizerConfig, {"impl": "numpy"})


def test_resolved_fills_the_algorithms_defaults_and_keeps_explicit_values():
    assert OptimizerConfig().resolved() == OptimizerConfig(lr=0.05, weight_decay=0.0)
    adadelta = OptimizerConfig(algo="adadelta").resolved()
    assert (adadelta.lr, adadelta.rho, adadelta.eps, adadelta.momentum) == (1.0, 0.9, 1e-5, None)
    explicit = OptimizerConfig(algo="adam", lr=0.3, beta1=0.8, beta2=0.99, eps=1e-8, weight_decay=0.1)
    assert explicit.resolved() == explicit


@pytest.mark.parametrize("preset", available_presets("optim"))
def test_presets_hold_only_what_differs_from_the_defaults(preset):
    """Each preset loads, sets only hyper-parameters its algorithm uses, and repeats no default
    (the algorithm's name excepted: every preset says which one it runs)."""
    data = read_yaml(preset_path("optim", preset))
    config = make(preset=preset)
    algo = config.optimizer.algo
    assert set(data.get("optimizer", {})) - {"algo", "impl"} <= set(ALGORITHMS[algo].uses)
    defaults = to_dict(OptimRunConfig())
    defaults["optimizer"] = dict(ALGORITHMS[algo].defaults)
    for section, values in data.items():
        for key, value in (values.items() if isinstance(values, dict) else [(None, values)]):
            default = defaults[section] if key is None else defaults[section].get(key)
            assert key == "algo" or value != default, f"{preset}: {section}.{key} repeats its default {default!r}"


def test_every_algorithm_has_a_preset():
    presets = {make(preset=name).optimizer.algo for name in available_presets("optim")}
    assert presets == set(ALGORITHMS)


def test_help_texts_come_from_the_table():
    fields = {f.name: f.metadata for f in dataclasses.fields(OptimizerConfig)}
    assert fields["algo"]["choices"] == tuple(ALGORITHMS)
    assert all(spec.summary in fields["algo"]["help"] for spec in ALGORITHMS.values())
    null = "; null: the algorithm's default stated above"
    assert fields["lr"]["help"] == ("learning rate; default per algorithm: sgd 0.05, momentum 0.02, nesterov "
                                    "0.02, adagrad 0.1, adadelta 1, others 0.01" + null)
    assert fields["momentum"]["help"].endswith("used by momentum, nesterov; default 0.5" + null)
    assert fields["weight_decay"]["help"].endswith("; default per algorithm: adamw 0.01, others 0" + null)
    assert all(f.default is None for f in dataclasses.fields(OptimizerConfig) if f.name in HYPERPARAMETERS)


def test_build_optimizer_maps_hyperparameters_to_torch():
    import torch

    params = [torch.zeros(2, requires_grad=True)]
    rmsprop = build_optimizer(params, OptimizerConfig(algo="rmsprop", impl="torch", gamma=0.8))
    assert type(rmsprop) is torch.optim.RMSprop
    assert {k: rmsprop.defaults[k] for k in ("lr", "alpha", "eps")} == {"lr": 0.01, "alpha": 0.8, "eps": 1e-6}
    nesterov = build_optimizer(params, OptimizerConfig(algo="nesterov", impl="torch", momentum=0.9))
    assert type(nesterov) is torch.optim.SGD and nesterov.defaults["nesterov"] and nesterov.defaults["momentum"] == 0.9
    adamw = build_optimizer(params, OptimizerConfig(algo="adamw", impl="torch", beta1=0.8, weight_decay=0.1))
    assert type(adamw) is torch.optim.AdamW and adamw.defaults["betas"] == (0.8, 0.999)
    assert adamw.defaults["weight_decay"] == 0.1
    adadelta = build_optimizer(params, OptimizerConfig(algo="adadelta", rho=0.95))
    assert type(adadelta).__name__ == "AdaDelta" and adadelta.defaults["rho"] == 0.95
    assert adadelta.defaults["lr"] == 1.0


def test_importing_the_table_and_configs_does_not_import_torch():
    code = ("import sys, d2l_lab.optimizers, d2l_lab.experiments.optim.config; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])
