"""Launchers (issue 11): the same sweep on a real local Ray cluster and through submitit's local
executor (Slurm's submission path, jobs as local processes) gives the local launcher's results; a
worker killed mid-point is a `failed` row that re-issuing completes; bad input is one line.

The Ray cluster is one per module (a `ray.init` holder process on 127.0.0.1, 2 CPUs, stopped by
closing its stdin), so only our own cluster is ever stopped. Sweeps run as `python -m d2l_lab`
subprocesses, as a user would run them, so one can be killed under a running sweep."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from d2l_lab.errors import UserError
from d2l_lab.runs.launchers import compose_options, parse_slurm_sets, time_minutes

from .conftest import d2l, needs_extra

pytestmark = pytest.mark.xdist_group("launchers")  # one Ray cluster: its tests share a test process

D2L = [sys.executable, "-m", "d2l_lab"]
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled"}  # Ray >= 2.5x would turn token auth on for a new cluster
SIX = ("--grid", "algo=sgd,momentum", "--grid", "lr=0.1,0.2,0.3", "--set", "problem.name=quadratic",
       "--set", "train.steps=5")
SLOW_POINT = ("--grid", "lr=0.01", "--set", "problem.name=quadratic", "--set", "train.steps=3000")
ENDLESS_POINTS = ("--grid", "lr=0.01,0.02", "--set", "problem.name=quadratic", "--set", "train.steps=1000000")
"""Points that cannot finish before a Ctrl-C however fast the machine (about 1000 s each)."""
METRICS = ("x1", "x2", "loss")
HOLDER = """
import logging, sys, ray
info = ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
                _temp_dir=sys.argv[1], logging_level=logging.WARNING, log_to_driver=False)
