"""Figures written into run directories and comparisons: loss curves, seed bands, 2-D trajectories.

matplotlib is imported lazily with the Agg backend: runs are headless and `d2l --help` stays fast.
The drawing functions return the matplotlib Figure (tests look at its artists) and `save` writes it.
A run's own figures (`curve_plot`, `trajectory_plot`, and an experiment's own through `write_png`)
are drawn by `plot_process`'s child where one runs: their arguments are plain data, a function's
contours evaluated here first.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from d2l_lab import plot_process
from d2l_lab.files import atomic_write

Curve = tuple[Sequence[float], Sequence[float]]
SMOOTH_FRACTION = 0.05
"""A smoothed curve averages each point with its neighbours over this fraction of all points
(centred, narrowing at the ends so the first and last points stay where they were)."""
BAND_ALPHA, RAW_ALPHA = 0.2, 0.3
MARKED_POINTS = 30
"""Curves of at most this many points are drawn with a marker on each."""
PATH_MARGIN = 0.04
"""Space kept beyond a trajectory's outermost points, as a fraction of the surface's view."""


@dataclass(frozen=True)
class Series:
    """One labelled line, optionally over a band (drawn with `fill_between`), and optionally
    noisy: then drawn faint with its smoothed version over it."""

    label: str
    xs: Sequence[float]
    ys: Sequence[float]
    band: tuple[Sequence[float], Sequence[float]] | None = None
    """(low, high) at each x: e.g. mean -+ 1 std over seeds."""
    noisy: bool = False


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, path: Path) -> None:
    """Write the figure as PNG, atomically, and free it."""
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120, bbox_inches="tight"))
    _pyplot().close(fig)


def png_bytes(fig: Any) -> bytes:
    """The figure as PNG bytes (to embed in a report), and free it."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    _pyplot().close(fig)
    return buffer.getvalue()


def smoothed(ys: Sequence[float], fraction: float = SMOOTH_FRACTION) -> list[float]:
    """Centred moving average over `fraction` of the points; the window narrows symmetrically at the
    ends, so a steep start is not dragged to the right as an exponential average would."""
    n = len(ys)
    half = max(0, round(fraction * n / 2))
    out = []
    for i in range(n):
        h = min(half, i, n - 1 - i)
        window = ys[i - h:i + h + 1]
        out.append(sum(window) / len(window))
    return out


def curves_figure(series: Sequence[Series], *, xlabel: str, ylabel: str, title: str | None = None,
                  log_y: bool = False, integer_x: bool = False) -> Any:
    """Labelled curves on shared axes (the book's `d2l.plot`), with their bands and smoothing."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    for s in series:
        xs, ys = [float(x) for x in s.xs], [float(y) for y in s.ys]
        # Few points (per-epoch metrics, short runs) get markers: a line alone hides where they are,
        # and a curve of one point (a one-epoch embedding run) would not be drawn at all.
        marker = "o" if len(xs) <= MARKED_POINTS else None
        if s.noisy:
            (raw,) = ax.plot(xs, ys, linewidth=0.8, alpha=RAW_ALPHA, label="_nolegend_")
            ax.plot(xs, smoothed(ys), color=raw.get_color(), linewidth=1.6, label=s.label, marker=marker,
                    markersize=3)
        else:
            (raw,) = ax.plot(xs, ys, linewidth=1.6, label=s.label, marker=marker, markersize=3)
        if s.band is not None:
            ax.fill_between(xs, [float(v) for v in s.band[0]], [float(v) for v in s.band[1]],
                            color=raw.get_color(), alpha=BAND_ALPHA, linewidth=0)
    values = [float(v) for s in series for v in (*s.ys, *(s.band[0] if s.band else ()))]
    if log_y and values and all(v > 0 for v in values):
        ax.set_yscale("log")
        _readable_log_ticks(ax)
    xs_all = [float(x) for s in series for x in s.xs]
    if integer_x and xs_all:
        _integer_ticks(ax, min(xs_all), max(xs_all))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="major")
    if _needs_legend([s.label for s in series], title):
        ax.legend(fontsize=8)
    return fig


def _needs_legend(labels: Sequence[str], title: str | None) -> bool:
    """A legend unless one curve's label is already in the title: two or more curves need one to be
    told apart, even when the title names them all (`word2vec, fasttext, glove: loss of 3 runs`)."""
    labels = [label for label in labels if label]
    return len(labels) > 1 or any(label not in (title or "") for label in labels)


def curve_plot(path: Path, curves: Mapping[str, Curve], *, xlabel: str, ylabel: str, log_y: bool = False,
               title: str | None = None, integer_x: bool = False, smooth: bool = False) -> None:
    """Write one or more labelled curves to `path`; `smooth` draws each faint with its smoothed
    version over it (a running training loss), `integer_x` for step axes."""
    series = [Series(label, xs, ys, noisy=smooth) for label, (xs, ys) in curves.items()]
    write_png(path, "curves", dict(series=series, xlabel=xlabel, ylabel=ylabel, title=title, log_y=log_y,
                                    integer_x=integer_x))


def _integer_ticks(ax: Any, first: float, last: float) -> None:
    """Whole-number ticks in steps of 1, 2 or 5 x 10^k, none past the data (a step axis of a
    20-step run ends at 20, not 21)."""
    from matplotlib.ticker import FixedLocator, MaxNLocator

    ticks = MaxNLocator(nbins=8, integer=True, steps=[1, 2, 5, 10]).tick_values(first, last)
    ax.xaxis.set_major_locator(FixedLocator([t for t in ticks if first <= t <= last]))


def _readable_log_ticks(ax: Any) -> None:
    """matplotlib labels a log axis at powers of ten only (or as 3x10^-1 on minor ticks), so a curve
    spanning a decade or two shows one to three labels: label round values instead, still on the log
    scale: 0.25, 0.3, 0.35, ... under a decade, 1-2-5 steps (0.1, 0.2, 0.5, 1, ...) under three."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, MaxNLocator, NullLocator

    low, high = ax.get_ylim()
    if not (low > 0 and high / low < 1e3):
        return
    if high / low < 10:
        ticks = MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]).tick_values(low, high)
    else:
        ticks = LogLocator(base=10, subs=(1.0, 2.0, 5.0)).tick_values(low, high)
    ax.yaxis.set_major_locator(FixedLocator([t for t in ticks if low <= t <= high]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.yaxis.set_minor_locator(NullLocator())


@dataclass(frozen=True)
class ContourGrid:
    """A function's values over a 200 x 200 grid: what its contours are drawn from."""

    x1: Any
    x2: Any
    values: Any


def contour_grid(function: Callable[[Any, Any], Any], view: tuple[float, float, float, float],
                 points: Sequence[tuple[float, float]]) -> ContourGrid:
    """The function over the view widened to hold the path (`_framed`)."""
    import numpy as np

    x1_min, x1_max, x2_min, x2_max = _framed(view, points)
    grid1, grid2 = np.meshgrid(np.linspace(x1_min, x1_max, 200), np.linspace(x2_min, x2_max, 200))
    return ContourGrid(grid1, grid2, function(grid1, grid2))


def path_on_contours(grid: ContourGrid, points: Sequence[tuple[float, float]], *, title: str,
                     minimum: tuple[float, float] | None = None, log_levels: bool = False,
                     marked: str = "minimum") -> Any:
    """The book's `show_trace_2d`: the optimizer's path over the function's contours (`contour_grid`),
    its start and the minimum (or what `marked` names: a saddle point) marked; `log_levels` spaces
    the contours geometrically (valleys)."""
    import numpy as np

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.4))
    values = grid.values
    levels: Any = 20
    if log_levels:
        low = max(float(values.min()), float(values.max()) * 1e-6, 1e-12)
        levels = np.geomspace(low, float(values.max()), 20)
    ax.contour(grid.x1, grid.x2, values, levels=levels, colors="#1f77b4", linewidths=0.8)
    xs, ys = zip(*points)
    ax.plot(xs, ys, "-o", color="#ff7f0e", markersize=3, linewidth=1.2, label=f"path ({len(points) - 1} steps)")
    ax.plot(xs[:1], ys[:1], "s", color="#d62728", markersize=6, label="start")
    if minimum is not None:
        ax.plot([minimum[0]], [minimum[1]], "*", color="black", markersize=10, label=marked)
    ax.set_xlim(float(grid.x1.min()), float(grid.x1.max()))
    ax.set_ylim(float(grid.x2.min()), float(grid.x2.max()))
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="best")
    return fig


