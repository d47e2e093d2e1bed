"""The reference's four workflows as functions, on real missions at the smallest scale."""

from __future__ import annotations

from pathlib import Path

import pytest

from daf_core.comparison import ComparisonReport
from daf_core.config import DAFPipelineConfig, DAFSweepConfig
from daf_core.orchestrators import (
    daf_run_benchmark_pipeline,
    daf_run_comparison_pipeline,
    daf_run_sweep_pipeline,
    daf_run_training_pipeline,
)
from tests.orchestrators.small import QUIET_DAF_CONFIG


@pytest.mark.slow
def test_the_training_pipeline_trains_evaluates_compares_packages_and_validates(tmp_path: Path) -> None:
    result = daf_run_training_pipeline(
        "lstm",
        ["tiny_walk"],
        2048,
        device="cpu",
        evaluation_episodes=2,
        baselines=["random"],
        package=True,
        output_dir=tmp_path,
        daf_config=QUIET_DAF_CONFIG,
    )
    assert result.is_success(), result.errors
    assert result.pipeline_name == "train_lstm_tiny_walk"
    assert result.stages_completed == [
        "environment_check",
        "train",
        "evaluate",
        "compare",
        "package",
        "validate",
    ]
    run_dir = result.outputs["train"].run_dir
    assert run_dir.parent == tmp_path / "train_lstm_tiny_walk" / "checkpoints"
    report = result.outputs["compare"]
    assert isinstance(report, ComparisonReport) and report.policies == ["trained_lstm", "random"]
    assert report.metadata["policy_specs"]["trained_lstm"]["data_path"].startswith(str(run_dir))
    assert (
        tmp_path / "train_lstm_tiny_walk" / "comparisons" / "train_lstm_tiny_walk" / "leaderboard.md"
    ).is_file()
    bundle = result.outputs["package"].package_path
    assert bundle == tmp_path / "train_lstm_tiny_walk" / "packages" / "train_lstm_tiny_walk-0.1.0.zip"
    assert result.outputs["validate"].passed

    # The same pipeline again with fewer stages: the run resumes (nothing left to train) and the recorded
    # episodes are reused, so only the listed stages run.
    again = daf_run_training_pipeline(
        "lstm",
        ["tiny_walk"],
        2048,
        device="cpu",
        evaluation_episodes=2,
        output_dir=tmp_path,
        daf_config=QUIET_DAF_CONFIG,
        stages=["train", "evaluate"],
        parallel_stages=True,
    )
    assert [stage.name for stage in again.stages] == ["train", "evaluate"] and again.is_success()
    assert again.outputs["train"].run_dir == run_dir
    assert again.config["parallel_stages"] is True


def test_the_comparison_pipeline_writes_the_report_and_leaderboard(tmp_path: Path) -> None:
    result = daf_run_comparison_pipeline(
        ["random", "noop"],
        ["tiny_walk"],
        2,
        output_dir=tmp_path,
        daf_config=QUIET_DAF_CONFIG,
        stages=["compare"],
    )
    assert result.is_success(), result.errors
    folder = tmp_path / "comparison" / "comparisons" / "comparison"
    assert {path.name for path in folder.iterdir()} >= {"report.json", "report.html", "leaderboard.md"}
    assert ComparisonReport.load_json(folder / "report.json").policies == ["random", "noop"]
    means = result.stage("compare").summary["mean_reward"]
    assert means["random"] > means["noop"]  # random explores; noop stays where it starts


def test_the_benchmark_pipeline_runs_the_named_suite_under_the_given_pipeline_config(tmp_path: Path) -> None:
    given = DAFPipelineConfig(
        name="bench",
        stages=["environment_check", "benchmark"],
        daf_config=QUIET_DAF_CONFIG,
        environment_check={"check_cuda": False, "check_dependencies": False, "min_available_gb": 0},
        benchmark={"suite": "standard", "policies": ["noop"]},
    )
    result = daf_run_benchmark_pipeline(
        ["random"], "quick", episodes_per_mission=1, output_dir=tmp_path, pipeline_config=given
    )
    assert result.is_success(), result.errors
    # The pipeline_config's name, stages and environment check; the function's benchmark.
    assert result.pipeline_name == "bench" and result.stages_completed == ["environment_check", "benchmark"]
    checks = [check["name"] for check in result.stage("environment_check").summary["checks"]]
    assert checks == ["disk_space", "mission:tiny_walk", "mission:explore"]  # the quick suite's missions
    report = result.outputs["benchmark"]
    assert report.policies == ["random"]
    suite = report.metadata["suite"]
    assert suite["name"] == "quick" and suite["episodes_per_mission"] == 1 and suite["episodes_overridden"]
    assert (tmp_path / "bench" / "benchmarks" / "quick" / "leaderboard.md").is_file()


@pytest.mark.slow
def test_the_sweep_pipeline_evaluates_the_best_trial_on_fresh_seeds(tmp_path: Path) -> None:
    sweep = DAFSweepConfig(
        name="lr",
        missions=["tiny_walk"],
        search_space={"learning_rate": [0.001, 0.01]},
        strategy="grid",
        num_trials=2,
        episodes_per_trial=2,
        training_steps=2048,
        output_dir=tmp_path / "sweeps",
    )
    result = daf_run_sweep_pipeline(
        sweep,
        evaluation_episodes=2,
        output_dir=tmp_path,
        daf_config=QUIET_DAF_CONFIG,
        stages=["sweep", "evaluate"],
    )
    assert result.is_success(), result.errors
    best = result.outputs["sweep"].get_best_trial()
    records = result.outputs["evaluate"]
    assert set(records["policy"]) == {"lr_best"} and sorted(records["seed"]) == [100_000, 100_001]
    assert result.stage("sweep").summary["checkpoint"] == best.run_dir
    assert (tmp_path / "sweeps" / "lr" / "results.json").is_file()  # the sweep's own output_dir
