"""``daf train|sweep|compare|benchmark|package|validate|check``, each flag by its effect, and a fast help."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from daf_core.cli import app
from daf_core.config import DAFTrainingConfig
from tests.orchestrators.small import QUIET_DAF_CONFIG, TINY_TRAINING

runner = CliRunner()


def write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One epoch of lstm on tiny_walk: a checkpoint run directory to package."""
    from daf_core.distributed_training import daf_launch_distributed_training  # noqa: PLC0415

    folder = tmp_path_factory.mktemp("run")
    config = DAFTrainingConfig(**TINY_TRAINING, checkpoint_dir=folder)
    return daf_launch_distributed_training(training_config=config, show_progress=False).run_dir


def test_help_lists_every_command_without_loading_the_work() -> None:
    heavy = ("torch", "mettagrid", "pandas", "daf_core.orchestrators")
    probe = f"import sys, daf_core.cli; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert loaded.stdout.strip() == "[]", loaded.stderr
    done = runner.invoke(app, ["--help"])
    assert done.exit_code == 0
    for command in (
        "run",
        "train",
        "sweep",
        "compare",
        "benchmark",
        "package",
        "validate",
        "check",
        "serve",
        "token",
    ):
        assert command in done.output


def test_train_runs_the_training_config_under_the_daf_config(tmp_path: Path) -> None:
    training = write(tmp_path / "training.yaml", {**TINY_TRAINING, "checkpoint_dir": str(tmp_path / "ck")})
    daf = write(
        tmp_path / "daf.yaml", {**QUIET_DAF_CONFIG, "log_to_file": True, "output_dir": str(tmp_path / "g")}
    )
    done = runner.invoke(app, ["train", "--config", str(training), "--daf-config", str(daf)])
    assert done.exit_code == 0, done.output
    checkpoint = Path(done.output.split("checkpoint: ")[1].split()[0])
    assert checkpoint.is_file() and checkpoint.parent.parent == tmp_path / "ck"
    assert "2048 agent steps on 1 worker(s)" in done.output
    assert (tmp_path / "g" / "logs" / "daf.log").is_file()

    bad = write(tmp_path / "bad.yaml", {**TINY_TRAINING, "num_steps": 0})
    refused = runner.invoke(app, ["train", "--config", str(bad)])
    assert refused.exit_code == 2 and "num_steps" in refused.output
    unimportable = {"policy_class_path": "no_such_package.Policy", "checkpoint_dir": str(tmp_path / "ck")}
    broken = write(tmp_path / "broken.yaml", {**TINY_TRAINING, **unimportable})
    failed = runner.invoke(app, ["train", "--config", str(broken)])
    assert failed.exit_code == 1 and "no_such_package" in failed.output


def test_sweep_runs_the_sweep_config(tmp_path: Path) -> None:
    sweep = {
        "name": "cli_sweep",
        "missions": ["tiny_walk"],
        "search_space": {"learning_rate": [0.001]},
        "strategy": "grid",
        "num_trials": 1,
        "episodes_per_trial": 1,
        "training_steps": 2048,
        "output_dir": str(tmp_path),
    }
    daf = write(tmp_path / "daf.yaml", {**QUIET_DAF_CONFIG, "output_dir": str(tmp_path / "g")})
    done = runner.invoke(
        app, ["sweep", "--config", str(write(tmp_path / "s.yaml", sweep)), "--daf-config", str(daf)]
    )
    assert done.exit_code == 0, done.output
    results = json.loads((tmp_path / "cli_sweep" / "results.json").read_text())
    assert results["status"]["completed"] == 1
    assert (
        tmp_path / "g" / "checkpoints" / "cli_sweep" / "trial_0000"
    ).is_dir()  # the DAFConfig's checkpoints
    assert f"results: {tmp_path / 'cli_sweep' / 'results.json'}" in done.output


def test_compare_prints_the_leaderboard(tmp_path: Path) -> None:
    comparison = {
        "name": "cli_compare",
        "policies": ["random", "noop"],
        "missions": ["tiny_walk"],
        "episodes_per_mission": 2,
        "output_dir": str(tmp_path),
    }
    daf = write(
        tmp_path / "daf.yaml", {**QUIET_DAF_CONFIG, "tensorboard": True, "output_dir": str(tmp_path / "g")}
    )
    config = write(tmp_path / "c.yaml", comparison)
    done = runner.invoke(app, ["compare", "--config", str(config), "--daf-config", str(daf)])
    assert done.exit_code == 0, done.output
    assert any((tmp_path / "g" / "tensorboard" / "comparisons" / "cli_compare").iterdir())  # --daf-config
    assert "## Leaderboard: cli\\_compare" in done.output
    assert (tmp_path / "cli_compare" / "leaderboard.md").read_text() in done.output
    assert (tmp_path / "cli_compare" / "report.html").is_file()


