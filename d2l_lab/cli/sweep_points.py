"""What both sweep drivers share (`cli/sweep.py`'s grid, `cli/sweep_search.py`'s search): checks
before anything starts, collecting outcomes as points finish under Ctrl-C, and their lines and
table on the terminal."""

from __future__ import annotations

import queue
from pathlib import Path
from typing import TYPE_CHECKING, Any

from d2l_lab.cli import output
from d2l_lab.cli.common import ctrl_c_stops
from d2l_lab.errors import UserError

if TYPE_CHECKING:
    from d2l_lab.experiments.registry import ExperimentSpec


def warn_if_oversubscribed(launcher: Any, experiment: str, workers: int) -> None:
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


def run_names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def collect(launcher: Any, state: Any, total: int, quiet: bool) -> tuple[list[dict[str, Any]], bool]:
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
            print_outcome(len(results), total, state.record(outcome), outcome.result, quiet)
        interrupted = interrupted or stops()
    state.save()
    return results, interrupted


def check_data(spec: ExperimentSpec, points: list[Any]) -> None:
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


def check_devices(names: set[str]) -> None:
    """Devices other than auto/cpu need torch to check; done once per name, before anything starts."""
    from d2l_lab.devices import resolve_device

    for device in sorted(names - {"auto", "cpu"}):
        resolve_device(device)


def print_outcome(done: int, total: int, row: Any, result: dict[str, Any], quiet: bool) -> None:
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


def print_table(axes: list[str], rows: list[dict[str, Any]]) -> None:
    from d2l_lab.runs.compare import cell

    metrics = list(dict.fromkeys(k for r in rows for k in r["final"]))[:3]
    output.print_table([*axes, "status", *metrics, "wall s", "run"],
                [[*(cell(r["values"][a]) for a in axes), r["status"] + (" (reused)" if r["reused"] else ""),
                  *(cell(r["final"].get(m, "")) for m in metrics),
                  "" if r["wall_time_s"] is None else f"{r['wall_time_s']:.2f}", r["run_dir"] or ""] for r in rows],
                title="sweep results")
