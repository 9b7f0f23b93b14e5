"""Figures written into run directories: loss curves and 2-D trajectories over contours.

matplotlib is imported lazily with the Agg backend: runs are headless and `d2l --help` stays fast.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from d2l_lab.files import atomic_write

Curve = tuple[Sequence[float], Sequence[float]]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120, bbox_inches="tight"))
    _pyplot().close(fig)


def curve_plot(path: Path, curves: Mapping[str, Curve], *, xlabel: str, ylabel: str, log_y: bool = False,
               title: str | None = None) -> None:
    """One or more labelled curves on shared axes (the book's `d2l.plot`)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for label, (xs, ys) in curves.items():
        ax.plot([float(x) for x in xs], [float(y) for y in ys], label=label, linewidth=1.5)
    if log_y and all(float(y) > 0 for _, ys in curves.values() for y in ys):
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)


def trajectory_plot(path: Path, function: Callable[[Any, Any], Any], points: Sequence[tuple[float, float]],
                    view: tuple[float, float, float, float], *, title: str) -> None:
    """The book's `show_trace_2d`: the optimizer's path drawn over the function's contours."""
    import numpy as np

    plt = _pyplot()
    x1_min, x1_max, x2_min, x2_max = _framed(view, points)
    grid1, grid2 = np.meshgrid(np.linspace(x1_min, x1_max, 200), np.linspace(x2_min, x2_max, 200))
    fig, ax = plt.subplots(figsize=(5.5, 4.0))
    ax.contour(grid1, grid2, function(grid1, grid2), levels=20, colors="#1f77b4", linewidths=0.8)
    xs, ys = zip(*points)
    ax.plot(xs, ys, "-o", color="#ff7f0e", markersize=3, linewidth=1.2)
    ax.set_xlim(x1_min, x1_max)
    ax.set_ylim(x2_min, x2_max)
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_title(title)
    _save(fig, path)


def _framed(view: tuple[float, float, float, float], points: Sequence[tuple[float, float]]) -> tuple[float, ...]:
    """The default view widened to show the path, but at most 3x, so a diverging run stays readable."""
    x1_min, x1_max, x2_min, x2_max = view
    w, h = x1_max - x1_min, x2_max - x2_min
    for a, b in points:
        if not (math.isfinite(a) and math.isfinite(b)):
            continue
        x1_min, x1_max = max(min(x1_min, a), view[0] - w), min(max(x1_max, a), view[1] + w)
        x2_min, x2_max = max(min(x2_min, b), view[2] - h), min(max(x2_max, b), view[3] + h)
    return x1_min, x1_max, x2_min, x2_max
