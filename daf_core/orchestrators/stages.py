"""The stages of a pipeline: each a few lines over one daf_core API, fed by what earlier stages made.

A stage takes a :class:`StageContext` (the pipeline's config, its DAFConfig, the outputs of the stages
finished so far) and returns a :class:`StageOutput`: the object its API returned, a JSON-ready summary
and a one-line headline. ``train`` and ``sweep`` also hand on a :class:`PolicyRef`, the checkpoint that
``evaluate``, ``compare``, ``benchmark`` and ``package`` work on. A stage whose work ran but did not
succeed (unhealthy environment, a package or validation that failed) raises :class:`StageFailed`, which
carries its output; any other exception fails the stage with its message.

Heavy packages (torch, mettagrid, the trainer) are imported inside the stages that use them.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daf_core.config import DAFComparisonConfig, DAFConfig, DAFPipelineConfig, DAFTrainingConfig
from daf_core.config.pipeline import (
    BenchmarkSettings,
    EnvironmentCheckSettings,
    EvaluationSettings,
    policy_source,
)
from daf_core.orchestrators.from_config import daf_compare_from_config

logger = logging.getLogger(__name__)

#: The version a package gets when the pipeline has no deployment section (daf_package_policy's default).
DEFAULT_PACKAGE_VERSION = "0.1.0"
#: Where the deploy stage reads its admin token (the same variable the Dagster resource reads).
TOKEN_ENV = "DAF_POLICY_SERVER_TOKEN"

#: Training, and sweep trials run in this process, seed and draw from torch's (and NumPy's) global
#: generators; two of them at once in one process would make each other's runs irreproducible, so
#: overlapping stages take turns here. Episodes of overlapping stages run in worker processes instead.
_GLOBAL_GENERATORS = threading.Lock()


@dataclass(frozen=True)
class PolicyRef:
    """A policy a stage made: its name in reports, its checkpoint directory, class and missions."""

    name: str
    path: str
    class_path: str
    missions: tuple[str, ...]


@dataclass(frozen=True)
class StageOutput:
    value: Any
    summary: dict[str, Any]
    headline: str
    policy: PolicyRef | None = None


class StageFailed(RuntimeError):
    """The stage's work ran and did not succeed; ``output`` is what it produced (e.g. the report)."""

    def __init__(self, message: str, output: StageOutput) -> None:
        super().__init__(message)
        self.output = output


@dataclass(frozen=True)
class StageContext:
    config: DAFPipelineConfig
    daf_config: DAFConfig
    #: The outputs of the stages finished before this one started.
    outputs: Mapping[str, StageOutput]
    stage: str
    #: Stages overlap: episodes then run in worker processes (see :data:`_GLOBAL_GENERATORS`).
    overlapping: bool

    @property
    def policy(self) -> PolicyRef | None:
        """The policy of the train or sweep stage listed closest before this one, if any."""
        source = policy_source(self.config.stages, self.stage)
        return self.outputs[source].policy if source is not None else None

    @property
    def episode_workers(self) -> int:
        """DAFConfig's ``max_parallel_jobs``; at least 2 when stages overlap, so episodes run in worker
        processes, where seeding an episode cannot disturb another stage's."""
        jobs = self.daf_config.max_parallel_jobs
        return max(jobs, 2) if self.overlapping else jobs


# --------------------------------------------------------------------------------------------------
# Sections, with their defaults
# --------------------------------------------------------------------------------------------------


def resolve_daf_config(config: DAFPipelineConfig) -> DAFConfig:
    """The pipeline's DAFConfig: inline, read from its file, or the defaults writing in its folder."""
    if isinstance(config.daf_config, DAFConfig):
        return config.daf_config
    if config.daf_config is not None:
        return DAFConfig.from_file(config.daf_config)
    return DAFConfig(output_dir=config.folder)


def training_config(config: DAFPipelineConfig) -> DAFTrainingConfig:
    return config.training or DAFTrainingConfig(checkpoint_dir=config.folder / "checkpoints")


def evaluation_settings(config: DAFPipelineConfig) -> EvaluationSettings:
    return config.evaluation or EvaluationSettings(output_dir=config.folder / "evaluation")


