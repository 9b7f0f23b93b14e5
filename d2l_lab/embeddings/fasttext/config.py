"""fastText's settings: word2vec's skip-gram settings (same keys, same meaning; its own epochs,
batch size and learning rate, as an n-gram row shared by many words takes many steps per batch)
with the subword keys of the fastText tool (`-bucket -minn -maxn`, same defaults). Torch-free."""

from __future__ import annotations

from dataclasses import dataclass

from d2l_lab.config.schema import param
from d2l_lab.embeddings.word2vec.config import Word2VecConfig
from d2l_lab.errors import UserError

COMBINES = ("mean", "sum")
"""How a word's rows make its input vector: `subwords.COMBINES`, spelled here so that building
the CLI's flags needs no numpy (a test checks that the two agree)."""


@dataclass(frozen=True)
class FastTextConfig(Word2VecConfig):
    model: str = param("skipgram", "fastText trains its subword vectors with skip-gram here (the "
                       "fastText paper's model); CBOW is not offered", choices=("skipgram",))
    loss: str = param("ns", "fastText trains with negative sampling here; hierarchical softmax over "
                      "subword sums diverged at fastText's learning rate and is not offered", choices=("ns",),
                      saved_when_set=True)
    epochs: int = param(10, "passes over the corpus; each costs several word2vec epochs, as a "
                        "word's vector is the mean of ~20 rows", ge=1)
    batch_size: int = param(4096, "pairs per SGD step; the learning rate below is tuned for it", ge=1)
    lr: float = param(0.06, "initial SGD learning rate: an n-gram row shared by many words sums "
                      "all their steps in a batch, so high rates diverge", gt=0)
    subsample: float = param(1e-4, "t in P(discard w) = 1 - sqrt(t / f(w)): drops most occurrences of "
                             "very frequent words; 0 keeps every token", ge=0)
    buckets: int = param(2_000_000, "hash buckets shared by all character n-grams (fastText's "
                         "-bucket); fewer buckets make unrelated n-grams collide. Only buckets some "
                         "vocabulary word uses are allocated, so memory does not grow with this "
                         "number", ge=1)
    min_n: int = param(3, "shortest character n-gram, counting the < and > word boundaries "
                       "(fastText's -minn)", ge=1)
    max_n: int = param(6, "longest character n-gram (fastText's -maxn)", ge=1)
    combine: str = param("mean", "a word's input vector from its own row and its n-gram rows: mean "
                         "(fastText) or sum; either way every row takes the vector's full step, so "
                         "sum moves a vector ~20x further per step and needs ~1/10 the lr",
                         choices=COMBINES)

    def check(self) -> None:
        super().check()
        if self.min_n > self.max_n:
            raise UserError(f"config key 'min_n' ({self.min_n}) must be <= 'max_n' ({self.max_n}): "
                            "n-grams run from min_n to max_n characters")
