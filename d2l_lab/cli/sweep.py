"""`d2l sweep <experiment> --grid key=v1,v2 ...`: the cross product of runs, in parallel, resumable.

Every point is validated before anything starts; the sweep directory is keyed by the request, so
re-issuing the same command reuses it and runs only what has not completed, resuming interrupted
points from their checkpoints (see `d2l_lab.runs.sweepdir`). Where points run is the launcher's
business (`d2l_lab.runs.launchers`: local worker processes, Ray tasks, a Slurm job array); this
driver (validation, the sweep directory, results as points finish, Ctrl-C, exit codes) is the same
for all of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from d2l_lab.cli import output
from d2l_lab.cli.common import ConfigFile, Json, OutRoot, Preset, Quiet, Sets, cli_errors
from d2l_lab.cli.completion import complete_experiment
from d2l_lab.cli.sweep_points import (check_data, check_devices, collect, print_table, run_names,
                                      warn_if_oversubscribed)
from d2l_lab.errors import UserError
from d2l_lab.runs.grid import MAX_POINTS

Grid = Annotated[Optional[list[str]], typer.Option(
    "--grid", help="swept key and values: --grid lr=0.01,0.1 (repeatable; the cross product runs); keys are "
                   "run flags (algo, lr, batch-size, problem, ...) or dotted config keys", show_default=False)]
Seeds = Annotated[Optional[int], typer.Option(
    "--seeds", help="also run each point with seeds base..base+K-1 (base: the config's seed)", show_default=False)]
Jobs = Annotated[Optional[int], typer.Option(
    "--jobs", "-j", help="local: points run in parallel (default: one per core); torch threads are split between "
                         "them", show_default=False)]
LauncherName = Annotated[Optional[str], typer.Option(
    "--launcher", help="where points run: local (worker processes here; the default), ray (tasks on a Ray "
                       "cluster) or slurm (a job array through submitit)", show_default=False)]
LauncherConfig = Annotated[Optional[Path], typer.Option(
    "--launcher-config", help="YAML file with a 'launcher:' section of these options (e.g. name: slurm, "
                              "partition: gpu); flags override it", show_default=False)]
Address = Annotated[Optional[str], typer.Option(
    "--address", help="ray: the cluster's host:port (default: RAY_ADDRESS; neither: a local Ray instance for "
                      "the sweep)", show_default=False)]
CpusPerRun = Annotated[Optional[int], typer.Option(
    "--cpus-per-run", help="ray, slurm: CPUs each point asks for, and its torch threads (default: 1)",
    show_default=False)]
GpusPerRun = Annotated[Optional[float], typer.Option(
    "--gpus-per-run", help="ray, slurm: GPUs each point asks for (default: 0; fractions on ray)", show_default=False)]
Partition = Annotated[Optional[str], typer.Option(
    "--partition", help="slurm: the partition (default: the cluster's default)", show_default=False)]
TimeLimit = Annotated[Optional[str], typer.Option(
    "--time", help="slurm: each job's time limit, minutes or [D-]HH:MM:SS (default: 60)", show_default=False)]
Mem = Annotated[Optional[str], typer.Option(
    "--mem", help="slurm: memory per job, e.g. 4G (default: the partition's)", show_default=False)]
MaxConcurrent = Annotated[Optional[int], typer.Option(
    "--max-concurrent", help="slurm: at most this many jobs of the array at once (default: no limit)",
    show_default=False)]
SlurmSets = Annotated[Optional[list[str]], typer.Option(
    "--slurm-set", help="slurm: any other sbatch option, key=value (repeatable), e.g. --slurm-set qos=long",
    show_default=False)]
SweepName = Annotated[Optional[str], typer.Option(
    "--name", help="sweep directory name under OUT/sweeps (default: timestamp-requesthash)", show_default=False)]
Force = Annotated[bool, typer.Option("--force", help="re-run points that already completed under --out")]
MaxPoints = Annotated[int, typer.Option(
    "--max-points", help="refuse a grid of more points than this (raise it to run a bigger one)")]
Space = Annotated[Optional[list[str]], typer.Option(
    "--space", help="searched key and range: --space lr=log:0.001:0.1, window=int:2:10 (kinds: float, log, int, "
                    "int-log; repeatable); --grid values then become choices the search picks among",
    show_default=False)]
Trials = Annotated[Optional[int], typer.Option(
    "--trials", help="search: how many trials the study holds when done (re-issue with more to extend it)",
    show_default=False)]
SearchName = Annotated[Optional[str], typer.Option(
    "--search", help="search: tpe (default with --space; random for its first max(2, trials // 8) trials, "
                     "at most 10), random, cmaes, or grid (the --grid values; the default without --space)",
    show_default=False)]
Prune = Annotated[Optional[str], typer.Option(
    "--prune", help="search: stop bad trials early from their curves: none (default), median (prunes once "
                    "max(2, trials // 8) trials finished, at most 5) or hyperband",
    show_default=False)]
Metric = Annotated[str, typer.Option(
    "--metric", help="search: the final metric to optimise; its direction is the metric's (loss: lower, "
                     "wordsim353_rho: higher)")]
SearchSeed = Annotated[int, typer.Option(
    "--seed", help="search: the sampler's seed (a run's seed is --set seed=N)")]
ANNOUNCE_ABOVE = 100
"""Grids bigger than this say how many points they have before validating them."""


def sweep(
    experiment: Annotated[str, typer.Argument(help="the experiment to sweep, as in `d2l run`, e.g. optim",
                                              autocompletion=complete_experiment)],
    grid: Grid = None,
    seeds: Seeds = None,
    jobs: Jobs = None,
    preset: Preset = None,
    config: ConfigFile = None,
    set_: Sets = None,
    out: OutRoot = Path("outputs"),
    name: SweepName = None,
    force: Force = False,
    max_points: MaxPoints = MAX_POINTS,
    launcher: LauncherName = None,
    launcher_config: LauncherConfig = None,
    address: Address = None,
    cpus_per_run: CpusPerRun = None,
    gpus_per_run: GpusPerRun = None,
    partition: Partition = None,
    time: TimeLimit = None,
    mem: Mem = None,
    max_concurrent: MaxConcurrent = None,
    slurm_set: SlurmSets = None,
    space: Space = None,
    trials: Trials = None,
    search: SearchName = None,
    prune: Prune = None,
    metric: Metric = "loss",
    seed: SearchSeed = 0,
    quiet: Quiet = False,
    json: Json = False,
) -> None:
    """Run a grid of configs (and seeds) as ordinary runs; results in OUT/sweeps/<sweep>/results.csv.

    Points run here (`--launcher local`), as tasks on a Ray cluster or as a Slurm job array, with
    the same reuse, resume and results. Exit codes: 0 every point ran (diverged points included:
    they are results), 1 a point hit an internal error or lost its worker, 2 bad input, 130
    interrupted (re-issue the same command to finish).

    With --space (or --search, --prune) the points are trials an Optuna study proposes, kept in
    the sweep directory; see docs/sweeps.md.
    """
    with cli_errors():
        from d2l_lab.runs.launchers import compose_options, parse_slurm_sets
        from d2l_lab.runs.search_space import wants_search

        options = compose_options(launcher_config, {
            "name": launcher, "jobs": jobs, "address": address, "cpus_per_run": cpus_per_run,
            "gpus_per_run": gpus_per_run, "partition": partition, "time": time, "mem": mem,
            "max_concurrent": max_concurrent, "slurm_set": parse_slurm_sets(slurm_set or [])})
        if wants_search(space or [], search, prune):
            from d2l_lab.cli.sweep_search import search as run_search

            code = run_search(experiment, grid or [], seeds, options, preset, config, set_ or [], out, name, force,
                              quiet, json, space or [], trials, search or ("tpe" if space else "grid"),
                              prune or "none", metric, seed)
        else:
            if trials is not None:
                raise UserError("--trials is for a search: give the ranges with --space KEY=KIND:LOW:HIGH")
            code = _sweep(experiment, grid or [], seeds, options, preset, config, set_ or [], out, name, force,
                          quiet, json, max_points)
    raise typer.Exit(code)


def _sweep(experiment: str, grid: list[str], seeds: int | None, options: Any, preset: str | None,
           config_file: Path | None, sets: list[str], out: Path, name: str | None, force: bool, quiet: bool,
           json: bool, max_points: int) -> int:
    from contextlib import closing

    from d2l_lab.cli.sweep_worker import COMMAND, run_remote
    from d2l_lab.experiments.registry import experiment as find_experiment
    from d2l_lab.files import check_writable
    from d2l_lab.runs.grid import Request, plan
    from d2l_lab.runs.launchers import open_launcher
    from d2l_lab.runs.launchers.local import LocalLauncher
    from d2l_lab.runs.rundir import config_hash
    from d2l_lab.runs.sweep import Sweep, exit_code, request_for
    from d2l_lab.runs.sweepdir import open_sweep_dir, read_index

    out = out.absolute()  # workers elsewhere (another cwd, another node) must find the same root
    existing = run_names(out / experiment) if force else set()  # first thing: see `request_for`'s `exclude`
    spec = find_experiment(experiment)
    launcher = open_launcher(options, COMMAND, run_remote)  # a missing extra is said before validating

    def announce(size: int) -> None:
        if size > ANNOUNCE_ABOVE and not quiet:
            output.note(f"validating {size:,} grid points ...")

    axes, points = plan(Request(experiment, tuple(grid), tuple(sets), preset, config_file, seeds, max_points),
                        spec.config_class, announce, output.warn)
    check_devices({p.config.device for p in points})
    check_data(spec, points)
    check_writable(out, "--out")
    with closing(launcher):
        workers = max(getattr(getattr(p.config, experiment, None), "workers", 1) for p in points)
        if isinstance(launcher, LocalLauncher):  # its default jobs leave each point its workers' cores
            launcher.point_cores = workers
        described = launcher.connect(out, len(points))  # before the sweep directory: a refusal leaves nothing
        warn_if_oversubscribed(launcher, experiment, workers)
        grid_values = {a.key: list(a.values) for a in axes}
        asked = {"experiment": experiment, "grid": grid_values, "sets": list(sets), "preset": preset,
                 "config": str(config_file) if config_file else None, "seeds": seeds}
        digest = config_hash({"experiment": experiment, "axes": grid_values,
                              "points": [p.config_hash for p in points]})
        sweep_dir = open_sweep_dir(out, asked, digest, name)
        state = Sweep(experiment, axes, points, out, sweep_dir, read_index(sweep_dir))
        state.save()
        work = [(p, request_for(p, experiment, out, exclude=sorted(existing))) for p in points]
        if not quiet:
            output.note(f"sweep {sweep_dir}: {len(points)} points, {described}")
        launcher.start(work, sweep_dir)
        results, interrupted = collect(launcher, state, len(points), quiet)
    code = exit_code(results, interrupted or len(results) < len(points))
    rows = [vars(r) for r in state.rows]
    if json:
        counts = {s: sum(r["status"] == s for r in rows) for s in dict.fromkeys(r["status"] for r in rows)}
        output.write_json({"sweep_dir": str(sweep_dir), "experiment": experiment, "points": len(points),
                           "reused": sum(r["reused"] for r in rows), "statuses": counts, "exit_code": code,
                           "results": rows})
    elif not quiet:
        print_table(list(state.axes), rows)
        output.note(f"results: {sweep_dir / 'results.csv'}\ncompare: d2l runs compare {sweep_dir}")
    return code


