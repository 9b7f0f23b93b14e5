"""What the run loop tells its subscribers, so that the loop itself knows no terminal.

The CLI subscribes a terminal (progress bar, warnings on stderr, the final table or `--json`
line); a sweep worker subscribes a collector of warnings; tests may subscribe a list. A
subscriber is any callable taking one event; the loop calls every subscriber, in order, for
every event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union


@dataclass(frozen=True)
class RunResult:
    """How a run ended: what `execute` and `resume` return, and what the `Ended` event carries."""

    exit_code: int
    """One of `d2l_lab.exit_codes`: OK, DIVERGED or INTERRUPTED."""
    summary: dict[str, Any] | None
    """The run's summary.json; None for a dry run."""
    run_dir: Path | None
    """None for a dry run."""


@dataclass(frozen=True)
class Started:
    experiment: str
    run_dir: Path
    device: str
    total_steps: int
    completed_steps: int
    """Steps done before this process started: 0, or the checkpoint's step on resume."""


@dataclass(frozen=True)
class DataRead:
    """The task, while it is built, has read `done` of `total` bytes of its data (a corpus file);
    a new pass over the data starts again from 0."""

    done: int
    total: int | None


@dataclass(frozen=True)
class Warned:
    message: str


@dataclass(frozen=True)
class Stepped:
    step: int
    total_steps: int
    loss: float
    detail: dict[str, Any] = field(default_factory=dict)
    """Where the run stands within the task's own units, for progress displays, from the task's
    optional `progress()`: an embedding run gives `epoch` (epochs done, a fraction), `epochs`
    (planned), `words_per_s` and `lr`. Empty when the task says nothing more."""


@dataclass(frozen=True)
class Logged:
    row: dict[str, Any]
    """One metrics.csv row, as the task evaluated it."""


@dataclass(frozen=True)
class DryRunChecked:
    """`--dry-run`: the config, device and data are valid; nothing was trained."""

    device: str
    total_steps: int


@dataclass(frozen=True)
class Ended:
    result: RunResult


Event = Union[DataRead, Started, Warned, Stepped, Logged, DryRunChecked, Ended]
Subscriber = Callable[[Event], None]


def publish(subscribers: Sequence[Subscriber], event: Event) -> None:
    for subscriber in subscribers:
        subscriber(event)
