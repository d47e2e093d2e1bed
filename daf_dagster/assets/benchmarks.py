"""``benchmark_results``: the config's policies on a benchmark suite, one static partition per suite.

A suite (:data:`daf_core.comparison.BENCHMARK_SUITES`) is a fixed, versioned exam: missions, episode
count and seed. Each partition runs :func:`~daf_core.comparison.daf_benchmark_suite` and keeps its report
under ``<output root>/benchmarks/<suite>/`` (``report.json`` with the records, ``report.html``,
``leaderboard.md``, ``figures/``); the per-episode records are the asset's output, stored by the Parquet
IO manager. The suite's fingerprint is in the metadata: two materializations answered the same exam
only when their fingerprints match (an ``episodes_per_mission`` override changes it).

A policy ref ``deployed:<policy>`` is the version the policy server (``PolicyServerResource``) serves
now as ``<policy>``: its bundle is downloaded (sha256 checked) into the partition's folder and sits the
exam under the name ``deployed:<policy>``, so results stay comparable across versions; the version is in
the metadata. The benchmark schedules (``daf_dagster.schedules``) benchmark it beside the newest
validated candidate every night and every few hours.
"""

from pathlib import Path
from typing import Literal

import dagster as dg
from pydantic import Field

from daf_dagster.assets.comparison import finite_intervals_check, report_metadata, write_report_files
from daf_dagster.metadata import provenance
from daf_dagster.partitions import BENCHMARK_SUITES
from daf_dagster.resources import DAFResource, PolicyServerResource
from daf_dagster.stopping import StoppingConfig

#: Bumped whenever this asset's logic changes (Dagster then marks its materializations stale).
CODE_VERSION = "2"
DEPLOYED_PREFIX = "deployed:"


class BenchmarkConfig(StoppingConfig):
    """Which policies sit the suite's exam, and an optional change to its episode count."""

    policies: list[str] = Field(
        default=["random", "noop"],
        description="Policy refs: shorthands (random, noop, lstm), class paths, checkpoint directories, "
        "bundles, training_run:<name> for a training run under the checkpoint root, or deployed:<policy> "
        "for the version the policy server serves now as <policy>.",
    )
    if_not_deployed: Literal["fail", "skip"] = Field(
        default="fail",
        description="A deployed:<policy> the server serves no version of: fail the run, or leave it out "
        "(named in the metadata's not_deployed; the schedules skip, as nothing may be deployed yet).",
    )
    episodes_per_mission: int | None = Field(
        default=None,
        ge=1,
        description="None: the suite's own count. Another count changes the suite's fingerprint, so the "
        "result is comparable only with runs of the same override.",
    )
    max_parallel_jobs: int = Field(default=1, ge=1, description="Worker processes for the episodes.")
    significance_level: float = Field(
        default=0.05, gt=0.0, lt=1.0, description="Holm-Bonferroni's level over all comparisons."
    )
    aggregate: Literal["iqm", "mean"] = Field(
        default="iqm", description="What the leaderboard ranks by across missions."
    )


@dg.asset(
    partitions_def=BENCHMARK_SUITES,
    io_manager_key="parquet_io_manager",
    group_name="benchmarks",
    code_version=CODE_VERSION,
    kinds={"python", "parquet"},
)
def benchmark_results(
    context: dg.AssetExecutionContext,
    config: BenchmarkConfig,
    daf: DAFResource,
    policy_server: PolicyServerResource,
):
    """Per-episode records of the policies on the partition's suite, with its report and leaderboard.

    Partitioned by suite, not by mission: a job holds one partitions definition, and a suite is the
    unit whose result means something (its fingerprint covers all its missions). The suite's episodes
    still run in parallel, over ``max_parallel_jobs`` worker processes.
    """
    from daf_core.comparison import daf_benchmark_suite  # noqa: PLC0415 - scipy, mettagrid

    suite = context.partition_key
    output_dir = daf.output_path("benchmarks", suite)
    deployed: dict[str, dict[str, str]] = {}
    not_deployed: list[str] = []
    policies = []
    for ref in config.policies:
        if not ref.startswith(DEPLOYED_PREFIX):
            policies.append(daf.resolve_policy(ref))
            continue
        found = fetch_deployed(ref, policy_server, output_dir / "deployed")
        if found is None:
            message = f"policy {ref!r}: {policy_server.server_url()} serves no version of it"
            if config.if_not_deployed == "fail":
                raise dg.Failure(f"{message} (set if_not_deployed: skip to benchmark the others)")
            context.log.warning(f"{message}; left out of this benchmark (if_not_deployed: skip)")
            not_deployed.append(ref)
            continue
        version, bundle, policy = found
        deployed[ref] = {"version": version, "bundle": str(bundle)}
        policies.append(policy)
    if not policies:
        raise dg.Failure(f"no policy to benchmark: {', '.join(not_deployed)} not deployed")
    report = daf_benchmark_suite(
        policies,
        suite,
        episodes_per_mission=config.episodes_per_mission,
        max_parallel_jobs=config.max_parallel_jobs,
        significance_level=config.significance_level,
        output_dir=output_dir,
        show_progress=False,
        **config.stopping(),
    )
    files = write_report_files(report, output_dir, config.aggregate)
    info = report.metadata["suite"]
    context.log.info(
        f"benchmark {suite} v{info['version']} ({info['fingerprint']}):\n{files['leaderboard_text']}"
    )
    return dg.Output(
        report.records,
        metadata={
            **report_metadata(report, files),
            "suite": suite,
            "suite_version": info["version"],
            "suite_fingerprint": info["fingerprint"],
            "suite_missions": dg.MetadataValue.json(info["missions"]),
            "episodes_per_mission": info["episodes_per_mission"],
            "episodes_overridden": info["episodes_overridden"],
            "deployed": dg.MetadataValue.json(deployed),
            "not_deployed": dg.MetadataValue.json(not_deployed),
            **provenance(config),
        },
    )


def fetch_deployed(ref: str, policy_server: PolicyServerResource, dest_dir: Path):
    """``deployed:<policy>`` -> (active version, its downloaded bundle, the bundle as a policy named
    ``ref``), or None when the server serves no version of ``<policy>``. Any server failure raises
    (``PolicyServerError``): a benchmark never quietly drops the deployed policy because of an outage."""
    from daf_core.deployment import fetch_active_bundle  # noqa: PLC0415 - httpx
    from daf_core.evaluation import resolve_policy  # noqa: PLC0415 - cogames

    name = ref.removeprefix(DEPLOYED_PREFIX)
    if not name:
        raise ValueError(f"policy {ref!r}: name the served policy, deployed:<policy>")
    found = fetch_active_bundle(policy_server.server_url(), policy_server.auth_token(), name, dest_dir)
    if found is None:
        return None
    version, bundle = found
    return version, bundle, resolve_policy(str(bundle), ref)


ASSETS = [benchmark_results]
ASSET_CHECKS = [finite_intervals_check(benchmark_results, name="benchmark_finite_intervals")]
