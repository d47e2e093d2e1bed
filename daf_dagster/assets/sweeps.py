"""``sweep_results`` (a hyperparameter sweep) and ``sweep_best_checkpoint`` (its best configuration, trained).

``sweep_results`` runs :func:`daf_core.sweeps.daf_launch_sweep` with the config's sweep under
``<output root>/sweeps/<name>/`` and DAF's global settings (trial checkpoints under
``<checkpoint root>/<name>/``). A sweep is an Optuna study kept in that folder, so materializing the
asset again continues the same study: finished trials are never run again, raising ``num_trials`` runs
only the new ones, and trials of a killed run are retried. The metadata holds the best configuration,
the trials table, the best objective (a float, so the UI plots it across materializations), the plots
and the HTML report.

``sweep_best_checkpoint`` trains the best configuration of the latest ``sweep_results``
materialization through :func:`daf_dagster.assets.training.train_checkpoint`: the best trial's PPO
values, trainer settings, policy arguments and mission parameters go where the trials sent them.
"""

import json
from pathlib import Path
from typing import Any, Literal

import dagster as dg
from pydantic import Field

from daf_core.config import DAFSweepConfig, DAFTrainingConfig
from daf_dagster.assets.training import train_checkpoint, training_finite_spec
from daf_dagster.metadata import png_markdown, provenance
from daf_dagster.resources import DAFResource

#: Bumped whenever these assets' logic changes (Dagster then marks their materializations stale).
CODE_VERSION = "1"
GROUP = "sweeps"
SWEEP_CONFIG_FILE = "sweep_config.yaml"  # daf_core.sweeps.launch.CONFIG_FILE, without importing optuna
RESULTS_FILE = "results.json"  # daf_core.sweeps.plan.RESULTS_FILE
HTML_FILE = "sweep_report.html"


def _default(field: str) -> Any:
    """DAFSweepConfig's default of ``field``: the asset's config mirrors it rather than restating it."""
    return DAFSweepConfig.model_fields[field].get_default(call_default_factory=True)


class SweepConfig(dg.Config):
    """The user-facing fields of :class:`~daf_core.config.DAFSweepConfig` (its output directory is the
    DAF resource's ``sweeps`` folder). The defaults sweep ``lstm``'s learning rate on ``collect`` in
    three trials of a few seconds' training each."""

    name: str = Field(
        default="lstm_collect",
        description="The sweep's name: its folder, study and checkpoints. The same name continues the study.",
    )
    missions: list[str] = Field(
        default=["collect"], description="Missions every trial trains and is scored on."
    )
    policy_class_path: str = Field(default=_default("policy_class_path"), description="A trainable policy.")
    search_space: dict[str, Any] = Field(
        default={"learning_rate": [0.0003, 0.001, 0.003]},
        description="Name -> list of choices, {low, high, log, int} range, or fixed value. Names are PPO "
        "settings, trainer settings (num_steps...), mission parameters or policy arguments; prefix ppo., "
        "trainer., mission. or policy. to say which.",
    )
    strategy: Literal["grid", "random", "bayesian"] = Field(default="grid", description="How to search.")
    num_trials: int = Field(default=3, ge=1, description="Finished trials the sweep runs to.")
    episodes_per_trial: int = Field(
        default=_default("episodes_per_trial"), ge=1, description="Evaluation episodes per trial and mission."
    )
    objective_metric: str = Field(
        default=_default("objective_metric"), description="What scores a trial (an evaluation column)."
    )
    optimize_direction: Literal["maximize", "minimize"] = Field(default=_default("optimize_direction"))
    training_steps: int = Field(default=16384, ge=1, description="Agent steps each trial trains (per seed).")
    training_seeds: list[int] = Field(
        default=_default("training_seeds"),
        description="Each trial trains once per seed; the objective is the mean.",
    )
    evaluation_seed: int = Field(
        default=_default("evaluation_seed"),
        ge=0,
        description="First evaluation episode's seed (every trial).",
    )
    seed: int = Field(default=_default("seed"), description="Seed of the parameter draws.")
    max_parallel_jobs: int = Field(
        default=_default("max_parallel_jobs"), ge=1, description="Trials at once (worker processes)."
    )
    vector_num_envs: int = Field(
        default=_default("vector_num_envs"), ge=1, description="Environments per trial."
    )
    device: str = Field(default=_default("device"), description='Training device: "cpu", "cuda:N" or "auto".')
    base_hyperparameters: dict[str, Any] = Field(
        default={}, description="Fixed values for every trial, routed like search-space names."
    )
    storage: str | None = Field(
        default=None,
        description="Optuna database URL; None: DAFResource's sweep_storage ($DAF_SWEEP_STORAGE), else "
        "<sweep folder>/study.db (SQLite). PostgreSQL lets workers on several machines share the study.",
    )
    early_stopping: bool = Field(default=False, description="Successive halving over training chunks.")
    reevaluate_top_k: int = Field(
        default=0,
        ge=0,
        description="Once finished, the k best trials again on fresh seeds: each one's shrinkage (sweep "
        "estimate - fresh estimate, with its interval), the winner's curse measured. 0: off.",
    )
    reevaluate_episodes: int | None = Field(
        default=None, ge=2, description="Fresh episodes per mission and seed; None: episodes_per_trial."
    )

    def to_sweep_config(self, daf: DAFResource) -> DAFSweepConfig:
        """The DAFSweepConfig this asset runs; a bad value is a ValueError naming the field."""
        fields = {**self.model_dump(), "storage": self.storage or daf.sweep_storage_url()}
        return DAFSweepConfig(**fields, output_dir=daf.output_path("sweeps"))


