"""The quickstart (``make demo``, ``quickstart_job``): DAF's whole workflow once, small enough for a laptop.

1. ``quickstart_policy``: ``lstm`` trained on ``collect`` (the learnable built-in mission) as the training
   run ``quickstart``, after the machine's pre-flight check (``environment_report``);
2. ``quickstart_episodes``: the trained policy, ``random`` and the untrained network (``lstm``) on the
   same held-out maps: evaluation maps follow seeds 100-119, training maps come from seeds at or above
   10^9 (``daf_core.training.TRAINING_MAP_SEED_BASE``), so no evaluated map was trained on;
3. ``quickstart_report``: the comparison, its leaderboard and HTML report under
   ``<output root>/comparisons/quickstart/``, with its checks (sample sizes, finite intervals);
4. ``quickstart_package``: the trained policy as a cogames bundle, with its blocking isolated validation.

Every asset is built by the factory its domain uses (:func:`~daf_dagster.assets.comparison.episodes_asset`,
:func:`~daf_dagster.assets.comparison.report_asset`, :func:`~daf_dagster.assets.deployment.package_asset`);
only the defaults are the quickstart's.
"""

import dagster as dg

from daf_dagster.assets.comparison import (
    ComparisonEpisodesConfig,
    ComparisonReportConfig,
    episodes_asset,
    report_asset,
)
from daf_dagster.assets.deployment import PackageConfig, package_asset
from daf_dagster.assets.environment import environment_report
from daf_dagster.assets.training import CODE_VERSION, TrainingConfig, train_checkpoint, training_finite_spec
from daf_dagster.config_defaults import with_defaults
from daf_dagster.resources import DAFResource

GROUP = "quickstart"
RUN_NAME = "quickstart"
MISSION = "collect"
#: 32 epochs of 2048 agent steps. Measured on collect (20 held-out episodes each): 32k steps gave 18.5,
#: 49k 24.8, 65k 25.9, 98k 25.8, against random 11.4 and the untrained network 10.3.
TRAINING_STEPS = 65_536
EVALUATION_SEED = 100
EVALUATION_EPISODES = 20

QuickstartTrainingConfig = with_defaults(
    TrainingConfig, TrainingConfig(missions=[MISSION], num_steps=TRAINING_STEPS)
)


@dg.asset(
    deps=[environment_report],
    check_specs=[training_finite_spec("quickstart_policy")],
    group_name=GROUP,
    kinds={"pytorch"},
    code_version=CODE_VERSION,  # train_checkpoint with other defaults: its logic is training's
)
def quickstart_policy(
    context: dg.AssetExecutionContext,
    config: QuickstartTrainingConfig,  # type: ignore[valid-type]
    daf: DAFResource,
) -> dg.MaterializeResult:
    """``lstm`` trained on ``collect`` as the training run ``quickstart`` (a rerun resumes it)."""
    return train_checkpoint(context, daf, config.to_training_config(RUN_NAME, daf))


quickstart_episodes = episodes_asset(
    "quickstart_episodes",
    deps=[quickstart_policy],
    default_config=ComparisonEpisodesConfig(
        policies=[f"training_run:{RUN_NAME}", "random", "lstm"],
        policy_names={f"training_run:{RUN_NAME}": "lstm_trained", "lstm": "lstm_untrained"},
        missions=[MISSION],
        episodes_per_mission=EVALUATION_EPISODES,
        seed=EVALUATION_SEED,
        max_parallel_jobs=2,
    ),
    group_name=GROUP,
    description="The trained policy, random and the untrained network on the same held-out maps.",
)
quickstart_report, quickstart_report_checks = report_asset(
    "quickstart_report",
    episodes=quickstart_episodes,
    default_config=ComparisonReportConfig(name=RUN_NAME),
    group_name=GROUP,
    description="The quickstart's comparison: leaderboard, HTML report, figures and scores.",
)
quickstart_package = package_asset(
    "quickstart_package",
    deps=[quickstart_policy],
    default_config=PackageConfig(
        policy=f"training_run:{RUN_NAME}", policy_name=RUN_NAME, validation_missions=[MISSION]
    ),
    group_name=GROUP,
)

ASSETS = [quickstart_policy, quickstart_episodes, quickstart_report, quickstart_package]
ASSET_CHECKS = list(quickstart_report_checks)
