"""NASA airfoil self-noise, prepared exactly as the d2l book's ``get_data_ch11``.

The optimisation chapter compares optimisers on this regression problem; matching the book's
preprocessing (standardise every column over all 1503 rows, then keep the first n) keeps our
loss curves comparable with the book's.
"""

from __future__ import annotations

import io
from numbers import Integral

import numpy as np
import torch

from d2l_lab.datasets import bundled
from d2l_lab.errors import UserError

N_ROWS = 1503


def load_airfoil(
    n: int = 1500, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (features [n, 5], targets [n]), standardised in float64 and then cast to dtype."""
    if isinstance(n, bool) or not isinstance(n, Integral) or not 1 <= n <= N_ROWS:
        raise UserError(f"airfoil n={n!r} is out of range: choose an integer from 1 to {N_ROWS}")
    data = np.loadtxt(io.StringIO(bundled.read_text("airfoil")), delimiter="\t", dtype=np.float64)
    data = (data - data.mean(axis=0)) / data.std(axis=0)
    data = torch.from_numpy(data[:n]).to(dtype)
    return data[:, :-1].contiguous(), data[:, -1].contiguous()


def airfoil_checksum() -> str:
    """Checksum of the airfoil file, for summary.json."""
    return bundled.checksum("airfoil")
