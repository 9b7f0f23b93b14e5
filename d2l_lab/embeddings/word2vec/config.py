"""Word2vec's settings, each with the reason for its default. Torch-free, so the CLI builds its
flags and validates configs without loading torch; the trainer (`trainer.py`) reads them."""

from __future__ import annotations

from dataclasses import dataclass

from d2l_lab.config.schema import fill_defaults, param, refuse_unused
from d2l_lab.embeddings.settings import (
    check_workers,
    probe_words_param,
    threads_param,
    workers_param,
)
from d2l_lab.embeddings.word2vec.objectives import OBJECTIVES
from d2l_lab.errors import UserError

MODELS = ("skipgram", "cbow")
LR_SCHEDULES = ("linear", "constant")


@dataclass(frozen=True)
class Word2VecConfig:
    model: str = param("skipgram", "skipgram predicts each context word from the centre word (the "
                       "book's model, better for rare words); cbow predicts the centre word from "
                       "the mean of its context vectors (faster, smoother)", choices=MODELS)
    loss: str = param("ns", "; ".join(f"{spec.name}: {spec.help}" for spec in OBJECTIVES.values()),
                      choices=tuple(OBJECTIVES), saved_when_set=True)
    dim: int = param(100, "embedding size; 100 is the book's and enough for PTB's 10k words", ge=1)
    window: int = param(5, "maximum context distance; each centre draws its window uniformly "
                        "from 1..window, so near words count more (the book, the C tool)", ge=1)
    negatives: int = param(5, "K: weight of the noise term, equal in expectation to K noise words "
                           "per (centre, context) pair (the book and Mikolov use 5)", ge=1)
    shared_negatives: int = param(8, "noise words drawn for each group of `negative_group` pairs; "
                                  "every pair in the group is scored against all of them with "
                                  "weight negatives/shared_negatives, which turns the noise term "
                                  "into small matrix products", ge=1)
    negative_group: int = param(16, "pairs that share one draw of noise words; each drawn noise row "
                                "takes the summed step of negative_group*negatives/shared_negatives "
                                "pair-terms; one draw for a whole batch diverges, larger groups "
                                "are faster but learn less", ge=1)
    min_count: int = param(5, "words seen fewer times are dropped (too rare to learn; the book "
                           "uses 10, gensim and the C tool 5)", ge=1)
    subsample: float | None = param(None, "t in P(discard w) = 1 - sqrt(t / f(w)): drops most occurrences of "
                                    "very frequent words; 0 keeps every token. Default 1e-4 with negative "
                                    "sampling and the full softmax, 1e-3 with hierarchical softmax, whose paths "
                                    "learn from the frequent words' contexts (on PTB at lr 0.05: SimLex-999 "
                                    "0.109 -> 0.133, analogies 0.027 -> 0.038, WS353 0.33 both)", ge=0,
                                    null="the loss's default stated above")
    epochs: int | None = param(None, "passes over the corpus; on PTB what matters is about lr x epochs: "
                               "too little under-trains, too much over-fits the small corpus. Default 15 "
                               "with negative sampling, 10 with hierarchical softmax, whose epochs hold "
                               "1.5x the pairs at its t (PTB, held-out seeds 3-7: at lr 0.035 the same "
                               "WS353 and SimLex-999 as 15 epochs at 0.025, in 2/3 of the time), 5 with the full "
                               "softmax, whose epochs cost 100-300x negative sampling's", ge=1,
                               null="the loss's default stated above")
    batch_size: int = param(2048, "pairs per SGD step; large batches amortise Python overhead per "
                            "step (the book uses 512), and on a CPU 2048 pairs' rows stay in "
                            "cache; the rate below is tuned for it", ge=1)
    lr: float | None = param(None, "initial SGD learning rate; default 0.05 with negative sampling (2x "
                             "gensim's 0.025; much higher rates can diverge, since each row's step sums "
                             "all its pairs in a batch), 0.035 with hierarchical softmax (on PTB, its 10 "
                             "epochs: SimLex-999 0.153 against 0.150 at 0.045 and 0.158 at 0.025, WS353 "
                             "0.335 against 0.338 and 0.313), 0.05 with the full softmax (its dense output step sums "
                             "every example of a batch: on PTB 0.2 diverges in the first epoch)", gt=0,
                             null="the loss's default stated above")
    lr_schedule: str = param("linear", "linear decays the learning rate to lr*min_lr_ratio over "
                             "all epochs (the C tool, gensim); constant keeps it", choices=LR_SCHEDULES)
    min_lr_ratio: float = param(1e-4, "floor of the linear decay as a fraction of lr (the C "
                                "tool's 0.0001), so the last batches still move", ge=0, le=1)
    chunk_tokens: int = param(1_000_000, "an epoch is trained a chunk of this many corpus tokens "
                              "at a time (cut at a sentence start where one is near): pairs, their "
                              "shuffle and noise words exist for one chunk only, so memory depends "
                              "on this, not on the corpus. PTB (0.9M tokens) is one chunk", ge=1)
    probe_words: tuple[str, ...] = probe_words_param()
    threads: int | None = threads_param()
    workers: int = workers_param("each chunk's batches", "On 2 idle cores 2 workers train 1.2-1.7x "
                                 "(negative sampling) to 2x (hierarchical softmax) faster than 1, at the "
                                 "same WS353 rho")

    def unused_fields(self) -> tuple[str, ...]:
        """The settings of the other losses (`ObjectiveSpec.settings`) that this one never reads."""
        own = OBJECTIVES[self.loss].settings
        return tuple(key for spec in OBJECTIVES.values() for key in spec.settings if key not in own)

    def resolved(self) -> Word2VecConfig:
        """The settings whose default depends on the loss filled in, so that the saved config
        states every number the run used."""
        return fill_defaults(self, OBJECTIVES[self.loss].defaults)

    def check(self) -> None:
        refuse_unused(self, "word2vec", self.unused_fields(), f"loss '{self.loss}'", ())
        check_workers(self.workers, self.threads)
        if self.loss == "ns" and self.batch_size % self.negative_group:
            raise UserError(
                f"config key 'batch_size' ({self.batch_size}) must be a multiple of "
                f"'negative_group' ({self.negative_group}): groups of pairs tile each batch"
            )
