"""``deployment_package``: a trained policy as a cogames bundle with DAF's manifest, and its blocking
check ``package_validation``: the bundle played in a fresh, limited interpreter
(:mod:`daf_core.deployment.validation`). A bundle that fails validation fails the check, and since the
check blocks, nothing downstream of the package runs.

``checkpoint_package``: the same, one partition per training run (``TRAINING_RUNS``), packaging the
run's newest checkpoint as version ``0.1.<epoch>``; the checkpoint validation sensor requests it for
every new checkpoint (``daf_dagster.sensors``).

:func:`package_asset` builds both for any policy (the quickstart packages its own policy with it).
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from daf_core.config import DAFDeploymentConfig, DAFTrainingConfig
from daf_dagster.assets.training import training_checkpoints
from daf_dagster.config_defaults import with_defaults
from daf_dagster.metadata import provenance
from daf_dagster.partitions import TRAINING_RUNS
from daf_dagster.resources import TRAINING_RUN_PREFIX, DAFResource

CODE_VERSION = "1"
VALIDATION_CHECK = "package_validation"
_DEPLOYMENT_FIELDS = DAFDeploymentConfig.model_fields


class PackageConfig(dg.Config):
    """What to package and the validation it must pass (DAFDeploymentConfig's validation fields)."""

    policy: str | None = Field(
        default="training_run:collect_lstm",
        description="The weights: 'training_run:<name>', a run directory or a weights file; null for none.",
    )
    policy_class_path: str = Field(default="lstm", description="The class that trained (shorthand or path).")
    policy_name: str | None = Field(default=None, description="The bundle's name; null: the run's name.")
    version: str = Field(default="0.1.0", description="Semantic version of this package.")
    mission: str | None = Field(
        default=None,
        description="Mission whose environment interface the bundle records; null: the first validation one.",
    )
    validation_missions: list[str] = Field(
        default=[], description="Missions the bundle must play; empty: the missions its run trained on."
    )
    validation_episodes: int = _DEPLOYMENT_FIELDS["validation_episodes"].default
    validation_max_steps: int | None = Field(
        default=None, description="Caps each episode; null: the mission's."
    )
    min_mean_reward: float | None = Field(default=None, description="Fail below this mean episode reward.")
    max_action_ms: float = Field(
        default=_DEPLOYMENT_FIELDS["max_action_ms"].default, description="Fail when an action is slower."
    )
    validation_timeout_s: float = _DEPLOYMENT_FIELDS["validation_timeout_s"].default
    validation_memory_mb: int = _DEPLOYMENT_FIELDS["validation_memory_mb"].default
    seed: int = Field(default=0, description="Seed of the validation episodes.")


def package_asset(
    name: str,
    *,
    default_config: PackageConfig | None = None,
    deps: Sequence[Any] = (),
    group_name: str = "deployment",
    partitions_def: dg.PartitionsDefinition | None = None,
) -> dg.AssetsDefinition:
    """An asset ``name`` that packages a policy (``default_config``: its defaults in the launchpad),
    with its blocking ``package_validation`` check.

    With ``partitions_def`` (partitions named by training run, as ``TRAINING_RUNS``), each partition
    packages its own run's newest checkpoint: see :func:`training_run_package_config`.
    """
    config_class = with_defaults(PackageConfig, default_config)

    @dg.asset(
        name=name,
        deps=list(deps),
        partitions_def=partitions_def,
        check_specs=[
            dg.AssetCheckSpec(
                VALIDATION_CHECK,
                asset=name,
                blocking=True,
                description="The bundle plays its validation missions in a fresh, limited interpreter.",
            )
        ],
        group_name=group_name,
        kinds={"python"},
        code_version=CODE_VERSION,
    )
    def _package(
        context: dg.AssetExecutionContext,
        config: config_class,  # type: ignore[valid-type]
        daf: DAFResource,
    ) -> dg.MaterializeResult:
        """A cogames bundle (zip with DAF's manifest) of the policy, validated in isolation."""
        if context.has_partition_key:
            config = training_run_package_config(config, context.partition_key, daf)
        return package_and_validate(context, config, daf)

    return _package


def training_run_package_config(config: PackageConfig, run_name: str, daf: DAFResource) -> PackageConfig:
    """``config`` for packaging training run ``run_name``'s newest checkpoint: ``policy`` is the run,
    ``version`` is ``0.1.<epoch of that checkpoint>`` (so each checkpoint is a package of its own), and
    ``policy_class_path`` the class the run trained (its ``config.yaml``; ``config``'s when it has none).
    """
    from daf_core.training.checkpoints import model_epoch, read_status  # noqa: PLC0415 - torch

    run_dir = Path(daf.resolve_policy(TRAINING_RUN_PREFIX + run_name))
    status = read_status(run_dir)
    # The checkpoint the trainer state names (what the bundle packages), else the newest model file.
    model = status.latest_checkpoint or (status.checkpoints[-1] if status.checkpoints else None)
    if model is None:
        raise FileNotFoundError(f"training run {run_name!r}: no model_NNNNNN.pt in {run_dir}")
    run_config = run_dir / "config.yaml"
    class_path = (
        DAFTrainingConfig.from_yaml(run_config).policy_class_path
        if run_config.is_file()
        else config.policy_class_path
    )
    return config.model_copy(
        update={
            "policy": TRAINING_RUN_PREFIX + run_name,
            "policy_class_path": class_path,
            "version": f"0.1.{model_epoch(model.name)}",
        }
    )


def package_and_validate(
    context: dg.AssetExecutionContext, config: PackageConfig, daf: DAFResource
) -> dg.MaterializeResult:
    """Package ``config``'s policy under ``<output root>/packages``, then validate the bundle."""
    from daf_core.deployment import daf_package_policy, validate_bundle  # noqa: PLC0415
    from daf_core.deployment.validation import VALIDATION_FIELDS, validation_settings  # noqa: PLC0415

    settings = validation_settings(**{field: getattr(config, field) for field in VALIDATION_FIELDS})
    weights = daf.resolve_policy(config.policy) if config.policy else None
    missions = list(settings.validation_missions) or _trained_missions(weights)
    if not missions:
        raise ValueError(
            "validation_missions: none given and policy is not a training run whose missions are known"
        )
    packaged = daf_package_policy(
        config.policy_class_path,
        weights,
        policy_name=config.policy_name,
        version=config.version,
        output_dir=daf.output_path("packages"),
        mission=config.mission or missions[0],
    )
    context.log.info(packaged.message)
    report = validate_bundle(
        packaged.package_path,
        missions=missions,
        episodes=settings.validation_episodes,
        max_steps=settings.validation_max_steps,
        min_mean_reward=settings.min_mean_reward,
        max_action_ms=settings.max_action_ms,
        timeout_s=settings.validation_timeout_s,
        memory_mb=settings.validation_memory_mb,
        seed=config.seed,
    )
    (context.log.info if report.passed else context.log.error)(report.summary())
    manifest = packaged.details["manifest"]
    return dg.MaterializeResult(
        metadata={
            "bundle": dg.MetadataValue.path(str(packaged.package_path)),
            "sha256": packaged.details["sha256"],
            "size_bytes": packaged.details["size_bytes"],
            "policy_name": packaged.policy_name,
            "version": packaged.version,
            "class_path": manifest["class_path"],
            # Read back by the promotion sensor and the schedules (daf_dagster.packages).
            "validation_passed": report.passed,
            "manifest": dg.MetadataValue.json(manifest),
            **provenance(config),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=VALIDATION_CHECK,
                passed=report.passed,
                description=report.summary(),
                metadata={
                    "missions": dg.MetadataValue.json(missions),
                    "episodes": report.episodes,
                    "mean_reward": _number(report.mean_reward),
                    "p99_action_ms": _number(report.p99_ms),
                    "max_action_ms": _number(report.max_ms),
                    "noop_fraction": _number(report.noop_fraction),
                    "wall_s": float(report.wall_s),
                    "reasons": dg.MetadataValue.json(report.reasons),
                },
            )
        ],
    )


def _trained_missions(weights: str | None) -> list[str]:
    """The missions a training run directory trained on (its config.yaml); [] for anything else."""
    config_path = Path(weights) / "config.yaml" if weights else None
    if config_path is None or not config_path.is_file():
        return []
    return list(DAFTrainingConfig.from_yaml(config_path).missions)


def _number(value: float | None) -> dg.MetadataValue:
    """A figure, or a note that nothing ran to measure it (Dagster's float metadata cannot be None)."""
    return (
        dg.MetadataValue.float(float(value)) if value is not None else dg.MetadataValue.text("not measured")
    )


deployment_package = package_asset("deployment_package", deps=(training_checkpoints,))
checkpoint_package = package_asset(
    "checkpoint_package", deps=(training_checkpoints,), partitions_def=TRAINING_RUNS
)

ASSETS = [deployment_package, checkpoint_package]
#: The checks (package_validation) are computed in the asset's own step, declared by its check_specs.
ASSET_CHECKS: list[dg.AssetChecksDefinition] = []
