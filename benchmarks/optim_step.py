"""Time one `optimizer.step()` of our from-scratch optimizers against torch.optim's.

    python benchmarks/optim_step.py [--params 10_000_000] [--device cpu] [--repeats 30] [--threads N]

A stack of square Linear layers with about `--params` parameters gets random gradients once;
then, per algorithm, ours, torch.optim's default path and torch.optim with foreach=True (and
fused=True where torch has a fused kernel for that device) each take warm-up steps, and are then
timed in rotating order, one step each per round, so drift in machine load hits all of them
alike. The table shows median milliseconds per step, ours / torch's fastest non-fused path
(the target is <= 1.1) and ours / fused=True where torch has a fused kernel: that one fuses the
whole update into one C++ loop per tensor, which per-op Python code cannot match, so it is there
to say where ours stands, not as a target.
Algorithms without a torch.optim twin (yogi, lion) show only their own time.
On a machine shared with other jobs, `--threads 1` gives far steadier numbers: multi-threaded
ops stall whenever another process preempts one of their threads.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

from d2l_lab.optimizers import ALGORITHMS, OptimizerConfig, build_optimizer
from d2l_lab.optimizers.config import torch_optimizer

# torch.optim classes that accept fused=True (on CPU since torch 2.4, and on CUDA).
FUSED = {"sgd", "momentum", "nesterov", "adagrad", "adam", "adamw"}


def make_params(n_params: int, layers: int, device: torch.device) -> list[torch.Tensor]:
    """Square Linear layers (weights and biases) totalling about n_params, with gradients."""
    width = round(math.sqrt(n_params / layers))
    generator = torch.Generator().manual_seed(0)
    model = torch.nn.Sequential(*(torch.nn.Linear(width, width) for _ in range(layers))).to(device)
    params = list(model.parameters())
    for p in params:
        p.grad = torch.randn(p.shape, generator=generator).to(device)
    return params


def time_steps(steps: dict[str, Callable[[], None]], repeats: int, warmup: int,
               sync: Callable[[], None]) -> dict[str, float]:
    """Median seconds per call of each function, measured in rotating interleaved order."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    sync()
    names = list(steps)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = time.perf_counter()
            steps[name]()
            sync()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=lambda s: int(s.replace("_", "")), default=10_000_000)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--algos", nargs="+", default=list(ALGORITHMS), choices=ALGORITHMS)
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.set_default_dtype(getattr(torch, args.dtype))
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    params = make_params(args.params, args.layers, device)
    total = sum(p.numel() for p in params)
    print(f"{total:,} parameters in {len(params)} tensors, {args.dtype} on {device}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}, median of {args.repeats}")
    print(f"{'algo':<9} {'ours ms':>8} {'default':>8} {'foreach':>8} {'fused':>8} {'ours/best':>10} {'ours/fused':>10}")
    for algo in args.algos:
        # Small steps keep the repeatedly updated weights finite; the speed does not depend on lr.
        cfg = OptimizerConfig(algo=algo, lr=1e-4)
        optimizers = {"ours": build_optimizer(params, cfg)}
        if ALGORITHMS[algo].torch_class is not None:
            optimizers["default"] = torch_optimizer(params, cfg)
            optimizers["foreach"] = torch_optimizer(params, cfg, foreach=True)
        if algo in FUSED:
            optimizers["fused"] = torch_optimizer(params, cfg, fused=True)
        median = time_steps({k: o.step for k, o in optimizers.items()}, args.repeats, args.warmup, sync)
        shown = {k: f"{median[k] * 1e3:8.2f}" if k in median else f"{'-':>8}" for k in ("default", "foreach", "fused")}
        ratio = f"{'-':>10}"
        if "default" in median:
            ratio = f"{median['ours'] / min(median['default'], median['foreach']):10.2f}"
        fused_ratio = f"{median['ours'] / median['fused']:10.2f}" if "fused" in median else f"{'-':>10}"
        print(f"{algo:<9} {median['ours'] * 1e3:8.2f} {shown['default']} {shown['foreach']} {shown['fused']} {ratio} "
              f"{fused_ratio}")
        del optimizers


if __name__ == "__main__":
    main()
