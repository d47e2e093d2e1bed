"""``policy_promotion``: the promotion gate. A validated package is deployed only on evidence.

One partition per training run (``TRAINING_RUNS``, like ``checkpoint_package``). A materialization takes
a bundle (the config's, else the partition's newest package that passed validation), benchmarks it
against the version the policy server serves now on the same suite and the same seeds, and deploys it
only when :func:`daf_core.deployment.daf_promote_policy` says so: the one-sided lower confidence bound
of the paired improvement is above zero and no mission shows a Holm-significant regression. A refused
candidate is a successful materialization whose metadata says ``decision: refused`` and why: the gate
worked, nothing failed.

Once a version is activated the run is tagged ``daf/deployed_version`` and ``daf/previous_version``
(:data:`DEPLOYED_VERSION_TAG`, :data:`PREVIOUS_VERSION_TAG`), then ``smoke_episodes`` episodes are played
through the server with the deployed version choosing every action
(:func:`daf_core.deployment.remote_policy.daf_evaluate_deployment`). A smoke test that fails fails the
run, and the promotion failure sensor (``daf_dagster.sensors``) reads those tags to roll back.

Each run uploads its candidate as ``<bundle version>+run-<run id>`` (semantic-version build metadata):
two promotions of bundles with the same manifest version never collide on the server.
"""

import json
import re
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg
from pydantic import Field

from daf_dagster.assets.deployment import checkpoint_package
from daf_dagster.metadata import provenance
from daf_dagster.packages import newest_validated_package
from daf_dagster.partitions import TRAINING_RUNS
from daf_dagster.resources import DAFResource, PolicyServerResource, absolute
from daf_dagster.stopping import StoppingConfig

if TYPE_CHECKING:
    from daf_core.deployment import PromotionResult

CODE_VERSION = "1"
#: Run tags set once a promotion run has activated a version (read by the promotion failure sensor).
DEPLOYED_VERSION_TAG = "daf/deployed_version"
PREVIOUS_VERSION_TAG = "daf/previous_version"
POLICY_TAG = "daf/policy"
#: Decisions after which the run's candidate is the served version.
ACTIVATING_DECISIONS = ("deployed_first", "promoted")
#: What a remote player checks besides the agent count (``RemotePolicy._check_interface``).
_INTERFACE_KEYS = ("action_names", "vibe_action_names", "observation_shape")
_BUILD_UNSAFE = re.compile(r"[^0-9A-Za-z-]")


class PromotionConfig(StoppingConfig):
    """The candidate, the exam it must pass against the deployed version, and the post-deploy smoke test."""

    bundle: str | None = Field(
        default=None,
        description="The candidate bundle (a zip; a relative path is from the repository root); null: the "
        "partition's newest package that passed validation (checkpoint_package).",
    )
    benchmark: Literal["quick", "standard"] = Field(
        default="quick", description="The benchmark suite both versions play, on the same seeds."
    )
    episodes_per_mission: int | None = Field(
        default=None, ge=2, description="null: the suite's own count. At least 2 (a paired interval)."
    )
    significance_level: float = Field(
        default=0.05,
        gt=0.0,
        lt=1.0,
        description="Alpha of the one-sided lower bound of the paired improvement and of Holm's "
        "per-mission regression tests.",
    )
    max_parallel_jobs: int = Field(default=1, ge=1, description="Worker processes for the episodes.")
    smoke_episodes: int = Field(
        default=1,
        ge=0,
        description="After a deployment: episodes per smoke mission played through the server by the "
        "deployed version; an error fails the run (and the failure sensor rolls back). 0: none.",
    )
    smoke_missions: list[str] = Field(
        default=[],
        description="Missions of the smoke test; empty: the suite's missions the bundle's recorded "
        "environment interface can play (same actions and observations, enough agents).",
    )


def candidate_version(bundle_version: str, run_id: str) -> str:
    """``bundle_version`` with this run as semantic-version build metadata: ``1.2.3+run-<run id>``.

    A bundle version that already carries build metadata keeps it: ``1.2.3+abc`` -> ``1.2.3+abc.run-<id>``.
    Characters build metadata cannot hold become ``-``.
    """
    base, _, build = bundle_version.partition("+")
    run = "run-" + _BUILD_UNSAFE.sub("-", run_id)
    return f"{base}+{build}.{run}" if build else f"{base}+{run}"


