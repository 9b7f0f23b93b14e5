"""`d2l runs`: list, show, compare and re-run the runs under an outputs root.

Runs are named by a path or a prefix of their id (the directory name); compare also takes sweep
directories. Everything is read from the run directories themselves (`d2l_lab.runs.catalog`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from d2l_lab import exit_codes
from d2l_lab.cli import output
from d2l_lab.cli.common import Json, OutRoot, Quiet, cli_errors, command_line, run_stops
from d2l_lab.cli.completion import complete_experiment, complete_run_id
from d2l_lab.errors import UserError

app = typer.Typer(help="List, inspect, compare and re-run runs (named by id prefix or path).",
                  no_args_is_help=True)

RunRef = Annotated[str, typer.Argument(help="run id prefix (e.g. 20250101-1200) or run directory path",
                                        autocompletion=complete_run_id)]


@app.command("list")
def list_(
    experiment: Annotated[Optional[str], typer.Option("--experiment", "-e", help="only this experiment",
                                                      show_default=False, autocompletion=complete_experiment)] = None,
    status: Annotated[Optional[str], typer.Option(
        help="only runs with this status: running, completed, diverged, pruned, interrupted, failed or incomplete",
        show_default=False)] = None,
    out: OutRoot = Path("outputs"),
    json: Annotated[bool, typer.Option("--json", help="print exactly one line on stdout: a JSON array of the "
                                                      "runs")] = False,
) -> None:
    """The runs, oldest first, a table per experiment and problem or corpus: id, seed, what tells
    the runs apart (what they share is in the table's title), final metric (an embedding's rho
    where it was scored, else the loss), status, age. One line per run, cut to fit the terminal
    (--json: everything)."""
    from d2l_lab.experiments.registry import experiment as find_experiment
    from d2l_lab.experiments.registry import catalog_experiments
    from d2l_lab.runs.catalog import STATUSES, key_params, scan

    with cli_errors():
        if experiment is not None:
            find_experiment(experiment)
        if status is not None and status not in STATUSES:
            raise UserError(f"--status must be one of {', '.join(STATUSES)}; got '{status}'")
        known = catalog_experiments()
        scanned = scan(out, {experiment: known[experiment]} if experiment else known)
        runs = [r for r in scanned if status in (None, r.status)]
        now = time.time()  # wall time, as started_at is; a clock set back since gives age 0, never negative
        entries = [{"id": r.id, "experiment": r.experiment, "run_dir": str(r.path), "status": r.status,
                    "seed": r.summary.get("seed"), "params": key_params(r), "final": dict(r.final),
                    "wall_time_s": r.summary.get("wall_time_s"),
                    "started_at": r.summary.get("started_at"), "age_s": max(0.0, round(now - r.started(), 1))}
                   for r in runs]
    if json:
        output.write_json(entries)
        return
    if not entries:
        output.note(f"no runs under '{out}'")
        return
    tables: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for e in entries:  # by experiment and first key setting (optim's problem, an embedding's corpus)
        tables.setdefault((e["experiment"], repr(next(iter(e["params"].items()), None))), []).append(e)
    for i, ((name, _), members) in enumerate(tables.items()):
        if i:
            output.write_line()
        _print_runs(name, members)


def _print_runs(experiment: str, entries: list[dict[str, Any]]) -> None:
    """One experiment's runs as a table that fits the terminal: the key settings they all share go
    in its title, the rest in `params`; a setting a run does not use (the quadratic's batch size,
    PTB's corpus path) is left out rather than shown empty."""
    from d2l_lab.runs.compare import cell

    params = [{k: v for k, v in e["params"].items() if v is not None} for e in entries]
    shared = {k: v for k, v in params[0].items() if all(k in p and p[k] == v for p in params)}
    differing = [" ".join(f"{k}={cell(v, 4)}" for k, v in p.items() if k not in shared) for p in params]
    metric = _headline_metric([e["final"] for e in entries])
    finals = [cell(_number(e["final"].get(metric)), 4) if metric else _headline(e["final"]) for e in entries]
    columns = ["id", "seed", *(["params"] if any(differing) else []), metric or "final", "status", "age"]
    rows = [[e["id"], cell(e["seed"]), *([d] if any(differing) else []), f, e["status"], _age(e["age_s"])]
            for e, d, f in zip(entries, differing, finals)]
    title = " ".join([f"{experiment}:", *(f"{k}={cell(v, 4)}" for k, v in shared.items())])
    output.print_table(columns, rows, title=title, fit="params")


def _headline_metric(finals: list[dict[str, Any]]) -> str | None:
    """The final metric `runs list` shows for a table of runs: an embedding's first evaluation
    score that any of them has (its quality; its loss says little), else the loss."""
    from d2l_lab.embeddings.eval_sets import EVAL_SETS

    for metric in (*(s.metric for s in EVAL_SETS), "loss"):
        if any(_number(f.get(metric)) is not None for f in finals):
            return metric
    return None


def _number(value: Any) -> float | int | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@app.command()
def show(run: RunRef, out: OutRoot = Path("outputs"),
         json: Annotated[bool, typer.Option("--json", help="print exactly one line on stdout: the run's config, "
                                                           "summary and artefacts as JSON")] = False) -> None:
    """A run in brief: status, what differs from the defaults, final metrics, artefacts, and the
    command that reproduces it (--json: everything, raw)."""
    from d2l_lab.experiments.registry import catalog_experiments
    from d2l_lab.experiments.registry import experiment as find_experiment
    from d2l_lab.runs import overview
    from d2l_lab.runs.catalog import find_run

    with cli_errors():
        record = find_run(run, out, catalog_experiments())
        config = record.config()
        artefacts = sorted(p for p in record.path.iterdir() if p.is_file() and not p.name.startswith("."))
        if not json:
            command = _read_text(record.path / "command.txt")
            against, changed = overview.differences(find_experiment(record.experiment).config_class,
                                                    record.experiment, config, overview.preset_in(command))
    if json:
        output.write_json({"run_dir": str(record.path), "status": record.status, "config": config,
                           "summary": record.summary, "artefacts": [str(p) for p in artefacts]})
        return
    _show_summary(record, against, changed, artefacts, command)


def _show_summary(record: Any, against: str, changed: list[Any], artefacts: list[Path], command: str) -> None:
    from d2l_lab.runs.compare import cell
    from d2l_lab.runs.overview import NO_DEFAULT, reproduce_command

    summary = record.summary
    facts = [("dir", str(record.path)), ("status", _status_text(record))]
    facts += [(name, cell(summary[key])) for name, key in (("started", "started_at"), ("device", "device"),
                                                            ("seed", "seed")) if key in summary]
    if "wall_time_s" in summary:
        facts.append(("run time", f"{summary['wall_time_s']:.1f} s"))
    output.write_line(f"{record.id}  ({record.experiment})")
    _write_pairs(facts)
    output.write_line(f"\ndiffers from {against}:")
    _write_pairs([(d.key, f"{_value(d.value)}  " + ("(not in the defaults)" if d.default is NO_DEFAULT
                                                     else f"(default {_value(d.default)})")) for d in changed]
                 or [("(nothing)", "")])
    output.write_line("\nfinal metrics:")
    _write_pairs([(k, cell(v)) for k, v in record.final.items()] or [("(none yet)", "")])
    output.write_line("\nartefacts:")
    _write_pairs([(p.name, _size(p.stat().st_size)) for p in artefacts])
    output.write_line("\nreproduce:")
    output.write_line(f"  {reproduce_command(record.experiment, str(record.path))}")
    if command:
        output.write_line(f"  (it ran as: {command})")
    output.write_line(f"  d2l runs rerun {record.id} --check   # and compare the metrics with these")
    output.write_line(f"\nall of it as JSON: d2l runs show {record.id} --json")


def _status_text(record: Any) -> str:
    """The status, with how far the run got when it did not finish, who trains a running run, and
    that a run which says `running` but whose process is gone was killed."""
    from d2l_lab.runs.writer import holder

    summary, status = record.summary, record.status
    if status == "diverged" and "diverged_at_step" in summary:
        return f"diverged at step {summary['diverged_at_step']}"
    text = status
    if status in ("interrupted", "running", "pruned") and "steps_done" in summary and "total_steps" in summary:
        text = f"{status} at step {summary['steps_done']} of {summary['total_steps']}"
    if status == "running" and (who := holder(record.path)) is not None and who.pid is not None:
        text += f" ({who.where()})"
    elif status == "interrupted" and summary.get("status") == "running":
        text += " (its process ended without saying so: killed, out of memory or a lost node)"
    if status == "interrupted":
        text += f"; resume: d2l run {record.experiment} --resume {record.path}"
    return text


def _write_pairs(pairs: list[tuple[str, str]]) -> None:
    width = max((len(k) for k, _ in pairs), default=0)
    for key, value in pairs:
        output.write_line(f"  {key:<{width}}  {value}".rstrip())


def _value(value: Any) -> str:
    from d2l_lab.runs.compare import cell

    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return "null" if value is None else cell(value)


def _size(size: int) -> str:
    for unit, scale in (("MB", 1 << 20), ("kB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def _read_text(path: Path) -> str:
    """A small text file (command.txt) as one line, or '' when missing or unreadable."""
    try:
        return " ".join(path.read_text(encoding="utf-8", errors="replace").split())[:2000]
    except OSError:
        return ""


@app.command()
def compare(
    runs: Annotated[list[str], typer.Argument(help="run ids, run directories or sweep directories")],
    metric: Annotated[str, typer.Option(help="metrics.csv column to plot")] = "loss",
    plot_file: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="PNG to write (default: compare-METRIC.png in the sweep directory when "
                               "comparing one sweep, else in the current directory)", show_default=False)] = None,
    log_y: Annotated[bool, typer.Option("--log-y", help="logarithmic y axis (automatic when the values span "
                                                        "more than 3 decades)")] = False,
    allow_mixed: Annotated[bool, typer.Option("--allow-mixed", help="compare runs of different experiments "
                                                                    "(refused otherwise)")] = False,
    animate: Annotated[bool, typer.Option("--animate", help="optim runs on one 2-D surface: also write a GIF "
                                                            "of their paths, one frame per step")] = False,
    out: OutRoot = Path("outputs"),
) -> None:
    """Overlay the runs' curves (x: epoch if logged, else step) and print how each ended.

    Runs that differ only by seed are one curve: their mean over a band of +-1 standard deviation,
    tabled as mean ± std (n=K). "best" is the lowest loss or distance, the highest rho or accuracy.
    Optim runs on one 2-D surface also get their paths on one contour plot (PNG-paths.png).
    """
    from d2l_lab.cli.report import search_views
    from d2l_lab.experiments.optim import paths as optim_paths
    from d2l_lab.experiments.registry import catalog_experiments
    from d2l_lab.files import atomic_write, check_output_file
    from d2l_lab.runs import compare as comparing
    from d2l_lab.runs.catalog import select

    with cli_errors():
        selected = select(runs, out, catalog_experiments())
        if not allow_mixed:
            comparing.refuse_mixed(selected)
        sweeps = {s.sweep for s in selected}
        if plot_file is None:
            folder = next(iter(sweeps)) if len(sweeps) == 1 and None not in sweeps else Path(".")
            plot_file = folder / f"compare-{metric}.png"
        if plot_file.suffix.lower() != ".png":
            raise UserError(f"-o '{plot_file}' must end in .png")
        check_output_file(plot_file, "-o")
        groups = comparing.grouped(selected, metric)
        experiments = ", ".join(dict.fromkeys(s.run.experiment for s in selected))
        count = f"{len(selected)} run{'s' if len(selected) > 1 else ''}"
        common = comparing.shared(selected)
        title = f"{experiments}: {metric} of {count}" + (f"\n{common}" if common else "")
        paths_file = plot_file.with_name(f"{plot_file.stem}-paths.png")
        if animate:
            check_output_file(paths_file.with_suffix(".gif"), "--animate")
        drawn = optim_paths.write_paths(selected, comparing.labels(selected), paths_file, animate=animate,
                                        title=f"{experiments}: paths of {count}" + (f"\n{common}" if common else ""))
        comparing.plot(plot_file, groups, metric, title=title, log_y=log_y)
        columns, rows = comparing.table(groups, metric)
        extra, notes = search_views(selected, metric)
        written = [plot_file.with_name(f"{plot_file.stem}-search-{n}.png") for n in range(1, len(extra) + 1)]
        for figure, path in zip(extra, written):
            atomic_write(path, lambda f, data=figure.png: f.write(data))
    output.print_table(columns, rows)
    for line in notes:
        output.note(line)
    output.note(f"plot: {', '.join(map(str, [plot_file, *written]))}")
    for path in drawn:
        output.note(f"{'paths' if path.suffix == '.png' else 'animation'}: {path}")


@app.command()
def rerun(
    run: RunRef,
    check: Annotated[bool, typer.Option("--check", help=f"compare the new metrics.csv with the stored one; exit "
                                                        f"{exit_codes.CHECK_FAILED} if they differ")] = False,
    out: OutRoot = Path("outputs"),
    quiet: Quiet = False,
    json: Json = False,
) -> None:
    """Re-run a run from its config.yaml into a new run directory under the same outputs root.

    Exit codes: those of `d2l run`; with --check, 0 if the metrics match (columns that measure
    time are ignored) and 4 if they differ, printing the first differing row.
    """
    with cli_errors():
        code = _rerun(run, out, check, quiet, json)
    raise typer.Exit(code)


def _rerun(ref: str, out: Path, check: bool, quiet: bool, json: bool) -> int:
    from d2l_lab.cli.terminal import terminal
    from d2l_lab.config.loading import compose
    from d2l_lab.experiments.registry import experiment
    from d2l_lab.experiments.registry import catalog_experiments
    from d2l_lab.runs.catalog import find_run
    from d2l_lab.runs.runner import RunOptions, execute
    from d2l_lab.runs.verify import VOLATILE_COLUMNS, first_difference

    record = find_run(ref, out, catalog_experiments())
    if check and record.status not in ("completed", "diverged"):  # a pruned run stopped where a re-run would not
        raise UserError(f"run '{record.id}' is {record.status}: --check needs a finished run to compare with")
    spec = experiment(record.experiment)
    config = compose(spec.config_class, record.experiment, config_file=record.path / "config.yaml")
    output.note(f"re-running {record.path} from its config.yaml")
    options = RunOptions(out_root=record.path.parent.parent, command=command_line())
    with terminal(quiet=quiet, json=json) as shown, run_stops(shown) as should_stop:
        result = execute(record.experiment, config, spec.build_task(), options, should_stop=should_stop,
                         subscribers=[shown])
    if not check or result.exit_code == exit_codes.INTERRUPTED:
        return result.exit_code
    difference = first_difference(record.path / "metrics.csv", result.run_dir / "metrics.csv")
    if difference is not None:
        output.note(f"check failed: {result.run_dir} differs from {record.path}: {difference}")
        return exit_codes.CHECK_FAILED
    output.note(f"check passed: metrics.csv matches {record.path} (ignoring {', '.join(sorted(VOLATILE_COLUMNS))})")
    return exit_codes.OK


def _headline(final: dict[str, Any]) -> str:
    """The final metric worth a column: loss when there is one, else the first number."""
    from d2l_lab.runs.compare import cell

    for key, value in sorted(final.items(), key=lambda kv: kv[0] != "loss"):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return f"{key}={cell(value, 4)}"
    return ""


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"