def benchmark_settings(config: DAFPipelineConfig) -> BenchmarkSettings:
    return config.benchmark or BenchmarkSettings(output_dir=config.folder / "benchmarks")


def comparison_config(config: DAFPipelineConfig, policy: PolicyRef | None) -> DAFComparisonConfig:
    """The comparison section, or the default: the pipeline's policy against ``random`` on the
    evaluation's missions (the policy's own by default), episodes and seeds."""
    if config.comparison is not None:
        return config.comparison
    evaluation = evaluation_settings(config)
    missions = evaluation.missions or (list(policy.missions) if policy else [])
    return DAFComparisonConfig(
        name=config.name,
        policies=["random"],
        missions=missions,
        episodes_per_mission=evaluation.episodes,
        seed=evaluation.seed,
        output_dir=config.folder / "comparisons",
    )


def pipeline_missions(config: DAFPipelineConfig) -> list[str]:
    """Every mission the pipeline's stages name (in order, once each): what the environment check builds."""
    from daf_core.comparison import BENCHMARK_SUITES  # noqa: PLC0415 - light, but only needed here

    stages = set(config.stages)
    found: list[str] = []
    if "train" in stages:
        found += training_config(config).missions
    if "sweep" in stages and config.sweep is not None:
        found += config.sweep.missions
    if "evaluate" in stages and config.evaluation is not None and config.evaluation.missions:
        found += config.evaluation.missions
    if "compare" in stages and config.comparison is not None:
        found += config.comparison.missions
    if "benchmark" in stages:
        suite = BENCHMARK_SUITES.get(benchmark_settings(config).suite)
        found += list(suite.missions) if suite is not None else []
    if stages & {"package", "validate", "deploy"} and config.deployment is not None:
        found += config.deployment.validation_missions
    return list(dict.fromkeys(found))


def _short_class_name(class_path: str) -> str:
    return class_path.rsplit(".", 1)[-1]


def _overall_means(report: Any) -> dict[str, float]:
    return {policy: stats["overall"]["mean"] for policy, stats in report.summary_statistics.items()}


def _resolved_policies(policy: PolicyRef | None, others: list[str]) -> list[Any]:
    """The pipeline's policy under its report name, then the others as given."""
    if policy is None:
        return list(others)
    from daf_core.evaluation import resolve_policy  # noqa: PLC0415 - loads mettagrid

    return [resolve_policy(policy.path, policy.name), *others]


# --------------------------------------------------------------------------------------------------
# The stages
# --------------------------------------------------------------------------------------------------


def environment_check(ctx: StageContext) -> StageOutput:
    """Dependencies, CUDA, disk space where checkpoints go, and every mission the pipeline names."""
    from daf_core.environment_checks import daf_check_environment  # noqa: PLC0415

    settings = ctx.config.environment_check or EnvironmentCheckSettings()
    missions = settings.missions or pipeline_missions(ctx.config)
    result = daf_check_environment(
        missions or None,
        check_cuda=settings.check_cuda,
        check_disk=settings.check_disk,
        check_dependencies=settings.check_dependencies,
        checkpoint_dir=training_config(ctx.config).checkpoint_dir,
        min_available_gb=settings.min_available_gb,
        require_cuda=settings.require_cuda,
    )
    output = StageOutput(result, result.to_dict(), result.verdict())
    if not result.is_healthy():
        failed = "; ".join(
            f"{check.name}: {check.error or check.warning or check.info}" for check in result.failed
        )
        raise StageFailed(f"{result.verdict()}: {failed}", output)
    return output


def train(ctx: StageContext) -> StageOutput:
    """Train (or resume) the training section's run; its checkpoint is the policy later stages use."""
    from daf_core.distributed_training import daf_launch_distributed_training  # noqa: PLC0415

    config = training_config(ctx.config)
    with _GLOBAL_GENERATORS:
        result = daf_launch_distributed_training(
            training_config=config, daf_config=ctx.daf_config, show_progress=False
        )
    policy = PolicyRef(
        name=f"trained_{_short_class_name(config.policy_class_path)}",
        path=str(result.run_dir),
        class_path=config.policy_class_path,
        missions=tuple(config.missions),
    )
    rate = result.training_rate()
    summary = {**result.to_dict(), "steps_per_second": rate, "policy": policy.name}
    headline = f"{result.training_steps} agent steps at {rate:.0f} SPS: {result.run_dir}"
    return StageOutput(result, summary, headline, policy)


