"""`--tensorboard`: the run's metrics, read back from the event files, are metrics.csv's; the
`log` section changes no earlier run's config hash; without the package the flag is refused."""

from __future__ import annotations

import csv
import importlib.machinery
import importlib.util

import numpy as np
import pytest

from d2l_lab.config.loading import compose
from d2l_lab.config.schema import to_dict
from d2l_lab.experiments.optim.config import OptimRunConfig
from d2l_lab.runs.rundir import config_hash
from d2l_lab.runs.tensorboard import row_step
from tests.conftest import d2l, needs_extra, only_run_dir


def test_the_log_section_is_saved_only_when_set_and_old_hashes_stand(monkeypatch):
    """Hashing, not TensorBoard: the package is only pretended installed, so the quick tests pass
    without the extra."""
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: importlib.machinery.ModuleSpec(name, None)
                        if name == "tensorboard" else find_spec(name, *a))
    default = compose(OptimRunConfig, "optim")
    assert "log" not in to_dict(default)
    assert config_hash(to_dict(default)) == "7ac78d4b"  # d2l-lab at efba56c, before the section existed
    logged = compose(OptimRunConfig, "optim", sets=["log.tensorboard=true"])
    assert to_dict(logged)["log"] == {"tensorboard": True} and config_hash(to_dict(logged)) != "7ac78d4b"


def test_rows_are_placed_by_step_or_by_thousandths_of_an_epoch():
    assert row_step({"step": 40, "epoch": 0.2, "loss": 1.0}) == 40
    assert row_step({"epoch": 3, "progress": 2.5, "loss": 1.0}) == 2500
    assert row_step({"loss": 1.0}) is None


def test_without_the_package_the_flag_is_one_line_and_nothing_starts(monkeypatch, tmp_path):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else find_spec(name, *a))
    result = d2l("run", "optim", "--problem", "quadratic", "--tensorboard", "--out", str(tmp_path))
    assert result.exit_code == 2 and result.stderr.strip().splitlines() == [
        'error: log.tensorboard needs the tensorboard package: pip install "d2l-lab[tensorboard]"']
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_event_file_scalars_equal_metrics_csv_and_hold_the_hyperparameters(tmp_path):
    needs_extra("tensorboard", "tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    result = d2l("run", "optim", "--algo", "adam", "--lr", "0.01", "--epochs", "1", "--tensorboard", "--quiet",
                 "--device", "cpu", "--out", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    run = only_run_dir(tmp_path / "optim")
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    with open(run / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) > 5
    for column in ("epoch", "examples", "loss", "lr"):
        written = [(e.step, e.value) for e in events.Scalars(column)]
        assert written == [(int(row["step"]), np.float32(row[column])) for row in rows], column
    start = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    hparams = HParamsPluginData.FromString(start).session_start_info.hparams
    assert hparams["optimizer.algo"].string_value == "adam" and hparams["optimizer.lr"].number_value == 0.01
    assert events.Scalars("final/loss")[0].value == np.float32(rows[-1]["loss"])
