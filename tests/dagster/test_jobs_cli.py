"""Every job as a user runs it: `dagster job execute -m daf_dagster.definitions -j <job> -c
configs/dagster/<job>.yaml` in a subprocess, on a fresh SQLite instance (DAGSTER_HOME) and output root
(DAF_OUTPUT_ROOT), started from an unrelated working directory that must stay empty: results never
depend on where a run starts. Then `python -m daf_core.demo` prints what the quickstart made."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.instance.ref import InstanceRef

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs" / "dagster"
BAD_CONFIG_RUN = "zero_steps"
DAGSTER = Path(sys.executable).with_name("dagster")
#: What the quickstart's test changes in its shipped config: fewer steps and episodes, same workflow.
QUICKSTART_OVERRIDE = {
    "ops": {
        "quickstart_policy": {"config": {"num_steps": 8192}},
        "quickstart_episodes": {"config": {"episodes_per_mission": 4}},
        "quickstart_package": {"config": {"validation_episodes": 1}},
    }
}


class Cli:
    """One DAGSTER_HOME and DAF_OUTPUT_ROOT shared by the jobs of this module, and a scratch cwd."""

    def __init__(self, root: Path):
        self.home, self.output, self.cwd = root / "dagster_home", root / "daf_output", root / "cwd"
        for folder in (self.home, self.output, self.cwd):
            folder.mkdir()
        shutil.copy(REPO / "dagster.yaml", self.home / "dagster.yaml")
        self.env = {
            **os.environ,
            "DAGSTER_HOME": str(self.home),
            "DAF_OUTPUT_ROOT": str(self.output),
            "OMP_NUM_THREADS": "1",
        }

    def execute(self, job: str, *configs: Path, tags: str | None = None) -> subprocess.CompletedProcess:
        command = [str(DAGSTER), "job", "execute", "-m", "daf_dagster.definitions", "-j", job]
        for config in configs or (CONFIGS / f"{job}.yaml",):
            command += ["-c", str(config)]
        if tags:
            command += ["--tags", tags]
        return subprocess.run(
            command, cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=600
        )

    def succeed(self, job: str, *configs: Path, tags: str | None = None) -> None:
        proc = self.execute(job, *configs, tags=tags)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]

    def latest(self, asset: str) -> dict:
        """The metadata of the asset's latest materialization in the instance."""
        with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(self.home))) as instance:
            event = instance.get_latest_materialization_event(dg.AssetKey(asset))
            assert event is not None, f"{asset} was not materialized"
            return {key: value.value for key, value in event.asset_materialization.metadata.items()}

    def check(self, asset: str, name: str) -> bool:
        """Whether the latest evaluation of the asset's check passed."""
        with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(self.home))) as instance:
            record = instance.event_log_storage.get_latest_asset_check_execution_by_key(
                [dg.AssetCheckKey(dg.AssetKey(asset), name)]
            )[dg.AssetCheckKey(dg.AssetKey(asset), name)]
            return record.event.dagster_event.event_specific_data.passed


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    cli = Cli(tmp_path_factory.mktemp("jobs"))
    yield cli
    assert not list(cli.cwd.iterdir()), "a job wrote into its working directory"
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(cli.home))) as instance:
        runs = instance.get_runs()
    failed = {
        (r.job_name, r.tags.get("dagster/partition")) for r in runs if r.status != dg.DagsterRunStatus.SUCCESS
    }
    assert failed <= {("training_job", BAD_CONFIG_RUN)}  # only the bad config's run failed, on purpose


@pytest.fixture(scope="module")
def trained(cli):
    """training_job with its shipped config: the run collect_lstm, a partition the fresh instance lacks."""
    cli.succeed("training_job")
    return cli


def test_training_job(trained):
    values = trained.latest("training_checkpoints")
    assert values["steps"] == 32768 and values["final_episode_reward/collect"] > 0
    assert values["run_dir"] == str(trained.output / "checkpoints" / "collect_lstm")
    assert Path(values["checkpoint"]).is_file() and Path(values["training_curve"]).is_file()
    assert trained.check("training_checkpoints", "training_finite")
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(trained.home))) as instance:
        assert instance.get_dynamic_partitions("training_runs") == ["collect_lstm"]


