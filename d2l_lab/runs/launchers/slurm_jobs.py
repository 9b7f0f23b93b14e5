"""The Slurm launcher: the points are one job array submitted with submitit (`sbatch` on the
login node), each job running one point; submitit's files (scripts, pickles, stdout/stderr) go to
`<sweep dir>/slurm/`.

A job that dies (killed, preempted, over its time or memory limit) leaves no result: its point is
a `failed` row with submitit's reason (`runs.sweep.lost_point`), never retried here; re-issuing the
sweep runs it again (resuming nothing: the dead run never checkpointed as interrupted). With
`cluster: local` in the launcher config, submitit's local executor runs the same submission path
with jobs as local processes (how the tests run it without a cluster); those share the terminal,
so a Ctrl-C there also reaches them and a running point may stop mid-step (its last checkpoint
stands, and re-issuing finishes it).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from d2l_lab.config.schema import clip
from d2l_lab.errors import UserError
from d2l_lab.runs.launchers import time_minutes
from d2l_lab.runs.launchers.base import POLL_S, RemoteLauncher, probe_path, write_marker

LOGS = "slurm"
PROBE_TIME = "5"
"""The probe job's time limit: it writes one file."""


class SlurmLauncher(RemoteLauncher):
    kind = "slurm"

    def _open(self) -> str:
        if self.options.cluster == "slurm" and shutil.which("sbatch") is None:
            raise UserError("sbatch is not on PATH: run the sweep on a Slurm login node (or try the setup on this "
                            "machine with 'cluster: local' in --launcher-config)")
        where = f"partition {self.options.partition}" if self.options.partition else "the default partition"
        limit = f", at most {self.options.max_concurrent} at once" if self.options.max_concurrent else ""
        return (f"a Slurm job array on {where} ({self.options.cluster}): one job per point, "
                f"{self.options.cpus_per_run} CPU(s), {self.options.time} min{limit}")

    def _executor(self, folder: Path, time_limit: str) -> Any:
        import submitit

        options = self.options
        executor = submitit.AutoExecutor(folder=folder, cluster=options.cluster)
        executor.update_parameters(
            name="d2l-sweep", timeout_min=time_minutes(time_limit), cpus_per_task=options.cpus_per_run,
            gpus_per_node=int(options.gpus_per_run), slurm_partition=options.partition, slurm_mem=options.mem,
            slurm_array_parallelism=options.max_concurrent,
            slurm_additional_parameters=dict(options.slurm_set) or None)
        return executor

    def _probe(self, out_root: Path, token: str) -> list[tuple[Path, dict[str, str | None]]]:
        """One small job with the points' own settings (it lands where they will)."""
        path = probe_path(out_root, token, 0)
        logs = probe_path(out_root, token, 0).with_name(f"{path.name}-logs")
        try:
            job = self._executor(logs, PROBE_TIME).submit(write_marker, str(path), token)
            answer = job.result()
        except Exception as exc:  # submission refused, or the job failed: submitit's words, one line
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UserError(f"the Slurm probe job failed ({clip(first, 200)}): check the launcher settings "
                            f"and that d2l-lab is installed where the jobs run") from None
        finally:
            shutil.rmtree(logs, ignore_errors=True)
        return [(path, answer)]

    def _submit(self, requests: list[dict[str, Any]], sweep_dir: Path) -> list[Any]:
        executor = self._executor(sweep_dir / LOGS, self.options.time)
        try:
            return executor.map_array(self.point_function, requests)
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UserError(f"sbatch refused the sweep's job array ({clip(first, 200)}): check the launcher "
                            "settings") from None

    def _finished(self, handles: list[Any]) -> list[tuple[Any, dict[str, Any] | BaseException]]:
        done = [job for job in handles if job.done()]
        if not done:
            time.sleep(POLL_S)
        finished: list[tuple[Any, dict[str, Any] | BaseException]] = []
        for job in done:
            try:
                finished.append((job, job.result()))
            except Exception as exc:  # UncompletedJobError, FailedJobError: the job died
                finished.append((job, exc))
        return finished

    def _cancel(self, handles: list[Any], running_too: bool) -> None:
        """Queued jobs are withdrawn (they might wait hours to start and stop at once); running
        ones see the stop file, unless `running_too`."""
        for job in handles:
            if running_too or job.state == "PENDING":
                job.cancel(check=False)