def test_benchmark_runs_the_suite_on_the_given_policies(tmp_path: Path) -> None:
    flags = ["benchmark", "--suite", "quick", "--policy", "random", "--policy", "noop", "--episodes", "1"]
    done = runner.invoke(app, [*flags, "--output-dir", str(tmp_path)])
    assert done.exit_code == 0, done.output
    assert "## Leaderboard: benchmark-quick-v1" in done.output
    report = json.loads((tmp_path / "quick" / "report.json").read_text())
    assert report["metadata"]["policies"] == ["random", "noop"]
    assert report["metadata"]["suite"]["episodes_per_mission"] == 1
    assert report["metadata"]["missions"] == ["tiny_walk", "explore"]

    assert runner.invoke(app, ["benchmark", "--suite", "quick"]).exit_code == 2  # no policy
    unknown = runner.invoke(app, ["benchmark", "--suite", "quik", "--policy", "random"])
    assert unknown.exit_code == 2 and "did you mean 'quick'?" in unknown.output.lower().replace('"', "'")


@pytest.mark.slow
def test_package_then_validate_the_bundle(tmp_path: Path, trained_run: Path) -> None:
    flags = ["--weights", str(trained_run), "--name", "cli-policy", "--version", "1.2.3"]
    done = runner.invoke(app, ["package", "lstm", *flags, "--output-dir", str(tmp_path)])
    assert done.exit_code == 0, done.output
    bundle = tmp_path / "cli-policy-1.2.3.zip"
    assert f"bundle: {bundle}" in done.output
    assert f"sha256: {hashlib.sha256(bundle.read_bytes()).hexdigest()}" in done.output
    refused = runner.invoke(app, ["package", "lstm", "--weights", str(trained_run), "--version", "v1"])
    assert refused.exit_code == 2 and "version" in refused.output

    passed = runner.invoke(app, ["validate", str(bundle), "--mission", "tiny_walk", "--episodes", "1"])
    assert passed.exit_code == 0, passed.output
    assert "validation passed" in passed.output and "over 1 episodes" in passed.output

    gate = {
        "policy_name": "cli-policy",
        "policy_class_path": "lstm",
        "weights_path": str(trained_run),
        "deployment_endpoint": "http://127.0.0.1:8000",
        "version": "1.2.3",
        "validation_missions": ["tiny_walk"],
        "validation_episodes": 1,
        "min_mean_reward": 1000.0,
    }
    failed = runner.invoke(app, ["validate", str(bundle), "--config", str(write(tmp_path / "d.yaml", gate))])
    assert failed.exit_code == 1 and "validation failed" in failed.output and "1000" in failed.output
    # Without a bundle, the config's policy is packaged and validated; flags override the config.
    relaxed = write(tmp_path / "r.yaml", {**gate, "min_mean_reward": None})
    packaged = runner.invoke(app, ["validate", "--config", str(relaxed), "--episodes", "2"])
    assert packaged.exit_code == 0, packaged.output
    assert "over 2 episodes" in packaged.output
    assert runner.invoke(app, ["validate"]).exit_code == 2


def test_package_a_policy_without_weights_for_the_missions_interface(tmp_path: Path) -> None:
    done = runner.invoke(app, ["package", "random", "--mission", "tiny_walk", "--output-dir", str(tmp_path)])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "randommultiagentpolicy-0.1.0.zip").is_file()
    needs_mission = runner.invoke(app, ["package", "random", "--output-dir", str(tmp_path)])
    assert needs_mission.exit_code == 2 and "mission" in needs_mission.output


def test_check_exits_1_when_the_environment_is_unhealthy(tmp_path: Path) -> None:
    healthy = runner.invoke(app, ["check", "--mission", "tiny_walk", "--no-cuda", "--min-disk-gb", "0"])
    assert healthy.exit_code == 0, healthy.output
    assert (
        "mission:tiny_walk" in healthy.output and "HEALTHY" in healthy.output and "cuda" not in healthy.output
    )

    full_disk = runner.invoke(
        app, ["check", "--no-cuda", "--min-disk-gb", "1e9", "--checkpoint-dir", str(tmp_path)]
    )
    assert full_disk.exit_code == 1 and "✗ disk_space" in full_disk.output

    missing = runner.invoke(
        app, ["check", "--no-cuda", "--min-disk-gb", "0", "--mission", str(tmp_path / "m.yaml")]
    )
    assert missing.exit_code == 1 and "UNHEALTHY" in missing.output

    daf = write(tmp_path / "daf.yaml", {"checkpoint_dir": str(tmp_path / "ck")})
    done = runner.invoke(app, ["check", "--no-cuda", "--min-disk-gb", "0", "--daf-config", str(daf)])
    assert (
        done.exit_code == 0 and f"at {tmp_path}" in done.output
    )  # the DAFConfig's checkpoint_dir (its parent)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_check_require_cuda_fails_without_a_gpu() -> None:
    done = runner.invoke(app, ["check", "--require-cuda", "--min-disk-gb", "0"])
    assert done.exit_code == 1 and "✗ cuda" in done.output
