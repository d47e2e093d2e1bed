"""One trial: train a configuration with DAF's trainer (once per training seed), evaluate it with DAF's
evaluation engine, and score it. Nothing here knows about Optuna; the worker loop in
:mod:`daf_core.sweeps` wraps :func:`run_trial` in an Optuna trial.

* **Objective.** ``mean_reward`` is the mean episode reward (summed over agents) over all missions,
  evaluation episodes and training seeds. Any numeric column of the evaluation records works too
  (``reward_per_agent``, ``steps``, ``agent/cell.unique_visited``...). Names are checked at launch
  against the record's fixed columns; ``agent/``/``game/`` statistics appear only once some agent has
  incremented them, so those are checked on each trial's records, and a trial whose records lack the
  metric fails with the list of metrics that were recorded. A statistic missing from some episodes
  counts as 0 there (the evaluation engine's rule).
* **Early stopping** (``early_stopping: true``): a trial trains in ``early_stopping_chunks`` chunks (each
  resumes the previous checkpoint), is evaluated after each and reports the objective to Optuna's
  ``SuccessiveHalvingPruner``, which stops the weak ones. Every chunk trains with
  ``lr_schedule_steps`` set to the whole trial's steps, so the learning-rate schedule is the one an
  unchunked trial follows.
* **Global settings.** Training runs under the plan's DAFConfig: ``device: auto`` honours
  ``enable_gpu`` and ``gpu_memory_fraction``; ``monitor_system_stats`` writes each run's
  ``system.jsonl``; ``track_experiments`` records each training run in ``<output_dir>``'s experiments
  log; ``max_checkpoints_to_keep`` prunes each run's checkpoints; ``tensorboard`` and
  ``mlflow_tracking_uri`` send each run's curves to TensorBoard and MLflow (and the worker loop logs each
  ended trial there, :func:`daf_core.tracking.log_sweep_trial`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daf_core.config import DAFTrainingConfig, PPOConfig
from daf_core.sweeps.plan import STAT_PREFIXES, SweepPlan

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class TrialOutcome:
    objective: float
    metrics: dict[str, float]
    run_dirs: list[str]


class TrialPruned(Exception):  # noqa: N818 - mirrors optuna.TrialPruned without importing optuna here
    """Raised between training chunks when the pruner stops a trial; ``outcome`` is its last evaluation."""

    def __init__(self, message: str, outcome: TrialOutcome):
        super().__init__(message)
        self.outcome = outcome


@dataclass(frozen=True)
class _TrialSetup:
    """Everything one trial trains and evaluates with, derived once from its hyperparameters."""

    plan: SweepPlan
    train_missions: list[str]
    eval_missions: list[Any]
    policy_kwargs: dict[str, Any]
    ppo: PPOConfig
    trainer_settings: dict[str, Any]
    total_steps: int
    chunks: int
    checkpoint_dir: Path
    evaluation_dir: Path

    def steps_after(self, chunk: int) -> int:
        return max(1, math.ceil(self.total_steps * chunk / self.chunks))


def run_trial(
    plan: SweepPlan,
    hyperparameters: Mapping[str, Any],
    trial_dir: Path,
    checkpoint_dir: Path,
    report: Callable[[int, float], bool] | None = None,
) -> TrialOutcome:
    """Train one configuration (once per training seed, runs under ``checkpoint_dir``) and evaluate it.

    With early stopping, training goes in chunks; after each but the last the objective goes to
    ``report(chunk, value)``, and a True answer (prune) raises :class:`TrialPruned`.
    """
    # Phase 1: what this trial trains with: its missions (built with its mission parameters), policy
    # arguments, PPO values, trainer settings and step budget.
    setup = _set_up(plan, hyperparameters, trial_dir, checkpoint_dir)
    outcome: TrialOutcome | None = None
    for chunk in range(1, setup.chunks + 1):
        # Phase 2: train every training seed up to this chunk's steps (each chunk resumes the last).
        policies, run_dirs = _train_seeds(setup, setup.steps_after(chunk))
        # Phase 3: evaluate every seed's policy on the same episodes.
        final = chunk == setup.chunks
        records = _evaluate(setup, policies, "evaluation" if final else f"evaluation_chunk{chunk}")
        # Phase 4: score it; between chunks the pruner may stop it.
        objective, metrics = score_records(records, plan.config.objective_metric)
        outcome = TrialOutcome(objective, metrics, run_dirs)
        if not final and report is not None and report(chunk, objective):
            message = (
                f"pruned after chunk {chunk}/{setup.chunks} ({setup.steps_after(chunk)} steps): "
                f"objective {objective:.4g}"
            )
            raise TrialPruned(message, outcome)
    assert outcome is not None
    return outcome


def _set_up(
    plan: SweepPlan, hyperparameters: Mapping[str, Any], trial_dir: Path, checkpoint_dir: Path
) -> _TrialSetup:
    config = plan.config
    groups = plan.split(hyperparameters)
    train_missions, eval_missions = _trial_missions(config.missions, groups["mission"], trial_dir)
    trainer_settings = {"vector_num_envs": config.vector_num_envs, **groups["trainer"]}
    total_steps = int(trainer_settings.pop("num_steps", config.training_steps))
    return _TrialSetup(
        plan=plan,
        train_missions=train_missions,
        eval_missions=eval_missions,
        policy_kwargs=dict(groups["policy"]),
        ppo=PPOConfig(**groups["ppo"]),
        trainer_settings=trainer_settings,
        total_steps=total_steps,
        chunks=config.early_stopping_chunks if config.early_stopping else 1,
        checkpoint_dir=checkpoint_dir,
        evaluation_dir=trial_dir,
    )


def trial_training_config(
    plan: SweepPlan,
    hyperparameters: Mapping[str, Any],
    folder: Path,
    checkpoint_dir: Path,
    *,
    seed: int,
    run_name: str,
    num_steps: int | None = None,
) -> DAFTrainingConfig:
    """The DAFTrainingConfig a trial with ``hyperparameters`` trains seed ``seed`` with, as ``run_name``
    under ``checkpoint_dir`` (missions built with mission parameters go to ``folder/missions``).

    ``num_steps`` (default: the trial's budget) also sets the learning-rate schedule's length. Used to
    retrain a sweep's best configuration exactly as its trials trained it.
    """
    setup = _set_up(plan, hyperparameters, folder, checkpoint_dir)
    steps = num_steps or setup.total_steps
    return _training_config(setup, seed, steps, run_name, schedule_steps=steps)


def _training_config(
    setup: _TrialSetup, seed: int, steps: int, run_name: str, *, schedule_steps: int
) -> DAFTrainingConfig:
    """Each hyperparameter where the plan routes it (PPO, trainer, policy, missions); the rest the sweep's."""
    plan = setup.plan
    return DAFTrainingConfig(
        missions=setup.train_missions,
        policy_class_path=plan.config.policy_class_path,
        num_steps=steps,
        seed=seed,
        device=plan.config.device,
        checkpoint_dir=setup.checkpoint_dir,
        run_name=run_name,
        max_checkpoints_to_keep=plan.daf_config.max_checkpoints_to_keep,
        lr_schedule_steps=schedule_steps,
        policy_init_kwargs=setup.policy_kwargs,
        ppo=setup.ppo,
        **setup.trainer_settings,
    )


def _train_seeds(setup: _TrialSetup, steps: int) -> tuple[dict[str, Any], list[str]]:
    """One DAF training run per training seed, under the sweep's DAFConfig (device choice, system
    monitoring, experiment tracking, checkpoints kept); returns each seed's policy and run directory."""
    from daf_core.evaluation import PolicySpec  # noqa: PLC0415 - imports mettagrid behind its guard
    from daf_core.training import train  # noqa: PLC0415

    plan = setup.plan
    policies: dict[str, Any] = {}
    run_dirs = []
    for seed in plan.config.training_seeds:
        training = _training_config(setup, seed, steps, f"seed{seed}", schedule_steps=setup.total_steps)
        result = train(training, plan.daf_config, show_progress=False)
        run_dirs.append(str(result.run_dir))
        policies[f"seed{seed}"] = PolicySpec(
            class_path=plan.policy_class_path,
            data_path=str(result.final_checkpoint),
            init_kwargs=setup.policy_kwargs,
        )
    return policies, run_dirs


def _evaluate(
    setup: _TrialSetup,
    policies: Mapping[str, Any],
    name: str,
    *,
    episodes: int | None = None,
    seed: int | None = None,
) -> pd.DataFrame:
    """Every policy on the trial's missions: by default the sweep's episodes (``episodes_per_trial``
    seeds from ``evaluation_seed``), the same for every trial and chunk."""
    from daf_core.evaluation import evaluate_policies  # noqa: PLC0415

    config = setup.plan.config
    return evaluate_policies(
        dict(policies),
        setup.eval_missions,
        config.episodes_per_trial if episodes is None else episodes,
        seed=config.evaluation_seed if seed is None else seed,
        max_parallel_jobs=1,
        device=_evaluation_device(setup.plan),
        output_dir=setup.evaluation_dir / name,
        show_progress=False,
    )


def _evaluation_device(plan: SweepPlan) -> str:
    """The sweep's device; ``auto`` chooses as training does (honouring DAFConfig.enable_gpu)."""
    if plan.config.device != "auto":
        return plan.config.device
    from daf_core.environment_checks import daf_get_recommended_device  # noqa: PLC0415

    return str(daf_get_recommended_device(plan.daf_config))


def _trial_missions(
    missions: Sequence[str], params: Mapping[str, Any], trial_dir: Path
) -> tuple[list[str], list[Any]]:
    """Missions as the trial trains and evaluates them: with mission parameters, files in the trial dir.

    Evaluation records keep the mission's own name, so trials' records line up whatever the parameters.
    """
    if not params:
        return list(missions), list(missions)
    from daf_core.missions import load_mission, load_mission_file, save_mission  # noqa: PLC0415

    train_missions, eval_missions = [], []
    for index, name in enumerate(missions):
        env_cfg = load_mission(name, **params)
        path = save_mission(env_cfg, trial_dir / "missions" / f"{index}_{Path(name).stem}.yaml")
        train_missions.append(str(path))
        eval_missions.append((name, load_mission_file(path)))
    return train_missions, eval_missions


def evaluate_checkpoints(
    plan: SweepPlan,
    hyperparameters: Mapping[str, Any],
    trial_dir: Path,
    checkpoint_dir: Path,
    run_dirs: Sequence[str],
    *,
    episodes: int,
    seed: int,
    name: str,
) -> pd.DataFrame:
    """A finished trial's final checkpoints (one per training seed, as the trial evaluated them: same
    names, missions with its mission parameters, policy arguments, device) on ``episodes`` episodes from
    ``seed``, recorded under ``trial_dir/name`` (a rerun reuses the episodes recorded there)."""
    from daf_core.evaluation import PolicySpec  # noqa: PLC0415 - imports mettagrid behind its guard
    from daf_core.training import read_trainer_state  # noqa: PLC0415

    setup = _set_up(plan, hyperparameters, trial_dir, checkpoint_dir)
    seeds = plan.config.training_seeds
    if len(run_dirs) != len(seeds):
        raise ValueError(
            f"trial in {trial_dir} recorded {len(run_dirs)} training runs for training_seeds {seeds}; "
            "its checkpoints cannot be matched to its seeds"
        )
    policies = {
        f"seed{s}": PolicySpec(
            class_path=plan.policy_class_path,
            data_path=str(Path(run_dir) / read_trainer_state(Path(run_dir))["model_name"]),
            init_kwargs=setup.policy_kwargs,
        )
        for s, run_dir in zip(seeds, run_dirs, strict=True)
    }
    return _evaluate(setup, policies, name, episodes=episodes, seed=seed)


def score_records(records: pd.DataFrame, metric: str) -> tuple[float, dict[str, float]]:
    """The objective (mean over training seeds of the per-seed mean) and the mean of every numeric column."""
    numeric = _numeric_columns(records)
    metrics = {"mean_reward": float(numeric["reward"].mean())}
    metrics.update({column: float(numeric[column].mean()) for column in numeric.columns})
    column = _metric_column(metric, list(numeric.columns))
    per_seed = numeric[column].groupby(records["policy"]).mean()
    objective = float(per_seed.mean())
    if not math.isfinite(objective):
        raise RuntimeError(f"objective {metric!r} is not a finite number ({objective})")
    return objective, metrics


def objective_per_episode_seed(records: pd.DataFrame, metric: str) -> pd.Series:
    """The objective's value per episode seed: the mean over training seeds and missions of that seed's
    episodes, indexed by seed.

    Episodes of one seed share their map on every mission's training seeds (common random numbers), so
    they are not independent; different seeds are. These values are therefore the independent units an
    interval of the objective resamples; their mean is :func:`score_records`' objective when every
    (training seed, mission) has every seed, as an evaluation records.
    """
    numeric = _numeric_columns(records)
    column = _metric_column(metric, list(numeric.columns))
    return numeric[column].groupby(records["seed"]).mean()


def _numeric_columns(records: pd.DataFrame) -> pd.DataFrame:
    numeric = records.select_dtypes("number").drop(columns=["episode", "seed"], errors="ignore")
    stats = [c for c in numeric.columns if c.startswith(STAT_PREFIXES)]
    numeric[stats] = numeric[stats].fillna(0.0)  # a stat missing from an episode was never incremented
    return numeric


def _metric_column(metric: str, columns: Sequence[str]) -> str:
    if metric == "mean_reward":
        return "reward"
    if metric in columns:
        return metric
    if metric.startswith("mean_") and metric.removeprefix("mean_") in columns:
        return metric.removeprefix("mean_")
    raise ValueError(
        f"objective_metric: {metric!r} was not recorded by this trial's evaluation; recorded metrics: "
        f"{['mean_reward', *columns]}"
    )
