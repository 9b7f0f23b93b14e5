"""GloVe's epochs over co-occurrence entries read a block at a time, in a random order drawn anew
for each epoch from the seed.

The GloVe tool's `shuffle` reads its co-occurrence file a memory-sized block at a time, shuffles
each block to a temporary file and merges those by random interleaving; `glove` then trains on
that one order every epoch. Here an epoch of N entries is K = ceil(N / block) chunks of near-equal
size, each trained as the engine trains a chunk:

- K = 1 (PTB at the default block): the entries are read once and kept, and each epoch is a
  permutation of all of them drawn from (seed, epoch), as before entries were read from disk.
- K > 1: at the start of an epoch one pass over the file, a block at a time, deals every entry to
  a chunk file in a scratch directory: a block's share of each chunk is drawn from the places the
  chunks have left (a multivariate hypergeometric draw), and which of its entries go where is a
  random shuffle of those labels. That is a uniform random split into chunks of fixed sizes; a
  chunk, read back when it is trained, is then permuted as a whole. So the epoch's order is a
  uniform random permutation of all N entries, with at most about one block in memory.

Every draw comes from a generator seeded by (seed, epoch) or (seed, epoch, chunk), so the order
depends on the seed, the epoch and K only: a resume in mid-epoch deals the epoch's chunk files
again, identically, and repeats the run bit for bit.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np

from d2l_lab.embeddings.cooccurrence_file import RECORD, Entries


def chunk_sizes(entries: int, block: int) -> list[int]:
    """The entries of each of ceil(entries / block) chunks (at least one), the first ones one more."""
    chunks = max(1, math.ceil(entries / block))
    return [entries // chunks + (c < entries % chunks) for c in range(chunks)]


class ShuffledEpochs:
    """An epoch's chunks of `entries`, each as `RECORD`s in its random order."""

    def __init__(self, entries: Entries, block: int, seed: int, stream: int, scratch: Path | None = None) -> None:
        """`block`: entries held at once; `stream` separates these draws from the seed's others;
        `scratch`: where the chunk files go (a directory on the entries' disk; default: temp)."""
        self.entries, self.block, self.seed, self.stream = entries, block, seed, stream
        self.sizes = chunk_sizes(entries.nnz, block)
        self._scratch_parent = scratch
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        self._whole: np.ndarray | None = None
        self._dealt: int | None = None
        """The epoch whose chunk files are in the scratch directory."""

    def chunk(self, epoch: int, index: int) -> np.ndarray:
        """Chunk `index` of epoch `epoch`: its entries in their random order."""
        if len(self.sizes) == 1:
            if self._whole is None:
                self._whole = self.entries.read(0, self.entries.nnz)
            return self._whole[np.random.default_rng([self.seed, self.stream, epoch]).permutation(self._whole.size)]
        if self._dealt != epoch:
            self._deal(epoch)
        records = np.fromfile(self._chunk_path(index), dtype=RECORD)
        if records.size != self.sizes[index]:
            raise ValueError(f"{self._chunk_path(index)} holds {records.size} entries, not {self.sizes[index]}")
        return records[np.random.default_rng([self.seed, self.stream, epoch, index]).permutation(records.size)]

    def _chunk_path(self, index: int) -> Path:
        assert self._scratch is not None
        return Path(self._scratch.name) / f"chunk-{index}"

    def _deal(self, epoch: int) -> None:
        """Write epoch `epoch`'s chunk files: every entry dealt to a chunk, a block at a time."""
        if self._scratch is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="d2l-glove-", dir=self._scratch_parent)
        self._dealt = None
        rng = np.random.default_rng([self.seed, self.stream, epoch])
        left = np.array(self.sizes, dtype=np.int64)
        files = [open(self._chunk_path(c), "wb") for c in range(len(self.sizes))]
        try:
            for lo in range(0, self.entries.nnz, self.block):
                records = self.entries.read(lo, min(lo + self.block, self.entries.nnz))
                shares = rng.multivariate_hypergeometric(left, records.size)
                left -= shares
                labels = np.repeat(np.arange(len(self.sizes), dtype=np.int32), shares)
                rng.shuffle(labels)
                dealt = records[np.argsort(labels, kind="stable")]
                for f, part in zip(files, np.split(dealt, np.cumsum(shares)[:-1])):
                    part.tofile(f)
        finally:
            for f in files:
                f.close()
        self._dealt = epoch
