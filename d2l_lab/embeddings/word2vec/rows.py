"""Sparse row updates of an embedding table, as word2vec's steps apply them."""

from __future__ import annotations

import torch


def add_rows(table: torch.Tensor, index: torch.Tensor, steps: torch.Tensor) -> None:
    """table[index[i]] += steps[i], repeated rows summed, as a dense gradient would be.

    On CPU, scatter_add_ with an expanded index is a sorted, parallel kernel, about 3x faster
    than index_add_ (which loops over rows).
    """
    table.scatter_add_(0, index.unsqueeze(1).expand(-1, table.shape[1]), steps)


def pad(index: torch.Tensor, padding: int) -> torch.Tensor:
    """Fill the last group with row 0; its examples are masked out of loss and gradients."""
    return torch.cat([index, index.new_zeros(padding)]) if padding else index