def sweep(ctx: StageContext) -> StageOutput:
    """Run the sweep section; its best trial's checkpoint is the policy later stages use."""
    from daf_core.sweeps import daf_launch_sweep  # noqa: PLC0415

    config = ctx.config.sweep
    assert config is not None  # the pipeline's config refuses a sweep stage without its section
    with _GLOBAL_GENERATORS:
        result = daf_launch_sweep(config, ctx.daf_config)
    best = result.get_best_trial()
    summary = {"results": str(Path(config.output_dir) / config.name / "results.json"), **result.status()}
    if best is None or best.run_dir is None:
        raise StageFailed(f"sweep {config.name!r}: no trial completed", StageOutput(result, summary, ""))
    policy = PolicyRef(f"{config.name}_best", best.run_dir, config.policy_class_path, tuple(config.missions))
    headline = (
        f"best of {result.finished_trials()} trials: {config.objective_metric} {best.primary_metric:.3f} "
        f"with {best.hyperparameters}"
    )
    return StageOutput(
        result, {**summary, "policy": policy.name, "checkpoint": best.run_dir}, headline, policy
    )


def evaluate(ctx: StageContext) -> StageOutput:
    """Episodes of the pipeline's policy (and the section's policies) on held-out seeds."""
    from daf_core.evaluation import evaluate_policies  # noqa: PLC0415

    settings = evaluation_settings(ctx.config)
    policy = ctx.policy
    missions = settings.missions or (list(policy.missions) if policy else [])
    records = evaluate_policies(
        _resolved_policies(policy, settings.policies),
        missions,
        settings.episodes,
        seed=settings.seed,
        max_parallel_jobs=ctx.episode_workers,
        output_dir=settings.output_dir,
        show_progress=False,
    )
    means = records.groupby(["policy", "mission"], sort=False)["reward"].mean()
    mean_reward: dict[str, dict[str, float]] = {}
    for (name, mission), value in means.items():
        mean_reward.setdefault(str(name), {})[str(mission)] = float(value)
    summary = {"output_dir": str(settings.output_dir), "episodes": len(records), "mean_reward": mean_reward}
    headline = "; ".join(f"{name} on {mission}: {value:.2f}" for (name, mission), value in means.items())
    return StageOutput(records, summary, f"mean episode reward {headline}")


def compare(ctx: StageContext) -> StageOutput:
    """The comparison section (default: against ``random``), with the pipeline's policy in front; its
    leaderboard goes beside the report."""
    from daf_core.visualization import daf_generate_leaderboard  # noqa: PLC0415

    policy = ctx.policy
    config = comparison_config(ctx.config, policy)
    report = daf_compare_from_config(
        config,
        max_parallel_jobs=ctx.episode_workers,
        show_progress=False,
        extra_policies={policy.name: policy.path} if policy else None,
        daf_config=ctx.daf_config,
    )
    folder = Path(config.output_dir) / config.name
    leaderboard = daf_generate_leaderboard(report, folder / "leaderboard.md")
    means = _overall_means(report)
    summary = {
        "report_dir": str(folder),
        "report": str(folder / "report.json") if config.save_raw_results else None,
        "html": str(folder / "report.html") if config.generate_html_report else None,
        "leaderboard_file": str(folder / "leaderboard.md"),
        "leaderboard": leaderboard,
        "mean_reward": means,
    }
    headline = ", ".join(f"{name} {value:.2f}" for name, value in sorted(means.items(), key=lambda x: -x[1]))
    return StageOutput(report, summary, f"mean reward {headline}; {folder}")


