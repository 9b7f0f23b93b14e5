"""The optimization chapter's lab figures: predicted against measured convergence, several runs'
paths on one contour plot (and as a GIF), and the learning-rate range test.

Kept apart from `plotting.py` (the figures every experiment shares); matplotlib is imported only
when a figure is drawn (`plotting._pyplot`), so `d2l --help` and a run's start stay fast. A run's
own figures (convergence.png, lr_find.png) go through `plotting.write_png` by their `module:function`
name, so a `d2l run`'s drawing child draws them; `runs compare`'s paths are drawn here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from d2l_lab import plotting
from d2l_lab.experiments.optim import convergence
from d2l_lab.experiments.optim.surfaces import Surface
from d2l_lab.files import atomic_write

Path2D = Sequence[tuple[float, float]]
GIF_FRAME_MS = 200
"""Time a GIF frame shows: a 20-step run moves for 4 s, slow enough to follow each step."""


def convergence_figure(theory: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], *,
                       start: Sequence[float], minimum: Sequence[float], title: str) -> Any:
    """|x_k - x*| per step on a log axis: measured (dots), the per-direction prediction M^k x_0
    (line) and the predicted rate's line |x_0| rho^k (dashed), whose slope the measured points
    follow once the faster directions have died out."""
    plt = plotting._pyplot()
    steps = [int(r["step"]) for r in rows]
    measured = [math.dist((float(r["x1"]), float(r["x2"])), minimum) for r in rows]
    eigenvalues = [d["eigenvalue"] for d in theory["directions"]]
    predicted = convergence.predicted_distances(theory["algo"], theory["lr"], theory.get("momentum", 0.0),
                                                eigenvalues, start, minimum, max(steps, default=0))
    rho, d0 = theory["predicted_rate"], (measured or [1.0])[0]
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    ax.plot(range(len(predicted)), predicted, "-", color="#1f77b4", linewidth=1.4, label="predicted: M^k x0 per direction")
    ax.plot(steps, [d0 * rho**k for k in steps], "--", color="#7f7f7f", linewidth=1.0,
            label=f"|x0| rho^k, predicted rate rho = {rho:.4g}")
    ax.plot(steps, measured, "o", color="#ff7f0e", markersize=3, label="measured")
    if all(v > 0 for v in (*measured, *predicted)):
        ax.set_yscale("log")
    if steps:
        plotting._integer_ticks(ax, min(steps), max(steps))
    ax.set_xlabel("step")
    ax.set_ylabel("distance to the minimum")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def convergence_plot(path: Path, theory: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], *,
                     start: Sequence[float], minimum: Sequence[float], title: str) -> None:
    points = [{"step": int(r["step"]), "x1": float(r["x1"]), "x2": float(r["x2"])} for r in rows]
    plotting.write_png(path, f"{__name__}:convergence_figure",
                       dict(theory=dict(theory), rows=points, start=[float(v) for v in start],
                            minimum=[float(v) for v in minimum], title=title))


def _contours(ax: Any, surface: Surface, paths: Sequence[Path2D]) -> tuple[float, ...]:
    """The surface's contours framed to show every path, its minimum (or saddle) marked; the frame."""
    import numpy as np

    frame = plotting._framed(surface.view, [p for path in paths for p in path])
    x1_min, x1_max, x2_min, x2_max = frame
    grid1, grid2 = np.meshgrid(np.linspace(x1_min, x1_max, 200), np.linspace(x2_min, x2_max, 200))
    values = surface.function(grid1, grid2)
    levels: Any = 20
    if surface.log_levels:
        low = max(float(values.min()), float(values.max()) * 1e-6, 1e-12)
        levels = np.geomspace(low, float(values.max()), 20)
    ax.contour(grid1, grid2, values, levels=levels, colors="#b0b0b0", linewidths=0.7)
    ax.plot([surface.minimum[0]], [surface.minimum[1]], "*", color="black", markersize=11, label=surface.marked,
            zorder=5)
    ax.set_xlim(x1_min, x1_max)
    ax.set_ylim(x2_min, x2_max)
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    return frame


