"""`d2l sweep ... --space KEY=KIND:LOW:HIGH --trials N --search tpe --prune median`: a search.

The driver of a grid sweep (`cli/sweep.py`) with the points proposed by an Optuna study in the
sweep directory (`d2l_lab.runs.search`) instead of a cross product: the same validation, sweep
directory, launchers, cache of finished points, results.csv/index.json, Ctrl-C and exit codes.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Any

from d2l_lab.cli import output

DEFAULT_REMOTE_TRIALS = 4
"""Trials out at once on Ray or Slurm without `--jobs`: a sampler proposing all trials at once would
be random search."""


def search(experiment: str, grid: list[str], seeds: int | None, options: Any, preset: str | None,
           config_file: Path | None, sets: list[str], out: Path, name: str | None, force: bool, quiet: bool,
           json: bool, space: list[str], trials: int | None, sampler: str, prune: str, metric: str,
           seed: int) -> int:
    import dataclasses

    from d2l_lab.cli.sweep_points import (check_data, check_devices, collect, print_table, run_names,
                                          warn_if_oversubscribed)
    from d2l_lab.cli.sweep_worker import COMMAND, run_remote
    from d2l_lab.experiments.registry import experiment as find_experiment
    from d2l_lab.files import check_writable
    from d2l_lab.runs.compare import direction
    from d2l_lab.runs.grid import Request, point_at
    from d2l_lab.runs.launchers import open_launcher
    from d2l_lab.runs.launchers.local import LocalLauncher
    from d2l_lab.runs.rundir import config_hash
    from d2l_lab.runs.search_space import STUDY_FILE, plan_search

    out = out.absolute()
    existing = run_names(out / experiment) if force else set()
    spec = find_experiment(experiment)
    request = Request(experiment, tuple(grid), tuple(sets), preset, config_file, seeds)
    plan, corners = plan_search(request, space, trials, sampler, prune, metric, seed, spec.config_class, direction)
    from d2l_lab.runs import search as searching

    searching.optuna()  # a missing [tune] extra: one line, before anything is written
    if options.name not in (None, "local") and options.jobs is None:
        options = dataclasses.replace(options, jobs=DEFAULT_REMOTE_TRIALS)
    launcher = open_launcher(options, COMMAND, run_remote)
    check_devices({p.config.device for p in corners})
    check_data(spec, corners)
    check_writable(out, "--out")
    with closing(launcher):
        workers = max(getattr(getattr(p.config, experiment, None), "workers", 1) for p in corners)
        if isinstance(launcher, LocalLauncher):
            launcher.point_cores = workers
        described = launcher.connect(out, plan.trials)
        warn_if_oversubscribed(launcher, experiment, workers)
        asked = {"experiment": experiment, "search": plan.sampler, "prune": plan.pruner, "metric": plan.metric,
                 "seed": plan.seed, "space": list(space), "grid": {a.key: list(a.values) for a in plan.choices},
                 "sets": list(sets), "preset": preset, "config": str(config_file) if config_file else None}
        digest = config_hash({**asked, "corners": [p.config_hash for p in corners]})  # --trials may grow
        from d2l_lab.runs.sweep import Sweep, exit_code, request_for
        from d2l_lab.runs.sweepdir import open_sweep_dir

        sweep_dir = open_sweep_dir(out, asked, digest, name)
        study = searching.open_study(sweep_dir, plan)
        searching.finish_interrupted_asks(study, plan)
        state = Sweep(experiment, [*plan.choices, *plan.dimensions], [], out, sweep_dir, {})
        state.rows = [_row(t, plan, out, experiment) for t in study.get_trials(deepcopy=False)]

        def make_point(index: int, chosen: list[Any]) -> Any:
            return point_at(index, request, chosen, spec.config_class)

        def trial_request(point: Any, trial: dict[str, Any]) -> dict[str, Any]:
            work = request_for(point, experiment, out, exclude=sorted(existing))
            return {**work, "trial": {**trial, "storage": str(sweep_dir / STUDY_FILE)}}

        proposals = searching.Trials(study, plan, make_point, trial_request, state.add)
        expected = proposals.expected()
        state.save()
        if not quiet:
            output.note(f"search {sweep_dir}: {plan.sampler} over {', '.join(plan.names)}, {expected} of "
                        f"{plan.trials} trials to run ({plan.pruner} pruning, {plan.direction} {plan.metric}), "
                        f"{described}")
        launcher.start(proposals, sweep_dir)
        results, interrupted = collect(launcher, state, expected, quiet)
    code = exit_code(results, interrupted or len(results) < expected)
    rows = [vars(r) for r in state.rows]
    best = searching.best_trial(searching.load_study(sweep_dir))
    if json:
        counts = {s: sum(r["status"] == s for r in rows) for s in dict.fromkeys(r["status"] for r in rows)}
        output.write_json({"sweep_dir": str(sweep_dir), "experiment": experiment, "trials": len(rows),
                           "statuses": counts, "exit_code": code, "best": best, "results": rows})
    elif not quiet:
        print_table(list(state.axes), rows)
        if best is not None:
            output.note(f"best: trial {best['trial']} {plan.metric}={best['value']:.6g} ({best['run_dir']})")
        output.note(f"results: {sweep_dir / 'results.csv'}\nreport: d2l report {sweep_dir} -o report.html")
    return code


def _row(trial: Any, plan: Any, out: Path, experiment: str) -> Any:
    """A trial the study already holds, as its results row (its run's summary where it has one)."""
    import json

    from d2l_lab.runs.search_space import trial_values
    from d2l_lab.runs.sweep import Row

    values = {name: value for _, name, _, value in trial_values(plan, trial.params)}
    row = Row(trial.number + 1, values, trial.user_attrs.get("config_hash", ""))
    run_dir = trial.user_attrs.get("run_dir")
    summary_path = out / run_dir / "summary.json" if run_dir else None
    if summary_path is not None and summary_path.is_file():
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        row.status, row.run_dir = summary.get("status", "incomplete"), run_dir
        row.final, row.wall_time_s = dict(summary.get("final") or {}), summary.get("wall_time_s")
    elif trial.state.name == "FAIL":
        row.status = "failed"
    return row
