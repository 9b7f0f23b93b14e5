"""Settings every embedding trainer shares: its CPU parallelism (`threads`, `workers`) and the
probe words whose neighbours a run reports. Torch-free, so configs validate before torch loads."""

from __future__ import annotations

from typing import Any

from d2l_lab.config.schema import param
from d2l_lab.errors import UserError

PROBE_WORDS = ("chip", "intel", "baby", "beautiful", "computer", "money")
"""The book's example words, whose nearest neighbours every embedding run reports."""


def probe_words_param() -> Any:
    return param(PROBE_WORDS, "words whose nearest neighbours are reported, the book's examples ('chip' etc.)")


def threads_param() -> Any:
    """A trainer's torch threads: one by default, for the reason in the help."""
    return param(1, "torch CPU threads. 1 by default: more threads are faster on idle cores but much "
                 "slower as soon as another process busies a core, since torch's OpenMP threads wait for "
                 "each other at every op (GloVe on PTB with one of 2 cores busy: 80 s per epoch on 2 "
                 "threads, 2.3 s on 1); must be 1 when workers > 1", ge=1, null="every core")


def workers_param(batches: str, speed: str) -> Any:
    """A trainer's Hogwild worker processes (`embeddings.hogwild`): training `batches`, `speed` measured."""
    return param(1, f"processes that train {batches} together (CPU only), each on one torch thread, "
                 "updating shared tables without locks as the C tools and gensim do (Hogwild). "
                 f"{speed}, but the vectors then vary from run to run. 1 keeps a run bit-for-bit "
                 "reproducible (and its --resume exact), hence the default", ge=1, le=256)


def check_workers(workers: int, threads: int | None) -> None:
    if workers > 1 and threads != 1:
        raise UserError(f"config key 'threads' must be 1 when 'workers' is {workers}: each worker "
                        "process runs one torch thread")
