"""What a search looks like: the best trial and its command, the optimisation history (best so
far against trials and against compute), a parallel-coordinates plot and the parameter
importances (Optuna's default evaluator, fANOVA), drawn with matplotlib. Pruned trials are drawn
as such (grey crosses at their last reported value, dashed grey lines).

`runs compare` and `report` call this for a sweep directory that holds a study
(`search_space.is_search_dir`); everything else about those commands is unchanged. Figures are
plain `matplotlib.figure.Figure`s (no pyplot state), turned into PNG by `plotting.png_bytes`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from d2l_lab.runs.report import Figure

PRUNED_COLOUR = "0.6"


def _trials(study: Any) -> list[Any]:
    return [t for t in study.get_trials(deepcopy=False) if t.state.name in ("COMPLETE", "PRUNED")]


def _value(t: Any) -> float | None:
    if t.state.name == "COMPLETE":
        return t.value
    return t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else None


def best_lines(sweep_dir: Path) -> list[str]:
    """The best trial in words, with the command that re-runs it, and the trials' states."""
    from d2l_lab.runs.search import best_trial, load_study

    study = load_study(sweep_dir)
    states: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        states[t.state.name.lower()] = states.get(t.state.name.lower(), 0) + 1
    lines = [f"search {sweep_dir.name}: {len(study.trials)} trials ("
             + ", ".join(f"{n} {s}" for s, n in states.items()) + ")"]
    best = best_trial(study)
    if best is None:
        return [*lines, "no trial has completed yet"]
    params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in best["params"].items())
    lines.append(f"best: trial {best['trial']}, {study.directions[0].name.lower()}d value {best['value']:.6g} "
                 f"({params})")
    command = sweep_dir.parent.parent / (best["run_dir"] or "") / "command.txt"
    if best["run_dir"] and command.is_file():
        lines.append(f"command: {command.read_text(encoding='utf-8').strip()}")
    return lines


def figures(sweep_dir: Path, metric: str) -> list[Figure]:
    from d2l_lab import plotting
    from d2l_lab.runs.search import load_study

    study = load_study(sweep_dir)
    trials = _trials(study)
    if not trials:
        return []
    lower = study.directions[0].name == "MINIMIZE"
    shown = [Figure(f"search: {metric}, best so far against trials and compute", plotting.png_bytes(
        _history(trials, metric, lower)))]
    if study.trials and study.trials[0].params:
        shown.append(Figure("search: parallel coordinates", plotting.png_bytes(_parallel(trials, metric))))
    importances = _importances(study)
    if importances:
        shown.append(Figure("search: parameter importances (fANOVA)", plotting.png_bytes(_bars(importances))))
    return shown


def _history(trials: Sequence[Any], metric: str, lower: bool) -> Any:
    from matplotlib.figure import Figure as Canvas

    fig = Canvas(figsize=(10, 3.8))
    by_trial, by_time = fig.subplots(1, 2)
    best, bests, spent, spents = math.inf if lower else -math.inf, [], 0.0, []
    ordered = sorted(trials, key=lambda t: t.datetime_complete or t.datetime_start)
    for t in ordered:
        spent += float(t.user_attrs.get("wall_time_s") or 0.0)
        if t.state.name == "COMPLETE" and t.value is not None and math.isfinite(t.value):
            best = min(best, t.value) if lower else max(best, t.value)
        bests.append(best)
        spents.append(spent)
    for t in trials:
        value = _value(t)
        if value is not None:
            pruned = t.state.name == "PRUNED"
            by_trial.plot(t.number + 1, value, "x" if pruned else "o", color=PRUNED_COLOUR if pruned else "C0",
                          ms=5)
    numbers = [t.number + 1 for t in ordered]
    by_trial.step(numbers, bests, where="post", color="C3", label="best so far")
    by_trial.plot([], [], "x", color=PRUNED_COLOUR, label="pruned (last value)")
    by_trial.set(xlabel="trial", ylabel=metric)
    by_trial.legend(fontsize=8)
    by_time.step(spents, bests, where="post", color="C3")
    by_time.set(xlabel="compute: trials' wall time, cumulative (s)", ylabel=f"best {metric}")
    fig.tight_layout()
    return fig