@dg.asset(group_name=GROUP, code_version=CODE_VERSION, kinds={"optuna", "pytorch"})
def sweep_results(
    context: dg.AssetExecutionContext, config: SweepConfig, daf: DAFResource
) -> dg.MaterializeResult:
    """Run (or continue) the sweep to ``num_trials`` finished trials; its best configuration, trials,
    plots and report."""
    from daf_core.sweeps import daf_launch_sweep, daf_sweep_best_config  # noqa: PLC0415 - optuna, torch
    from daf_core.visualization import daf_export_sweep_html, daf_plot_sweep_results  # noqa: PLC0415

    sweep = config.to_sweep_config(daf)
    result = daf_launch_sweep(sweep, daf_config=daf.daf_config())
    sweep_dir = Path(result.output_dir)
    plots = daf_plot_sweep_results(result, sweep_dir / "plots")
    html = daf_export_sweep_html(result, sweep_dir / HTML_FILE)
    best = result.get_best_trial()
    best_config = daf_sweep_best_config(result)  # raises when no trial completed: nothing to report
    counts = result.counts()
    context.log.info(
        f"sweep {sweep.name}: best trial {best.trial_id}, {sweep.objective_metric} {best.primary_metric}"
    )
    history = next(p for p in plots if p.name == "objective_history.png")
    return dg.MaterializeResult(
        metadata={
            "best_configuration": dg.MetadataValue.json(best_config),
            "best_objective": dg.MetadataValue.float(float(best.primary_metric)),
            "best_trial": best.trial_id,
            "objective_metric": sweep.objective_metric,
            "trials": dg.MetadataValue.md(trials_markdown(result)),
            "finished_trials": result.finished_trials(),
            "completed_trials": counts["complete"],
            "failed_trials": counts["failed"],
            "pruned_trials": counts["pruned"],
            "sweep_dir": dg.MetadataValue.path(str(sweep_dir)),
            "results_path": dg.MetadataValue.path(str(sweep_dir / RESULTS_FILE)),
            "html_report": dg.MetadataValue.path(str(html)),
            "plots_dir": dg.MetadataValue.path(str(sweep_dir / "plots")),
            "objective_history": png_markdown(history, f"{sweep.objective_metric} per trial"),
            "study_storage": str(result.storage),
            **(
                {"fresh_seeds": dg.MetadataValue.md(fresh_markdown(result))}
                if result.fresh_evaluations
                else {}
            ),
            **provenance(sweep),
        }
    )


def fresh_markdown(result: Any) -> str:
    """The best trials on fresh seeds: sweep estimate, fresh estimate and the shrinkage's interval."""
    lines = ["| rank | trial | sweep | fresh | shrinkage | interval |", "|---:|---:|---:|---:|---:|---|"]
    for fresh in result.fresh_evaluations:
        interval = (
            "n/a"
            if fresh.shrinkage_ci_low is None
            else f"[{fresh.shrinkage_ci_low:+.4g}, {fresh.shrinkage_ci_high:+.4g}]"
        )
        lines.append(
            f"| {fresh.rank} | {fresh.trial_id} | {fresh.sweep_estimate:.4g} | {fresh.fresh_estimate:.4g} | "
            f"{fresh.shrinkage:+.4g} | {interval} |"
        )
    return "\n".join(lines)


