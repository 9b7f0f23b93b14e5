"""Word2vec (skip-gram and CBOW, with any loss of `objectives.OBJECTIVES`), trained fast on a CPU.

This engine is an optimisation of the book's model, `embeddings.reference` (`SkipGram`, `CBOW`:
two embedding tables, the loss of `SigmoidBCELoss` over context and noise words); the tests check
its losses and updates against autograd on that module. The optimisations:

1. Sparse, hand-derived steps. The book runs autograd and dense Adam over both tables, touching
   all 2 x V x d parameters per step; here each objective computes the gradients of the gathered
   rows by hand and each step adds plain SGD updates to those rows only, with the C tool's
   linearly decaying learning rate, over batches of 2048 examples.
2. Examples, summed. The loss is summed over (centre, context) pairs, and a row used by several
   pairs of a batch takes the sum of their steps, as a dense gradient of that sum would. The
   book divides each centre's loss by its number of valid entries, so a centre with many
   contexts weighs no more than one with few; here, as in the C tool and gensim, every pair
   counts once.
3. Drawn in chunks. A chunk's examples (`examples.py`) and the objective's draws come from one
   seeded generator, as whole numpy arrays.

The parts are separate: how a chunk's examples are laid out (`examples.py`: `Pairs`,
`PairsOfCentre`, `ContextMeans`, `ContextsOfCentre`), the loss (`objectives.py`: one class each,
chosen once here, which names the layout it needs for each model), the input side (`input_rows`
and `layout`, which fastText overrides to build its vectors from subword rows, once per centre
of a batch) and the epochs (`epochs.EpochTrainer`: parts, the learning rate over the run,
running sums, resume, Hogwild workers). A step never branches on the loss. Bit-for-bit
reproducibility holds on CPU with one worker; CUDA's scatter-add order is not deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from d2l_lab.devices import to_numpy, use_cpu_cores
from d2l_lab.embeddings.epochs import EpochTrainer, LearningRate, parts_of
from d2l_lab.embeddings.sampling import subsample
from d2l_lab.embeddings.vectors import WordVectors
from d2l_lab.embeddings.vocab import Vocab
from d2l_lab.embeddings.word2vec.config import Word2VecConfig
from d2l_lab.embeddings.word2vec.examples import Examples, chunk_bounds, chunk_offsets
from d2l_lab.embeddings.word2vec.objectives import OBJECTIVES
from d2l_lab.embeddings.word2vec.rows import add_rows, pad

PART_TOKENS = 25_000
"""Corpus tokens per part of an epoch (one run-loop step): fastText, the slowest trainer, takes
about 0.1 s for them on one core (word2vec 0.03 s), so Ctrl-C waits well under a second, and
the run loop's work between steps stays negligible."""

_INIT_STREAM, _EPOCH_STREAM = 0, 1  # separate random streams of one seed


