"""THE list of evaluation sets: every embedding run, `d2l embed eval`, `runs compare` and `d2l report`
read it, so adding a set is one row here plus its data (a loader in `datasets/evalsets.py`).

A row says what `d2l embed eval --json` and summary.json's `notes.evaluation` call the set
(`name`), how it is scored (`kind`: Spearman rho of a similarity set, accuracy of an analogy set),
which final metric of a run holds that score (`metric`, also a summary.json `final` key) and which
way it improves (`direction`, for "best" in `runs compare` and the report's columns). Importing
this module reads no data and imports no numpy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from d2l_lab.datasets.evalsets import fetched_loader, load_google_analogies, load_simlex999, load_wordsim353
from d2l_lab.errors import UserError

SCORES = {"similarity": "rho", "analogy": "accuracy"}
"""Each kind's score: the field of its evaluation that a run's final metric holds."""
ITEMS = {"similarity": "pairs", "analogy": "questions"}
"""What each kind's evaluation counts in its `<items>_used` and `<items>_oov` fields."""


@dataclass(frozen=True)
class EvalSet:
    name: str
    loader: Callable[[], Sequence[Any]]
    """Returns the items: (word1, word2, score) pairs, or (section, a, b, c, expected) analogies."""
    kind: Literal["similarity", "analogy"]
    metric: str
    direction: Literal["higher", "lower"] = "higher"
    label: str = ""
    """What `d2l embed eval` calls it on a terminal (default: its name)."""
    fetched: bool = False
    """Downloaded by `d2l data fetch NAME` (`datasets/eval_downloads.py`), not bundled."""
    per_section: bool = False
    """Report accuracy per section (BATS's 40 categories) beside the total."""

    @property
    def score(self) -> str:
        return SCORES[self.kind]

    @property
    def items(self) -> str:
        return ITEMS[self.kind]


WORDSIM353 = EvalSet("wordsim353", load_wordsim353, "similarity", "wordsim353_rho")
EVAL_SETS: tuple[EvalSet, ...] = (
    WORDSIM353,
    EvalSet("simlex999", load_simlex999, "similarity", "simlex999_rho"),
    EvalSet("google_analogy", load_google_analogies, "analogy", "analogy_accuracy", label="google analogies"),
    EvalSet("men3k", fetched_loader("men3k", "similarity"), "similarity", "men3k_rho", label="MEN-3k", fetched=True),
    EvalSet("rw", fetched_loader("rw", "similarity"), "similarity", "rw_rho", label="rare words (RW)", fetched=True),
    EvalSet("simverb3500", fetched_loader("simverb3500", "similarity"), "similarity", "simverb3500_rho",
            label="SimVerb-3500", fetched=True),
    EvalSet("mturk771", fetched_loader("mturk771", "similarity"), "similarity", "mturk771_rho", label="MTurk-771",
            fetched=True),
    EvalSet("bats3", fetched_loader("bats3", "bats"), "analogy", "bats3_accuracy", label="BATS 3.0", fetched=True,
            per_section=True),
)
DEFAULT_SETS = tuple(s for s in EVAL_SETS if not s.fetched)
"""What `d2l embed eval` and every run score unless told otherwise: the bundled sets."""
EVERY_EPOCH = WORDSIM353
"""The set scored at every epoch's end and for a run stopped early: 353 pairs, instant (the full
evaluation takes ~0.5 s on PTB and waits for the end of a run)."""


def named_sets(names: Sequence[str]) -> tuple[EvalSet, ...]:
    """The rows named, in table order; one line naming the choices for an unknown name."""
    known = {s.name: s for s in EVAL_SETS}
    for name in names:
        if name not in known:
            raise UserError(f"unknown evaluation set '{name}': choose from {', '.join(known)}")
    return tuple(s for s in EVAL_SETS if s.name in set(names))


def check_fetched(sets: Sequence[EvalSet]) -> None:
    """One line for the first named set that is not fetched yet, before any work starts."""
    from d2l_lab.datasets.eval_downloads import fetched_path

    for s in sets:
        if s.fetched:
            fetched_path(s.name)
