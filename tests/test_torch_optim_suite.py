"""PyTorch's own optimizer behaviour tests, ported: each of ours runs beside its torch.optim twin
(every row of `optimizers/table.py` that names one, so a new row is run here with no edit).

The configurations are torch's: the `OptimizerInfo` rows of the installed
`torch/testing/_internal/common_optimizers.py` (constructor inputs, error inputs, scheduler sets,
sparse settings), read from the wheel, not copied. The behaviours are those of `TestOptimRenewed`
in PyTorch's `test/test_optim.py` (which the wheel does not ship): going the right direction
with and without schedulers, param groups, tensor lr, sparse Rosenbrock, complex parameters,
no-op steps, non-empty state, printing, deepcopy, state-dict determinism / old state dicts / non-tensor steps /
weights-only saving, hooks, foreach equal to the for-loop, `differentiable`, and the errors.
Where torch checks a property (the loss went down), we check it too AND that our iterates equal
torch's bit for bit in float64. torch's own CPU skips apply (CUDA-only configs, fused kernels);
our classes refuse fused/capturable=True with a ValueError naming `--impl torch`.
"""

from __future__ import annotations

import ast
import copy
import functools
import importlib.util
import inspect
import io
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch.optim.lr_scheduler import CyclicLR, OneCycleLR, ReduceLROnPlateau

from d2l_lab.optimizers import ALGORITHMS, SGD, AdaGrad, Adam, AdamW, Momentum

F64 = torch.float64
# Ours -> its twin, for every row of the table that has one. Momentum is torch's SGD with the
# book's defaults, so it runs SGD's rows too.
PAIRS: dict[type, type] = {spec.scratch_class(): getattr(torch.optim, spec.torch_class)
                           for spec in ALGORITHMS.values() if spec.torch_class is not None}
PAIR_IDS = [cls.__name__ for cls in PAIRS]


@functools.cache
def torch_optim_db() -> dict[str, Any]:
    """torch's OptimizerInfo table, executed from the installed wheel's source with the
    test-framework imports (unittest decorators, tolerances) stubbed out: they only skip or
    loosen tests on devices and compilers we do not use."""
    spec = importlib.util.find_spec("torch.testing._internal")
    assert spec is not None and spec.submodule_search_locations
    path = spec.submodule_search_locations[0] + "/common_optimizers.py"
    with open(path) as source:
        tree = ast.parse(source.read())
    framework = "torch.testing._internal"
    tree.body = [node for node in tree.body
                 if not (isinstance(node, ast.ImportFrom) and (node.module or "").startswith(framework))]
    namespace: dict[str, Any] = {
        "__name__": "torch_common_optimizers", "tol": lambda **_: None, "toleranceOverride": lambda *_, **__: None,
        "DecorateInfo": lambda *_, **__: None, "_TestParametrizer": object, "skipIfMPS": lambda f: f,
        "skipIfTorchDynamo": lambda *_, **__: (lambda f: f), "TEST_WITH_TORCHDYNAMO": False,
    }
    exec(compile(tree, path, "exec"), namespace)  # noqa: S102 - torch's own file, from the installed wheel
    namespace["infos"] = {info.optim_cls: info for info in namespace["optim_db"]}
    return namespace


def info_of(ours: type) -> Any:
    return torch_optim_db()["infos"][PAIRS[ours]]


