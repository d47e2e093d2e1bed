"""DAF running by itself: `dagster-daemon` and `dagster-webserver` on loopback over a temporary DAGSTER_HOME,
beside a real policy server (`daf serve`), with the automation switched on (DAF_AUTOMATION=on).

1. A lazy walker is deployed by hand: the incumbent.
2. A training run is launched through the webserver's GraphQL (what the UI's Launchpad sends); its
   checkpoint appears, and the checkpoint validation sensor starts the run that packages and validates it.
3. The promotion sensor sends the validated package to the promotion gate, which benchmarks it against
   the deployed version on the same seeds and deploys it: the trained walker is clearly better.
4. A clearly worse bundle is sent to the gate through GraphQL: refused, the reason in the run's metadata,
   nothing deployed.
5. A version that passes validation and then fails its act requests is deployed by hand and played; the
   deployment health sensor sees it degraded and its rollback run brings the promoted version back.

Every wait is bounded; every process started here (daemon, webserver, their run subprocesses, the policy
server) is stopped in the fixture's teardown.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef

from daf_core.deployment import PolicyServerClient, daf_deploy_policy, daf_package_policy
from daf_core.deployment.remote_policy import daf_evaluate_deployment
from daf_core.server.settings import DEFAULT_ALLOWED_CLASS_PATHS
from tests.dagster.test_webserver import LAUNCH_RUN, LOCATIONS, free_port, graphql, wait_until_serving
from tests.deployment.served import lstm_weights
from tests.server.running_server import RunningServer, start_server

pytestmark = pytest.mark.slow(seconds=300)  # the longest file: it must start first

REPO = Path(__file__).resolve().parents[2]
SERVED_CODE = REPO / "tests" / "served_code"
DEGRADING_CLASS = "degrading_policy.MovesThenFailsPolicy"
POLICY = "walker"
TRAINING_RUN = "walker_run"
MISSION = "tiny_walk"
SENSOR_INTERVAL_S = "5"
TRAINING = {"missions": [MISSION], "num_steps": 4096, "device": "cpu"}
#: Bounds on each stage; a stage that overruns fails the test with what it was waiting for.
STAGE_TIMEOUT_S = 300
TERMINAL = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


@dataclass
class Automation:
    home: Path
    output: Path
    port: int
    server: RunningServer
    instance: dg.DagsterInstance

    def client(self) -> PolicyServerClient:
        return PolicyServerClient(self.server.url, self.server.admin_token)

    def active_version(self) -> str | None:
        with self.client() as client:
            return client.get_policy(POLICY)["active_version"]

    def runs(self, job: str) -> list[dg.DagsterRun]:
        return list(self.instance.get_runs(dg.RunsFilter(job_name=job)))

    def launch(self, job: str, run_config: dict, tags: dict[str, str]) -> str:
        (entry,) = graphql(self.port, LOCATIONS)["workspaceOrError"]["locationEntries"]
        (repository,) = entry["locationOrLoadError"]["repositories"]
        launched = graphql(
            self.port,
            LAUNCH_RUN,
            {
                "executionParams": {
                    "selector": {
                        "repositoryLocationName": entry["name"],
                        "repositoryName": repository["name"],
                        "jobName": job,
                    },
                    "runConfigData": run_config,
                    "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
                }
            },
        )["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        return launched["run"]["runId"]


def wait_for(what: str, found: Callable[[], object], timeout_s: float = STAGE_TIMEOUT_S) -> object:
    """Poll ``found`` until it returns something truthy; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not (value := found()):
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(1.0)
    return value


def succeeded(instance: dg.DagsterInstance, run_id: str, timeout_s: float = STAGE_TIMEOUT_S) -> dg.DagsterRun:
    run = wait_for(
        f"run {run_id} to finish",
        lambda: (r := instance.get_run_by_id(run_id)) is not None and r.status in TERMINAL and r,
        timeout_s,
    )
    assert run.status == dg.DagsterRunStatus.SUCCESS, f"run {run_id} of {run.job_name}: {run.status.value}"
    return run


def materialization_metadata(instance: dg.DagsterInstance, asset: str, run_id: str) -> dict:
    records = instance.fetch_materializations(dg.AssetKey(asset), limit=20).records
    (record,) = [record for record in records if record.run_id == run_id]
    return {key: value.value for key, value in record.asset_materialization.metadata.items()}


