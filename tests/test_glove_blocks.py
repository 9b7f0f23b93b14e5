"""GloVe trained from its entries a block at a time: the epoch's order, the block size, the file
on disk, and resume in mid-epoch."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
import torch

from d2l_lab.embeddings.cooccurrence import Cooccurrences, cooccurrence_entries
from d2l_lab.embeddings.cooccurrence_file import RECORD
from d2l_lab.embeddings.glove import trainer as glove
from d2l_lab.embeddings.glove.config import GloveConfig
from d2l_lab.embeddings.glove.shuffle import ShuffledEpochs, chunk_sizes
from d2l_lab.embeddings.glove.trainer import GloveTrainer

from .test_glove import toy_cooccurrences

CPU = torch.device("cpu")


def trainer(entries, block: int, seed: int = 0) -> GloveTrainer:
    cfg = GloveConfig(dim=8, batch_size=64, lr=0.1, block_entries=block)
    return GloveTrainer(entries, [f"w{i}" for i in range(entries.vocab_size)], cfg, seed, CPU)


def trained(entries, block: int, epochs: int = 2, seed: int = 0) -> np.ndarray:
    t = trainer(entries, block, seed)
    for epoch in range(epochs):
        t.train_epoch(epoch)
    return t.vectors()


def as_set(records: np.ndarray) -> set[tuple[int, int, float]]:
    return {(int(r), int(c), float(v)) for r, c, v in records.tolist()}


def test_chunk_sizes_are_near_equal_and_at_most_a_block():
    assert chunk_sizes(10, 4) == [4, 3, 3]
    assert chunk_sizes(10, 10) == chunk_sizes(10, 99) == [10]
    assert chunk_sizes(0, 4) == [0]
    assert sum(chunk_sizes(1001, 7)) == 1001 and max(chunk_sizes(1001, 7)) <= 7


@pytest.mark.parametrize("block", [10_000, 150, 37])
def test_an_epoch_is_every_entry_once_in_a_new_order(block):
    """The chunks of an epoch hold every entry exactly once, in chunks of the planned sizes; the
    order depends on the seed and the epoch, and is drawn again identically."""
    cooc = toy_cooccurrences()
    every = as_set(cooc.read(0, cooc.nnz))
    epochs = ShuffledEpochs(cooc, block, seed=3, stream=1)
    orders = []
    for epoch in (0, 1):
        chunks = [epochs.chunk(epoch, c) for c in range(len(epochs.sizes))]
        assert [c.size for c in chunks] == epochs.sizes and max(epochs.sizes) <= block
        joined = np.concatenate(chunks)
        assert joined.size == cooc.nnz and as_set(joined) == every
        orders.append(joined)
    assert not np.array_equal(orders[0], orders[1])
    again = ShuffledEpochs(cooc, block, seed=3, stream=1)
    np.testing.assert_array_equal(np.concatenate([again.chunk(1, c) for c in range(len(again.sizes))]), orders[1])


def test_entries_in_one_block_give_the_same_vectors_whatever_the_block():
    """An epoch that fits one block is one permutation of all entries (the arithmetic of GloVe
    before entries were read from disk); several blocks give another order, as good a fit."""
    cooc = toy_cooccurrences()
    one = trained(cooc, cooc.nnz)
    np.testing.assert_array_equal(trained(cooc, 10 * cooc.nnz), one)
    np.testing.assert_array_equal(trained(cooc, GloveConfig().block_entries), one)
    several = trained(cooc, cooc.nnz // 4)
    assert not np.array_equal(several, one)
    losses = []
    for block in (cooc.nnz, cooc.nnz // 4):
        t = trainer(cooc, block)
        losses.append([t.train_epoch(epoch)["loss"] for epoch in range(4)])
    assert losses[1][-1] < 0.8 * losses[1][0]
    assert losses[1][-1] == pytest.approx(losses[0][-1], rel=0.1)


def test_the_file_on_disk_trains_as_the_arrays_in_memory(tmp_path):
    """Entries read from the cache's file give the vectors of the same entries in memory, in one
    block and in several; the chunk files go beside the entries file and leave with the trainer."""
    rng = np.random.default_rng(0)
    ids = np.minimum(rng.zipf(1.3, size=3000) - 1, 39)
    offsets = np.arange(0, ids.size + 1, 20)
    entries = cooccurrence_entries(ids, offsets, 40, 5, cache_key="toy", cache_dir=tmp_path)
    records = entries.read(0, entries.nnz)
    memory = Cooccurrences(records["row"].astype(np.int64), records["col"].astype(np.int64), records["value"], 40)
    for block in (entries.nnz, -(-entries.nnz // 3)):
        on_disk = trainer(entries, block)
        on_disk.train_epoch(0)
        in_memory = trainer(memory, block)
        in_memory.train_epoch(0)
        np.testing.assert_array_equal(on_disk.vectors(), in_memory.vectors())
    chunk_dirs = [p for p in (tmp_path / "cooccurrence").iterdir() if p.is_dir()]
    assert len(chunk_dirs) == 1 and len(list(chunk_dirs[0].iterdir())) == 3
    del on_disk
    assert [p.name for p in (tmp_path / "cooccurrence").iterdir()] == ["toy.entries"]
    assert records.dtype == RECORD


@pytest.mark.parametrize("stop_after", [1, 3, 4])
def test_resume_in_mid_epoch_over_several_blocks_repeats_the_run(monkeypatch, stop_after):
    """Stopped after part 1 (inside the first chunk), 3 (inside the second) or 4 (between chunks
    and epochs) and resumed in a new trainer, which deals the epoch's chunks again: the same bits."""
    monkeypatch.setattr(glove, "PART_ENTRIES", 128)  # two batches a part
    cooc = toy_cooccurrences()
    block = -(-cooc.nnz // 2)
    straight = trainer(cooc, block, seed=5)
    parts = straight.parts_per_epoch
    assert len(straight.chunks) == 2 and parts >= 5
    for epoch in (0, 1):
        straight.train_epoch(epoch)

    first = trainer(cooc, block, seed=5)
    done = parts + stop_after
    for step in range(done):
        first.train_part(*divmod(step, parts))
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    resumed = trainer(cooc, block, seed=5)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    for step in range(done, 2 * parts):
        metrics = resumed.train_part(*divmod(step, parts))
    assert torch.equal(resumed.center, straight.center) and torch.equal(resumed.context, straight.context)
    assert metrics["entries"] == cooc.nnz


def test_block_size_is_a_setting_with_a_reason():
    field = {f.name: f for f in dataclasses.fields(GloveConfig)}["block_entries"]
    assert field.default == 3_000_000 and "memory" in field.metadata.get("help", "")