@dg.asset(
    partitions_def=TRAINING_RUNS,
    deps=[checkpoint_package],
    group_name="deployment",
    kinds={"python"},
    code_version=CODE_VERSION,
    # One promotion at a time (dagster.yaml's pools default_limit of 1 covers this pool): each compares
    # against the version served when it starts, so two at once could both beat an incumbent that the
    # other one replaced.
    pool="promotion",
)
def policy_promotion(
    context: dg.AssetExecutionContext,
    config: PromotionConfig,
    daf: DAFResource,
    policy_server: PolicyServerResource,
) -> dg.MaterializeResult:
    """Benchmark the candidate against the deployed version; deploy it only if it is better."""
    from daf_core.deployment import daf_promote_policy, read_manifest  # noqa: PLC0415 - httpx

    bundle = _candidate_bundle(context, config)
    # Chosen before anything is deployed: a smoke test that cannot run must not follow a deployment.
    smoke_missions = _smoke_missions(bundle, config) if config.smoke_episodes else []
    version = candidate_version(read_manifest(bundle).version, context.run_id)
    policy = policy_server.policy_name()
    endpoint = policy_server.server_url()
    result = daf_promote_policy(
        bundle,
        policy,
        endpoint,
        policy_server.auth_token(),
        benchmark=config.benchmark,
        episodes_per_mission=config.episodes_per_mission,
        significance_level=config.significance_level,
        max_parallel_jobs=config.max_parallel_jobs,
        **config.stopping(),
        output_dir=daf.output_path("promotions", context.partition_key, context.run_id),
        version=version,
        reason=f"dagster run {context.run_id}: promotion of {context.partition_key} ({bundle.name})",
    )
    (context.log.info if result.promoted or result.decision == "already_active" else context.log.warning)(
        f"{policy} at {endpoint}: {result.decision}; " + "; ".join(result.reasons)
    )
    if result.decision in ACTIVATING_DECISIONS:
        tags = {POLICY_TAG: policy, DEPLOYED_VERSION_TAG: result.deployed_version}
        if result.previous_version:
            tags[PREVIOUS_VERSION_TAG] = result.previous_version
        context.instance.add_run_tags(context.run_id, tags)
    smoke = (
        _smoke_test(context, config, policy_server, result.deployed_version, smoke_missions)
        if result.decision in ACTIVATING_DECISIONS and config.smoke_episodes
        else None
    )
    return dg.MaterializeResult(metadata={**_metadata(result, bundle, config), "smoke_test": smoke or "none"})


def _candidate_bundle(context: dg.AssetExecutionContext, config: PromotionConfig) -> Path:
    """The configured bundle, else the partition's newest validated package; refused when there is none."""
    if config.bundle:
        bundle = absolute(config.bundle)  # a relative path is from the repository, never the cwd
        if not bundle.is_file():
            raise FileNotFoundError(f"bundle: no file at {bundle}")
        return bundle
    record = newest_validated_package(context.instance, training_run=context.partition_key)
    if record is None:
        raise ValueError(
            f"bundle: none given and training run {context.partition_key!r} has no checkpoint_package "
            "that passed validation (materialize checkpoint_package for it first)"
        )
    context.log.info(f"candidate: {record.bundle} (checkpoint_package of run {record.run_id})")
    return Path(record.bundle)


def _smoke_missions(bundle: Path, config: PromotionConfig) -> list[str]:
    """The configured smoke missions, else the suite's missions the bundle can play through the server.

    The server builds the policy for the interface the bundle recorded, and a remote player refuses a
    mission with other actions or observations, or more agents than that (``RemotePolicy``); the same
    test picks the suite's missions here. None fitting is an error naming the interface.
    """
    if config.smoke_missions:
        return list(config.smoke_missions)
    from mettagrid.policy.policy_env_interface import PolicyEnvInterface  # noqa: PLC0415

    from daf_core.comparison import get_benchmark_suite  # noqa: PLC0415 - scipy
    from daf_core.deployment.manifest import POLICY_SPEC_FILENAME  # noqa: PLC0415
    from daf_core.missions import load_mission  # noqa: PLC0415 - mettagrid

    with zipfile.ZipFile(bundle) as archive:
        recorded = json.loads(archive.read(POLICY_SPEC_FILENAME))["policy_env_interface"]
    suite = list(get_benchmark_suite(config.benchmark).missions)
    playable = []
    for mission in suite:
        interface = PolicyEnvInterface.from_mg_cfg(load_mission(mission)).model_dump(mode="json")
        if all(interface[key] == recorded.get(key) for key in _INTERFACE_KEYS) and (
            interface["num_agents"] <= recorded.get("num_agents", 0)
        ):
            playable.append(mission)
    if not playable:
        raise ValueError(
            f"smoke_missions: none given, and no mission of suite {config.benchmark!r} ({suite}) fits the "
            f"interface {bundle.name} records ({recorded.get('num_agents')} agents, actions "
            f"{recorded.get('action_names')}); name the missions it plays"
        )
    return playable