class Word2VecTrainer(EpochTrainer):
    """Owns the two embedding tables and trains them epoch by epoch, a chunk at a time.

    All randomness of chunk c of epoch e comes from a generator seeded by (seed, e, c) (by
    (seed, e) for c = 0, so that a corpus of one chunk, PTB, draws what it drew before chunks
    existed), and the initial tables from one seeded by `seed`, so training after
    `load_state_dict` of a state saved between any two parts repeats an uninterrupted run
    exactly (bit for bit on CPU, one worker). `ids` may be a read-only memory map: only one
    chunk of it is copied at a time, and a chunk's examples are freed before the next chunk's
    are drawn.

    With `workers` > 1 each batch is stepped in `workers` slices of whole groups, one worker's
    step each. A frequent word's row takes the summed step of all its pairs in a step, computed
    from the row as it was; W workers stepping at once from the same rows would add W such stale
    steps, which diverges where one worker's full batch does not (small vocabularies). W slices
    of 1/W of a batch add up to about one batch's step at a time, as the serial loop.
    """

    config_section = "word2vec"
    """The config section that errors name (`fasttext` for the subclass)."""

    def __init__(self, ids: np.ndarray, offsets: np.ndarray, vocab: Vocab, cfg: Word2VecConfig,
                 seed: int, device: torch.device) -> None:
        if ids.size and (ids.min() < 0 or ids.max() >= len(vocab)):
            raise ValueError("token ids must come from vocab.encode of this vocabulary")
        use_cpu_cores(self.config_section, cfg.threads, cfg.workers, device)
        cfg = cfg.resolved()  # a config built in code, not by `compose`, may leave loss-dependent defaults unset
        self.ids, self.offsets, self.vocab, self.cfg, self.seed = ids, offsets, vocab, cfg, seed
        chunks = chunk_bounds(offsets, ids.size, cfg.chunk_tokens)
        # Workers train a whole chunk at once (a part each would fork them at every part).
        self.plan_epochs(chunks, ids.size, parts_of(chunks, PART_TOKENS if cfg.workers == 1 else None),
                         LearningRate(cfg.lr, cfg.epochs, cfg.lr_schedule, cfg.min_lr_ratio),
                         cfg.workers, device, counts=("pairs", "tokens"), slices=cfg.workers)
        # The C tool's and gensim's init: small random inputs, zero outputs, so that every
        # score starts at 0 and the first updates move the outputs towards the inputs.
        rng = np.random.default_rng([seed, _INIT_STREAM])
        shape = (len(vocab), cfg.dim)
        initial = (rng.random(shape, dtype=np.float32) - np.float32(0.5)) / np.float32(cfg.dim)
        self.input_table = torch.from_numpy(initial).to(device)
        self.output_table = torch.zeros(shape, device=device)
        self.objective = OBJECTIVES[cfg.loss].objective_class()(vocab.counts, cfg, device)
        self.layout: Callable[..., Examples] = self.objective.layouts[cfg.model]

    @classmethod
    def from_sentences(cls, sentences: Sequence[Sequence[str]], cfg: Word2VecConfig, seed: int,
                       device: torch.device) -> Word2VecTrainer:
        """Vocabulary (min_count), encoding and trainer in one go."""
        vocab = Vocab(sentences, cfg.min_count)
        ids, offsets = vocab.encode(sentences)
        return cls(ids, offsets, vocab, cfg, seed, device)

    def draw_chunk(self, epoch: int, index: int) -> Examples:
        """The training examples of chunk `index` of epoch `epoch`, with the objective's draws."""
        cfg = self.cfg
        lo, hi = self.chunks[index]
        rng = np.random.default_rng([self.seed, _EPOCH_STREAM, epoch] + ([index] if index else []))
        ids = np.asarray(self.ids[lo:hi], dtype=np.int64)
        ids, offsets = subsample(ids, chunk_offsets(self.offsets, lo, hi), self.vocab.counts, cfg.subsample, rng)
        examples = self.layout(ids, offsets, cfg.window, cfg.batch_size, rng, self.device)
        draws = self.objective.draw(examples.batches, rng)
        if draws is not None:
            examples.draws = torch.from_numpy(draws).to(self.device)
        return examples

    def step(self, chunk: Examples, batch: int, lr: float, part: int = 0, parts: int = 1
             ) -> tuple[torch.Tensor, int]:
        """One SGD step on batch `batch`, or on its `part`-th of `parts` slices of whole groups
        (examples that share the objective's draws); returns (summed loss, loss terms)."""
        group = self.objective.group
        batch_start, batch_stop = int(chunk.batch_starts[batch]), int(chunk.batch_starts[batch + 1])
        groups_in_batch = -(-(batch_stop - batch_start) // group)
        first_group = part * groups_in_batch // parts
        start = batch_start + first_group * group
        stop = min(batch_start + (part + 1) * groups_in_batch // parts * group, batch_stop)
        size = stop - start
        if size <= 0:  # a slice past the end of the last batch
            return self.zero_loss(), 0
        groups = -(-size // group)
        inputs, apply_input_steps, terms = chunk.inputs(self.input_rows, start, stop, groups * group)
        targets = pad(chunk.targets[start:stop], groups * group - size)
        draws = None if chunk.draws is None else chunk.draws[batch, first_group:first_group + groups]
        loss, input_steps = self.objective.step(self.output_table, inputs, targets, size, lr, draws)
        apply_input_steps(input_steps)
        return loss.sum(dtype=self._sum_dtype), terms

    def shared_tables(self) -> list[torch.Tensor]:
        """The tensors that steps write to, put in shared memory before workers fork (in place:
        views such as fastText's input_table follow)."""
        return [self.input_table, self.output_table]

    def input_rows(self, words: torch.Tensor) -> tuple[torch.Tensor, Callable[[torch.Tensor], None]]:
        """The input vectors of `words` [n, dim], and the function that adds their steps [n, dim]
        to the parameters (repeated words summed). word2vec: rows of the input table."""
        return self.input_table.index_select(0, words), lambda steps: add_rows(self.input_table, words, steps)

    def input_vectors(self) -> np.ndarray:
        """The word vectors [V, dim] float32: the input (centre) table, as the book and gensim."""
        return to_numpy(self.input_table).astype(np.float32, copy=True)

    def word_vectors(self) -> WordVectors:
        """Input vectors with their words, for evaluation and nearest neighbours."""
        return WordVectors(self.vocab.words, self.input_vectors())

    def state_dict(self) -> dict[str, Any]:
        """Both tables, the position (epochs and parts done) and the epoch's running sums: all a
        resume between two parts needs.

        Plain SGD keeps no optimizer state, the learning rate is a function of the position and
        a chunk's examples are drawn again from their seeds, so nothing else is needed; loads
        with `torch.load(..., weights_only=True)`.
        """
        return {"input_table": self.input_table.cpu().clone(), "output_table": self.output_table.cpu().clone(),
                **self.position_state(), **self._identity()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        expected = self._identity()
        found = {key: state.get(key, "ns" if key == "loss" else None) for key in expected}
        if found != expected:
            raise ValueError(f"word2vec state is for {found}, this trainer has {expected}")
        self.load_position(state, "word2vec")
        self.input_table.copy_(state["input_table"])
        self.output_table.copy_(state["output_table"])

    def _identity(self) -> dict[str, Any]:
        return {"vocab_size": len(self.vocab), "dim": self.cfg.dim, "model": self.cfg.model, "loss": self.cfg.loss}
