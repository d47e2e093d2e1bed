"""A training run's metrics rows in TensorBoard and MLflow: the same values at the same agent steps as
metrics.jsonl, each step once through a crash and two resumes; each DAFConfig setting by its effect."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from daf_core.config import DAFConfig
from daf_core.tracking import TrainingTrackers
from daf_core.tracking.mlflow_log import flatten_params
from daf_core.tracking.tensorboard_log import event_files
from daf_core.training import train
from tests.tracking.conftest import (
    as_float32,
    event_file_steps,
    expected_series,
    metrics_rows,
    mlflow_runs,
    mlflow_series,
    tensorboard_series,
)
from tests.training.small_runs import EPOCH, small_run


class Crash(Exception):
    """Stands in for a kill right after a metrics row is written and sent to the trackers."""


def quiet_daf_config(tmp_path: Path, **overrides) -> DAFConfig:
    return DAFConfig(
        output_dir=tmp_path,
        log_to_file=False,
        monitor_system_stats=False,
        track_experiments=False,
        **overrides,
    )


def crash_after_row(monkeypatch, epoch: int) -> None:
    log_row = TrainingTrackers.log_row

    def log_then_crash(self, row):
        log_row(self, row)
        if row["epoch"] == epoch:
            raise Crash(f"killed after the row of epoch {epoch}")

    monkeypatch.setattr(TrainingTrackers, "log_row", log_then_crash)


def test_rows_reach_tensorboard_and_mlflow_once_each_through_a_crash_two_resumes_and_a_restart(
    tmp_path, monkeypatch, mlflow_sqlite_uri
):
    daf_config = quiet_daf_config(
        tmp_path, mlflow_tracking_uri=mlflow_sqlite_uri, mlflow_experiment="resumes"
    )
    client = MlflowClient(mlflow_sqlite_uri)

    # 1. A fresh run of 4096 steps, a checkpoint after each epoch: TensorBoard (keyed by agent steps) and
    #    the MLflow run hold exactly metrics.jsonl's numbers; the run's params are its config.yaml.
    first = train(
        small_run(tmp_path, num_steps=2 * EPOCH, run_name="tracked"), daf_config, show_progress=False
    )
    log_dir = first.run_dir / "tensorboard"
    rows = metrics_rows(first.run_dir)
    assert [row["agent_steps"] for row in rows] == [EPOCH, 2 * EPOCH]
    assert tensorboard_series(log_dir) == as_float32(expected_series(rows))
    [run] = mlflow_runs(client, "resumes")
    assert run.info.status == "FINISHED"
    assert mlflow_series(client, run.info.run_id) == expected_series(rows)
    config_file = yaml.safe_load((first.run_dir / "config.yaml").read_text())
    assert run.data.params == flatten_params(config_file)
    assert run.data.params["ppo.learning_rate"] == str(config_file["ppo"]["learning_rate"])
    assert (run.data.params["missions"], run.data.params["run_name"]) == ('["tiny_walk"]', "tracked")
    assert run.data.tags["daf.run_dir"] == str(first.run_dir.absolute())

    # 2. Resumed for a third epoch, killed right after its row reached the trackers, before its
    #    checkpoint: TensorBoard showed epoch 3 live, in a new event file that holds only that step;
    #    MLflow only gets rows a checkpoint covers.
    longer = small_run(tmp_path, num_steps=3 * EPOCH, run_name="tracked")
    crash_after_row(monkeypatch, epoch=3)
    with pytest.raises(Crash):
        train(longer, daf_config, show_progress=False)
    monkeypatch.undo()
    assert [step for step, _ in tensorboard_series(log_dir)["epoch"]] == [EPOCH, 2 * EPOCH, 3 * EPOCH]
    assert [event_file_steps(path) for path in event_files(log_dir)] == [[EPOCH, 2 * EPOCH], [3 * EPOCH]]
    first_epoch_3 = tensorboard_series(log_dir)["wall_time_s"][-1]
    [crashed] = mlflow_runs(client, "resumes")
    assert crashed.info.run_id == run.info.run_id and crashed.info.status == "FAILED"
    assert [step for step, _ in mlflow_series(client, run.info.run_id)["epoch"]] == [EPOCH, 2 * EPOCH]

    # 3. Resumed again from epoch 2's checkpoint: epoch 3 is trained anew, and both trackers show it once,
    #    with its new values. The event directory, which showed a step past the checkpoint, now holds one
    #    file with each step once (so a reader that ignores TensorBoard's restart marker agrees); the
    #    same MLflow run, FINISHED.
    final = train(longer, daf_config, show_progress=False)
    rows = metrics_rows(final.run_dir)
    assert [row["epoch"] for row in rows] == [1, 2, 3]
    assert tensorboard_series(log_dir) == as_float32(expected_series(rows))
    [rewritten] = event_files(log_dir)
    assert event_file_steps(rewritten) == [EPOCH, 2 * EPOCH, 3 * EPOCH]
    assert tensorboard_series(log_dir)["wall_time_s"][-1] != first_epoch_3  # the new epoch 3, not the old
    [finished] = mlflow_runs(client, "resumes")
    assert finished.info.run_id == run.info.run_id and finished.info.status == "FINISHED"
    assert mlflow_series(client, run.info.run_id) == expected_series(rows)

    # 4. Started over (its directory deleted): the old MLflow run keeps its history but gives up the
    #    run's key to a new run, which holds only the new run's steps.
    shutil.rmtree(final.run_dir)
    again = train(small_run(tmp_path, num_steps=EPOCH, run_name="tracked"), daf_config, show_progress=False)
    runs = {r.info.run_id: r for r in mlflow_runs(client, "resumes")}
    old = runs.pop(run.info.run_id)
    [new] = runs.values()
    assert "daf.key" not in old.data.tags and old.data.tags["daf.superseded_key"] == new.data.tags["daf.key"]
    assert old.info.status == "KILLED" and mlflow_series(client, old.info.run_id) == expected_series(rows)
    assert mlflow_series(client, new.info.run_id) == expected_series(metrics_rows(again.run_dir))
    assert [step for step, _ in mlflow_series(client, new.info.run_id)["epoch"]] == [EPOCH]


def test_tensorboard_false_writes_no_event_file_and_no_tracking_uri_never_imports_mlflow(
    tmp_path, monkeypatch
):
    # Every import of mlflow (or any of its modules, loaded or not) now fails.
    for name in [m for m in sys.modules if m == "mlflow" or m.startswith("mlflow.")] + ["mlflow"]:
        monkeypatch.setitem(sys.modules, name, None)

    result = train(
        small_run(tmp_path, num_steps=EPOCH),
        quiet_daf_config(tmp_path, tensorboard=False),
        show_progress=False,
    )

    assert [row["agent_steps"] for row in metrics_rows(result.run_dir)] == [EPOCH]
    assert list(tmp_path.rglob("events.out.tfevents.*")) == []
    assert not (result.run_dir / "tensorboard").exists()
    # ... which a configured store needs: the missing package is named with its install hint.
    wants_mlflow = quiet_daf_config(tmp_path, mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    with pytest.raises(ImportError, match="mlflow_tracking_uri.*pip install mlflow-skinny"):
        TrainingTrackers.open(wants_mlflow, result.run_dir, {}, start_step=EPOCH, kept_rows=[])
