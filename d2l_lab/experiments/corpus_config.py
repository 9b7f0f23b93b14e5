"""Run settings every embedding experiment shares: seed, device and the corpus it trains on, and
the CPU parallelism of the trainers (`threads`, `workers`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from d2l_lab.config.schema import LogConfig, log_section, param
from d2l_lab.devices import check_device_name
from d2l_lab.errors import UserError

PROBE_WORDS = ("chip", "intel", "baby", "beautiful", "computer", "money")
"""The book's example words, whose nearest neighbours every embedding run reports."""


def threads_param() -> Any:
    """A trainer's torch threads: one by default, for the reason in the help."""
    return param(1, "torch CPU threads; null uses every core. 1 by default: more threads are faster on "
                 "idle cores but much slower as soon as another process busies a core, since torch's "
                 "OpenMP threads wait for each other at every op (GloVe on PTB with one of 2 cores busy: "
                 "80 s per epoch on 2 threads, 2.3 s on 1); must be 1 when workers > 1", ge=1)


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


@dataclass(frozen=True)
class CorpusRunConfig:
    seed: int = param(0, "seeds the initial vectors and every epoch's sampling and shuffling", ge=0, lt=2**32)
    device: str = param("auto", "auto, cpu, cuda, cuda:N or mps; auto prefers a GPU")
    corpus: str | None = param(None, "whitespace-tokenised text file, one sentence per line (.gz, .bz2 "
                               "and .xz accepted), or a directory of such files, read as a stream; "
                               "when not given (null), the bundled Penn Treebank (887,521 tokens)")
    log: LogConfig = log_section()

    def check(self) -> None:
        check_device_name(self.device)
