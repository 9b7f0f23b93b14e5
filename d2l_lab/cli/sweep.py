"""`d2l sweep <experiment> --grid key=v1,v2 ...`: the cross product of runs, in parallel, resumable.

Every point is validated before anything starts; the sweep directory is keyed by the request, so
re-issuing the same command reuses it and runs only what has not completed, resuming interrupted
points from their checkpoints (see `d2l_lab.runs.sweepdir`). Where points run is the launcher's
business (`d2l_lab.runs.launchers`: local worker processes, Ray tasks, a Slurm job array); this
driver (validation, the sweep directory, results as points finish, Ctrl-C, exit codes) is the same
for all of them.
"""

from __future__ import annotations

import queue
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from d2l_lab.cli import output
from d2l_lab.cli.common import ConfigFile, Json, OutRoot, Preset, Quiet, Sets, cli_errors, ctrl_c_stops
from d2l_lab.cli.completion import complete_experiment
from d2l_lab.errors import UserError
from d2l_lab.runs.grid import MAX_POINTS

if TYPE_CHECKING:
    from d2l_lab.experiments.registry import ExperimentSpec

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
    "--search", help="search: tpe (default with --space), random, cmaes, or grid (the --grid values; the "
                     "default without --space)", show_default=False)]
Prune = Annotated[Optional[str], typer.Option(
    "--prune", help="search: stop bad trials early from their curves: none (default), median or hyperband",
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
    from d2l_lab.runs import catalog
    from d2l_lab.runs.grid import Request, plan
    from d2l_lab.runs.launchers import open_launcher
    from d2l_lab.runs.launchers.local import LocalLauncher
    from d2l_lab.runs.rundir import config_hash
    from d2l_lab.runs.sweep import Sweep, exit_code, request_for
    from d2l_lab.runs.sweepdir import open_sweep_dir, read_index

    out = out.absolute()  # workers elsewhere (another cwd, another node) must find the same root
    existing = _run_names(out / experiment) if force else set()  # first thing: see `request_for`'s `exclude`
    spec = find_experiment(experiment)
    launcher = open_launcher(options, COMMAND, run_remote)  # a missing extra is said before validating

    def announce(size: int) -> None:
        if size > ANNOUNCE_ABOVE and not quiet:
            output.note(f"validating {size:,} grid points ...")

    axes, points = plan(Request(experiment, tuple(grid), tuple(sets), preset, config_file, seeds, max_points),
                        spec.config_class, announce, output.warn)
    _check_devices({p.config.device for p in points})
    _check_data(spec, points)
    check_writable(out, "--out")
    with closing(launcher):
        workers = max(getattr(getattr(p.config, experiment, None), "workers", 1) for p in points)
        if isinstance(launcher, LocalLauncher):  # its default jobs leave each point its workers' cores
            launcher.point_cores = workers
        described = launcher.connect(out, len(points))  # before the sweep directory: a refusal leaves nothing
        _warn_if_oversubscribed(launcher, experiment, workers)
        grid_values = {a.key: list(a.values) for a in axes}
        asked = {"experiment": experiment, "grid": grid_values, "sets": list(sets), "preset": preset,
                 "config": str(config_file) if config_file else None, "seeds": seeds}
        digest = config_hash({"experiment": experiment, "axes": grid_values,
                              "points": [p.config_hash for p in points]})
        sweep_dir = open_sweep_dir(out, asked, digest, name)
        state = Sweep(experiment, axes, points, out, sweep_dir, read_index(sweep_dir))
        state.save()
        done = {} if force else catalog.by_config(out, experiment, "completed")
        stopped = {} if force else catalog.by_config(out, experiment, "interrupted")
        work = [(p, request_for(p, experiment, out, done.get(p.config_hash, []), stopped.get(p.config_hash, []),
                                exclude=sorted(existing)))
                for p in points]
        if not quiet:
            output.note(f"sweep {sweep_dir}: {len(points)} points, {described}")
        launcher.start(work, sweep_dir)
        results, interrupted = _collect(launcher, state, len(points), quiet)
    code = exit_code(results, interrupted or len(results) < len(points))
    rows = [vars(r) for r in state.rows]
    if json:
        counts = {s: sum(r["status"] == s for r in rows) for s in dict.fromkeys(r["status"] for r in rows)}
        output.write_json({"sweep_dir": str(sweep_dir), "experiment": experiment, "points": len(points),
                           "reused": sum(r["reused"] for r in rows), "statuses": counts, "exit_code": code,
                           "results": rows})
    elif not quiet:
        _print_table(list(state.axes), rows)
        output.note(f"results: {sweep_dir / 'results.csv'}\ncompare: d2l runs compare {sweep_dir}")
    return code


def _warn_if_oversubscribed(launcher: Any, experiment: str, workers: int) -> None:
    """Local jobs (as --jobs asked) times a point's worker processes (word2vec's and fastText's
    `workers`, one core each) beyond this machine's cores make every process wait for the others:
    say so once."""
    from d2l_lab.runs.launchers.local import LocalLauncher, available_cores

    if not isinstance(launcher, LocalLauncher):
        return
    cores = available_cores()
    if launcher.jobs * workers > cores:
        output.warn(f"{launcher.jobs} jobs x {workers} {experiment} workers need {launcher.jobs * workers} cores, "
                    f"this machine has {cores}: the processes will contend; use --jobs {max(1, cores // workers)}")


def _run_names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def _collect(launcher: Any, state: Any, total: int, quiet: bool) -> tuple[list[dict[str, Any]], bool]:
    """Record outcomes as they arrive; the first stop signal interrupts the launcher (each running
    point saves a checkpoint, nothing more starts) and waits for it, a second Ctrl-C stops waiting
    (and the launcher's `close` cancels what is still out). Repeated SIGTERMs and SIGHUPs (a
    process group's kill, a supervisor's) change nothing more: the points save what they trained."""
    results: list[dict[str, Any]] = []
    interrupted = False
    with ctrl_c_stops() as stops:
        while launcher.busy() and stops.interrupts < 2:
            if stops() and not interrupted:
                interrupted = True
                launcher.interrupt()
                output.note("interrupting: running points save a checkpoint; re-issue the command to finish")
            try:
                outcome = launcher.outcomes.get(timeout=0.2)
            except queue.Empty:
                continue
            results.append(outcome.result)
            _print_outcome(len(results), total, state.record(outcome), outcome.result, quiet)
        interrupted = interrupted or stops()
    state.save()
    return results, interrupted


def _check_data(spec: ExperimentSpec, points: list[Any]) -> None:
    """Read each distinct data of the points (the registry row says which: an embedding model's
    corpus and min_count) once before anything starts, so an unreadable or untrainable one is one
    line, not a failure of every point; the reading is cached, so the workers do not pay for it again."""
    from d2l_lab.runs.grid import describe

    seen: set[tuple[Any, ...]] = set()
    for point in points:
        data = spec.data_of(point.config)
        if data in seen:
            continue
        seen.add(data)
        try:
            spec.read_data(data)
        except UserError as exc:
            raise UserError(f"grid point {describe(point.values)}: {exc}") from None


def _check_devices(names: set[str]) -> None:
    """Devices other than auto/cpu need torch to check; done once per name, before anything starts."""
    from d2l_lab.devices import resolve_device

    for device in sorted(names - {"auto", "cpu"}):
        resolve_device(device)


def _print_outcome(done: int, total: int, row: Any, result: dict[str, Any], quiet: bool) -> None:
    from d2l_lab.runs.compare import cell
    from d2l_lab.runs.grid import describe

    label = describe(row.values)
    for line in (result.get("messages") or "").splitlines():
        output.note(f"  [{label}] {line}")
    if result.get("error"):
        output.note(f"[{done}/{total}] {label}: {row.status}: {result['error'].rstrip()}")
    elif not quiet:
        what = "already completed, reused" if row.reused else row.status
        what += " (resumed from its checkpoint)" if result.get("resumed") else ""
        metrics = "".join(f" {k}={cell(v)}" for k, v in list(row.final.items())[:2] if v is not None)
        wall = "" if row.wall_time_s is None else f" ({row.wall_time_s:.2f} s)"
        output.note(f"[{done}/{total}] {label}: {what}{metrics}{wall} {row.run_dir or ''}")


def _print_table(axes: list[str], rows: list[dict[str, Any]]) -> None:
    from d2l_lab.runs.compare import cell

    metrics = list(dict.fromkeys(k for r in rows for k in r["final"]))[:3]
    output.print_table([*axes, "status", *metrics, "wall s", "run"],
                [[*(cell(r["values"][a]) for a in axes), r["status"] + (" (reused)" if r["reused"] else ""),
                  *(cell(r["final"].get(m, "")) for m in metrics),
                  "" if r["wall_time_s"] is None else f"{r['wall_time_s']:.2f}", r["run_dir"] or ""] for r in rows],
                title="sweep results")

