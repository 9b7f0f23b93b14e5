"""Turn `--device auto|cpu|cuda|cuda:N|mps` into a torch device, or say clearly why not."""

from __future__ import annotations

import re

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
