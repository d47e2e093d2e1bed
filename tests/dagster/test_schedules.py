"""The benchmark schedules across repeated ticks (``build_schedule_context``, evaluated as the daemon
does): the exact run requests, run keys and policies, with no candidate, with a new validated one, with
a newer unvalidated one; their times and status from the environment, bad values refused. Then the
benchmark asset resolving ``deployed:<policy>`` against a real ``daf serve``: the active version
benchmarked under that name, nothing deployed skipped or failed as configured."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef

from daf_dagster.assets.benchmarks import ASSETS as BENCHMARK_ASSETS
from daf_dagster.definitions import defs
from daf_dagster.io_managers import ParquetIOManager
from daf_dagster.packages import PACKAGE_ASSET
from daf_dagster.resources import DAFResource, PolicyServerResource
from daf_dagster.schedules import (
    CANDIDATE_RUN_TAG,
    CANDIDATE_TAG,
    automation_status,
    benchmark_schedule,
    cron_from_env,
    nightly_benchmark_schedule,
    quick_benchmark_schedule,
    schedule_timezone,
)
from tests.deployment.served import lstm_bundle
from tests.server.running_server import start_server

NIGHT = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
POLICY = "prod"


def tick(schedule: dg.ScheduleDefinition, instance: dg.DagsterInstance, when: datetime) -> list[dict]:
    # Closed after the tick, as the daemon does: an open context leaves its instance set as current.
    with dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=when,
        repository_def=defs.get_repository_def(),  # as the daemon has it: the job's partitions
        resources={"policy_server": PolicyServerResource(policy=POLICY)},
    ) as context:
        data = schedule.evaluate_tick(context)
    return [
        {
            "run_key": r.run_key,
            "partition": r.partition_key,
            "policies": r.run_config["ops"]["benchmark_results"]["config"]["policies"],
            "if_not_deployed": r.run_config["ops"]["benchmark_results"]["config"]["if_not_deployed"],
            "tags": {k: v for k, v in r.tags.items() if k.startswith("daf/")},
        }
        for r in data.run_requests
    ]


def package(instance: dg.DagsterInstance, run: str, bundle: str, *, validated: bool) -> None:
    """A checkpoint_package materialization as the asset records it (the metadata the schedules read)."""
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key=PACKAGE_ASSET,
            partition=run,
            metadata={
                "bundle": bundle,
                "sha256": "0" * 64,
                "version": "0.1.1",
                "policy_name": run,
                "validation_passed": validated,
            },
        )
    )


def test_benchmark_schedules_across_ticks(tmp_path):
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(tmp_path))) as instance:
        schedule_ticks(instance)


def schedule_ticks(instance: dg.DagsterInstance) -> None:
    assert nightly_benchmark_schedule.job_name == quick_benchmark_schedule.job_name == "benchmark_job"

    # No package yet: the deployed policy and the baselines, keyed by the scheduled time.
    first = tick(nightly_benchmark_schedule, instance, NIGHT)
    assert first == [
        {
            "run_key": "standard:2026-03-01T02:00:00+00:00",
            "partition": "standard",
            "policies": [f"deployed:{POLICY}", "random", "noop"],
            "if_not_deployed": "skip",
            "tags": {},
        }
    ]
    # The same tick again (a daemon restart): the same run key, so Dagster launches nothing new.
    assert tick(nightly_benchmark_schedule, instance, NIGHT) == first

    # A validated package, then a newer one that failed validation: the validated one is the candidate.
    package(instance, "run_a", "/pkgs/run_a-0.1.1.zip", validated=True)
    package(instance, "run_b", "/pkgs/run_b-0.1.1.zip", validated=False)
    later = NIGHT + timedelta(hours=4)
    (quick,) = tick(quick_benchmark_schedule, instance, later)
    assert quick == {
        "run_key": "quick:2026-03-01T06:00:00+00:00",
        "partition": "quick",
        "policies": [f"deployed:{POLICY}", "/pkgs/run_a-0.1.1.zip", "random", "noop"],
        "if_not_deployed": "skip",
        "tags": {CANDIDATE_TAG: "/pkgs/run_a-0.1.1.zip", CANDIDATE_RUN_TAG: "run_a"},
    }
    # Two schedules at the same instant never share a key; the next night's tick has its own.
    (nightly,) = tick(nightly_benchmark_schedule, instance, later)
    assert (
        nightly["run_key"] == "standard:2026-03-01T06:00:00+00:00"
        and nightly["policies"] == quick["policies"]
    )
    package(instance, "run_b", "/pkgs/run_b-0.1.2.zip", validated=True)
    (next_night,) = tick(nightly_benchmark_schedule, instance, NIGHT + timedelta(days=1))
    assert next_night["run_key"] == "standard:2026-03-02T02:00:00+00:00"
    assert next_night["policies"][1] == "/pkgs/run_b-0.1.2.zip"
    assert next_night["tags"][CANDIDATE_RUN_TAG] == "run_b"


def test_schedule_times_and_status_come_from_the_environment(monkeypatch):
    assert nightly_benchmark_schedule.cron_schedule == "0 2 * * *"
    assert quick_benchmark_schedule.cron_schedule == "0 */4 * * *"
    assert nightly_benchmark_schedule.execution_timezone == "UTC"
    monkeypatch.delenv("DAF_AUTOMATION", raising=False)
    assert automation_status() == dg.DefaultScheduleStatus.STOPPED

    monkeypatch.setenv("DAF_QUICK_BENCHMARK_CRON", "30 */2 * * *")
    monkeypatch.setenv("DAF_SCHEDULE_TIMEZONE", "Europe/Paris")
    monkeypatch.setenv("DAF_AUTOMATION", "on")
    schedule = benchmark_schedule(
        "quick_benchmark_schedule", "quick", cron_from_env("DAF_QUICK_BENCHMARK_CRON", "0 */4 * * *"), "q"
    )
    assert schedule.cron_schedule == "30 */2 * * *"
    assert schedule.execution_timezone == "Europe/Paris"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING

    # Each setting is refused naming its variable, not turned into some other schedule.
    for variable, value, message in (
        ("DAF_QUICK_BENCHMARK_CRON", "every 4 hours", "is not a cron schedule"),
        ("DAF_SCHEDULE_TIMEZONE", "Mars/Olympus", "is not an IANA time zone"),
        ("DAF_AUTOMATION", "yes", "expected 'on' or 'off'"),
    ):
        monkeypatch.setenv(variable, value)
        with pytest.raises(ValueError, match=f"{variable}: .*{message}"):
            cron_from_env("DAF_QUICK_BENCHMARK_CRON", "0 */4 * * *")
            schedule_timezone()
            automation_status()
        monkeypatch.delenv(variable)


def benchmark(instance, root, server, policies: list[str], **config) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        BENCHMARK_ASSETS,
        partition_key="quick",
        resources={
            "daf": DAFResource(output_root=str(root)),
            "policy_server": PolicyServerResource(endpoint=server.url, token=server.act_token, policy=POLICY),
            "parquet_io_manager": ParquetIOManager(base_dir=str(root / "io")),
        },
        instance=dg.DagsterInstance.ephemeral(),
        run_config={
            "ops": {
                "benchmark_results": {"config": {"policies": policies, "episodes_per_mission": 2, **config}}
            }
        },
    )


@pytest.mark.slow
def test_benchmark_resolves_the_deployed_policy(tmp_path):
    from daf_core.deployment import daf_deploy_policy

    server = start_server(tmp_path / "server")
    instance = dg.DagsterInstance.ephemeral()  # results read their events through it
    try:
        # Nothing deployed: fail by default, naming the policy; skip leaves it out and says so.
        with pytest.raises(dg.Failure, match=f"'deployed:{POLICY}': {server.url} serves no version of it"):
            benchmark(instance, tmp_path / "a", server, [f"deployed:{POLICY}", "random"])
        skipped = benchmark(
            instance, tmp_path / "b", server, [f"deployed:{POLICY}", "random"], if_not_deployed="skip"
        )
        assert skipped.success
        (event,) = skipped.get_asset_materialization_events()
        values = {k: v.value for k, v in event.materialization.metadata.items()}
        assert values["not_deployed"] == [f"deployed:{POLICY}"] and values["deployed"] == {}

        bundle = lstm_bundle(tmp_path, "1.0.0")
        daf_deploy_policy(POLICY, bundle, server.url, server.admin_token, version="1.0.0")
        done = benchmark(instance, tmp_path / "c", server, [f"deployed:{POLICY}", "random"])
        assert done.success
        (event,) = done.get_asset_materialization_events()
        values = {k: v.value for k, v in event.materialization.metadata.items()}
        downloaded = tmp_path / "c" / "benchmarks" / "quick" / "deployed" / f"{POLICY}-1.0.0.zip"
        assert values["deployed"] == {f"deployed:{POLICY}": {"version": "1.0.0", "bundle": str(downloaded)}}
        assert downloaded.read_bytes() == bundle.read_bytes()
        records = done.output_for_node("benchmark_results")
        assert set(records["policy"]) == {f"deployed:{POLICY}", "random"}
    finally:
        server.stop()
