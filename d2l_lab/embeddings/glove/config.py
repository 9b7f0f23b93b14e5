"""GloVe's settings: the model and counting settings are the paper's and the GloVe tool's; the
optimisation settings are ours, chosen by measurement on PTB. Torch-free."""

from __future__ import annotations

from dataclasses import dataclass

from d2l_lab.config.schema import param
from d2l_lab.embeddings.settings import (
    check_workers,
    probe_words_param,
    threads_param,
    workers_param,
)

OPTIMIZERS = ("adagrad",)


@dataclass(frozen=True)
class GloveConfig:
    dim: int = param(100, "vector size; 100 is the book's and a common size for a small corpus", ge=1)
    window: int = param(10, "co-occurrences are counted up to this many tokens either side, "
                        "weighted 1/distance; 10 is the GloVe tool's default", ge=1)
    min_count: int = param(5, "words seen fewer times are dropped before counting: their few "
                           "co-occurrences are too noisy to place them (the GloVe tool's default)", ge=1)
    x_max: float = param(100.0, "counts at or above this get full weight h(x)=1, rarer ones less "
                         "(the paper's 100; on PTB 30 learns faster but overfits sooner, 300 is slower)", gt=0)
    alpha: float = param(0.75, "exponent of the weighting h(x)=(x/x_max)^alpha; the paper found "
                         "0.75 better than 1", gt=0, le=1)
    epochs: int = param(20, "passes over the non-zero co-occurrences; on a corpus as small as PTB "
                        "the vectors start to fit noise in rare pairs soon after", ge=1)
    block_entries: int = param(3_000_000, "co-occurrence entries held in memory at once: an epoch is read "
                               "from disk and shuffled in chunks of at most this many, so memory follows it, "
                               "not the corpus; PTB's 2.9M entries fit in one, whose epochs are one "
                               "permutation of them all", ge=1)
    batch_size: int = param(16384, "non-zero entries per update; large batches keep the per-step "
                            "overhead small and still give ~180 updates per PTB epoch", ge=1)
    lr: float = param(0.1, "AdaGrad learning rate; twice the GloVe tool's 0.05, which needs more "
                      "epochs on PTB; much higher rates make results depend on the seed", gt=0)
    optimizer: str = param("adagrad", "AdaGrad on the touched rows only, with the GloVe tool's "
                           "accumulators starting at 1 (the only optimizer implemented)", choices=OPTIMIZERS)
    probe_words: tuple[str, ...] = probe_words_param()
    threads: int | None = threads_param()
    workers: int = workers_param("each epoch's batches", "On 2 idle cores 2 workers train 1.56x faster "
                                 "than 1 (the AdaGrad accumulators shared too), at about the same WS353 rho")

    def check(self) -> None:
        check_workers(self.workers, self.threads)
