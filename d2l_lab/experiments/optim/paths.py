"""`d2l runs compare` of optim runs on one 2-D surface: their paths on one contour plot (the book's
picture of several optimizers side by side), and with `--animate` a GIF of them moving."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from d2l_lab.errors import UserError
from d2l_lab.experiments.optim.surfaces import Surface, surface
from d2l_lab.runs.catalog import Selected, flatten

Path2D = list[tuple[float, float]]


def surface_paths(selected: Sequence[Selected], labels: Sequence[str]) -> tuple[Surface, dict[str, Path2D]] | None:
    """The surface and each run's path (label -> points), when every run is an optim run on the
    same 2-D surface (the quadratic with the same coefficients); else None."""
    from d2l_lab.runs.metrics import read_metrics

    problems = set()
    for s in selected:
        try:
            config = flatten(s.run.config()) if s.run.experiment == "optim" else {}
        except UserError:
            return None
        problems.add((config.get("problem.name"), tuple(config.get("problem.coefficients") or ())))
    if len(problems) != 1 or next(iter(problems))[0] in (None, "airfoil"):
        return None
    name, coefficients = next(iter(problems))
    paths = {}
    for s, label in zip(selected, labels):
        rows = read_metrics(s.run.path / "metrics.csv")
        paths[label] = [(float(r["x1"]), float(r["x2"])) for r in rows if r.get("x1") not in (None, "")]
    if not all(paths.values()):
        return None
    return surface(name, coefficients), paths


def write_paths(selected: Sequence[Selected], labels: Sequence[str], png: Path, *, title: str,
                animate: bool) -> list[Path]:
    """Write `png` (and its `.gif` with `animate`) when the runs share a 2-D surface; the files
    written. `animate` on runs that do not is one line and nothing written."""
    found = surface_paths(selected, labels)
    if found is None:
        if animate:
            raise UserError("--animate draws optim runs on one 2-D surface (the same --problem, and the same "
                            "--coefficients on the quadratic): these runs are not")
        return []
    from d2l_lab.experiments.optim import figures

    drawn, paths = found
    figures.paths_plot(png, drawn, paths, title=title)
    if not animate:
        return [png]
    gif = png.with_suffix(".gif")
    figures.paths_animation(gif, drawn, paths, title=title)
    return [png, gif]
