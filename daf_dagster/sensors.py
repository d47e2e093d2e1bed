"""Sensors: Dagster runs started by what happens (a checkpoint, a validated package, a degraded
deployment, a failed promotion), each at most once.

* ``checkpoint_validation_sensor``: a ``checkpoint_validation_job`` run for every new checkpoint of every
  training run under DAFResource's checkpoint root.
* ``promotion_sensor``: a ``promotion_job`` run for every new ``checkpoint_package`` that passed its
  validation.
* ``deployment_health_sensor``: the served version judged by ``daf_monitor_deployment``; degraded -> one
  ``rollback_job`` run per incident.
* ``promotion_failure_sensor``: a ``promotion_job`` run that failed after activating its candidate ->
  a ``rollback_job`` run to the version it replaced.

A tick lists file names, reads the instance's event log or asks the policy server a few questions:
no torch, no simulator, nothing trained or evaluated, so every tick stays well within Dagster's sensor
time budget. The work is in the runs they request.

Their default status and interval come from ``DAF_AUTOMATION`` and ``DAF_SENSOR_INTERVAL_S``
(``daf_dagster.automation``), read when the code location loads.
"""

import json
from pathlib import Path

import dagster as dg

from daf_core._internal.checkpoint_files import model_epoch, model_files
from daf_dagster.assets.promotion import DEPLOYED_VERSION_TAG, POLICY_TAG, PREVIOUS_VERSION_TAG
from daf_dagster.automation import automation_on, sensor_interval_s
from daf_dagster.jobs import checkpoint_validation_job, promotion_job
from daf_dagster.packages import package_records
from daf_dagster.partitions import TRAINING_RUNS
from daf_dagster.resources import DAFResource, PolicyServerResource
from daf_dagster.rollback import INCIDENT_TAG, rollback_job

#: The tag naming the checkpoint a validation run was requested for.
CHECKPOINT_TAG = "daf/checkpoint"
#: The tag naming the ``checkpoint_package`` materialization (event storage id) a promotion run is for.
PACKAGE_TAG = "daf/package_storage_id"
#: Incidents the health sensor's cursor remembers (older ones are still deduplicated by their run key).
MAX_REMEMBERED_INCIDENTS = 100


def automation_status() -> dg.DefaultSensorStatus:
    """RUNNING when ``$DAF_AUTOMATION`` is ``on`` (``daf_dagster.automation``), else STOPPED."""
    return dg.DefaultSensorStatus.RUNNING if automation_on() else dg.DefaultSensorStatus.STOPPED


_STATUS = automation_status()
_INTERVAL_S = sensor_interval_s()


def newest_checkpoints(checkpoint_root: Path) -> dict[str, str]:
    """Training run name -> the file name of its newest model file, for every run that has one.

    Checkpoints are written atomically (``daf_core._internal.atomic``: a temporary ``.model_*.tmp``
    file, renamed into place), and temporary names never match ``model_NNNNNN.pt``, so a checkpoint
    still being written is not listed: only complete files are.
    """
    if not checkpoint_root.is_dir():
        return {}
    newest = {}
    for run_dir in sorted(p for p in checkpoint_root.iterdir() if p.is_dir()):
        files = model_files(run_dir)
        if files:
            newest[run_dir.name] = files[-1].name
    return newest


def read_cursor(cursor: str | None) -> dict[str, str]:
    """The sensor's cursor: run name -> the newest checkpoint already requested (JSON)."""
    return json.loads(cursor) if cursor else {}


@dg.sensor(
    job=checkpoint_validation_job,
    minimum_interval_seconds=_INTERVAL_S,
    default_status=_STATUS,
    description="A validation run (package + isolated validation) for every new training checkpoint.",
)
def checkpoint_validation_sensor(context: dg.SensorEvaluationContext, daf: DAFResource):
    """One ``checkpoint_validation_job`` run per new checkpoint: run key ``<run>:<model file>``, the
    run's partition (added when the run is new). The cursor remembers each run's newest checkpoint
    requested, so a restarted daemon re-requests nothing, and a run whose checkpoint is older than
    the cursor's (or the same) is skipped. Only a run's newest checkpoint is requested: several
    written between two ticks are one validation run.
    """
    seen = read_cursor(context.cursor)
    newest = newest_checkpoints(daf.checkpoint_dir())
    new = {
        run: name
        for run, name in newest.items()
        if run not in seen or model_epoch(name) > model_epoch(seen[run])
    }
    if not new:
        return dg.SkipReason(
            f"no new checkpoint in {len(newest)} training run(s) under {daf.checkpoint_dir()}"
        )
    known = set(context.instance.get_dynamic_partitions(TRAINING_RUNS.name))
    added = [run for run in new if run not in known]
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key=f"{run}:{name}", partition_key=run, tags={CHECKPOINT_TAG: name})
            for run, name in new.items()
        ],
        dynamic_partitions_requests=[TRAINING_RUNS.build_add_request(added)] if added else [],
        cursor=json.dumps({**seen, **new}, sort_keys=True),
    )


