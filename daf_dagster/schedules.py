"""Benchmark schedules: the deployed policy and the newest validated candidate sit a benchmark suite on a
timetable, each run a partition (the suite) of ``benchmark_results``.

- ``nightly_benchmark_schedule``: the ``standard`` suite, ``$DAF_NIGHTLY_BENCHMARK_CRON`` (default
  ``0 2 * * *``, 02:00).
- ``quick_benchmark_schedule``: the ``quick`` suite, ``$DAF_QUICK_BENCHMARK_CRON`` (default
  ``0 */4 * * *``, every 4 hours).

Both in ``$DAF_SCHEDULE_TIMEZONE`` (default UTC), running by default when ``$DAF_AUTOMATION`` is ``on``
(stopped when it is ``off`` or unset: turn them on in the UI). A tick only reads the instance's event log
(the newest validated ``checkpoint_package``): nothing is downloaded, trained or evaluated in it.

Each tick asks for one ``benchmark_job`` run, run key ``<suite>:<scheduled time, ISO 8601>`` (Dagster
launches one run per key, so a repeated tick starts nothing new), with the policies
``deployed:<policy>`` (the resource's served policy; left out of that run when nothing is deployed yet),
the newest validated package's bundle (when there is one) and the baselines ``random`` and ``noop``.
"""

import os
import zoneinfo
from datetime import datetime

import dagster as dg
from dagster._utils.schedules import is_valid_cron_string

from daf_dagster.assets.benchmarks import DEPLOYED_PREFIX, benchmark_results
from daf_dagster.automation import automation_on
from daf_dagster.jobs import benchmark_job
from daf_dagster.packages import newest_validated_package
from daf_dagster.resources import PolicyServerResource

TIMEZONE_ENV = "DAF_SCHEDULE_TIMEZONE"
NIGHTLY_CRON_ENV = "DAF_NIGHTLY_BENCHMARK_CRON"
QUICK_CRON_ENV = "DAF_QUICK_BENCHMARK_CRON"
DEFAULT_TIMEZONE = "UTC"
DEFAULT_NIGHTLY_CRON = "0 2 * * *"
DEFAULT_QUICK_CRON = "0 */4 * * *"
BASELINES = ("random", "noop")
#: Tags of a scheduled benchmark run: the candidate's bundle and training run, when there is one.
CANDIDATE_TAG = "daf/candidate_bundle"
CANDIDATE_RUN_TAG = "daf/candidate_training_run"


def automation_status() -> dg.DefaultScheduleStatus:
    """RUNNING when ``$DAF_AUTOMATION`` is ``on`` (``daf_dagster.automation``), else STOPPED."""
    return dg.DefaultScheduleStatus.RUNNING if automation_on() else dg.DefaultScheduleStatus.STOPPED


def schedule_timezone() -> str:
    """``$DAF_SCHEDULE_TIMEZONE`` (an IANA name), else UTC; an unknown zone is refused."""
    name = os.environ.get(TIMEZONE_ENV) or DEFAULT_TIMEZONE
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{TIMEZONE_ENV}: {name!r} is not an IANA time zone (e.g. UTC, Europe/Paris)"
        ) from None
    return name


def cron_from_env(variable: str, default: str) -> str:
    """The cron string in ``variable``, else ``default``; one Dagster cannot schedule is refused."""
    cron = os.environ.get(variable) or default
    if not is_valid_cron_string(cron):
        raise ValueError(f"{variable}: {cron!r} is not a cron schedule (e.g. {default!r})")
    return cron


def benchmark_request(
    instance: dg.DagsterInstance, suite: str, scheduled: datetime | None, policy_name: str
) -> dg.RunRequest:
    """The run one tick asks for: ``benchmark_job`` on partition ``suite`` for the deployed policy, the
    newest validated candidate (if any) and the baselines, keyed by the scheduled time."""
    if scheduled is None:
        raise ValueError(f"benchmark schedule of {suite!r}: the tick has no scheduled execution time")
    candidate = newest_validated_package(instance)
    policies = [f"{DEPLOYED_PREFIX}{policy_name}"]
    tags = {}
    if candidate is not None:
        policies.append(candidate.bundle)
        tags = {CANDIDATE_TAG: candidate.bundle, CANDIDATE_RUN_TAG: candidate.training_run}
    policies.extend(BASELINES)
    return dg.RunRequest(
        run_key=f"{suite}:{scheduled.isoformat()}",
        partition_key=suite,
        run_config={
            "ops": {benchmark_results.op.name: {"config": {"policies": policies, "if_not_deployed": "skip"}}}
        },
        tags=tags,
    )


def benchmark_schedule(name: str, suite: str, cron: str, description: str) -> dg.ScheduleDefinition:
    """A schedule of ``benchmark_job`` on ``suite`` (see the module docstring)."""

    @dg.schedule(
        name=name,
        job=benchmark_job,
        cron_schedule=cron,
        execution_timezone=schedule_timezone(),
        default_status=automation_status(),
        description=description,
    )
    def _schedule(context: dg.ScheduleEvaluationContext, policy_server: PolicyServerResource):
        return benchmark_request(
            context.instance, suite, context.scheduled_execution_time, policy_server.policy_name()
        )

    return _schedule


nightly_benchmark_schedule = benchmark_schedule(
    "nightly_benchmark_schedule",
    "standard",
    cron_from_env(NIGHTLY_CRON_ENV, DEFAULT_NIGHTLY_CRON),
    "The deployed policy, the newest validated candidate and the baselines on the standard suite.",
)
quick_benchmark_schedule = benchmark_schedule(
    "quick_benchmark_schedule",
    "quick",
    cron_from_env(QUICK_CRON_ENV, DEFAULT_QUICK_CRON),
    "The deployed policy, the newest validated candidate and the baselines on the quick suite.",
)

SCHEDULES = [nightly_benchmark_schedule, quick_benchmark_schedule]
