"""Sparse row updates of an embedding table, as word2vec's steps apply them."""

from __future__ import annotations

import numpy as np
import torch

from d2l_lab.devices import to_numpy


def add_rows(table: torch.Tensor, index: torch.Tensor, steps: torch.Tensor) -> None:
    """table[index[i]] += steps[i], repeated rows summed, as a dense gradient would be.

    On CPU, scatter_add_ with an expanded index is a sorted, parallel kernel, about 3x faster
    than index_add_ (which loops over rows).
    """
    table.scatter_add_(0, index.unsqueeze(1).expand(-1, table.shape[1]), steps)


def pad(index: torch.Tensor, padding: int) -> torch.Tensor:
    """Fill the last group with row 0; its examples are masked out of loss and gradients."""
    return torch.cat([index, index.new_zeros(padding)]) if padding else index


def add_owners_steps(table: torch.Tensor, rows: torch.Tensor, owners: torch.Tensor, steps: torch.Tensor) -> None:
    """table[rows[i]] += steps[owners[i]] for every i, repeated rows summed (fastText: every row of a
    word takes the word's step).

    Each distinct row's sum is gathered from `steps` (small, so in cache) by a bag sum over the
    rows sorted, and the table takes one scatter of distinct rows: scattering every (row, owner)
    pair instead reads a copied step per pair at random, and made fastText's PTB epochs 1.17x as
    long (one core).
    """
    by_row, positions = sorted_with_positions(rows)
    distinct, counts = torch.unique_consecutive(by_row, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    sums = torch.nn.functional.embedding_bag(owners.index_select(0, positions), steps, starts, mode="sum")
    add_rows(table, distinct, sums)


def sorted_with_positions(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-negative int64 `values` sorted, ties in order, and the position each came from, as a
    stable sort gives them: one sort of the distinct keys value * 2^b + position (b bits hold any
    position; values below 2^(63 - b)). On a CPU numpy sorts them (x86-simd-sort: 16k keys 7x
    faster than torch's sort), elsewhere torch."""
    shift = max(values.numel() - 1, 1).bit_length()
    keys = (values << shift) | torch.arange(values.numel(), device=values.device)
    keys = torch.from_numpy(np.sort(to_numpy(keys))) if keys.device.type == "cpu" else torch.sort(keys).values
    return keys >> shift, keys & ((1 << shift) - 1)
