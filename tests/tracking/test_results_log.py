"""Sweep trials and comparison summaries in TensorBoard and MLflow, read back with their own readers."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

from daf_core.comparison import daf_compare_policies
from daf_core.config import DAFConfig, DAFSweepConfig
from daf_core.sweeps import daf_launch_sweep
from daf_core.tracking import comparison_metrics, log_sweep_trial
from daf_core.tracking.tensorboard_log import event_files
from tests.tracking.conftest import (
    as_float32,
    event_file_steps,
    expected_series,
    metrics_rows,
    mlflow_runs,
    mlflow_series,
    tensorboard_series,
)


def quiet_daf_config(output_dir: Path, **overrides) -> DAFConfig:
    return DAFConfig(
        output_dir=output_dir,
        max_parallel_jobs=1,
        log_to_file=False,
        monitor_system_stats=False,
        track_experiments=False,
        **overrides,
    )


def test_a_sweep_logs_each_trial_and_its_training_runs_to_a_file_store(tmp_path, monkeypatch):
    # MLflow 3 refuses file stores unless MLFLOW_ALLOW_FILE_STORE is set; DAF opts in when one is
    # configured. Recorded here (set, then removed) so the variable is gone again after the test.
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "recorded")
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")
    uri = f"file:{tmp_path / 'mlruns'}"
    daf_config = quiet_daf_config(tmp_path / "daf", mlflow_tracking_uri=uri, mlflow_experiment="sweep")
    config = DAFSweepConfig(
        name="tracked",
        missions=["tiny_walk"],
        search_space={"learning_rate": [1e-3, 2e-3]},
        strategy="grid",
        episodes_per_trial=1,
        training_steps=2048,  # one epoch of tiny_walk's 2 agents x 16 environments x 64 steps
        output_dir=tmp_path / "sweeps",
    )

    result = daf_launch_sweep(config, daf_config)

    trials = sorted(result.trials, key=lambda trial: trial.trial_id)
    assert [trial.state for trial in trials] == ["complete", "complete"]
    # TensorBoard, <sweep_dir>/tensorboard, keyed by trial number: objective, metrics, hyperparameters.
    shown = tensorboard_series(tmp_path / "sweeps" / "tracked" / "tensorboard")
    assert shown["objective"] == [(t.trial_id, float(np.float32(t.primary_metric))) for t in trials]
    assert shown["metrics/mean_reward"] == [
        (t.trial_id, float(np.float32(t.all_metrics["mean_reward"]))) for t in trials
    ]
    assert shown["hyperparameters/learning_rate"] == [
        (t.trial_id, float(np.float32(t.hyperparameters["learning_rate"]))) for t in trials
    ]
    # MLflow: one run per trial, tagged with the sweep and the trial number, params its hyperparameters.
    assert os.environ["MLFLOW_ALLOW_FILE_STORE"] == "true"
    client = MlflowClient(uri)
    runs = mlflow_runs(client, "sweep", "tags.`daf.kind` = 'sweep_trial'")
    by_trial = {int(run.data.tags["daf.trial"]): run for run in runs}
    assert sorted(by_trial) == [t.trial_id for t in trials]
    for trial in trials:
        run = by_trial[trial.trial_id]
        assert run.data.tags["daf.sweep"] == "tracked" and run.info.status == "FINISHED"
        assert run.data.params["learning_rate"] == str(trial.hyperparameters["learning_rate"])
        assert run.data.metrics["objective"] == trial.primary_metric
        assert run.data.metrics["metrics/mean_reward"] == trial.all_metrics["mean_reward"]
    # Each trial's training run logged its own curve, keyed by agent steps, in both.
    training = {
        run.data.tags["daf.run_dir"]: run
        for run in mlflow_runs(client, "sweep", "tags.`daf.kind` = 'training'")
    }
    assert sorted(training) == sorted(str(Path(t.run_dir).absolute()) for t in trials)
    for trial in trials:
        rows = metrics_rows(Path(trial.run_dir))
        assert mlflow_series(
            client, training[str(Path(trial.run_dir).absolute())].info.run_id
        ) == expected_series(rows)
        assert tensorboard_series(Path(trial.run_dir) / "tensorboard") == as_float32(expected_series(rows))


def test_a_comparison_with_a_daf_config_logs_every_policy_and_mission(tmp_path, mlflow_sqlite_uri):
    daf_config = quiet_daf_config(
        tmp_path, mlflow_tracking_uri=mlflow_sqlite_uri, mlflow_experiment="comparison"
    )

    report = daf_compare_policies(
        ["random", "noop"], ["tiny_walk"], 3, name="baselines", show_progress=False, daf_config=daf_config
    )

    summary = report.summary_statistics
    names = {
        "tiny_walk": {
            "mean": "mean",
            "ci_low": "mean_ci_low",
            "ci_high": "mean_ci_high",
            "iqm": "iqm",
            "iqm_ci_low": "iqm_ci_low",
            "iqm_ci_high": "iqm_ci_high",
            "n": "episodes",
        },
        "overall": {
            k: k
            for k in ("mean", "mean_ci_low", "mean_ci_high", "iqm", "iqm_ci_low", "iqm_ci_high", "episodes")
        },
    }
    expected = {
        policy: {
            f"{mission}/{logged}": float(summary[policy][mission][key])
            for mission, keys in names.items()
            for key, logged in keys.items()
            if summary[policy][mission][key] is not None and math.isfinite(summary[policy][mission][key])
        }
        for policy in ("random", "noop")
    }
    assert expected["random"]["tiny_walk/mean_ci_high"] > expected["random"]["tiny_walk/mean_ci_low"]
    # TensorBoard: <output_dir>/tensorboard/comparisons/<name>, <policy>/<mission>/<statistic> at step 0.
    shown = tensorboard_series(tmp_path / "tensorboard" / "comparisons" / "baselines")
    assert shown == {
        f"{policy}/{key}": [(0, float(np.float32(value)))]
        for policy, values in expected.items()
        for key, value in values.items()
    }
    # MLflow: one run per policy, tagged with the comparison, its metrics the summary's numbers.
    client = MlflowClient(mlflow_sqlite_uri)
    runs = mlflow_runs(client, "comparison", "tags.`daf.comparison` = 'baselines'")
    assert {run.data.tags["daf.policy"]: run.data.metrics for run in runs} == expected
    assert {run.data.params["episodes_per_mission"] for run in runs} == {"3"}

    # Run again under the same name: TensorBoard shows the new summary only; MLflow adds two runs.
    again = daf_compare_policies(
        ["random", "noop"], ["tiny_walk"], 2, name="baselines", show_progress=False, daf_config=daf_config
    )
    shown = tensorboard_series(tmp_path / "tensorboard" / "comparisons" / "baselines")
    assert shown == {
        f"{policy}/{key}": [(0, float(np.float32(value)))]
        for policy, values in comparison_metrics(again.summary_statistics).items()
        for key, value in values.items()
    }
    assert shown["random/tiny_walk/episodes"] == [(0, 2.0)]
    [rewritten] = event_files(tmp_path / "tensorboard" / "comparisons" / "baselines")
    assert event_file_steps(rewritten) == [0]  # the first run's events are gone, not only hidden
    assert len(mlflow_runs(client, "comparison", "tags.`daf.comparison` = 'baselines'")) == 4

    # Without a daf_config (the default), a comparison logs nowhere.
    daf_compare_policies(["random", "noop"], ["tiny_walk"], 1, name="untracked", show_progress=False)
    assert not (tmp_path / "tensorboard" / "comparisons" / "untracked").exists()
    assert mlflow_runs(client, "comparison", "tags.`daf.comparison` = 'untracked'") == []


def test_a_store_mlflow_refuses_is_a_runtime_error_naming_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "false")  # the user's own choice is kept
    uri = f"file:{tmp_path / 'mlruns'}"
    daf_config = quiet_daf_config(tmp_path, tensorboard=False, mlflow_tracking_uri=uri)
    with pytest.raises(RuntimeError, match=f"mlflow_tracking_uri '{uri}'.*MLFLOW_ALLOW_FILE_STORE"):
        log_sweep_trial(
            daf_config, tmp_path, "s", 0, state="complete", objective=1.0, metrics={}, hyperparameters={}
        )