def read_storage_cursor(cursor: str | None) -> int | None:
    """The promotion sensor's cursor: ``{"storage_id": N}``, the last package materialization read."""
    return json.loads(cursor)["storage_id"] if cursor else None


@dg.sensor(
    job=promotion_job,
    minimum_interval_seconds=_INTERVAL_S,
    default_status=_STATUS,
    description="A promotion run (benchmark against the deployed version, deploy if better) for every "
    "new checkpoint_package that passed validation.",
)
def promotion_sensor(context: dg.SensorEvaluationContext):
    """One ``promotion_job`` run per new validated package: run key ``promote:<training run>:<sha256>``,
    the training run's partition, the package's bundle as the run's ``bundle``.

    The cursor is the event storage id of the last ``checkpoint_package`` materialization read, so a
    restart reads nothing twice; packages that failed validation are passed over (the cursor still
    moves past them). Several validated packages of one training run in one tick are one run, for the
    newest: each promotion compares against what is served when it runs, and the older one is stale.
    The run key also makes the same bundle of the same run one promotion even when re-packaged.
    """
    after = read_storage_cursor(context.cursor)
    records = package_records(context.instance, after_storage_id=after)
    if not records:
        return dg.SkipReason(f"no checkpoint_package materialization after storage id {after}")
    cursor = json.dumps({"storage_id": records[-1].storage_id})
    newest = {record.training_run: record for record in records if record.validation_passed}
    unvalidated = [f"{r.training_run} {r.version}" for r in records if not r.validation_passed]
    if not newest:
        return dg.SensorResult(
            skip_reason=dg.SkipReason(
                f"{len(records)} new package(s), none passed validation: {', '.join(unvalidated)}"
            ),
            cursor=cursor,
        )
    if unvalidated:
        context.log.info(f"passed over (failed validation): {', '.join(unvalidated)}")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"promote:{record.training_run}:{record.sha256}",
                partition_key=record.training_run,
                run_config={"ops": {"policy_promotion": {"config": {"bundle": record.bundle}}}},
                tags={PACKAGE_TAG: str(record.storage_id)},
            )
            for record in sorted(newest.values(), key=lambda r: r.storage_id)
        ],
        cursor=cursor,
    )


def activation_event_id(history: list[dict], version: str) -> int:
    """The id of the history event that made ``version`` the served one: the last activation or rollback.

    The incident's identity: the same version activated again later (after a rollback and a fresh
    promotion) is a new incident with a new id.
    """
    for event in reversed(history):
        if event["action"] in ("activate", "rollback"):
            if event["version"] != version:
                raise RuntimeError(
                    f"history: the last activation is of {event['version']!r}, but the server serves "
                    f"{version!r} (it changed between two requests; the next tick reads it again)"
                )
            return int(event["event_id"])
    raise RuntimeError(f"history: no activation of the served version {version!r}")


def rolled_back_from(history: list[dict]) -> set[str]:
    """Versions the server was rolled back away from (each rollback event's previous version)."""
    return {e["previous_version"] for e in history if e["action"] == "rollback" and e["previous_version"]}


def read_incidents(cursor: str | None) -> list[str]:
    """The health sensor's cursor: ``{"incidents": [...]}``, the incidents a rollback was requested for."""
    return json.loads(cursor)["incidents"] if cursor else []


