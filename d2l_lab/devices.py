"""Turn `--device auto|cpu|cuda|cuda:N|mps` into a torch device, or say clearly why not; and
size the CPU threads a trainer on it uses."""

from __future__ import annotations

import os
import re
from typing import Any

from d2l_lab.errors import UserError

DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def check_device_name(name: str) -> None:
    """Syntax only, without importing torch (config validation runs before torch loads)."""
    if not DEVICE_PATTERN.match(name):
        raise UserError(f"config key 'device' must be auto, cpu, cuda, cuda:N or mps; got '{name}'")


def resolve_device(name: str):
    """The torch.device to run on: `auto` prefers CUDA, then Apple's MPS, then the CPU."""
    import torch

    check_device_name(name)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"device '{name}' requested but CUDA is not available here: use --device cpu or auto")
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise UserError(
                f"device '{name}' requested but only {torch.cuda.device_count()} CUDA device(s) exist: "
                f"use cuda:0..cuda:{torch.cuda.device_count() - 1}"
            )
    if name == "mps" and not torch.backends.mps.is_available():
        raise UserError("device 'mps' requested but Apple's MPS is not available here: use --device cpu or auto")
    return torch.device(name)


def use_cpu_cores(section: str, threads: int | None, workers: int, device: Any) -> None:
    """On the CPU, one torch thread per core this process may use unless `threads` says otherwise;
    worker processes (`workers` > 1) exist only there."""
    if workers > 1 and device.type != "cpu":
        raise UserError(f"{section}.workers={workers} trains on the CPU only (device {device.type}): "
                        "use --device cpu or workers 1")
    if device.type != "cpu":
        return
    import torch

    if threads is None:
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(max(1, threads or 1))


def to_numpy(tensor: Any) -> Any:
    """A tensor's values as a NumPy array: the one way tensors reach NumPy, since `.numpy()`
    fails on a tensor that lives on a GPU (and on one that needs grad). Moves it to the CPU first
    (a no-op there, sharing memory: copy it before changing either)."""
    return tensor.detach().cpu().numpy()
