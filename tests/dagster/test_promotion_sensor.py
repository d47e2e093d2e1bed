"""``promotion_sensor`` and ``promotion_failure_sensor`` across repeated ticks, on a real Dagster instance:
the exact run requests, run keys, run configs and cursors ("nothing new", one new package, a restart
with the saved cursor, two at once, packages that failed validation passed over, more than a page);
then the failure sensor on failed promotion runs (before and after activating a version); then the
automation settings from the environment, as the code location reads them when it loads."""

import json
import os
import subprocess
import sys

import dagster as dg
import pytest
from dagster._core.events import DagsterEventType

from daf_dagster.assets.promotion import (
    DEPLOYED_VERSION_TAG,
    POLICY_TAG,
    PREVIOUS_VERSION_TAG,
    candidate_version,
    policy_promotion,
)
from daf_dagster.automation import AUTOMATION_ENV, SENSOR_INTERVAL_ENV, sensor_interval_s
from daf_dagster.jobs import promotion_job
from daf_dagster.packages import PACKAGE_ASSET, PAGE_SIZE
from daf_dagster.resources import DAFResource, PolicyServerResource
from daf_dagster.rollback import INCIDENT_TAG
from daf_dagster.sensors import PACKAGE_TAG, automation_status, promotion_failure_sensor, promotion_sensor


def package(instance: dg.DagsterInstance, run: str, sha: str, *, passed: bool = True) -> int:
    """Record a checkpoint_package materialization as the package asset writes it; its storage id."""
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key=PACKAGE_ASSET,
            partition=run,
            metadata={
                "bundle": dg.MetadataValue.path(f"/packages/{run}-{sha}.zip"),
                "sha256": sha,
                "policy_name": run,
                "version": "0.1.2",
                "validation_passed": passed,
            },
        )
    )
    (record,) = instance.fetch_materializations(PACKAGE_ASSET, limit=1).records
    return record.storage_id


def tick(instance: dg.DagsterInstance, cursor: str | None):
    return promotion_sensor(dg.build_sensor_context(instance=instance, cursor=cursor))


def expected(run: str, sha: str, storage_id: int) -> tuple:
    return (
        f"promote:{run}:{sha}",
        run,
        {"ops": {"policy_promotion": {"config": {"bundle": f"/packages/{run}-{sha}.zip"}}}},
        {PACKAGE_TAG: str(storage_id)},
    )


def requests(result: dg.SensorResult) -> list[tuple]:
    return [(r.run_key, r.partition_key, r.run_config, r.tags) for r in result.run_requests]


def test_promotion_sensor_requests_each_validated_package_once():
    instance = dg.DagsterInstance.ephemeral()

    # Nothing packaged yet.
    empty = tick(instance, None)
    assert isinstance(empty, dg.SkipReason)
    assert empty.skip_message == "no checkpoint_package materialization after storage id None"

    # One validated package: one request for its run's partition and bundle.
    a = package(instance, "run_a", "a1")
    first = tick(instance, None)
    assert requests(first) == [expected("run_a", "a1", a)]
    assert json.loads(first.cursor) == {"storage_id": a}

    # Nothing new, and a restart with the saved cursor: nothing requested.
    for _ in range(2):
        again = tick(instance, first.cursor)
        assert isinstance(again, dg.SkipReason) and again.skip_message.endswith(f"after storage id {a}")

    # Two new packages at once, of two runs: two requests, oldest first; the cursor at the newest.
    b = package(instance, "run_b", "b1")
    c = package(instance, "run_c", "c1")
    second = tick(instance, first.cursor)
    assert requests(second) == [expected("run_b", "b1", b), expected("run_c", "c1", c)]
    assert json.loads(second.cursor) == {"storage_id": c}

    # Packages that failed validation: nothing requested, and the cursor moves past them.
    bad = package(instance, "run_a", "a2", passed=False)
    passed_over = tick(instance, second.cursor)
    assert passed_over.run_requests == [] and json.loads(passed_over.cursor) == {"storage_id": bad}
    assert passed_over.skip_reason.skip_message == ("1 new package(s), none passed validation: run_a 0.1.2")
    assert isinstance(tick(instance, passed_over.cursor), dg.SkipReason)

    # A failed and a validated one in one tick, and two validated ones of one run: one request per run,
    # for its newest validated package.
    package(instance, "run_b", "b2", passed=False)
    package(instance, "run_a", "a3")
    a4 = package(instance, "run_a", "a4")
    third = tick(instance, passed_over.cursor)
    assert requests(third) == [expected("run_a", "a4", a4)]
    assert json.loads(third.cursor) == {"storage_id": a4}
    assert isinstance(tick(instance, third.cursor), dg.SkipReason)


def test_more_packages_than_a_page_are_read_over_ticks():
    instance = dg.DagsterInstance.ephemeral()
    ids = [package(instance, f"run_{i:03d}", f"s{i}") for i in range(PAGE_SIZE + 1)]
    first = tick(instance, None)
    assert len(first.run_requests) == PAGE_SIZE and json.loads(first.cursor) == {"storage_id": ids[-2]}
    second = tick(instance, first.cursor)
    assert requests(second) == [expected(f"run_{PAGE_SIZE:03d}", f"s{PAGE_SIZE}", ids[-1])]
    assert isinstance(tick(instance, second.cursor), dg.SkipReason)


def failed_promotion(instance: dg.DagsterInstance, tags: dict[str, str]) -> dg.RunFailureSensorContext:
    """A promotion_job run with these tags (as the asset sets them), failed on the instance; the
    failure sensor's context for it."""
    run = instance.add_run(dg.DagsterRun(job_name="promotion_job", tags=tags))
    instance.report_run_failed(run)
    (event,) = instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_FAILURE)
    return dg.build_run_status_sensor_context(
        sensor_name=promotion_failure_sensor.name,
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(run.run_id),
        dagster_event=event.dagster_event,
    ).for_run_failure()