@dg.sensor(
    job=rollback_job,
    minimum_interval_seconds=_INTERVAL_S,
    default_status=_STATUS,
    description="Watch the served policy's health (daf_monitor_deployment); degraded -> one rollback "
    "run per incident.",
)
def deployment_health_sensor(context: dg.SensorEvaluationContext, policy_server: PolicyServerResource):
    """Judge the resource's policy by the resource's health rules; when degraded, request one
    ``rollback_job`` run to the previous version per incident.

    An incident is ``<policy>:<served version>:<id of the history event that activated it>``; the run
    key is ``rollback:<incident>`` and the cursor (JSON ``{"incidents": [...]}``, the newest
    :data:`MAX_REMEMBERED_INCIDENTS`) lists those already requested, so repeated degraded ticks of
    one incident request nothing more. A server that cannot be read raises: the tick shows the error
    (no answer is not "healthy"). Healthy or insufficient data is a skip naming the status and reasons.
    No rollback is requested to a version the server was already rolled back away from (the two
    would trade places forever) or when there is no previous version: the tick says why, as it does
    for a policy the server does not hold yet (nothing has been deployed).
    """
    from daf_core.deployment import daf_monitor_deployment  # noqa: PLC0415 - httpx, numpy

    policy = policy_server.policy_name()
    endpoint = policy_server.server_url()
    with policy_server.client() as client:
        served = client.health()["policies"]
    if policy not in served:
        # The fresh state before the first promotion (its decision deployed_first), not an error.
        return dg.SkipReason(f"{policy} is not on the server at {endpoint} (served: {sorted(served)})")
    verdict = daf_monitor_deployment(
        policy, endpoint, policy_server.auth_token(), config=policy_server.health_rules()
    )
    status, active, previous = verdict["status"], verdict["active_version"], verdict["previous_version"]
    summary = f"{policy} {active} at {endpoint}: {status} ({'; '.join(verdict['reasons']) or 'no reasons'})"
    if status != "degraded":
        return dg.SkipReason(summary)
    with policy_server.client() as client:
        history = client.history(policy)
    incident = f"{policy}:{active}:{activation_event_id(history, active)}"
    handled = read_incidents(context.cursor)
    if incident in handled:
        return dg.SkipReason(f"{summary}; rollback already requested for incident {incident}")
    if previous is None:
        return dg.SkipReason(f"{summary}; no previous version to roll back to")
    if previous in rolled_back_from(history):
        return dg.SkipReason(
            f"{summary}; not rolling back to {previous}: it was itself rolled back from (needs a person)"
        )
    context.log.warning(f"{summary}: requesting a rollback to {previous}")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"rollback:{incident}",
                run_config=rollback_run_config(
                    policy, previous, active, incident, "degraded: " + "; ".join(verdict["reasons"])
                ),
                tags={INCIDENT_TAG: incident},
            )
        ],
        cursor=json.dumps({"incidents": [*handled, incident][-MAX_REMEMBERED_INCIDENTS:]}),
    )


def rollback_run_config(policy: str, to_version: str, from_version: str, incident: str, reason: str) -> dict:
    """``rollback_job``'s run config: from ``from_version`` (only while it is served) to ``to_version``."""
    return {
        "ops": {
            "rollback_deployment": {
                "config": {
                    "policy_name": policy,
                    "to_version": to_version,
                    "from_version": from_version,
                    "reason": reason,
                    "incident": incident,
                }
            }
        }
    }


@dg.run_failure_sensor(
    monitored_jobs=[promotion_job],
    request_job=rollback_job,
    minimum_interval_seconds=_INTERVAL_S,
    default_status=_STATUS,
    description="A promotion run that failed after activating its candidate -> roll back to the "
    "version it replaced.",
)
def promotion_failure_sensor(context: dg.RunFailureSensorContext):
    """A failed ``promotion_job`` run tagged ``daf/deployed_version`` (it activated its candidate, then
    failed, e.g. its smoke test) -> one ``rollback_job`` run back to its ``daf/previous_version``, run
    key ``rollback-failed-run:<run id>``, only while the candidate is still the one served. A run that
    failed before activating anything changed nothing on the server: a skip saying so. Dagster keeps
    this sensor's cursor (the last run-failure event it saw).
    """
    run = context.dagster_run
    deployed = run.tags.get(DEPLOYED_VERSION_TAG)
    if deployed is None:
        return dg.SkipReason(
            f"promotion run {run.run_id} failed before activating a version: nothing to undo"
        )
    previous = run.tags.get(PREVIOUS_VERSION_TAG)
    if previous is None:
        return dg.SkipReason(
            f"promotion run {run.run_id} deployed {deployed}, the policy's first version: "
            "no earlier version to roll back to"
        )
    incident = f"failed-run:{run.run_id}"
    return dg.RunRequest(
        run_key=f"rollback-failed-run:{run.run_id}",
        run_config=rollback_run_config(
            run.tags[POLICY_TAG], previous, deployed, incident, f"promotion run {run.run_id} failed"
        ),
        tags={INCIDENT_TAG: incident},
    )


SENSORS = [
    checkpoint_validation_sensor,
    promotion_sensor,
    deployment_health_sensor,
    promotion_failure_sensor,
]
