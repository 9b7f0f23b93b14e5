"""fastText (Bojanowski et al., 2017): skip-gram whose centre vector is built from subwords.

A centre word's input vector is the mean (or sum) of its own row and the rows of its hashed
character n-grams (`subwords.py`), so words that share n-grams share parameters and an unseen
word still gets a vector. Everything else (pairs, subsampling, shared noise words, outputs,
SGD with linear decay) is word2vec's, and is reused rather than repeated: `FastTextTrainer` is
a `Word2VecTrainer` with its own input hook, `input_rows` (`word2vec.trainer`): the vectors of a
batch's centre words are built once per distinct word, their steps are summed per word, and each
vector's summed step is added to all its rows. That is fastText's skip-gram update: each row takes
the vector's full step (for the mean, fastText does not divide the gradient by the number of
rows outside supervised mode), so a word's vector moves as fast as word2vec's would while its
rows are shared.

Building and spreading a vector is most of a step, so the pairs come laid out as fastText takes
them, a centre's contexts together (`examples.PairsOfCentre`): a PTB batch then holds 775 distinct
centres instead of 2,490, and its rows are gathered and scattered 3.4x less often.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from d2l_lab.devices import to_numpy
from d2l_lab.embeddings.fasttext.config import FastTextConfig
from d2l_lab.embeddings.subwords import SubwordScheme, SubwordVectors
from d2l_lab.embeddings.vectors import WordVectors
from d2l_lab.embeddings.vocab import Vocab
from d2l_lab.embeddings.word2vec.examples import PairsOfCentre
from d2l_lab.embeddings.word2vec.rows import add_owners_steps, add_rows
from d2l_lab.embeddings.word2vec.trainer import Word2VecTrainer

_NGRAM_STREAM = 2  # word2vec draws its initial vectors from stream 0 and its epochs from 1


class FastTextTrainer(Word2VecTrainer):
    """Trains `table` [V + used buckets, dim]: word rows first, then one row per n-gram bucket
    that some vocabulary word uses (`bucket_ids`, sorted), and word2vec's output table.

    Unused buckets would never receive a gradient, so they are not allocated: fastText's 2M
    buckets cost PTB 68k rows. Resume, determinism and training a chunk at a time are
    word2vec's (the randomness of chunk c of epoch e comes from (seed, e, c) alone).
    """

    cfg: FastTextConfig
    config_section = "fasttext"

    def __init__(self, ids: np.ndarray, offsets: np.ndarray, vocab: Vocab, cfg: FastTextConfig,
                 seed: int, device: torch.device) -> None:
        super().__init__(ids, offsets, vocab, cfg, seed, device)
        starts, rows = SubwordScheme(len(vocab), cfg.buckets, cfg.min_n, cfg.max_n).table(vocab.words)
        is_ngram = rows >= len(vocab)
        self.bucket_ids, compact = np.unique(rows[is_ngram] - len(vocab), return_inverse=True)
        rows[is_ngram] = len(vocab) + compact
        # Initialised like the word rows (word2vec's and gensim's uniform +-0.5/dim).
        rng = np.random.default_rng([seed, _NGRAM_STREAM])
        ngram_rows = rng.random((self.bucket_ids.size, cfg.dim), dtype=np.float32) - np.float32(0.5)
        ngram_rows /= np.float32(cfg.dim)
        self.table = torch.cat([self.input_table, torch.from_numpy(ngram_rows).to(device)])
        self.input_table = self.table[:len(vocab)]  # each word's own row, a view of `table`
        self._starts = torch.from_numpy(starts).to(device)
        self._rows = torch.from_numpy(rows).to(device)
        # A centre's contexts in one batch (one worker's slice), so that its vector is built once for them.
        self.layout = functools.partial(PairsOfCentre, run=-(-cfg.batch_size // cfg.workers))

    def rows_of(self, words: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The rows of `words`, concatenated: (rows, index of each row's word, start of each
        word's rows). Built with index_select, several times faster than fancy indexing."""
        counts = self._starts[words + 1] - self._starts[words]
        bag_starts = torch.cumsum(counts, 0) - counts
        owner = torch.repeat_interleave(counts)
        flat = torch.arange(owner.numel(), device=self.device)
        flat += (self._starts[words] - bag_starts).index_select(0, owner)
        return self._rows.index_select(0, flat), owner, bag_starts

    def combined(self, words: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Input vectors of `words` [n, dim] (mean or sum of their rows), with the rows and their
        owners from `rows_of`, which the vectors' steps are sent back to."""
        rows, owner, bag_starts = self.rows_of(words)
        vectors = torch.nn.functional.embedding_bag(rows, self.table, bag_starts, mode=self.cfg.combine)
        return vectors, rows, owner

    def input_rows(self, words: torch.Tensor) -> tuple[torch.Tensor, Callable[[torch.Tensor], None]]:
        """The combined vectors of `words`, built once per distinct word, and the function that
        sums the steps of each distinct word's vector and adds that sum to all its rows."""
        distinct, local = torch.unique(words, return_inverse=True)
        vectors, rows, owner = self.combined(distinct)

        def apply_steps(steps: torch.Tensor) -> None:
            summed = torch.zeros_like(vectors)
            add_rows(summed, local, steps)
            add_owners_steps(self.table, rows, owner, summed)

        return vectors.index_select(0, local), apply_steps

    def shared_tables(self) -> list[torch.Tensor]:
        """The subword table (word rows included) and the output table: what steps write to."""
        return [self.table, self.output_table]

    def input_vectors(self) -> np.ndarray:
        """Every vocabulary word's vector [V, dim] float32: own row and n-grams combined, as
        fastText's `.vec` file holds them."""
        with torch.no_grad():
            vectors, _, _ = self.combined(torch.arange(len(self.vocab), device=self.device))
        return to_numpy(vectors).astype(np.float32, copy=True)

    def subword_vectors(self) -> SubwordVectors:
        """The trained n-gram rows, which embed words outside the vocabulary."""
        cfg = self.cfg
        rows = to_numpy(self.table[len(self.vocab):]).astype(np.float32, copy=True)
        return SubwordVectors(cfg.buckets, cfg.min_n, cfg.max_n, cfg.combine, self.bucket_ids, rows)

    def word_vectors(self) -> WordVectors:
        """Vocabulary vectors whose `oov_vector` embeds any other word from its n-grams."""
        return WordVectors(self.vocab.words, self.input_vectors(), oov_vector=self.subword_vectors())

    def state_dict(self) -> dict[str, Any]:
        """word2vec's state with the whole subword table as its input table."""
        cfg = self.cfg
        return {**super().state_dict(), "input_table": self.table.cpu().clone(),
                "subwords": [cfg.buckets, cfg.min_n, cfg.max_n, cfg.combine]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        cfg = self.cfg
        expected = [cfg.buckets, cfg.min_n, cfg.max_n, cfg.combine]
        if state.get("subwords") != expected or state["input_table"].shape != self.table.shape:
            raise ValueError(f"fastText state is for subwords {state.get('subwords')} with an input table of "
                             f"{tuple(state['input_table'].shape)}, this trainer has {expected} and "
                             f"{tuple(self.table.shape)}")
        super().load_state_dict({**state, "input_table": state["input_table"][:len(self.vocab)]})
        self.table.copy_(state["input_table"])