def full_kwargs(ours: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    """torch's defaults with the config's values on top: our classes start from the book's values,
    so a paired run names every hyper-parameter."""
    signature = inspect.signature(PAIRS[ours])
    return {**{k: p.default for k, p in signature.parameters.items() if k != "params"}, **kwargs}


def configs(ours: type, skip: tuple[str, ...] = ("differentiable",)) -> list[tuple[str, dict[str, Any]]]:
    """torch's CPU configs for the twin, each also with foreach (and differentiable) switched on."""
    db = torch_optim_db()
    inputs = db["_get_optim_inputs_including_global_cliquey_kwargs"]("cpu", F64, info_of(ours), skip=("fused", *skip))
    return [(optim_input.desc, full_kwargs(ours, optim_input.kwargs)) for optim_input in inputs]


def both(ours: type, fn: Callable[[type], Any]) -> tuple[Any, Any]:
    return fn(ours), fn(PAIRS[ours])


def assert_same(a: Any, b: Any, where: str = "") -> None:
    """Bit-identical tensors (or nested lists / dicts of them, or equal plain values)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert set(a) == set(b), where
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def weight_bias(seed: int = 0, dtype: torch.dtype = F64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(10, 5, generator=generator, dtype=dtype).requires_grad_()
    bias = torch.randn(10, generator=generator, dtype=dtype).requires_grad_()
    return weight, bias, torch.randn(5, generator=generator, dtype=dtype)


def closure_for(optimizer: torch.optim.Optimizer, weight: torch.Tensor, bias: torch.Tensor,
                x: torch.Tensor) -> Callable[[], torch.Tensor]:
    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = (weight.mv(x) + bias).pow(2).sum()
        loss.backward()
        return loss
    return closure


def right_direction(cls: type, kwargs: dict[str, Any], schedulers: list[Callable] = (), steps: int = 5,
                    groups: Callable | None = None) -> tuple[list[torch.Tensor], float, float]:
    """TestOptimRenewed.test_forloop_goes_right_direction(_with_lrsched): a few closure steps."""
    weight, bias, x = weight_bias()
    params = groups(weight, bias) if groups else [weight, bias]
    optimizer = cls(params, **copy.deepcopy(kwargs))
    scheds = [make(optimizer) for make in schedulers]
    closure = closure_for(optimizer, weight, bias, x)
    initial = closure().item()
    for _ in range(steps):
        loss = optimizer.step(closure)
        for scheduler in scheds:
            scheduler.step(loss.item()) if isinstance(scheduler, ReduceLROnPlateau) else scheduler.step()
    return [weight.detach(), bias.detach()], initial, closure().item()


def check_direction(result: tuple[list[torch.Tensor], float, float], maximize: bool, where: str) -> None:
    _, initial, final = result
    assert (final > initial) if maximize else (final < initial), where


@pytest.mark.parametrize("ours", PAIRS, ids=PAIR_IDS)
def test_signature_is_the_twins(ours):
    """Positional order and names as torch's; keyword-only where torch has them keyword-only."""
    def layout(cls: type) -> list[tuple[str, Any]]:
        return [(name, p.kind) for name, p in inspect.signature(cls).parameters.items()]
    assert layout(ours) == layout(PAIRS[ours])
    sgd_positional = SGD([torch.zeros(1, requires_grad=True)], 0.1, 0.9).defaults
    assert sgd_positional["momentum"] == 0.9 and sgd_positional["weight_decay"] == 0


@pytest.mark.parametrize("ours", PAIRS, ids=PAIR_IDS)
def test_goes_right_direction_and_equals_torch(ours):
    for desc, kwargs in configs(ours):
        mine, theirs = both(ours, lambda cls: right_direction(cls, kwargs))
        check_direction(mine, kwargs.get("maximize", False), desc)
        assert_same(mine[0], theirs[0], desc)


@pytest.mark.parametrize("ours", PAIRS, ids=PAIR_IDS)
def test_goes_right_direction_with_torchs_scheduler_sets(ours):
    for schedulers in info_of(ours).scheduler_inputs:
        for desc, kwargs in configs(ours, skip=("differentiable", "foreach")):
            mine, theirs = both(ours, lambda cls: right_direction(cls, kwargs, schedulers, steps=12))
            assert_same(mine[0], theirs[0], f"{desc} {schedulers}")


@pytest.mark.parametrize("ours", PAIRS, ids=PAIR_IDS)
def test_param_groups_with_their_own_weight_decay_and_lr(ours):
    """test_param_groups_weight_decay / test_param_groups_lr / with_lrscheduler_goes_right_direction."""
    for desc, kwargs in configs(ours, skip=("differentiable", "foreach")):
        def groups(weight, bias):
            return [{"params": [weight], "weight_decay": 0.1}, {"params": [bias], "lr": 0.01}]
        for schedulers in ([], info_of(ours).scheduler_inputs[0]):  # ..._with_lrscheduler_goes_right_direction
            mine, theirs = both(ours, lambda cls: right_direction(cls, kwargs, schedulers, groups=groups))
            assert_same(mine[0], theirs[0], f"{desc} {schedulers}")


@pytest.mark.parametrize("ours", PAIRS, ids=PAIR_IDS)
def test_tensor_lr(ours):
    for desc, kwargs in configs(ours, skip=("differentiable", "foreach")):
        kwargs = {**kwargs, "lr": torch.tensor(kwargs["lr"] if not torch.is_tensor(kwargs["lr"]) else 0.001)}
        mine, theirs = both(ours, lambda cls: right_direction(cls, kwargs))
        assert_same(mine[0], theirs[0], desc)


@pytest.mark.parametrize("ours", PAIRS, ids=PAIR_IDS)
def test_foreach_matches_forloop(ours):
    """Our `foreach` switch is accepted and changes nothing (the speed layer is blocking.py)."""
    for desc, kwargs in configs(ours, skip=("differentiable", "foreach")):
        plain = right_direction(ours, {**kwargs, "foreach": False})
        if torch.is_tensor(kwargs["lr"]) and ours in (Adam, AdamW):
            continue  # torch refuses this pair (an error input below)
        assert_same(plain[0], right_direction(ours, {**kwargs, "foreach": True})[0], desc)


@pytest.mark.parametrize("ours", PAIRS, ids=PAIR_IDS)
def test_errors_as_torch(ours):
    """torch's error inputs for the twin: the same exception type (and torch's message) from ours."""
    db = torch_optim_db()
    for error_input in info_of(ours).optim_error_inputs_func("cpu", F64):
        optim_input = error_input.optimizer_error_input
        kwargs = full_kwargs(ours, optim_input.kwargs)
        for cls in (PAIRS[ours], ours):
            params = optim_input.params
            if params is None:
                params = [torch.nn.Parameter(torch.randn(1, 1, dtype=F64))]
            if error_input.error_type is UserWarning:
                with pytest.warns(UserWarning, match=error_input.error_regex):
                    cls(params, **copy.deepcopy(kwargs))
            elif error_input.error_on == db["OptimizerErrorEnum"].CONSTRUCTION_ERROR:
                with pytest.raises(error_input.error_type, match=error_input.error_regex):
                    cls(params, **copy.deepcopy(kwargs))
            else:
                optimizer = cls(params, **copy.deepcopy(kwargs))
                with pytest.raises(error_input.error_type, match=error_input.error_regex):
                    optimizer.step()


def test_nesterov_without_momentum_is_refused_as_torch():
    for cls in (SGD, Momentum, torch.optim.SGD):
        with pytest.raises(ValueError, match="Nesterov momentum requires a momentum and zero dampening"):
            cls([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0, nesterov=True)


@pytest.mark.parametrize(("ours", "switch"), [
    (ours, switch) for ours in PAIRS for switch in ("fused", "capturable")
    if switch in inspect.signature(PAIRS[ours]).parameters])
def test_fused_and_capturable_name_the_torch_implementation(ours, switch):
    with pytest.raises(ValueError, match="--impl torch"):
        ours([torch.zeros(1, requires_grad=True)], **{switch: True})
    ours([torch.zeros(1, requires_grad=True)], **{switch: None if switch == "fused" else False})


def sparse_rosenbrock(cls: type, kwargs: dict[str, Any], schedulers: list[Callable], sparse: bool,
                      steps: int) -> torch.Tensor:
    """TestOptimRenewed.test_rosenbrock_sparse: cyclic coordinate descent whose gradient is an
    UNCOALESCED sparse tensor (each coordinate split into two entries)."""
    params = torch.tensor([1.5, 1.5], dtype=F64, requires_grad=True)
    optimizer = cls([params], **copy.deepcopy(kwargs))
    scheds = [make(optimizer) for make in schedulers]

    def closure(w: int) -> torch.Tensor:
        optimizer.zero_grad()
        x, y = params
        loss = (1 - x) ** 2 + 100 * (y - x**2) ** 2
        loss.backward()
        grad = params.grad.detach()
        if w:
            indices, values = torch.tensor([[0, 0]]), torch.stack([grad[0] / 4, grad[0] - grad[0] / 4])
        else:
            indices, values = torch.tensor([[1, 1]]), torch.stack([grad[1] - grad[1] / 4, grad[1] / 4])
        sparse_grad = torch.sparse_coo_tensor(indices, values, (2,), dtype=F64, check_invariants=True)
        # (index_add_ is to_dense's sum of the duplicates; to_dense itself takes milliseconds here)
        params.grad = sparse_grad if sparse else torch.zeros(2, dtype=F64).index_add_(0, indices[0], values)
        return loss

    for i in range(steps):
        loss = optimizer.step(functools.partial(closure, i % 2))
        for scheduler in scheds:
            scheduler.step(loss.item()) if isinstance(scheduler, ReduceLROnPlateau) else scheduler.step()
    return params.detach()


SPARSE_PAIRS = [ours for ours in PAIRS if info_of(ours).supports_sparse]  # where torch's twin takes them
SPARSE = pytest.mark.parametrize("ours", SPARSE_PAIRS, ids=[cls.__name__ for cls in SPARSE_PAIRS])
pytestmark = pytest.mark.filterwarnings("ignore:Sparse invariant checks are implicitly disabled")  # torch's Adagrad


@SPARSE
def test_rosenbrock_sparse(ours):
    """torch's sparse settings (`metadata_for_sparse`), and momentum / Nesterov on top for SGD:
    30 steps equal torch's, sparse or dense gradient alike."""
    kwargs, schedulers = info_of(ours).metadata_for_sparse
    variants = [{}]
    if PAIRS[ours] is torch.optim.SGD:  # a smaller lr: torch's 4.8e-3 with momentum diverges here
        variants += [{"momentum": 0.5, "lr": 1e-3}, {"momentum": 0.5, "nesterov": True, "lr": 1e-3}]
    for variant in variants:
        for with_schedulers in ([], schedulers) if not variant else ([],):
            full = full_kwargs(ours, {**kwargs, **variant})
            for sparse in (True, False):
                mine, theirs = both(ours, lambda cls: sparse_rosenbrock(cls, full, with_schedulers, sparse, 30))
                assert_same(mine, theirs, f"{variant} {with_schedulers} {sparse}")
            torch.testing.assert_close(mine, sparse_rosenbrock(ours, full, with_schedulers, True, 30))


@pytest.mark.slow
@SPARSE
def test_rosenbrock_sparse_gets_closer_in_torchs_2000_steps(ours):
    kwargs, schedulers = info_of(ours).metadata_for_sparse
    full = full_kwargs(ours, kwargs)
    mine, theirs = both(ours, lambda cls: sparse_rosenbrock(cls, full, schedulers, True, 2000))
    assert_same(mine, theirs)
    start = torch.tensor([1.5, 1.5], dtype=F64)
    assert torch.dist(mine, torch.ones(2, dtype=F64)) <= torch.dist(start, torch.ones(2, dtype=F64))


def test_sparse_embedding_trains_identically():
    """nn.Embedding(sparse=True), as word-embedding models use it."""
    for ours in SPARSE_PAIRS:
        results = []
        for cls in both(ours, lambda cls: cls):
            torch.manual_seed(0)
            embedding = torch.nn.Embedding(20, 4, sparse=True, dtype=F64)
            optimizer = cls(embedding.parameters(), **full_kwargs(ours, {"lr": 0.1}))
            for step in range(5):
                optimizer.zero_grad()
                embedding(torch.tensor([step, 3, 3, 7])).pow(2).sum().backward()
                assert embedding.weight.grad.is_sparse
                optimizer.step()
            results.append(embedding.weight.detach())
        assert_same(*results, ours.__name__)
    with pytest.raises(RuntimeError, match="does not support sparse gradients"):
        embedding = torch.nn.Embedding(5, 2, sparse=True)
        optimizer = Adam(embedding.parameters())
        embedding(torch.tensor([1])).sum().backward()
        optimizer.step()


@pytest.mark.parametrize("ours", PAIRS, ids=PAIR_IDS)
def test_complex(ours):
    """test_complex: a complex parameter equals its real view, step for step, and equals torch;
    test_complex_2d: Rosenbrock on one complex number vs. its real and imaginary parts. 64 x 64,
    not torch's 5 x 5: a last bit that the order of complex and real arithmetic changes (where the
    L2 term joins, AdaDelta's complex last line) shows in only a few elements in a hundred."""
    for desc, kwargs in configs(ours, skip=("differentiable",)):
        def complex_run(cls: type) -> torch.Tensor:
            generator = torch.Generator().manual_seed(0)
            z = torch.randn(64, 64, dtype=torch.complex128, generator=generator, requires_grad=True)
            pairs = torch.view_as_real(z).detach().clone().requires_grad_()
            opt_z, opt_pairs = cls([z], **copy.deepcopy(kwargs)), cls([pairs], **copy.deepcopy(kwargs))
            for _ in range(3):
                z.grad = torch.randn(64, 64, dtype=torch.complex128, generator=generator)
                pairs.grad = torch.view_as_real(z.grad).clone()
                opt_z.step()
                opt_pairs.step()
                torch.testing.assert_close(torch.view_as_real(z.detach()), pairs.detach())
            return z.detach()
        assert_same(*both(ours, complex_run), desc)

    def rosenbrock_2d(cls: type) -> torch.Tensor:
        a = torch.tensor([1 + 0.5j, -0.5 + 1j], dtype=torch.complex128, requires_grad=True)
        optimizer = cls([a], **full_kwargs(ours, {"lr": 1e-3}))
        for _ in range(10):
            optimizer.zero_grad()
            ((1 - a[0]) ** 2 + 100 * (a[1] - a[0] ** 2) ** 2).abs().backward()
            optimizer.step()
        return a.detach()
    assert_same(*both(ours, rosenbrock_2d), "complex_2d")


def test_complex_adagrad_is_the_issue_example():
    z = torch.zeros(1, dtype=torch.complex64, requires_grad=True)
    z.grad = torch.tensor([1 + 1j])
    AdaGrad([z], lr=0.1, eps=1e-10).step()
    torch.testing.assert_close(z.detach(), torch.tensor([-0.1 - 0.1j]))


@pytest.mark.parametrize("ours", PAIRS, ids=PAIR_IDS)
def test_step_is_noop_without_grads_and_zero_grads_match(ours):
    for desc, kwargs in configs(ours):
        before, layouts = weight_bias()[0].detach(), []
        for cls in both(ours, lambda cls: cls):
            weight, bias, _ = weight_bias()
            optimizer = cls([weight, bias], **copy.deepcopy(kwargs))
            optimizer.step()
            assert torch.equal(weight.detach(), before), desc
            layouts.append([sorted(state) for state in optimizer.state.values()])  # AdaGrad: made up front
        assert layouts[0] == layouts[1], desc

        def zero_grads(cls: type) -> torch.Tensor:
            w = before.clone().requires_grad_()
            opt = cls([w], **copy.deepcopy(kwargs))
            w.grad = torch.zeros_like(w)
            opt.step()
            return w.detach()
        assert_same(*both(ours, zero_grads), desc)


@pytest.mark.parametrize("ours", PAIRS, ids=PAIR_IDS)
def test_non_empty_state(ours):
    """test_non_empty_state: after a step no parameter has an empty state entry (torch's SGD
    without momentum keeps none at all), and the same parameters have one as in torch's twin."""
    for desc, kwargs in configs(ours):
        kept = []
        for cls in both(ours, lambda cls: cls):
            model = torch.nn.Linear(5, 5)
            optimizer = cls(model.parameters(), **copy.deepcopy(kwargs))
            optimizer.zero_grad()
            model(torch.rand(2, 5)).sum().backward()
            optimizer.step()
            assert all(len(state) > 0 for state in optimizer.state.values()), f"{desc} {cls.__module__}"
            kept.append(len(optimizer.state))
        assert kept[0] == kept[1], desc


@pytest.mark.parametrize("ours", PAIRS, ids=PAIR_IDS)
def test_printing_and_deepcopy(ours):
    optimizer = ours(weight_bias()[:2], **full_kwargs(ours, {}))
    assert type(optimizer).__name__ in repr(optimizer)
    public = {k for k in optimizer.__dict__ if not k.startswith("_")}
    assert public == {k for k in copy.deepcopy(optimizer).__dict__ if not k.startswith("_")}


def trained(cls: type, kwargs: dict[str, Any], steps: int = 4, seed: int = 0):
    weight, bias, x = weight_bias(seed)
    optimizer = cls([weight, bias], **copy.deepcopy(kwargs))
    closure = closure_for(optimizer, weight, bias, x)
    for _ in range(steps):
        optimizer.step(closure)
    return optimizer, (weight, bias, x)


def continue_run(optimizer, params, steps: int = 4) -> list[torch.Tensor]:
    closure = closure_for(optimizer, *params)
    for _ in range(steps):
        optimizer.step(closure)
    return [params[0].detach(), params[1].detach()]


@pytest.mark.parametrize("ours", PAIRS, ids=PAIR_IDS)
def test_state_dict_has_torchs_layout(ours):
    """The same state names and param-group keys as the twin: interchange needs no mapping."""
    for desc, kwargs in configs(ours, skip=("differentiable", "foreach")):
        mine, theirs = (trained(cls, kwargs)[0].state_dict() for cls in both(ours, lambda cls: cls))
        assert set(mine["param_groups"][0]) == set(theirs["param_groups"][0]), desc
        for index in theirs["state"]:
            assert set(mine["state"][index]) == set(theirs["state"][index]), desc
            for name, value in theirs["state"][index].items():
                if name != "step":  # torch keeps a float tensor, we an int: each loads the other
                    assert_same(mine["state"][index][name], value, f"{desc} {name}")


@pytest.mark.parametrize("ours", PAIRS, ids=PAIR_IDS)
def test_state_dict_interchange_with_torch(ours):
    """Save with one class, load into the other, continue: ours then equals the unbroken run, and
    torch's class equals its own save and load (torch's load casts per-step scalars such as NAdam's
    float32 `mu_product` to the parameter's dtype, so its own resumed runs drift; ours keep it)."""
    def resumed_run(saver: type, loader: type, kwargs: dict[str, Any]) -> list[torch.Tensor]:
        optimizer, params = trained(saver, kwargs)
        saved = copy.deepcopy(optimizer.state_dict())
        fresh = [p.detach().clone().requires_grad_() for p in params[:2]]
        resumed = loader(fresh, **copy.deepcopy(kwargs))
        resumed.load_state_dict(saved)
        return continue_run(resumed, (*fresh, params[2]))

    for desc, kwargs in configs(ours, skip=("differentiable", "foreach")):
        straight = continue_run(*trained(PAIRS[ours], kwargs))
        assert_same(resumed_run(PAIRS[ours], ours, kwargs), straight, f"{desc} torch -> ours")
        torch_own = resumed_run(PAIRS[ours], PAIRS[ours], kwargs)
        assert_same(resumed_run(ours, PAIRS[ours], kwargs), torch_own, f"{desc} ours -> torch")


@pytest.mark.parametrize("ours", PAIRS, ids=PAIR_IDS)
def test_state_dict_deterministic_old_and_weights_only(ours):
    """test_state_dict_deterministic, test_can_load_older_state_dict, test_load_nontensor_step,
    test_save_load_equality_with_weights_only."""
    for desc, kwargs in configs(ours, skip=("differentiable", "foreach")):
        optimizer, params = trained(ours, kwargs)
        twin, twin_params = trained(ours, kwargs)
        assert_same(optimizer.state_dict(), twin.state_dict(), desc)

        buffer = io.BytesIO()
        torch.save(optimizer.state_dict(), buffer)
        buffer.seek(0)
        assert_same(torch.load(buffer, weights_only=True), optimizer.state_dict(), desc)

        old = copy.deepcopy(optimizer.state_dict())
        for group in old["param_groups"]:
            group.pop("maximize", None)
            group.pop("foreach", None)
        for state in old["state"].values():
            if "step" in state:
                state["step"] = torch.tensor(float(state["step"]))  # as torch writes it
        twin.load_state_dict(old)
        assert_same(continue_run(twin, twin_params), continue_run(optimizer, params), desc)


@pytest.mark.parametrize("ours", PAIRS, ids=PAIR_IDS)
def test_hooks_run_as_torchs(ours):
    """test_step_pre_hook / post_hook / state_dict and load_state_dict hooks: inherited, exercised."""
    calls: list[str] = []
    optimizer = ours(weight_bias()[:2], **full_kwargs(ours, {}))
    optimizer.register_step_pre_hook(lambda *_: calls.append("pre"))
    optimizer.register_step_post_hook(lambda *_: calls.append("post"))
    optimizer.register_state_dict_post_hook(lambda _, sd: calls.append("sd") or sd)
    optimizer.register_load_state_dict_pre_hook(lambda _, sd: calls.append("load") or sd)
    optimizer.step()
    optimizer.load_state_dict(optimizer.state_dict())
    assert calls == ["pre", "post", "sd", "load"]


@pytest.mark.parametrize("ours", PAIRS, ids=PAIR_IDS)
def test_differentiable_step_gives_torchs_gradients(ours):
    """TestDifferentiableOptimizer: autograd through `step`; d(loss after steps)/d(start, grad)."""
    for desc, kwargs in configs(ours, skip=("foreach",)):
        if not kwargs["differentiable"] or torch.is_tensor(kwargs["lr"]):
            continue

        def through_steps(cls: type, steps: int):
            generator = torch.Generator().manual_seed(0)
            start = torch.randn(3, 2, generator=generator, dtype=F64, requires_grad=True)
            grad = torch.randn(3, 2, generator=generator, dtype=F64, requires_grad=True)
            param = start.clone()
            optimizer = cls([param], **copy.deepcopy(kwargs))
            for step in range(steps):
                param.grad = grad * (step + 1)
                optimizer.step()
            return param.detach(), torch.autograd.grad((param * param).sum(), (start, grad))

        for steps in (1, 3):
            outcomes = []
            for cls in both(ours, lambda cls: cls):
                try:
                    outcomes.append(through_steps(cls, steps))
                except RuntimeError as error:  # torch's own in-place limits (AMSGrad, centred momentum)
                    outcomes.append(type(error))
            assert_same(*outcomes, f"{desc} {steps}")


@pytest.mark.parametrize("scheduler", ["OneCycleLR", "CyclicLR"])
@pytest.mark.parametrize("ours", PAIRS, ids=PAIR_IDS)
def test_cycling_schedulers_with_default_cycle_momentum(ours, scheduler):
    """OneCycleLR/CyclicLR cycle `momentum` (or beta1): built, and run, wherever torch's twin is."""
    def run(cls: type):
        weight, bias, x = weight_bias()
        optimizer = cls([weight, bias], **full_kwargs(ours, {}))
        if scheduler == "OneCycleLR":
            sched = OneCycleLR(optimizer, max_lr=0.01, total_steps=10)
        else:
            sched = CyclicLR(optimizer, base_lr=0.001, max_lr=0.01, step_size_up=3)
        closure = closure_for(optimizer, weight, bias, x)
        for _ in range(8):
            optimizer.step(closure)
            sched.step()
        return [weight.detach(), bias.detach(), optimizer.param_groups[0].get("momentum")]
    outcomes = []
    for cls in both(ours, lambda cls: cls):
        try:
            outcomes.append(run(cls))
        except ValueError as error:  # torch refuses optimizers without momentum (Adagrad, Adadelta)
            outcomes.append(str(error).replace(PAIRS[ours].__name__, "?").replace(ours.__name__, "?"))
    assert_same(*outcomes)
    if {"momentum", "betas"} & set(inspect.signature(PAIRS[ours]).parameters):
        assert isinstance(outcomes[0], list)


def test_duplicate_and_named_params_behave_as_torch():
    """The generic constructor checks come from torch.optim.Optimizer: named params round-trip."""
    weight, bias, x = weight_bias()
    named = [("weight", weight), ("bias", bias)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        optimizer = Adam(named, lr=0.1)
    optimizer.step(closure_for(optimizer, weight, bias, x))
    assert optimizer.state_dict()["param_groups"][0]["param_names"] == ["weight", "bias"]


@pytest.mark.parametrize("ours", PAIRS, ids=PAIR_IDS)
def test_interchange_with_a_parameter_that_had_no_gradient_yet(ours):
    """torch makes AdaGrad's state at construction and every other one lazily; a state dict with a
    not-yet-trained parameter loads both ways, and that parameter then trains identically: ours as
    in torch's unbroken run, torch's class as after its own save and load (see above)."""
    def run(saver: type, loader: type | None) -> list[torch.Tensor]:
        weight, bias, x = weight_bias()
        late = torch.ones(3, dtype=F64, requires_grad=True)
        optimizer = saver([weight, bias, late], **full_kwargs(ours, {}))
        optimizer.step(closure_for(optimizer, weight, bias, x))
        if loader is not None:
            state = copy.deepcopy(optimizer.state_dict())
            optimizer = loader([weight, bias, late], **full_kwargs(ours, {}))
            optimizer.load_state_dict(state)
        for _ in range(2):
            optimizer.zero_grad()
            ((weight.mv(x) + bias).pow(2).sum() + late.pow(2).sum()).backward()
            optimizer.step()
        return [weight.detach(), bias.detach(), late.detach()]
    unbroken = run(PAIRS[ours], None)
    assert_same(run(PAIRS[ours], ours), unbroken, "torch -> ours")
    assert_same(run(ours, ours), unbroken, "ours -> ours")
    assert_same(run(ours, PAIRS[ours]), run(PAIRS[ours], PAIRS[ours]), "ours -> torch")