print(info.address_info["gcs_address"].rsplit(":", 1)[1], flush=True)
sys.stdin.read()
ray.shutdown()
"""


def _sweep(out: Path, grid: tuple[str, ...], *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*D2L, "sweep", "optim", *grid, "--out", str(out), "--json", "--quiet", *extra],
                          capture_output=True, text=True, env=env or ENV, timeout=600)


def _table(out: Path) -> list[dict[str, str]]:
    (sweep_dir,) = (out / "sweeps").iterdir()
    with open(sweep_dir / "results.csv") as f:
        return list(csv.DictReader(f))


def _metrics(out: Path) -> dict[tuple[str, str], tuple[str, ...]]:
    return {(row["algo"], row["lr"]): (row["status"], *(row[m] for m in METRICS)) for row in _table(out)}


def _one_line_error(code: int, stderr: str, *needles: str) -> None:
    lines = stderr.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error:"), stderr
    assert all(needle in lines[0] for needle in needles), lines[0]


@pytest.fixture(scope="module")
def local_metrics(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("local")
    done = _sweep(out, SIX, "--jobs", "2")
    assert done.returncode == 0, done.stderr
    metrics = _metrics(out)
    assert len(metrics) == 6 and {m[0] for m in metrics.values()} == {"completed"}
    return metrics


@pytest.fixture(scope="module")
def ray_address():
    needs_extra("ray", "ray")
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, temp], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env=ENV)
    port = holder.stdout.readline().strip()
    try:
        assert port.isdigit(), "the Ray holder did not start"
        yield f"127.0.0.1:{port}"
    finally:
        holder.stdin.close()
        holder.wait(timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def slurm_local(tmp_path) -> Path:
    needs_extra("submitit", "slurm")
    path = tmp_path / "launcher.yaml"
    path.write_text("launcher:\n  name: slurm\n  cluster: local   # submitit's local executor\n  time: 10\n")
    return path


def _kill_the_running_point(command: list[str], out: Path, what: str) -> None:
    """Start the sweep, SIGKILL the process running its point (from the point's marker), and check
    the point is `failed`, the sweep exits 1, and re-issuing completes it."""
    sweep = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    deadline = time.monotonic() + 300
    while not (markers := list(out.glob("sweeps/*/.workers/point-1.json"))):
        assert sweep.poll() is None and time.monotonic() < deadline, sweep.communicate()
        time.sleep(0.1)
    os.kill(json.loads(markers[0].read_text())["pid"], signal.SIGKILL)  # the point runs until its marker goes
    stdout, stderr = sweep.communicate(timeout=300)
    assert sweep.returncode == 1, stderr
    assert f"{what} worker lost" in stderr
    (row,) = _table(out)
    assert row["status"] == "failed" and row["run_dir"] == ""
    again = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=600)
    assert again.returncode == 0, again.stderr
    (row,) = _table(out)
    assert row["status"] == "completed" and row["reused"] == "false"


@pytest.mark.slow
def test_a_ray_sweep_gives_the_local_results_and_reissuing_reuses_every_point(ray_address, local_metrics, tmp_path):
    first = _sweep(tmp_path, SIX, "--launcher", "ray", "--address", ray_address)
    assert first.returncode == 0, first.stderr
    assert _metrics(tmp_path) == local_metrics
    again = _sweep(tmp_path, SIX, "--launcher", "ray", "--address", ray_address)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["reused"] == 6
    assert len(list((tmp_path / "optim").iterdir())) == 6


@pytest.mark.slow
def test_a_killed_ray_worker_fails_its_point_and_reissuing_completes_it(ray_address, tmp_path):
    command = [*D2L, "sweep", "optim", *SLOW_POINT, "--out", str(tmp_path), "--quiet", "--launcher", "ray",
               "--address", ray_address]
    _kill_the_running_point(command, tmp_path, "ray")


@pytest.mark.slow
def test_ctrl_c_stops_the_ray_points_at_a_checkpoint_and_exits_130(ray_address, tmp_path):
    """Signals do not reach Ray workers: the sweep's stop file does, so each running point
    checkpoints and is `interrupted`, as on one machine."""
    command = [*D2L, "sweep", "optim", *ENDLESS_POINTS, "--out", str(tmp_path),
               "--quiet", "--launcher", "ray", "--address", ray_address]
    sweep = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    deadline = time.monotonic() + 300
    while len(list(tmp_path.glob("optim/*/summary.json"))) < 2:  # both points are in their loops
        assert sweep.poll() is None and time.monotonic() < deadline, sweep.communicate()
        time.sleep(0.1)
    sweep.send_signal(signal.SIGINT)
    _, stderr = sweep.communicate(timeout=120)
    assert sweep.returncode == 130, stderr
    rows = _table(tmp_path)
    assert [r["status"] for r in rows] == ["interrupted", "interrupted"]
    assert all((tmp_path / r["run_dir"] / "checkpoint.pt").is_file() for r in rows)
    assert not list(tmp_path.glob("sweeps/*/.stop-*"))  # the next invocation starts afresh


@pytest.mark.slow
def test_an_output_root_the_ray_workers_do_not_share_is_refused(ray_address, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    done = _sweep(out, SIX, "--launcher", "ray", "--address", ray_address,
                  env={**ENV, "D2L_LAB_TEST_WORKER_ROOT": str(elsewhere)})
    _one_line_error(done.returncode, done.stderr, "is not shared with the ray workers", "on a filesystem every node")
    assert list(elsewhere.iterdir()) != []  # the worker did write its marker, where the driver cannot see it
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.slow
def test_a_search_runs_to_the_end_on_ray(ray_address, tmp_path):
    optuna = needs_extra("optuna", "tune")
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    out = tmp_path / "out"
    done = _sweep(out, ("--space", "lr=log:0.01:0.5", "--trials", "4", "--jobs", "2", "--set", "problem.name=quadratic",
                        "--set", "train.steps=5"), "--launcher", "ray", "--address", ray_address)
    assert done.returncode == 0, done.stderr
    (sweep_dir,) = (out / "sweeps").iterdir()
    study = optuna.load_study(study_name="search",
                              storage=JournalStorage(JournalFileBackend(str(sweep_dir / "study.journal"))))
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3]
    assert {t.state.name for t in study.trials} == {"COMPLETE"}
    assert [row["status"] for row in _table(out)] == ["completed"] * 4


def test_a_grid_of_24_points_finishes_on_ray(ray_address, tmp_path):
    """12 points per Ray worker (200, then 50, until the suite had to fit CI's 10 minutes)."""
    rates = ",".join(f"{0.001 * i:.3f}" for i in range(1, 25))
    done = _sweep(tmp_path, ("--grid", f"lr={rates}", "--set", "problem.name=quadratic", "--set", "train.steps=2"),
                  "--launcher", "ray", "--address", ray_address)
    assert done.returncode == 0, done.stderr
    rows = _table(tmp_path)
    assert len(rows) == 24 and {r["status"] for r in rows} == {"completed"}
    assert len({r["run_dir"] for r in rows}) == 24


@pytest.mark.slow
def test_a_slurm_sweep_through_submitit_gives_the_local_results(slurm_local, local_metrics, tmp_path):
    done = _sweep(tmp_path, SIX, "--launcher-config", str(slurm_local))
    assert done.returncode == 0, done.stderr
    assert _metrics(tmp_path) == local_metrics
    (sweep_dir,) = (tmp_path / "sweeps").iterdir()
    assert list((sweep_dir / "slurm").glob("*_log.out"))  # submitit's logs live in the sweep directory


@pytest.mark.slow
def test_a_killed_slurm_job_fails_its_point_and_reissuing_completes_it(slurm_local, tmp_path):
    command = [*D2L, "sweep", "optim", *SLOW_POINT, "--out", str(tmp_path), "--quiet", "--launcher-config",
               str(slurm_local)]
    _kill_the_running_point(command, tmp_path, "slurm")


@pytest.mark.slow
def test_an_output_root_the_slurm_jobs_do_not_share_is_refused(slurm_local, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = _sweep(tmp_path / "out", SIX, "--launcher-config", str(slurm_local),
                  env={**ENV, "D2L_LAB_TEST_WORKER_ROOT": str(elsewhere)})
    _one_line_error(done.returncode, done.stderr, "is not shared with the slurm workers")
    assert not (tmp_path / "out").exists()


def test_an_unreachable_ray_address_is_one_line(tmp_path):
    needs_extra("ray", "ray")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    result = d2l("sweep", "optim", *SIX, "--launcher", "ray", "--address", f"127.0.0.1:{port}",
                 "--out", str(tmp_path / "out"))
    _one_line_error(result.exit_code, result.stderr, f"cannot reach the Ray cluster at '127.0.0.1:{port}'")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, needles", [
    (("--launcher", "pbs"), ("unknown launcher 'pbs'", "local, ray, slurm")),
    (("--address", "10.0.0.1:6379"), ("--address is not used by the local launcher", "ray")),
    (("--launcher", "local", "--cpus-per-run", "2"), ("--cpus-per-run is not used by the local launcher",)),
    (("--launcher", "ray", "--partition", "gpu"), ("--partition is not used by the ray launcher", "slurm")),
    (("--launcher", "slurm", "--time", "1:xx"), ("--time '1:xx' is not a Slurm time",)),
    (("--launcher", "slurm", "--mem", "lots"), ("--mem 'lots' is not a Slurm memory size",)),
    (("--launcher", "slurm", "--gpus-per-run", "0.5"), ("whole number",)),
    (("--launcher", "slurm", "--slurm-set", "qos"), ("--slurm-set 'qos' must be key=value",)),
    (("--launcher", "ray", "--cpus-per-run", "0"), ("--cpus-per-run must be >= 1",)),
    (("--launcher", "ray", "--address", ""), ("--address is empty",)),
])
def test_bad_launcher_options_are_one_line(tmp_path, args, needles):
    result = d2l("sweep", "optim", *SIX, *args, "--out", str(tmp_path / "out"))
    _one_line_error(result.exit_code, result.stderr, *needles)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text, needle", [
    ("launcher:\n  name: slurm\n  partiton: gpu\n", "unknown key 'partiton': did you mean 'partition'?"),
    ("launcher:\n  name: slurm\n  name: ray\n", "key 'name' is given twice"),
    ("launcher:\n  cpus_per_run: two\n", "cpus_per_run must be an integer"),
    ("name: slurm\n", "must hold one 'launcher:' section"),
])
def test_a_bad_launcher_config_file_is_one_line(tmp_path, text, needle):
    path = tmp_path / "launcher.yaml"
    path.write_text(text)
    result = d2l("sweep", "optim", *SIX, "--launcher-config", str(path), "--out", str(tmp_path / "out"))
    _one_line_error(result.exit_code, result.stderr, needle)