def trials_markdown(result: Any) -> str:
    """Every trial, best first, then the unscored ones in trial order."""
    from daf_core.visualization.leaderboard import markdown_text  # noqa: PLC0415

    ranked = result.top_trials(len(result.trials))
    rest = sorted((t for t in result.trials if t not in ranked), key=lambda t: t.trial_id)
    lines = [
        f"| trial | state | {markdown_text(result.objective_metric)} | hyperparameters | time (s) |",
        "|---:|---|---:|---|---:|",
    ]
    for trial in [*ranked, *rest]:
        objective = "" if trial.primary_metric is None else f"{trial.primary_metric:.4g}"
        values = markdown_text(json.dumps(trial.hyperparameters, sort_keys=True))
        duration = "" if trial.duration_s is None else f"{trial.duration_s:.1f}"
        lines.append(f"| {trial.trial_id} | {trial.state} | {objective} | {values} | {duration} |")
    return "\n".join(lines)


class SweepBestCheckpointConfig(dg.Config):
    num_steps: int | None = Field(
        default=None,
        ge=1,
        description="Agent steps to train; None: what each trial trained (the sweep's training_steps, or "
        "the best trial's num_steps when swept).",
    )
    seed: int | None = Field(
        default=None, description="Training seed; None: the sweep's first training seed."
    )
    run_name: str | None = Field(
        default=None,
        description="Training run name under the checkpoint root (policy ref training_run:<run_name>); None: "
        "<sweep>_best_trial<N>, so a better trial found later trains a new run instead of resuming this one.",
    )


@dg.asset(
    deps=[sweep_results],
    check_specs=[training_finite_spec("sweep_best_checkpoint")],
    group_name=GROUP,
    code_version=CODE_VERSION,
    kinds={"pytorch"},
)
def sweep_best_checkpoint(
    context: dg.AssetExecutionContext, config: SweepBestCheckpointConfig, daf: DAFResource
) -> dg.MaterializeResult:
    """A training run of the latest sweep's best configuration (trained, or resumed when it exists)."""
    from daf_core.sweeps import SweepResult, daf_sweep_best_config  # noqa: PLC0415 - optuna

    sweep_dir = latest_sweep_dir(context)
    sweep = DAFSweepConfig.from_yaml(sweep_dir / SWEEP_CONFIG_FILE)
    result = SweepResult.load_json(sweep_dir / RESULTS_FILE)
    best = result.get_best_trial()
    hyperparameters = daf_sweep_best_config(result)
    run_name = config.run_name or f"{sweep.name}_best_trial{best.trial_id:04d}"
    training = best_training_config(
        sweep,
        hyperparameters,
        daf,
        num_steps=config.num_steps,
        seed=sweep.training_seeds[0] if config.seed is None else config.seed,
        run_name=run_name,
    )
    trained = train_checkpoint(context, daf, training)
    return dg.MaterializeResult(
        check_results=trained.check_results,
        metadata={
            **trained.metadata,
            "sweep": sweep.name,
            "best_trial": best.trial_id,
            "best_objective": dg.MetadataValue.float(float(best.primary_metric)),
            "best_configuration": dg.MetadataValue.json(hyperparameters),
            "policy_ref": f"training_run:{run_name}",
        },
    )


def latest_sweep_dir(context: dg.AssetExecutionContext) -> Path:
    """The folder of the sweep that ``sweep_results`` last materialized."""
    event = context.instance.get_latest_materialization_event(sweep_results.key)
    if event is None or event.asset_materialization is None:
        raise FileNotFoundError(
            "sweep_results: never materialized; materialize it before sweep_best_checkpoint"
        )
    return Path(event.asset_materialization.metadata["sweep_dir"].value)


def best_training_config(
    sweep: DAFSweepConfig,
    hyperparameters: dict[str, Any],
    daf: DAFResource,
    *,
    num_steps: int | None,
    seed: int,
    run_name: str,
) -> DAFTrainingConfig:
    """The DAFTrainingConfig of one run with ``hyperparameters``, built as the sweep's trials build theirs
    (:func:`daf_core.sweeps.trial_training_config`); missions rebuilt with mission parameters go beside
    the sweep, under ``best/<run_name>/``."""
    from daf_core.sweeps import plan_sweep, trial_training_config  # noqa: PLC0415 - torch, mettagrid

    return trial_training_config(
        plan_sweep(sweep, daf.daf_config()),
        hyperparameters,
        Path(sweep.output_dir) / sweep.name / "best" / run_name,
        daf.checkpoint_dir(),
        seed=seed,
        run_name=run_name,
        num_steps=num_steps,
    )


ASSETS = [sweep_results, sweep_best_checkpoint]
ASSET_CHECKS: list[dg.AssetChecksDefinition] = []