def _parallel(trials: Sequence[Any], metric: str) -> Any:
    """A line per trial across an axis per parameter, then the metric; each axis is its range
    scaled to [0, 1] (`_scaled`) and labelled with the values at its ends, so it reads in units."""
    import matplotlib
    from matplotlib.figure import Figure as Canvas

    names = list(dict.fromkeys(k for t in trials for k in t.params))
    columns = [*names, metric]
    values = [_value(t) for t in trials]
    finite = [v for v in values if v is not None and math.isfinite(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    fig = Canvas(figsize=(max(6, 1.6 * len(columns)), 4))
    ax = fig.subplots()
    cmap = matplotlib.colormaps["viridis"]
    for t, value in zip(trials, values):
        ys = [_scaled(t.distributions.get(n), t.params.get(n)) for n in names]
        shade = 0.5 if value is None or not math.isfinite(value) or high == low else (value - low) / (high - low)
        ys.append(shade)
        pruned = t.state.name == "PRUNED"
        ax.plot(range(len(columns)), ys, "--" if pruned else "-", color=PRUNED_COLOUR if pruned else cmap(shade),
                alpha=0.8, lw=1)
    distributions = [next((t.distributions[n] for t in trials if n in t.distributions), None) for n in names]
    for i, (bottom, top) in enumerate([*map(axis_ends, distributions), (f"{low:.4g}", f"{high:.4g}")]):
        ax.text(i, -0.03, bottom, ha="center", va="top", fontsize=8)
        ax.text(i, 1.03, top, ha="center", va="bottom", fontsize=8)
    ax.set_ylim(-0.12, 1.12)
    log = [" (log)" if getattr(d, "log", False) else "" for d in distributions]
    ax.set_xticks(range(len(columns)), [f"{n}{scale}" for n, scale in zip(names, log)] + [metric])
    ax.set_yticks([])
    ax.set_title(f"trials: each line one trial, coloured by {metric}; dashed grey: pruned", fontsize=9)
    fig.tight_layout()
    return fig


def axis_ends(distribution: Any) -> tuple[str, str]:
    """The values at the bottom and top of a parameter's axis (`_scaled`'s 0 and 1), as labels."""
    if distribution is None:
        return "", ""
    choices = getattr(distribution, "choices", None)
    if choices is not None:
        return str(choices[0]), str(choices[-1])
    return f"{distribution.low:.4g}", f"{distribution.high:.4g}"


def _scaled(distribution: Any, value: Any) -> float:
    """A parameter's value on [0, 1] of its range (log ranges in log space; a choice by its index)."""
    if distribution is None or value is None:
        return 0.5
    choices = getattr(distribution, "choices", None)
    if choices is not None:
        return choices.index(value) / max(1, len(choices) - 1)
    low, high = distribution.low, distribution.high
    if getattr(distribution, "log", False):
        low, high, value = math.log(low), math.log(high), math.log(value)
    return (value - low) / (high - low) if high > low else 0.5


def _importances(study: Any) -> dict[str, float]:
    """Optuna's `get_param_importances` (fANOVA); empty below two completed trials or one parameter."""
    from d2l_lab.runs.search import optuna

    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(complete) < 2 or len(complete[0].params) < 2:
        return {}
    try:
        return optuna().importance.get_param_importances(study)
    except (RuntimeError, ValueError):  # e.g. every completed trial has the same value
        return {}


def _bars(importances: dict[str, float]) -> Any:
    from matplotlib.figure import Figure as Canvas

    fig = Canvas(figsize=(6, 0.5 * len(importances) + 1.2))
    ax = fig.subplots()
    names = list(importances)[::-1]
    ax.barh(names, [importances[n] for n in names], color="C0")
    ax.set(xlabel="importance (share of the objective's variance)", xlim=(0, 1))
    fig.tight_layout()
    return fig
