"""``daf run PIPELINE.yaml``: the stage table, exit codes 0/1/2, and each flag by its effect."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from daf_core.cli import app
from tests.orchestrators.small import MISSING_MISSION_COMPARISON, QUIET_DAF_CONFIG

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()

#: Two independent stages, each a few seconds of real episodes.
COMPARISON = {
    "name": "baselines",
    "policies": ["random", "noop"],
    "missions": ["tiny_walk"],
    "episodes_per_mission": 2,
}
BENCHMARK = {"suite": "quick", "policies": ["random"], "episodes_per_mission": 1}


def write_pipeline(path: Path, **fields) -> Path:  # noqa: ANN003 - DAFPipelineConfig fields
    data = {
        "name": "cli",
        "stages": ["compare", "benchmark"],
        "output_dir": str(path.parent / "configured"),
        "daf_config": QUIET_DAF_CONFIG,
        "comparison": COMPARISON,
        "benchmark": BENCHMARK,
        **fields,
    }
    path.write_text(yaml.safe_dump(data))
    return path


def saved_result(folder: Path) -> dict:
    return json.loads((folder / "pipeline_result.json").read_text())


def statuses(folder: Path) -> dict[str, str]:
    return {stage["name"]: stage["status"] for stage in saved_result(folder)["stages"]}


def test_run_prints_each_stage_and_writes_where_the_flags_say(tmp_path: Path) -> None:
    pipeline = write_pipeline(tmp_path / "pipeline.yaml")
    daf_config = tmp_path / "daf.yaml"
    daf_config.write_text(
        yaml.safe_dump({**QUIET_DAF_CONFIG, "log_to_file": True, "output_dir": str(tmp_path / "g")})
    )

    done = runner.invoke(
        app, ["run", str(pipeline), "--output-dir", str(tmp_path / "out"), "--daf-config", str(daf_config)]
    )
    assert done.exit_code == 0, done.output
    assert "pipeline cli: success" in done.output
    assert "compare: done" in done.output and "benchmark: done" in done.output  # the progress lines
    folder = tmp_path / "out" / "cli"  # --output-dir, not the config's output_dir
    assert f"result: {folder.absolute() / 'pipeline_result.json'}" in done.output
    assert statuses(folder) == {"compare": "success", "benchmark": "success"}
    assert (folder / "comparisons" / "baselines" / "leaderboard.md").is_file()
    assert not (tmp_path / "configured").exists()
    assert (tmp_path / "g" / "logs" / "daf.log").is_file()  # --daf-config: its log_to_file and output_dir

    only = runner.invoke(
        app, ["run", str(pipeline), "--output-dir", str(tmp_path / "out"), "--stage", "benchmark"]
    )
    assert only.exit_code == 0, only.output
    assert statuses(folder) == {"benchmark": "success"}


def test_a_bad_config_exits_2_naming_the_field(tmp_path: Path) -> None:
    unknown = write_pipeline(tmp_path / "unknown.yaml", stages=["compare", "trian"])
    done = runner.invoke(app, ["run", str(unknown)])
    assert done.exit_code == 2
    assert "'trian'" in done.output and "did you mean 'train'?" in done.output and str(unknown) in done.output

    done = runner.invoke(app, ["run", str(write_pipeline(tmp_path / "p.yaml")), "--stage", "sweep"])
    assert done.exit_code == 2 and "'sweep' section" in done.output

    done = runner.invoke(app, ["run", str(tmp_path / "missing.yaml")])
    assert done.exit_code == 2 and "missing.yaml" in done.output

    done = runner.invoke(
        app, ["run", str(write_pipeline(tmp_path / "d.yaml", daf_config=str(tmp_path / "no.yaml")))]
    )
    assert done.exit_code == 2 and "no.yaml" in done.output


def test_a_failed_stage_exits_1_and_the_flags_choose_whether_the_rest_runs(tmp_path: Path) -> None:
    keeps_going = write_pipeline(
        tmp_path / "p.yaml", comparison=MISSING_MISSION_COMPARISON, stop_on_failure=False
    )
    folder = tmp_path / "configured" / "cli"

    done = runner.invoke(app, ["run", str(keeps_going), "--no-progress"])
    assert done.exit_code == 1 and "pipeline cli: partial" in done.output
    assert "failed: compare: FileNotFoundError" in done.output
    assert "benchmark: done" not in done.output  # --no-progress: no stage lines while it runs
    assert statuses(folder) == {"compare": "failed", "benchmark": "success"}

    stopped = runner.invoke(app, ["run", str(keeps_going), "--stop-on-failure"])
    assert stopped.exit_code == 1 and "pipeline cli: failed" in stopped.output
    assert "benchmark: skipped" in stopped.output  # the progress lines
    assert statuses(folder) == {"compare": "failed", "benchmark": "skipped"}

    stops = write_pipeline(tmp_path / "s.yaml", comparison=MISSING_MISSION_COMPARISON, stop_on_failure=True)
    done = runner.invoke(app, ["run", str(stops), "--keep-going"])
    assert done.exit_code == 1 and statuses(folder) == {"compare": "failed", "benchmark": "success"}


def test_parallel_overlaps_independent_stages_and_sequential_does_not(tmp_path: Path) -> None:
    pipeline = write_pipeline(tmp_path / "pipeline.yaml")
    for flag in ("--parallel", "--sequential"):
        done = runner.invoke(app, ["run", str(pipeline), flag, "--output-dir", str(tmp_path / flag[2:])])
        assert done.exit_code == 0, done.output
    parallel, sequential = (
        {stage["name"]: stage for stage in saved_result(tmp_path / mode / "cli")["stages"]}
        for mode in ("parallel", "sequential")
    )
    compare, benchmark = parallel["compare"], parallel["benchmark"]
    assert compare["started_s"] < benchmark["finished_s"] and benchmark["started_s"] < compare["finished_s"]
    assert sequential["benchmark"]["started_s"] >= sequential["compare"]["finished_s"]


@pytest.mark.slow
def test_the_shipped_pipeline_trains_lstm_and_compares_it_with_random(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "daf_core.cli", "run", "configs/pipeline_train_compare.yaml"]
    done = subprocess.run(
        [*command, "--output-dir", str(tmp_path), "--no-progress"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "success: 4 of 4 stages completed" in done.stdout
    folder = tmp_path / "train_then_compare"
    leaderboard = (folder / "comparisons" / "train_then_compare" / "leaderboard.md").read_text()
    assert "trained\\_lstm" in leaderboard and "random" in leaderboard
    assert statuses(folder) == dict.fromkeys(["environment_check", "train", "evaluate", "compare"], "success")
