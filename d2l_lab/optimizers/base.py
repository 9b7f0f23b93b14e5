"""The shared step loop: lazy per-parameter state, then each optimizer's per-tensor `update`.

A subclass names its state buffers and writes `update(param, grad, state, group)` for ONE tensor
with public tensor ops, line for line with the equations in its docstring. Speed is not its
concern: `blocking.py` may run an elementwise update on cache-sized slices (see there), which is
why `update` must change `param` and the buffers in place and never replace a state entry, and
why state that moves once per step (the step count, NAdam's running product of momenta) moves in
`begin_step`, called once per parameter and step before `update`, however many slices follow.

What every torch.optim class does around its arithmetic is done here, once, so the updates stay
their equations: `maximize` (negate the gradient), complex parameters (viewed as real pairs, as
torch does, so |g|^2 is per real coordinate), `differentiable` (autograd through `step`), tensor
`step` counts in loaded state dicts, and torch's validation messages.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import torch

from d2l_lab.optimizers.blocking import run_update

# torch.optim's constructor checks: name -> (lowest allowed, upper bound or None, upper inclusive,
# torch's message). Betas are checked per index, as torch does.
_RANGES: dict[str, tuple[float, float | None, bool, str]] = {
    "lr": (0.0, None, False, "Invalid learning rate: {}"),
    "eps": (0.0, None, False, "Invalid epsilon value: {}"),
    "weight_decay": (0.0, None, False, "Invalid weight_decay value: {}"),
    "momentum": (0.0, None, False, "Invalid momentum value: {}"),
    "alpha": (0.0, None, False, "Invalid alpha value: {}"),
    "rho": (0.0, 1.0, True, "Invalid rho value: {}"),
    "lr_decay": (0.0, None, False, "Invalid lr_decay value: {}"),
    "initial_accumulator_value": (0.0, None, False, "Invalid initial_accumulator_value value: {}"),
    "momentum_decay": (0.0, None, False, "Invalid momentum_decay value: {}"),
}


def _dynamo_free(name: str) -> Callable[..., Any]:
    """torch.optim.Optimizer's method `name` without its `torch._disable_dynamo` wrapper until
    torch._dynamo is loaded. The wrapper imports torch._dynamo on its first call (about a second,
    more than the rest of `d2l run optim` after `import torch`) only to tell dynamo not to trace
    the method; before anything has loaded dynamo nothing can be tracing, so the method itself is
    called. Once dynamo is loaded (torch.compile, torch.optim's own `step`) the wrapper is
    called as torch calls it. torch is not changed: the method is reached through the
    `__wrapped__` that `functools.wraps` leaves, or is the wrapper itself where there is none."""
    wrapper = getattr(torch.optim.Optimizer, name)
    method = getattr(wrapper, "__wrapped__", wrapper)

    @functools.wraps(method)
    def call(self: torch.optim.Optimizer, *args: Any, **kwargs: Any) -> Any:
        return (wrapper if "torch._dynamo" in sys.modules else method)(self, *args, **kwargs)

    return call


class Optimizer(torch.optim.Optimizer):
    """Base class: `state[p]` holds `step` (an int, so no device sync) and the named `buffers`.

    `defaults` are the constructor's keywords under torch's names, so param groups carry the keys
    torch's twin carries (`momentum`, `betas`, `maximize`, ...): schedulers such as OneCycleLR
    find them, and state dicts load into either class.
    """

    buffers: ClassVar[tuple[str, ...]] = ()
    scalars: ClassVar[tuple[str, ...]] = ()
    """Per-step scalar state beside `step` (NAdam's `mu_product`): 0-dim tensors of `scalar_dtype()`,
    made by `init_state` and advanced by `begin_step`, never by `update`."""
    elementwise: ClassVar[bool] = False
    """True when element i of the result depends only on element i of param, grad and buffers
    (no norms, means or shapes): only then may `blocking.py` split a tensor into slices."""
    counts_steps: ClassVar[bool] = True
    """False for SGD, whose torch twin keeps no `step` in its state."""
    supports_sparse: ClassVar[bool] = False
    """True where torch's twin takes sparse gradients (nn.Embedding(sparse=True))."""
    decay_on_gradient: ClassVar[bool] = True
    """False where weight decay acts on the weights (Lion; Adam with decoupled_weight_decay)."""
    decay_before_real_view: ClassVar[bool] = True
    """Whether torch's twin adds the L2 term to a complex gradient before viewing it as (re, im)
    pairs, in complex arithmetic, or after, on the pairs (False: NAdam, RAdam): they round apart."""
    renamed: ClassVar[dict[str, str]] = {}
    """Old name -> torch's, for group keys and state buffers in checkpoints written before our
    names became torch's (AdaGrad's `sum_sq` is `sum`, RMSProp's `gamma` is `alpha`)."""
    complex_as_real: ClassVar[bool] = True
    """View complex tensors as (re, im) pairs, as torch does for every optimizer but SGD (whose
    linear update is the same either way)."""

    add_param_group = _dynamo_free("add_param_group")
    zero_grad = _dynamo_free("zero_grad")
    state_dict = _dynamo_free("state_dict")
    load_state_dict = _dynamo_free("load_state_dict")

    def __init__(self, params: Iterable[Any], **defaults: Any):
        lr = defaults.get("lr")
        if isinstance(lr, torch.Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        for name, value in defaults.items():
            if name in _RANGES:
                check_range(name, value, *_RANGES[name])
        for index, beta in enumerate(defaults.get("betas", ())):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {index}: {beta}")
        for switch in ("fused", "capturable"):
            if defaults.get(switch):
                raise ValueError(f"{type(self).__name__}: {switch}=True selects torch.optim's own kernels, which this "
                                 "from-scratch class does not have: use torch.optim's class (in d2l: --impl torch)")
        super().__init__(params, defaults)

    def buffers_for(self, group: dict[str, Any]) -> tuple[str, ...]:
        """The buffers this group's options need (AMSGrad adds `max_exp_avg_sq`, ...)."""
        return self.buffers

    def init_state(self, param: torch.Tensor, group: dict[str, Any]) -> dict[str, Any]:
        """Zeroed buffers, created on the first step a parameter has a gradient."""
        state: dict[str, Any] = {"step": 0} if self.counts_steps else {}
        for name in self.buffers_for(group):
            state[name] = torch.zeros_like(param, memory_format=torch.preserve_format)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Also what `load_state_dict` ends with: accept torch's state dicts and older ones of ours."""
        super().__setstate__(state)
        for entries in (*self.param_groups, *self.state.values()):
            for old_name, name in self.renamed.items():
                if old_name in entries:
                    entries[name] = entries.pop(old_name)
        for group in self.param_groups:
            for key, value in self.defaults.items():
                group.setdefault(key, value)  # a state dict saved before the key existed
        for param_state in self.state.values():
            if isinstance(param_state.get("step"), torch.Tensor):  # torch writes a float tensor
                param_state["step"] = int(param_state["step"].item())
            for name in self.scalars:
                # load_state_dict casts state tensors to the parameter's dtype: kept there, a float32
                # product would go on in float64 and round away from the run that was never stopped.
                if name in param_state:
                    param_state[name] = torch.as_tensor(param_state[name], dtype=scalar_dtype())

    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        # torch's rule: autograd records the step only for differentiable=True.
        with torch.set_grad_enabled(self.defaults.get("differentiable", False)):
            loss = None
            if closure is not None:
                with torch.enable_grad():
                    loss = closure()
            for group in self.param_groups:
                for param in group["params"]:
                    if param.grad is not None:
                        self._step_one(param, group)
        return loss

    def _step_one(self, param: torch.Tensor, group: dict[str, Any]) -> None:
        grad = -param.grad if group.get("maximize") else param.grad
        if grad.is_sparse and not self.supports_sparse:
            raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
        state = self.state.get(param) or self.init_state(param, group)
        if state:  # no entry at all where there is nothing to keep, as torch's SGD without momentum
            self.state[param] = state
        if isinstance(group["lr"], torch.Tensor) and group["lr"].dim():
            group = {**group, "lr": group["lr"].squeeze()}  # torch uses a 1-element lr as a 0-dim one
        self.begin_step(state, group)
        if self.complex_as_real and torch.is_complex(param) and not grad.is_sparse:
            if (group["weight_decay"] and self.decay_on_gradient and self.decay_before_real_view
                    and not group.get("decoupled_weight_decay")):
                # torch's twin adds the L2 term in complex arithmetic before viewing; so do we, so
                # the rounding is the same (the update's first line then adds nothing).
                grad, group = grad.add(param, alpha=group["weight_decay"]), {**group, "weight_decay": 0}
            # The update sees (re, im) pairs: g * g is then re^2 and im^2, |g|^2 summed per pair.
            state = {name: real_pairs(value) if torch.is_tensor(value) else value for name, value in state.items()}
            param, grad = real_pairs(param), real_pairs(grad)
        if grad.is_sparse or torch.is_grad_enabled():
            self.update(param, grad, state, group)  # no slicing: sparse, or autograd records views
        else:
            run_update(self, param, grad, state, group)

    def begin_step(self, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Advance the per-step state of one parameter, once per step, before `update` (which
        `blocking.py` may call once per slice): the step count, and `scalars` in subclasses."""
        if self.counts_steps:
            state["step"] += 1

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        """One step for one tensor, in place; `begin_step` has already counted this step."""
        raise NotImplementedError


def real_pairs(tensor: torch.Tensor) -> torch.Tensor:
    """A complex tensor viewed as (re, im) pairs of reals, as torch's optimizers view them; a real
    tensor as it is."""
    return torch.view_as_real(tensor) if tensor.is_complex() else tensor


def scalar_dtype() -> torch.dtype:
    """The dtype of torch.optim's scalar state and arithmetic: float64 only where it is the default."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def scratch(tensor: torch.Tensor) -> torch.Tensor:
    """A temporary that the in-place op after it may overwrite: `tensor` itself, or a copy while
    autograd records the step (differentiable=True), whose backward still needs the original.
    In place, a big update allocates one temporary instead of two (torch branches the same way)."""
    return tensor.clone() if torch.is_grad_enabled() else tensor


def check_range(name: str, value: Any, low: float, high: float | None, high_inclusive: bool, message: str) -> None:
    """A ValueError with torch.optim's message for a hyper-parameter out of its range."""
    above = high is not None and (value > high if high_inclusive else value >= high)
    if not low <= value or above:
        raise ValueError(message.format(value))