def test_a_promotion_that_failed_before_deploying_requests_nothing(tmp_path):
    """A real promotion run whose bundle does not exist: it fails before touching the server."""
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("training_runs", ["run_a"])
    missing = tmp_path / "missing.zip"
    job = dg.Definitions(
        assets=[policy_promotion],
        jobs=[promotion_job],
        resources={
            "daf": DAFResource(output_root=str(tmp_path)),
            "policy_server": PolicyServerResource(endpoint="http://127.0.0.1:9"),
        },
    ).resolve_job_def("promotion_job")
    result = job.execute_in_process(
        run_config={"ops": {"policy_promotion": {"config": {"bundle": str(missing)}}}},
        instance=instance,
        partition_key="run_a",
        raise_on_error=False,
    )
    assert not result.success and DEPLOYED_VERSION_TAG not in result.dagster_run.tags
    (failure,) = result.get_step_failure_events()
    assert (
        failure.step_failure_data.error.cause.message == f"FileNotFoundError: bundle: no file at {missing}\n"
    )
    context = dg.build_run_status_sensor_context(
        sensor_name=promotion_failure_sensor.name,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
    ).for_run_failure()
    skipped = promotion_failure_sensor(context)
    assert isinstance(skipped, dg.SkipReason)
    assert skipped.skip_message == (
        f"promotion run {result.run_id} failed before activating a version: nothing to undo"
    )


def test_a_promotion_that_failed_after_deploying_is_rolled_back_once_per_run():
    instance = dg.DagsterInstance.ephemeral()

    # The policy's first version: nothing earlier to go back to.
    first = failed_promotion(instance, {POLICY_TAG: "walker", DEPLOYED_VERSION_TAG: "0.1.0+run-x"})
    skipped = promotion_failure_sensor(first)
    assert isinstance(skipped, dg.SkipReason) and "no earlier version to roll back to" in skipped.skip_message

    tags = {POLICY_TAG: "walker", DEPLOYED_VERSION_TAG: "0.1.2+run-b", PREVIOUS_VERSION_TAG: "0.1.0+run-a"}
    contexts = [failed_promotion(instance, tags) for _ in range(2)]
    answers = [promotion_failure_sensor(context) for context in contexts]
    for context, request in zip(contexts, answers, strict=True):
        run_id = context.dagster_run.run_id
        assert isinstance(request, dg.RunRequest)
        assert request.run_key == f"rollback-failed-run:{run_id}"
        assert request.tags == {INCIDENT_TAG: f"failed-run:{run_id}"}
        assert request.run_config == {
            "ops": {
                "rollback_deployment": {
                    "config": {
                        "policy_name": "walker",
                        "to_version": "0.1.0+run-a",
                        "from_version": "0.1.2+run-b",
                        "reason": f"promotion run {run_id} failed",
                        "incident": f"failed-run:{run_id}",
                    }
                }
            }
        }
    assert answers[0].run_key != answers[1].run_key  # one rollback per failed run, each its own


def test_candidate_versions_are_build_metadata_of_the_bundle_version():
    assert candidate_version("0.1.2", "3f2a-9c1e") == "0.1.2+run-3f2a-9c1e"
    assert candidate_version("1.0.0-rc.1+abc", "r_1") == "1.0.0-rc.1+abc.run-r-1"
    from daf_core.config.base import _semver

    assert _semver(candidate_version("0.1.2", "0b6e2a94-5d1f-4c55-8c3e-0a7d2a1f9e10"))


def test_automation_settings(monkeypatch):
    monkeypatch.delenv(AUTOMATION_ENV, raising=False)
    monkeypatch.delenv(SENSOR_INTERVAL_ENV, raising=False)
    assert automation_status() == dg.DefaultSensorStatus.STOPPED
    assert sensor_interval_s() == 30
    for value, status in [("on", "RUNNING"), ("ON", "RUNNING"), ("off", "STOPPED"), ("", "STOPPED")]:
        monkeypatch.setenv(AUTOMATION_ENV, value)
        assert automation_status() == getattr(dg.DefaultSensorStatus, status)
    monkeypatch.setenv(AUTOMATION_ENV, "yes")
    with pytest.raises(ValueError, match="DAF_AUTOMATION: expected 'on' or 'off', got 'yes'"):
        automation_status()
    monkeypatch.setenv(SENSOR_INTERVAL_ENV, "5")
    assert sensor_interval_s() == 5
    for bad in ("0", "-3", "2.5", "soon"):
        monkeypatch.setenv(SENSOR_INTERVAL_ENV, bad)
        with pytest.raises(ValueError, match=f"DAF_SENSOR_INTERVAL_S: .* got '{bad}'"):
            sensor_interval_s()


def test_the_code_location_reads_the_settings_when_it_loads():
    code = (
        "import json\nfrom daf_dagster.sensors import SENSORS\n"
        "print(json.dumps({s.name: [s.default_status.value, s.minimum_interval_seconds] for s in SENSORS}))"
    )

    def load(**env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )

    on = load(DAF_AUTOMATION="on", DAF_SENSOR_INTERVAL_S="7")
    assert on.returncode == 0, on.stderr
    assert json.loads(on.stdout.splitlines()[-1]) == {
        name: ["RUNNING", 7]
        for name in (
            "checkpoint_validation_sensor",
            "promotion_sensor",
            "deployment_health_sensor",
            "promotion_failure_sensor",
        )
    }
    refused = load(DAF_AUTOMATION="sometimes")
    assert refused.returncode != 0 and "DAF_AUTOMATION: expected 'on' or 'off'" in refused.stderr