def trajectory_plot(path: Path, function: Callable[[Any, Any], Any], points: Sequence[tuple[float, float]],
                    view: tuple[float, float, float, float], *, title: str,
                    minimum: tuple[float, float] | None = None, log_levels: bool = False,
                    marked: str = "minimum") -> None:
    write_png(path, "path on contours", dict(grid=contour_grid(function, view, points), points=list(points),
                                              title=title, minimum=minimum, log_levels=log_levels, marked=marked))


FIGURES: dict[str, Callable[..., Any]] = {"curves": curves_figure, "path on contours": path_on_contours}
"""The figures a run writes, by the name its drawing child knows them by. An experiment's own
figures are named `module:function` instead (`figure_function`), so this module imports none."""


def figure_function(name: str) -> Callable[..., Any]:
    """The function drawing figure `name`: a name of FIGURES, or an importable `module:function`
    inside d2l_lab (the child imports the module by that name when asked for the figure)."""
    if name in FIGURES:
        return FIGURES[name]
    module, _, function = name.partition(":")
    if not (module.startswith("d2l_lab.") and function.isidentifier()):
        raise ValueError(f"unknown figure {name!r}: name one of {', '.join(FIGURES)} or a d2l_lab module:function")
    return getattr(importlib.import_module(module), function)


def _render(name: str, kwargs: dict[str, Any]) -> bytes:
    return png_bytes(figure_function(name)(**kwargs))


def write_png(path: Path, name: str, kwargs: dict[str, Any]) -> None:
    """Draw figure `name` (`figure_function`) with `kwargs`, plain picklable data, and write it to
    `path`: by the run's drawing child where one runs, else here; the same bytes either way."""
    data = plot_process.render(name, kwargs, _render)
    atomic_write(path, lambda f: f.write(data))


def serve_renders() -> None:
    """The drawing child's main: import matplotlib at once, then draw what the run sends."""
    _pyplot()
    plot_process.serve(_render)


def _framed(view: tuple[float, float, float, float], points: Sequence[tuple[float, float]]) -> tuple[float, ...]:
    """The default view widened to show the path with a margin of PATH_MARGIN of the view, so that
    a point at the edge keeps its whole marker; but at most 3x, so a diverging run stays readable."""
    x1_min, x1_max, x2_min, x2_max = view
    w, h = x1_max - x1_min, x2_max - x2_min
    pad1, pad2 = PATH_MARGIN * w, PATH_MARGIN * h
    for a, b in points:
        if not (math.isfinite(a) and math.isfinite(b)):
            continue
        x1_min, x1_max = max(min(x1_min, a - pad1), view[0] - w), min(max(x1_max, a + pad1), view[1] + w)
        x2_min, x2_max = max(min(x2_min, b - pad2), view[2] - h), min(max(x2_max, b + pad2), view[3] + h)
    return x1_min, x1_max, x2_min, x2_max