def test_flags_override_the_launcher_config_file(tmp_path):
    path = tmp_path / "launcher.yaml"
    path.write_text("launcher:\n  name: slurm\n  partition: cpu\n  time: 90\n  slurm_set: {qos: low, account: lab}\n")
    options = compose_options(path, {"name": None, "partition": "gpu", "slurm_set": parse_slurm_sets(["qos=high"])})
    assert (options.name, options.partition, options.time) == ("slurm", "gpu", "90")
    assert options.slurm_set == {"qos": "high", "account": "lab"}
    assert compose_options(None, {}).name == "local"


def test_slurm_times_in_minutes():
    assert [time_minutes(t) for t in ("90", "1:30", "2:00:00", "1-0", "1-02:30:00", "0:59:01")] == [
        90, 2, 120, 1440, 1590, 60]
    with pytest.raises(UserError, match="more than zero"):
        time_minutes("0")


@pytest.mark.parametrize("launcher, module, extra", [("ray", "ray", "ray"), ("slurm", "submitit", "slurm")])
def test_a_missing_extra_is_one_line_naming_the_pip_command(tmp_path, launcher, module, extra):
    code = (f"import sys; sys.modules[{module!r}] = None; sys.argv = ['d2l', 'sweep', 'optim', '--launcher', "
            f"{launcher!r}, '--out', {str(tmp_path / 'out')!r}]\n"
            "from d2l_lab.cli.main import main\nmain()")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=120)
    _one_line_error(done.returncode, done.stderr, f'pip install "d2l-lab[{extra}]"')
    assert not (tmp_path / "out").exists()


def test_help_imports_no_launcher_engine():
    code = ("import sys\nfrom d2l_lab.cli.main import main\nfor argv in (['d2l', '--help'], ['d2l', 'sweep', "
            "'--help']):\n    sys.argv = argv\n    try:\n        main()\n    except SystemExit:\n        pass\n"
            "print(sorted(m for m in ('ray', 'submitit', 'torch', 'optuna') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--launcher" in done.stdout and "--slurm-set" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"
