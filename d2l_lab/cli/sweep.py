"""`d2l sweep <experiment> --grid key=v1,v2 ...`: the cross product of runs, in parallel, resumable.

Every point is validated before anything starts; the sweep directory is keyed by the request, so
re-issuing the same command reuses it and runs only what has not completed, resuming interrupted
points from their checkpoints (see
`d2l_lab.runs.sweepdir` and, for the worker design, `d2l_lab.runs.sweep`).
"""

from __future__ import annotations

import queue
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from d2l_lab.cli import output
from d2l_lab.cli.common import ConfigFile, Json, OutRoot, Preset, Quiet, Sets, cli_errors, ctrl_c_stops
from d2l_lab.errors import UserError
from d2l_lab.runs.grid import MAX_POINTS

Grid = Annotated[Optional[list[str]], typer.Option(
    "--grid", help="swept key and values: --grid lr=0.01,0.1 (repeatable; the cross product runs); keys are "
                   "run flags (algo, lr, batch-size, problem, ...) or dotted config keys", show_default=False)]
Seeds = Annotated[Optional[int], typer.Option(
    "--seeds", help="also run each point with seeds base..base+K-1 (base: the config's seed)", show_default=False)]
Jobs = Annotated[Optional[int], typer.Option(
    "--jobs", "-j", help="points run in parallel (default: one per core); torch threads are split between them",
    show_default=False)]
SweepName = Annotated[Optional[str], typer.Option(
    "--name", help="sweep directory name under OUT/sweeps (default: timestamp-requesthash)", show_default=False)]
Force = Annotated[bool, typer.Option("--force", help="re-run points that already completed under --out")]
MaxPoints = Annotated[int, typer.Option(
    "--max-points", help="refuse a grid of more points than this (raise it to run a bigger one)")]
ANNOUNCE_ABOVE = 100
"""Grids bigger than this say how many points they have before validating them."""


def sweep(
    experiment: Annotated[str, typer.Argument(help="the experiment to sweep, as in `d2l run`, e.g. optim")],
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
    quiet: Quiet = False,
    json: Json = False,
) -> None:
    """Run a grid of configs (and seeds) as ordinary runs; results in OUT/sweeps/<sweep>/results.csv.

    Exit codes: 0 every point ran (diverged points included: they are results), 1 a point hit an
    internal error, 2 bad input, 130 interrupted (re-issue the same command to finish).
    """
    with cli_errors():
        code = _sweep(experiment, grid or [], seeds, jobs, preset, config, set_ or [], out, name, force,
                      quiet, json, max_points)
    raise typer.Exit(code)


def _sweep(experiment: str, grid: list[str], seeds: int | None, jobs: int | None, preset: str | None,
           config_file: Path | None, sets: list[str], out: Path, name: str | None, force: bool, quiet: bool,
           json: bool, max_points: int) -> int:
    from d2l_lab.cli.sweep_worker import COMMAND
    from d2l_lab.experiments.registry import experiment as find_experiment
    from d2l_lab.runs import catalog
    from d2l_lab.runs.grid import Request, plan
    from d2l_lab.runs.rundir import config_hash
    from d2l_lab.runs.sweep import Sweep, WorkerPool, available_cores, exit_code, request_for, threads_per_job
    from d2l_lab.runs.sweepdir import open_sweep_dir, read_index
    from d2l_lab.files import check_writable

    spec = find_experiment(experiment)
    if jobs is not None and jobs < 1:
        raise UserError(f"--jobs must be >= 1, got {jobs}")
    def announce(size: int) -> None:
        if size > ANNOUNCE_ABOVE and not quiet:
            output.note(f"validating {size:,} grid points ...")

    axes, points = plan(Request(experiment, tuple(grid), tuple(sets), preset, config_file, seeds, max_points),
                        spec.config_class, announce, output.warn)
    _check_devices({p.config.device for p in points})
    _check_data(points)
    check_writable(out, "--out")

    grid_values = {a.key: list(a.values) for a in axes}
    asked = {"experiment": experiment, "grid": grid_values, "sets": list(sets), "preset": preset,
             "config": str(config_file) if config_file else None, "seeds": seeds}
    digest = config_hash({"experiment": experiment, "axes": grid_values, "points": [p.config_hash for p in points]})
    sweep_dir = open_sweep_dir(out, asked, digest, name)
    state = Sweep(experiment, axes, points, out, sweep_dir, read_index(sweep_dir))
    state.save()
    done = {} if force else catalog.by_config(out, experiment, "completed")
    stopped = {} if force else catalog.by_config(out, experiment, "interrupted")
    work = [(p, request_for(p, experiment, out, done.get(p.config_hash, []), stopped.get(p.config_hash, []),
                            reuse_new=not force))
            for p in points]
    cores = available_cores()
    jobs = min(jobs or cores, len(work))
    if not quiet:
        output.note(f"sweep {sweep_dir}: {len(points)} points, {jobs} jobs x {threads_per_job(cores, jobs)} threads")
    pool = WorkerPool(jobs, threads_per_job(cores, jobs), COMMAND)
    pool.start(work)
    results, interrupted = _collect(pool, state, len(points), quiet)
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


def _collect(pool: Any, state: Any, total: int, quiet: bool) -> tuple[list[dict[str, Any]], bool]:
    """Record outcomes as they arrive; the first Ctrl-C interrupts the workers (each saves its running
    point) and waits for them, a second one stops waiting."""
    results: list[dict[str, Any]] = []
    interrupted = False
    with ctrl_c_stops() as should_stop:
        try:
            while pool.busy():
                if should_stop() and not interrupted:
                    interrupted = True
                    pool.interrupt()
                    output.note("interrupting: running points save a checkpoint; re-issue the command to finish")
                try:
                    outcome = pool.outcomes.get(timeout=0.2)
                except queue.Empty:
                    continue
                results.append(outcome.result)
                _print_outcome(len(results), total, state.record(outcome), outcome.result, quiet)
        except KeyboardInterrupt:  # the second Ctrl-C
            interrupted = True
    state.save()
    return results, interrupted


def _check_data(points: list[Any]) -> None:
    """Read each distinct corpus (with its min_count) once before anything starts, so an unreadable
    or untrainable one is one line, not a failure of every point; the reading is cached, so the
    workers do not pay for it again."""
    from d2l_lab.config.schema import to_dict
    from d2l_lab.experiments.embedding_task import read_corpus
    from d2l_lab.runs.catalog import flatten
    from d2l_lab.runs.grid import describe

    seen: set[tuple[Any, Any]] = set()
    for point in points:
        if not hasattr(point.config, "corpus"):
            continue
        min_count = next((v for k, v in flatten(to_dict(point.config)).items() if k.endswith(".min_count")), None)
        if min_count is None or (point.config.corpus, min_count) in seen:
            continue
        seen.add((point.config.corpus, min_count))
        try:
            read_corpus(point.config.corpus, min_count)
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

