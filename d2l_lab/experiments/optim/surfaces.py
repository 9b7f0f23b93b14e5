"""2-D test functions with known minima, written with plain arithmetic so the same function
evaluates torch tensors (training) and numpy grids (contour plots)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Surface:
    name: str
    function: Callable[[Any, Any], Any]
    minimum: tuple[float, float]
    default_start: tuple[float, float]
    view: tuple[float, float, float, float]
    """x1_min, x1_max, x2_min, x2_max of the contour plot (the book's ranges where it has one)."""
    hessian_diagonal: tuple[float, float] | None = None
    """Constant Hessian of a separable quadratic, for its stability analysis."""
    log_levels: bool = False
    """Contour levels spaced geometrically: a function whose values span decades over the view
    (Rosenbrock's walls) would otherwise have all 20 levels on its walls and none in its valley."""
    marked: str = "minimum"
    """What `minimum` is, for plot legends: the saddle's point is a saddle point, not a minimum."""


def quadratic(a: float, b: float) -> Surface:
    """f(x) = a*x1^2 + b*x2^2; the book's ill-conditioned example has a = 0.1, b = 2."""
    return Surface(
        name="quadratic",
        function=lambda x1, x2: a * x1**2 + b * x2**2,
        minimum=(0.0, 0.0),
        default_start=(-5.0, -2.0),
        view=(-5.5, 1.0, -3.0, 1.0),
        hessian_diagonal=(2 * a, 2 * b),
    )


ROSENBROCK = Surface(
    name="rosenbrock",
    function=lambda x1, x2: (1 - x1) ** 2 + 100 * (x2 - x1**2) ** 2,
    minimum=(1.0, 1.0),
    default_start=(-1.2, 1.0),
    view=(-2.0, 2.0, -1.0, 3.0),
    log_levels=True,
)

BEALE = Surface(
    name="beale",
    function=lambda x1, x2: (
        (1.5 - x1 + x1 * x2) ** 2 + (2.25 - x1 + x1 * x2**2) ** 2 + (2.625 - x1 + x1 * x2**3) ** 2
    ),
    minimum=(3.0, 0.5),
    default_start=(1.0, 1.0),
    view=(-4.5, 4.5, -4.5, 4.5),
    log_levels=True,
)


SADDLE = Surface(
    name="saddle",
    function=lambda x1, x2: x1**2 - x2**2,
    minimum=(0.0, 0.0),
    # Almost on the ridge x2 = 0: GD first slides towards the saddle point, then the tiny x2
    # grows by (1 + 2 lr) a step and carries it away (the book's saddle, 12.1.2).
    default_start=(-2.0, 0.01),
    view=(-2.5, 2.5, -2.5, 2.5),
    marked="saddle point",
)


def _cos(x: Any) -> Any:
    """cos of a torch tensor (training) or a numpy grid (contours), as the surfaces' arithmetic."""
    if hasattr(x, "cos"):
        return x.cos()
    import numpy as np

    return np.cos(x)


RASTRIGIN = Surface(
    name="rastrigin",
    function=lambda x1, x2: 20 + x1**2 - 10 * _cos(6.283185307179586 * x1) + x2**2 - 10 * _cos(6.283185307179586 * x2),
    minimum=(0.0, 0.0),
    # A local minimum's basin away from the global one: plain GD stays in it, momentum may not.
    default_start=(-2.2, 2.1),
    view=(-3.0, 3.0, -3.0, 3.0),
)

NAMED: dict[str, Surface] = {s.name: s for s in (ROSENBROCK, BEALE, SADDLE, RASTRIGIN)}
"""The surfaces with fixed coefficients; the quadratic is built from its own (`surface`)."""


def surface(name: str, coefficients: tuple[float, float]) -> Surface:
    if name == "quadratic":
        return quadratic(*coefficients)
    return NAMED[name]


def stability(eigenvalues: Sequence[float]) -> dict[str, Any]:
    """Hessian eigenvalues, condition number and the largest stable GD step 2/lambda_max."""
    ordered = sorted(float(e) for e in eigenvalues)
    low, high = ordered[0], ordered[-1]
    return {
        "hessian_eigenvalues": ordered,
        "condition_number": high / low,
        "max_stable_gd_lr": 2 / high,
    }