def test_deployment_job_packages_the_trained_run(trained):
    trained.succeed("deployment_job")
    values = trained.latest("deployment_package")
    assert values["bundle"] == str(trained.output / "packages" / "collect_lstm-0.1.0.zip")
    assert Path(values["bundle"]).is_file() and values["manifest"]["source"]["training_run"] == "collect_lstm"
    assert trained.check("deployment_package", "package_validation")


def test_comparison_job_covers_every_mission(cli):
    cli.succeed("comparison_job")
    values = cli.latest("comparison_report")
    assert values["missions"] == ["tiny_walk", "explore", "explore_large", "collect"]
    assert Path(values["html_report"]).is_file()
    assert Path(values["html_report"]).is_relative_to(cli.output / "comparisons")


def test_benchmark_job_runs_the_quick_suite(cli):
    cli.succeed("benchmark_job")
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(cli.home))) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("benchmark_results"))
        assert event.asset_materialization.partition == "quick"


def test_sweep_job_trains_the_best_configuration(cli):
    cli.succeed("sweep_job")
    assert cli.latest("sweep_results")
    values = cli.latest("sweep_best_checkpoint")
    assert Path(values["checkpoint"]).is_file()
    assert Path(values["checkpoint"]).is_relative_to(cli.output / "checkpoints")


def test_quickstart_job_and_the_demo_printout(cli, tmp_path):
    override = tmp_path / "quick.yaml"
    override.write_text(yaml.safe_dump(QUICKSTART_OVERRIDE))
    cli.succeed("quickstart_job", CONFIGS / "quickstart_job.yaml", override)

    policy = cli.latest("quickstart_policy")
    assert policy["steps"] == 8192 and policy["run_dir"] == str(cli.output / "checkpoints" / "quickstart")
    report = cli.latest("quickstart_report")
    assert report["policies"] == ["lstm_trained", "random", "lstm_untrained"]
    assert report["num_episodes"] == 3 * 4
    folder = cli.output / "comparisons" / "quickstart"
    assert report["html_report"] == str(folder / "report.html") and (folder / "leaderboard.md").is_file()
    package = cli.latest("quickstart_package")
    assert package["bundle"] == str(cli.output / "packages" / "quickstart-0.1.0.zip")
    for asset, check in [
        ("quickstart_policy", "training_finite"),
        ("quickstart_report", "comparison_sample_size"),
        ("quickstart_report", "comparison_finite_intervals"),
        ("quickstart_package", "package_validation"),
    ]:
        assert cli.check(asset, check), (asset, check)

    proc = subprocess.run(
        [sys.executable, "-m", "daf_core.demo"],
        cwd=cli.cwd,
        env=cli.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "Leaderboard: quickstart" in proc.stdout and "lstm_trained" in proc.stdout.split("random")[0]
    assert f"HTML report: {folder / 'report.html'}\n" in proc.stdout
    webserver = DAGSTER.with_name("dagster-webserver")
    assert f"DAGSTER_HOME={cli.home} {webserver} -w {REPO / 'workspace.yaml'}\n" in proc.stdout


def test_bad_run_config_fails_naming_the_field(trained, tmp_path):
    typo = tmp_path / "typo.yaml"
    typo.write_text(yaml.safe_dump({"ops": {"training_checkpoints": {"config": {"num_step": 2048}}}}))
    proc = trained.execute("training_job", typo)
    assert proc.returncode != 0 and "num_step" in proc.stdout + proc.stderr  # refused before any run

    zero = tmp_path / "zero.yaml"
    zero.write_text(yaml.safe_dump({"ops": {"training_checkpoints": {"config": {"num_steps": 0}}}}))
    proc = trained.execute("training_job", zero, tags=json.dumps({"dagster/partition": BAD_CONFIG_RUN}))
    assert proc.returncode != 0 and "invalid value for 'num_steps': 0" in proc.stdout + proc.stderr
