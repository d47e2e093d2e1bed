"""``baseline_evaluation``: baseline policies on the missions, through ``daf_core.evaluation``."""

from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from daf_dagster.assets.environment import environment_report

if TYPE_CHECKING:
    import pandas as pd


class BaselineEvaluationConfig(dg.Config):
    policies: list[str] = Field(
        default=["random", "noop"], description="Policy shorthands, class paths or bundles."
    )
    missions: list[str] = Field(default=["explore"], description="Mission names or mission files.")
    episodes: int = Field(default=6, description="Episodes per policy and mission; episode k uses seed + k.")
    seed: int = 0
    max_parallel_jobs: int = Field(default=1, description="Worker processes for the episodes.")
    output_dir: str = Field(
        default="daf_output/dagster/baseline_evaluation",
        description="Records go here; a rerun with the same policies, missions and seed reuses them.",
    )


@dg.asset(deps=[environment_report], group_name="evaluation", kinds={"python"})
def baseline_evaluation(
    context: dg.AssetExecutionContext, config: BaselineEvaluationConfig
) -> dg.MaterializeResult:
    """Per-episode rewards of the baseline policies on the same seeds (common random numbers)."""
    from daf_core.evaluation import evaluate_policies  # noqa: PLC0415 - heavy (mettagrid)

    output_dir = Path(config.output_dir).absolute()
    records = evaluate_policies(
        config.policies,
        config.missions,
        episodes=config.episodes,
        seed=config.seed,
        max_parallel_jobs=config.max_parallel_jobs,
        output_dir=output_dir,
        show_progress=False,
    )
    means = records.groupby(["policy", "mission"])["reward"].mean().unstack()  # policy x mission
    context.log.info(f"{len(records)} episodes; mean total episode reward:\n{means}")
    return dg.MaterializeResult(
        metadata={
            "mean_reward_table": dg.MetadataValue.md(_markdown(means, config.episodes)),
            "mean_reward": dg.MetadataValue.json(
                {policy: row.astype(float).to_dict() for policy, row in means.iterrows()}
            ),
            "num_episodes": len(records),
            "records_parquet": dg.MetadataValue.path(str(output_dir / "episodes.parquet")),
            "records_csv": dg.MetadataValue.path(str(output_dir / "episodes.csv")),
        }
    )


def _markdown(means: "pd.DataFrame", episodes: int) -> str:
    """Policies as rows, missions as columns."""
    lines = [
        f"Mean total episode reward over {episodes} episodes (seeds shared by all policies)",
        "",
        "| policy | " + " | ".join(means.columns) + " |",
        "|---" * (len(means.columns) + 1) + "|",
    ]
    lines += [f"| {p} | " + " | ".join(f"{v:.4f}" for v in row) + " |" for p, row in means.iterrows()]
    return "\n".join(lines)
