"""A comparison and a deployment run from their configs.

:func:`daf_compare_from_config` runs a :class:`~daf_core.config.DAFComparisonConfig`: it evaluates and
compares (:mod:`daf_core.comparison`) and, when the config asks for it, writes the interactive HTML
report (:mod:`daf_core.visualization`), which is why it lives above both.
:func:`daf_deploy_from_config` packages, validates and deploys a
:class:`~daf_core.config.DAFDeploymentConfig`'s policy.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from daf_core.comparison import ComparisonReport, daf_compare_policies
from daf_core.config import DAFComparisonConfig, DAFConfig, DAFDeploymentConfig
from daf_core.deployment import (
    DeploymentResult,
    daf_deploy_policy,
    daf_package_policy,
    validate_bundle_config,
)
from daf_core.visualization import daf_export_comparison_html

logger = logging.getLogger(__name__)


def daf_compare_from_config(
    config: DAFComparisonConfig,
    *,
    max_parallel_jobs: int = 1,
    show_progress: bool = True,
    extra_policies: Mapping[str, str | Path] | None = None,
    daf_config: DAFConfig | None = None,
) -> ComparisonReport:
    """Run a :class:`DAFComparisonConfig`; with ``save_raw_results`` files go to ``output_dir/name``.

    With ``generate_html_report`` the interactive HTML report goes to ``output_dir/name/report.html``,
    beside ``report.json`` and the raw episodes it links (without ``save_raw_results`` it stands alone).
    ``extra_policies`` ({report name: policy}) are compared too, ahead of the config's policies: how a
    pipeline puts the policy it trained beside the config's baselines. With ``daf_config`` the summary
    also goes to TensorBoard and MLflow as it says.
    """
    folder = Path(config.output_dir) / config.name
    output_dir = folder if config.save_raw_results else None
    policies: list[Any] = list(config.policies)
    if extra_policies:
        from daf_core.evaluation import resolve_policy  # noqa: PLC0415 - loads mettagrid

        policies = [*(resolve_policy(policy, name) for name, policy in extra_policies.items()), *policies]
    report = daf_compare_policies(
        policies,
        config.missions,
        config.episodes_per_mission,
        seed=config.seed,
        max_parallel_jobs=max_parallel_jobs,
        significance_level=config.significance_level,
        output_dir=output_dir,
        name=config.name,
        show_progress=show_progress,
        daf_config=daf_config,
        stop_when=config.stop_when,
        max_episodes=config.max_episodes,
        round_episodes=config.round_episodes,
        equivalence_margin=config.equivalence_margin,
        cross_play=config.cross_play,
        splits=config.cross_play_splits,
        replacement=config.cross_play_replacement,
    )
    if config.generate_html_report:
        path = daf_export_comparison_html(report, folder / "report.html")
        logger.info("HTML report of %r: %s", config.name, path)
    return report


def daf_deploy_from_config(
    config: DAFDeploymentConfig,
    *,
    auth_token: str | None = None,
    package_dir: str | Path = "daf_output/packages",
    mission: str | Path | None = None,
    seed: int = 0,
) -> DeploymentResult:
    """Package, validate in isolation, then deploy a :class:`DAFDeploymentConfig`'s policy.

    Each step runs only when the one before succeeded; the first that fails is returned as it is (its
    status says which: "deployment_failed" from packaging or deploying, "validation_failed" from the
    isolated validation), so a result is "success" only when the server serves the new version.
    ``mission`` is the mission whose interface the bundle records (default: the checkpoint run's, else
    the first validation mission). With ``config.dry_run`` the bundle is still built and validated, and
    the deployment shows what it would send.
    """
    packaged = daf_package_policy(
        config.policy_class_path,
        config.weights_path,
        policy_name=config.policy_name,
        version=config.version,
        output_dir=package_dir,
        mission=mission or (config.validation_missions[0] if config.validation_missions else None),
    )
    if not packaged.ok or packaged.package_path is None:
        return packaged
    report = validate_bundle_config(packaged.package_path, config, seed=seed)
    if not report.passed:
        return packaged.model_copy(
            update={
                "status": "validation_failed",
                "message": report.summary(),
                "details": packaged.details | {"validation": report.to_dict()},
            }
        )
    logger.info("%s %s: %s", config.policy_name, config.version, report.summary())
    deployed = daf_deploy_policy(
        config.policy_name, packaged.package_path, config.deployment_endpoint, auth_token, config=config
    )
    return deployed.model_copy(update={"details": deployed.details | {"validation": report.to_dict()}})
