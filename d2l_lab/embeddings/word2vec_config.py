"""The hyperparameters of word2vec training, each with the reason for its default.

Defaults are the d2l_lab DEFAULT preset (`configs/word2vec/default.yaml`): skip-gram on PTB
with the book's/Mikolov's model settings (dim 100, window 5, 5 noise words, t = 1e-4,
min count 5) and an optimisation recipe (batches of 4096 pairs, noise words shared by small
groups of pairs, plain SGD with a high, linearly decaying learning rate) tuned so that 10
epochs reach WordSim-353 rho 0.40 on average over seeds, as gensim does in 20.
"""

from __future__ import annotations

from dataclasses import dataclass

from d2l_lab.config.schema import param
from d2l_lab.errors import UserError

MODELS = ("skipgram", "cbow")
LR_SCHEDULES = ("linear", "constant")
PROBE_WORDS = ("chip", "intel", "baby", "beautiful", "computer", "money")


@dataclass(frozen=True)
class Word2VecConfig:
    model: str = param("skipgram", "skipgram predicts each context word from the centre word (the "
                       "book's model, better for rare words); cbow predicts the centre word from "
                       "the mean of its context vectors (faster, smoother)", choices=MODELS)
    dim: int = param(100, "embedding size; 100 is the book's and enough for PTB's 10k words", ge=1)
    window: int = param(5, "maximum context distance; each centre draws its window uniformly "
                        "from 1..window, so near words count more (the book, the C tool)", ge=1)
    negatives: int = param(5, "K: weight of the noise term, equal in expectation to K noise words "
                           "per (centre, context) pair (the book and Mikolov use 5)", ge=1)
    shared_negatives: int = param(8, "noise words drawn for each group of `negative_group` pairs; "
                                  "every pair in the group is scored against all of them with "
                                  "weight negatives/shared_negatives, which turns the noise term "
                                  "into small matrix products (8 per 16 pairs: 12% faster than 16 "
                                  "per 32, same rho)", ge=1)
    negative_group: int = param(16, "pairs that share one draw of noise words; each drawn noise row "
                                "takes the summed step of negative_group*negatives/shared_negatives "
                                "pair-terms (10 here); one draw for a whole batch diverges, and 20 "
                                "(64 pairs per 16 words) is faster but loses rho", ge=1)
    min_count: int = param(5, "words seen fewer times are dropped (too rare to learn; the book "
                           "uses 10, gensim and the C tool 5)", ge=1)
    subsample: float = param(1e-4, "t in P(discard w) = 1 - sqrt(t / f(w)): drops most "
                             "occurrences of very frequent words; 0 keeps every token", ge=0)
    epochs: int = param(10, "passes over the corpus; PTB is small, so it needs about 10 at the "
                        "learning rate below to reach WordSim-353 rho 0.40 (gensim: 20 at 0.025)", ge=1)
    batch_size: int = param(4096, "pairs per SGD step; large batches amortise Python overhead per "
                            "step (the book uses 512); the rate below is tuned for 4096", ge=1)
    lr: float = param(0.075, "initial SGD learning rate: 3x gensim's 0.025 for a run of half as "
                      "many epochs; 0.15 can diverge, since each row's step sums all its "
                      "pairs in a batch, computed at the same weights", gt=0)
    lr_schedule: str = param("linear", "linear decays the learning rate to lr*min_lr_ratio over "
                             "all epochs (the C tool, gensim); constant keeps it", choices=LR_SCHEDULES)
    min_lr_ratio: float = param(1e-4, "floor of the linear decay as a fraction of lr (the C "
                                "tool's 0.0001), so the last batches still move", ge=0, le=1)
    probe_words: tuple[str, ...] = param(PROBE_WORDS, "words whose nearest neighbours are "
                                         "reported, the book's examples ('chip' etc.)")
    threads: int | None = param(1, "torch CPU threads; null uses every core. 1 by default: two threads "
                                "make a PTB epoch 1.5x faster on 2 idle cores (0.6 s vs 0.9 s) but "
                                "5-30x slower as soon as another process busies a core, since "
                                "torch's OpenMP threads wait for each other at every op", ge=1)

    def check(self) -> None:
        if self.batch_size % self.negative_group:
            raise UserError(
                f"config key 'batch_size' ({self.batch_size}) must be a multiple of "
                f"'negative_group' ({self.negative_group}): groups of pairs tile each batch"
            )