def paths_figure(surface: Surface, paths: Mapping[str, Path2D], *, title: str) -> Any:
    """The book's key picture: several optimizers' paths over one surface, a colour per run, its
    start (square) and end (circle) marked, the legend naming what tells the runs apart."""
    plt = plotting._pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    _contours(ax, surface, list(paths.values()))
    for index, (label, path) in enumerate(paths.items()):
        colour = f"C{index % 10}"
        xs, ys = zip(*path)
        ax.plot(xs, ys, "-", color=colour, linewidth=1.3, marker=".", markersize=4,
                label=f"{label} ({len(path) - 1} steps)")
        ax.plot(xs[:1], ys[:1], "s", color=colour, markersize=6)
        ax.plot(xs[-1:], ys[-1:], "o", color=colour, markersize=7, markeredgecolor="black")
    ax.set_title(f"{title}\nsquare: start, circle: end", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    return fig


def paths_plot(path: Path, surface: Surface, paths: Mapping[str, Path2D], *, title: str) -> None:
    plotting.save(paths_figure(surface, paths, title=title), path)


def paths_animation(path: Path, surface: Surface, paths: Mapping[str, Path2D], *, title: str) -> int:
    """A GIF of the paths moving together, one frame per step (frame k: every path up to step k;
    a shorter run stays at its end), written with matplotlib's Pillow writer. Returns the frames."""
    from matplotlib.animation import FuncAnimation, PillowWriter

    plt = plotting._pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    _contours(ax, surface, list(paths.values()))
    lines, heads = [], []
    for index, label in enumerate(paths):
        colour = f"C{index % 10}"
        lines.append(ax.plot([], [], "-", color=colour, linewidth=1.3, label=label)[0])
        heads.append(ax.plot([], [], "o", color=colour, markersize=7, markeredgecolor="black")[0])
    ax.legend(fontsize=7, loc="best")
    frames = max(len(p) for p in paths.values())

    def draw(k: int) -> list[Any]:
        for line, head, points in zip(lines, heads, paths.values()):
            shown = points[:k + 1]
            line.set_data([p[0] for p in shown], [p[1] for p in shown])
            head.set_data([shown[-1][0]], [shown[-1][1]])
        ax.set_title(f"{title}\nstep {k}", fontsize=10)
        return [*lines, *heads]

    animation = FuncAnimation(fig, draw, frames=frames, blit=False)
    _save_animation(path, animation, PillowWriter(fps=1000 / GIF_FRAME_MS))
    plt.close(fig)
    return frames


def _save_animation(path: Path, animation: Any, writer: Any) -> None:
    """The Pillow writer wants a file name: render into a temporary file beside `path`, then hand
    its bytes to `atomic_write`, so a stopped or failed write leaves nothing half-drawn."""
    import tempfile

    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".gif", dir=path.parent)
    temporary = Path(name)
    try:
        import os

        os.close(fd)
        animation.save(temporary, writer=writer, dpi=80)
        atomic_write(path, lambda f: f.write(temporary.read_bytes()))
    finally:
        temporary.unlink(missing_ok=True)


def range_test_figure(lrs: Sequence[float], losses: Sequence[float], smoothed: Sequence[float],
                      suggested: float | None, *, title: str) -> Any:
    """Smith's range test: the loss (faint) and its smoothed curve against lr on a log axis, the
    suggested lr (steepest descent of the smoothed curve) marked."""
    plt = plotting._pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    ax.plot(lrs, losses, color="#1f77b4", alpha=plotting.RAW_ALPHA, linewidth=0.8, label="loss of each step")
    ax.plot(lrs, smoothed, color="#1f77b4", linewidth=1.6, label="smoothed loss")
    if suggested is not None:
        ax.axvline(suggested, color="#d62728", linestyle="--", linewidth=1.0, label=f"suggested lr {suggested:.3g}")
    ax.set_xscale("log")
    finite = [v for v in smoothed if math.isfinite(v)]
    if finite:  # the blow-up's last points would squash the curve's informative part
        ax.set_ylim(min(finite) - 0.05 * (max(finite) - min(finite)), min(max(finite), 4 * finite[0] if finite[0] > 0
                                                                           else max(finite)) * 1.05)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return fig


def range_test_plot(path: Path, lrs: Sequence[float], losses: Sequence[float], smoothed: Sequence[float],
                    suggested: float | None, *, title: str) -> None:
    plotting.write_png(path, f"{__name__}:range_test_figure",
                       dict(lrs=list(lrs), losses=list(losses), smoothed=list(smoothed), suggested=suggested,
                            title=title))

