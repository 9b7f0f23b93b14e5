"""How vectors are scored on the evaluation sets: gensim's `evaluate_word_pairs` /
`evaluate_word_analogies` options and defaults, so our numbers sit beside published tables.

Torch- and numpy-free: the CLI and config validation build it before anything heavy loads.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from d2l_lab.errors import UserError

RESTRICT_VOCAB = 300_000
"""gensim's default for both similarity and analogies: words past the 300,000 most frequent are
out of vocabulary (and never candidates). It was 30,000 here before 2026-12; rare words then
counted as unknown and analogy accuracies differed from gensim's."""
OOV_CHOICES = ("skip", "zero")
"""skip: items with an unknown word are left out (gensim's default); zero: they count, as
similarity 0 or a wrong answer (gensim's `dummy4unknown=True`)."""
ANALOGY_TOP = 5
"""gensim asks `most_similar` for 5 answers and takes the first that is not a case variant of a
question word; when all 5 are, the question is wrong."""


@dataclass(frozen=True)
class Protocol:
    """One evaluation protocol; `as_dict()` is what every result states beside its numbers."""

    case_insensitive: bool = True
    restrict_vocab: int | None = RESTRICT_VOCAB
    oov: Literal["skip", "zero"] = "skip"
    method: str = "3cosadd"

    def __post_init__(self) -> None:
        if self.restrict_vocab is not None and self.restrict_vocab < 1:
            raise UserError(f"restrict_vocab must be a positive number of words (or None for all), "
                            f"got {self.restrict_vocab}")
        if self.oov not in OOV_CHOICES:
            raise UserError(f"oov must be one of {', '.join(OOV_CHOICES)}, got {self.oov!r}")

    def key(self, word: str) -> str:
        """The form words are matched in: upper-cased as gensim does (not lower: 'ß' -> 'SS')."""
        return word.upper() if self.case_insensitive else word

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """One line for a terminal: what was matched, against how many words, and how OOV counts."""
        case = "case-insensitive" if self.case_insensitive else "case-sensitive"
        top = "all words" if self.restrict_vocab is None else f"top {self.restrict_vocab:,} words"
        oov = "skipped" if self.oov == "skip" else "scored 0 / wrong"
        return f"protocol: gensim's, {case}, {top}, out-of-vocabulary items {oov}, analogies by {self.method}"


GENSIM_DEFAULT = Protocol()
"""gensim's defaults: what every run and a plain `d2l embed eval` use."""
