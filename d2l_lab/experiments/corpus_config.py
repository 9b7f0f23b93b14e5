"""Run settings every embedding experiment shares: seed, device and the corpus it trains on (the
trainers' own shared settings are `embeddings.settings`)."""

from __future__ import annotations

from dataclasses import dataclass

from d2l_lab.config.schema import LogConfig, log_section, param
from d2l_lab.devices import check_device_name


@dataclass(frozen=True)
class CorpusRunConfig:
    seed: int = param(0, "seeds the initial vectors and every epoch's sampling and shuffling", ge=0, lt=2**32)
    device: str = param("auto", "auto, cpu, cuda, cuda:N or mps; auto prefers a GPU")
    corpus: str | None = param(None, "whitespace-tokenised text file, one sentence per line (.gz, .bz2 "
                               "and .xz accepted), or a directory of such files, read as a stream",
                               null="the bundled Penn Treebank (887,521 tokens)")
    eval_sets: tuple[str, ...] = param((), "evaluation sets scored at the end besides the bundled ones, "
                                       "each a final metric (e.g. [men3k, bats3]; fetch each first with "
                                       "`d2l data fetch NAME`)", saved_when_set=True)
    evals_per_epoch: int = param(1, "WordSim-353 evaluations per epoch, the last at its end, each at the end of "
                                 "the part of the epoch it falls in (a chunk with --workers > 1): more lets a "
                                 "search's pruner stop a hopeless trial within its first epoch",
                                 ge=1, le=100, saved_when_set=True)
    log: LogConfig = log_section()

    def check(self) -> None:
        check_device_name(self.device)
        from d2l_lab.embeddings.eval_sets import DEFAULT_SETS, check_fetched, named_sets

        check_fetched([s for s in named_sets(self.eval_sets) if s not in DEFAULT_SETS])