def stop_group(process: subprocess.Popen) -> None:
    """SIGTERM to the process group (and so to the runs it started), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture
def automation(tmp_path, monkeypatch) -> Iterator[Automation]:
    # The policy server can build the degrading class (allowlisted, importable through PYTHONPATH).
    monkeypatch.setenv("PYTHONPATH", str(SERVED_CODE))
    allowed = [*DEFAULT_ALLOWED_CLASS_PATHS, DEGRADING_CLASS]
    server = start_server(
        tmp_path / "server", extra_args=[arg for path in allowed for arg in ("--allow-class", path)]
    )
    monkeypatch.delenv("PYTHONPATH")
    home, output = tmp_path / "dagster_home", tmp_path / "daf_output"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAF_OUTPUT_ROOT": str(output),
        "DAF_POLICY_SERVER_URL": server.url,
        "DAF_POLICY_SERVER_TOKEN": server.admin_token,
        "DAF_POLICY_NAME": POLICY,
        "DAF_AUTOMATION": "on",
        "DAF_SENSOR_INTERVAL_S": SENSOR_INTERVAL_S,
        "OMP_NUM_THREADS": "1",
    }
    bin_dir = Path(sys.executable).parent
    started: list[subprocess.Popen] = []
    # The instance's SQLite storage made (and its schema stamped) before two processes open it at once:
    # a daemon and a webserver creating a fresh home together can both stamp it, which breaks it.
    dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))).dispose()
    try:
        port = free_port()
        for command in (
            [str(bin_dir / "dagster-daemon"), "run", "-w", "workspace.yaml"],
            [str(bin_dir / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        ):
            log = open(tmp_path / f"{Path(command[0]).name}.log", "w")  # noqa: SIM115 - closed with the process
            started.append(
                subprocess.Popen(
                    command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
            log.close()
        wait_until_serving(started[-1], port)
        with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
            yield Automation(home, output, port, server, instance)
    finally:
        for process in reversed(started):
            stop_group(process)
        server.stop()


def test_checkpoints_are_validated_promoted_on_evidence_and_bad_deployments_rolled_back(automation, tmp_path):
    instance = automation.instance
    token = automation.server.admin_token

    # 1. The incumbent: a lazy walker (it mostly stands still).
    lazy = daf_package_policy(
        "lstm", lstm_weights(tmp_path / "lazy.pt", lazy=True), policy_name=POLICY, version="0.0.1",
        output_dir=tmp_path / "packages", mission=MISSION,
    )  # fmt: skip
    assert daf_deploy_policy(POLICY, str(lazy.package_path), automation.server.url, token).ok

    # 2. A training run launched like the UI does; its checkpoint is validated by the sensor's run.
    training_run = automation.launch(
        "training_job",
        {
            "ops": {
                "training_checkpoints": {
                    "config": {"missions": [MISSION], "num_steps": 4096, "device": "cpu"}
                }
            }
        },
        {"dagster/partition": TRAINING_RUN},
    )
    succeeded(instance, training_run)
    validation = wait_for(
        "the checkpoint validation run", lambda: automation.runs("checkpoint_validation_job")
    )[0]
    succeeded(instance, validation.run_id)
    package = materialization_metadata(instance, "checkpoint_package", validation.run_id)
    assert package["validation_passed"] is True

    # 3. The promotion sensor's run benchmarks it against the lazy incumbent and deploys it.
    promotion = wait_for("the promotion run", lambda: automation.runs("promotion_job"))[0]
    succeeded(instance, promotion.run_id)
    promoted = materialization_metadata(instance, "policy_promotion", promotion.run_id)
    assert promoted["decision"] == "promoted", promoted["reasons"]
    assert promoted["incumbent_version"] == "0.0.1"
    deployed = promoted["deployed_version"]
    assert automation.active_version() == deployed != "0.0.1"

    # 4. A clearly worse candidate, sent to the gate by hand: refused, nothing deployed.
    worse = daf_package_policy(
        "lstm", lstm_weights(tmp_path / "worse.pt", lazy=True, seed=1), policy_name=POLICY,
        version="0.0.2", output_dir=tmp_path / "packages", mission=MISSION,
    )  # fmt: skip
    refused_run = automation.launch(
        "promotion_job",
        {"ops": {"policy_promotion": {"config": {"bundle": str(worse.package_path)}}}},
        {"dagster/partition": TRAINING_RUN},
    )
    succeeded(instance, refused_run)
    refused = materialization_metadata(instance, "policy_promotion", refused_run)
    assert refused["decision"] == "refused" and refused["reasons"], refused
    assert automation.active_version() == deployed

    # 5. A version that fails its act requests once it serves: the health sensor's run rolls it back.
    degrading = daf_package_policy(
        DEGRADING_CLASS, None, [SERVED_CODE / "degrading_policy.py"], policy_name=POLICY, version="9.0.0",
        output_dir=tmp_path / "packages", mission=MISSION,
    )  # fmt: skip
    assert daf_deploy_policy(POLICY, str(degrading.package_path), automation.server.url, token).ok
    for seed in range(4):  # the first episode plays; every later one fails at its first action
        try:
            daf_evaluate_deployment(POLICY, automation.server.url, [MISSION], 1, token, seed=seed)
        except Exception as err:  # noqa: BLE001 - the failures are the point; the server counts them
            assert "500" in str(err), err
    rollback = wait_for("the rollback run", lambda: automation.runs("rollback_job"), timeout_s=120)[0]
    succeeded(instance, rollback.run_id)
    assert automation.active_version() == deployed
    with automation.client() as client:
        events = client.history(POLICY)
    assert events[-1]["action"] == "rollback", events[-1]
    time.sleep(2 * int(SENSOR_INTERVAL_S) + 1)  # more health ticks: the incident is handled once
    assert len(automation.runs("rollback_job")) == 1
