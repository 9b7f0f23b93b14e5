"""The hyperparameters of word2vec training, each with the reason for its default.

Defaults are the d2l_lab DEFAULT preset (`configs/word2vec/default.yaml`): skip-gram on PTB
with the book's/Mikolov's model settings (dim 100, window 5, 5 noise words, t = 1e-4,
min count 5) and an optimisation recipe (batches of 2048 pairs, noise words shared by small
groups of pairs, plain SGD with a high, linearly decaying learning rate) tuned so that 15
epochs reach WordSim-353 rho >= 0.40 for every seed tried (0-9: 0.408-0.460, mean 0.427),
where gensim needs 20 epochs to reach 0.38-0.41.
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
    epochs: int = param(15, "passes over the corpus; with the rate below, 15 reach WordSim-353 "
                        "rho 0.41-0.46 on PTB over seeds 0-9 (gensim: 20 epochs at 0.025)", ge=1)
    batch_size: int = param(2048, "pairs per SGD step; large batches amortise Python overhead per "
                            "step (the book uses 512); 2048 is faster per epoch than 4096 or 1024 "
                            "on a CPU (its rows stay in cache) and the rate below is tuned for it", ge=1)
    lr: float = param(0.05, "initial SGD learning rate, 2x gensim's 0.025. On PTB what matters is "
                      "about lr x epochs: 0.7-0.9 is best (mean rho 0.424-0.427 over 10 seeds), 0.5 "
                      "under-trains (0.387) and 1.2 over-fits the small corpus (0.399); 0.15 can "
                      "diverge, since each row's step sums all its pairs in a batch", gt=0)
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