def _smoke_test(
    context: dg.AssetExecutionContext,
    config: PromotionConfig,
    policy_server: PolicyServerResource,
    deployed_version: str,
    missions: list[str],
) -> dg.MetadataValue:
    """Play the deployed version through the server; any error, or another version answering, raises.
    What was played, for the metadata."""
    from daf_core.deployment.remote_policy import daf_evaluate_deployment  # noqa: PLC0415 - mettagrid

    records = daf_evaluate_deployment(
        policy_server.policy_name(),
        policy_server.server_url(),
        missions,
        episodes=config.smoke_episodes,
        auth_token=policy_server.auth_token(),
    )
    served = sorted(set(records["version"]))
    if served != [deployed_version]:
        raise RuntimeError(
            f"smoke test: the server answered with version(s) {served}, not the deployed {deployed_version!r}"
        )
    context.log.info(
        f"smoke test: {len(records)} episode(s) of {deployed_version} on {missions} through the server, "
        f"mean reward {records['reward'].mean():.3f}"
    )
    return dg.MetadataValue.json(
        {
            "version": deployed_version,
            "missions": missions,
            "episodes": len(records),
            "mean_reward": float(records["reward"].mean()),
            "action_timeouts": int(records["action_timeouts"].sum()),
        }
    )


def _metadata(result: "PromotionResult", bundle: Path, config: PromotionConfig) -> dict[str, Any]:
    """What the gate decided and on what evidence: the suite's paired improvement with its lower bound,
    and a row per mission (the paired difference, its interval, Holm's regression test)."""
    comparison = result.comparison or {}
    metadata: dict[str, Any] = {
        "decision": result.decision,
        "promoted": result.promoted,
        "reasons": dg.MetadataValue.json(list(result.reasons)),
        "bundle": dg.MetadataValue.path(str(bundle)),
        "candidate_sha256": result.candidate_sha256,
        "candidate_version": result.candidate_version,
        "incumbent_version": result.incumbent_version or "none",
        "deployed_version": result.deployed_version or "none",
        "previous_version": result.previous_version or "none",
    }
    if comparison:
        rows = [
            f"| {m['mission']} | {m['n']} | {m['candidate_mean']:.4g} | {m['incumbent_mean']:.4g} | "
            f"{m['mean_diff']:+.4g} | [{m['ci_low']:+.4g}, {m['ci_high']:+.4g}] | "
            f"{m['p_regression_adjusted']:.3g} | {'yes' if m['regression'] else 'no'} |"
            for m in comparison["missions"]
        ]
        metadata |= {
            "mean_improvement": float(comparison["mean_improvement"]),
            # None under stop_when="decided" while the repeated interval is unbounded.
            "lower_bound": dg.MetadataValue.float(comparison["lower_bound"])
            if comparison["lower_bound"] is not None
            else dg.MetadataValue.text("unbounded"),
            "confidence": 1 - float(comparison["significance_level"]),
            "p_value": float(comparison["p_value"]),
            "n_seeds": int(comparison["n_seeds"]),
            "missions": dg.MetadataValue.md(
                "| mission | n | candidate | incumbent | mean diff | CI | Holm p | regression |\n"
                "|---|---|---|---|---|---|---|---|\n" + "\n".join(rows)
            ),
            "comparison": dg.MetadataValue.json(comparison),
        }
    if result.report_dir is not None:
        metadata["report_dir"] = dg.MetadataValue.path(str(result.report_dir))
    return metadata | provenance(config)


ASSETS = [policy_promotion]
ASSET_CHECKS: list[dg.AssetChecksDefinition] = []