def benchmark(ctx: StageContext) -> StageOutput:
    """The benchmark section's suite, on the pipeline's policy and the section's policies."""
    from daf_core.comparison import daf_benchmark_suite  # noqa: PLC0415
    from daf_core.visualization import daf_generate_leaderboard  # noqa: PLC0415

    settings = benchmark_settings(ctx.config)
    folder = Path(settings.output_dir) / settings.suite
    report = daf_benchmark_suite(
        _resolved_policies(ctx.policy, settings.policies),
        settings.suite,
        episodes_per_mission=settings.episodes_per_mission,
        max_parallel_jobs=ctx.episode_workers,
        output_dir=folder,
        show_progress=False,
    )
    leaderboard = daf_generate_leaderboard(report, folder / "leaderboard.md")
    means = _overall_means(report)
    summary = {
        "report_dir": str(folder),
        "suite": report.metadata.get("suite"),
        "leaderboard": leaderboard,
        "mean_reward": means,
    }
    headline = ", ".join(f"{name} {value:.2f}" for name, value in sorted(means.items(), key=lambda x: -x[1]))
    return StageOutput(report, summary, f"{settings.suite}: mean reward {headline}")


def package(ctx: StageContext) -> StageOutput:
    """A cogames bundle of the pipeline's policy (or the deployment section's) in ``<folder>/packages``."""
    from daf_core.deployment import daf_package_policy  # noqa: PLC0415

    deployment, policy = ctx.config.deployment, ctx.policy
    if policy is None:
        assert deployment is not None  # the pipeline's config refuses package without either
        class_path, weights = deployment.policy_class_path, deployment.weights_path
        mission = deployment.validation_missions[0] if deployment.validation_missions else None
    else:
        class_path, weights, mission = policy.class_path, policy.path, None  # the run records its mission
    result = daf_package_policy(
        class_path,
        weights,
        policy_name=deployment.policy_name if deployment else ctx.config.name,
        version=deployment.version if deployment else DEFAULT_PACKAGE_VERSION,
        output_dir=ctx.config.folder / "packages",
        mission=mission,
    )
    output = StageOutput(result, result.model_dump(mode="json"), result.message, policy)
    if not result.ok:
        raise StageFailed(result.message, output)
    return output


def validate(ctx: StageContext) -> StageOutput:
    """The package's bundle played in a fresh, limited interpreter (the deployment section's gate)."""
    from daf_core.deployment import validate_bundle, validate_bundle_config  # noqa: PLC0415

    packaged = ctx.outputs["package"]
    bundle, deployment = packaged.value.package_path, ctx.config.deployment
    missions = list(deployment.validation_missions) if deployment else []
    if not missions and packaged.policy is not None:
        missions = list(packaged.policy.missions)
    if not missions:
        raise ValueError(
            "deployment.validation_missions: none given, and the packaged policy's missions are unknown"
        )
    if deployment is not None:
        report = validate_bundle_config(
            bundle, deployment.model_copy(update={"validation_missions": missions})
        )
    else:
        report = validate_bundle(bundle, missions=missions)
    output = StageOutput(report, report.to_dict(), report.summary())
    if not report.passed:
        raise StageFailed(report.summary(), output)
    return output


def deploy(ctx: StageContext) -> StageOutput:
    """Upload and activate the package's bundle on the deployment section's server (``dry_run``: show
    the requests only); the admin token comes from ``$DAF_POLICY_SERVER_TOKEN``."""
    from daf_core.deployment import daf_deploy_policy  # noqa: PLC0415

    deployment = ctx.config.deployment
    assert deployment is not None  # the pipeline's config refuses deploy without its section
    bundle = ctx.outputs["package"].value.package_path
    result = daf_deploy_policy(
        deployment.policy_name,
        bundle,
        deployment.deployment_endpoint,
        os.environ.get(TOKEN_ENV),
        config=deployment,
    )
    output = StageOutput(result, result.model_dump(mode="json"), result.message)
    if not (result.ok or (deployment.dry_run and result.status == "dry_run")):
        raise StageFailed(result.message, output)
    return output


#: Each stage's step.
STAGE_STEPS: dict[str, Callable[[StageContext], StageOutput]] = {
    "environment_check": environment_check,
    "train": train,
    "evaluate": evaluate,
    "sweep": sweep,
    "compare": compare,
    "benchmark": benchmark,
    "package": package,
    "validate": validate,
    "deploy": deploy,
}
