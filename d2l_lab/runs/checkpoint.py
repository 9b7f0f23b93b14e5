"""Checkpoints: plain tensors and Python values, saved atomically, loaded with weights_only.

`weights_only=True` refuses pickled code, so a crafted checkpoint cannot execute anything.
Two identical runs write byte-identical checkpoints: they hold no clock reading (the wall time
lives in summary.json), the global RNG they save starts from the run's seed (`seed_rngs`), and
their strings are interned before pickling (`_canonical`), so the bytes depend on the values only.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, Any

from d2l_lab.errors import UserError
from d2l_lab.files import atomic_write

CHECKPOINT_NAME = "checkpoint.pt"


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Save atomically. A write that fails inside `torch.save` (a full disk, a file size limit)
    comes out of it as a RuntimeError ("unexpected pos ..."); it is raised as the OSError it was,
    which the run loop reports as a failed write, not as a bug."""
    import torch

    state = _canonical(state)

    def write(f: IO[bytes]) -> None:
        target = _Recorded(f)
        try:
            torch.save(state, target)
        except RuntimeError:
            if target.error is not None:
                raise target.error from None
            raise

    atomic_write(path, write)


class _Recorded:
    """A file that remembers the OSError its `write` raised (torch.save turns it into another)."""

    def __init__(self, f: IO[bytes]):
        self.f, self.error = f, None

    def write(self, data: bytes) -> int:
        try:
            return self.f.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self.f.flush()


def _canonical(value: Any) -> Any:
    """`value` with every string interned. Pickle writes a string once and refers back to it when
    the same object appears again, so equal strings that are distinct objects (a key read from
    config.yaml on resume, the same key written in code) would change the bytes, not the values."""
    if type(value) is str:
        return sys.intern(value)
    if type(value) is dict:
        return {_canonical(key): _canonical(item) for key, item in value.items()}
    if type(value) in (list, tuple):
        return type(value)(_canonical(item) for item in value)
    return value


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's values; a file that is not one of ours is one UserError line. A bare pickle
    (not torch's zip format) of protocol 3 or more also makes torch warn about its protocol above
    that line: silenced, since the refusal says all there is to say."""
    import pickle
    import warnings

    import torch

    path = Path(path)
    if not path.is_file():
        raise UserError(f"no checkpoint at '{path}': the run saved none yet; start it again without --resume")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
        from d2l_lab.config.schema import clip

        raise UserError(f"checkpoint '{path}' cannot be loaded safely ({clip(_reason(exc), 160)}); "
                        "it is corrupt or not ours") from None


def _reason(exc: Exception) -> str:
    """The line of torch's refusal that says what is wrong (`Unsupported global: GLOBAL getattr
    ...`), not its first, which offers ways to load the file unsafely."""
    import re

    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(exc).splitlines() if line.strip()]
    for i, line in enumerate(lines):
        _, marker, found = line.partition("WeightsUnpickler error:")
        if marker and (found.strip() or i + 1 < len(lines)):  # the reason follows, on this line or the next
            return (found.strip() or lines[i + 1]).split(". ")[0]
    return lines[0] if lines else type(exc).__name__


def seed_rngs(seed: int) -> None:
    """Seed torch's global generators with the run's seed before the task is built: torch seeds
    them from the clock at start-up, so the RNG state a checkpoint saves would differ between
    identical runs (the experiments themselves draw from their own seeded generators)."""
    import torch

    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """The global torch RNG states; experiments draw from generators seeded per epoch, this
    covers anything else (dropout-like code a user adds) so a resumed run draws the same."""
    import torch

    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    import torch

    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
