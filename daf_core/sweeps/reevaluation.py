"""Sweep winners on fresh seeds: the k best trials measured again on episodes no trial was chosen on.

**Why.** A sweep keeps the trial with the best objective, and each objective is an estimate from a few
episodes. Among many trials the best estimate belongs, on average, to a trial that was lucky as well as
good, so the winner's objective overstates what its checkpoints do: the winner's curse. Evaluating the
best trials' checkpoints again, on seeds the selection never saw, measures by how much.

**Which seeds are fresh** (the rule that makes it provable, :func:`seed_blocks`). Every trial, and every
early-stopping chunk, is evaluated on the same episode seeds ``evaluation_seed`` ..
``evaluation_seed + episodes_per_trial - 1`` (``evaluation_seed`` and ``episodes_per_trial`` are part of
the study's identity, so they cannot change between runs of a sweep). Training maps come from seeds at or
above ``TRAINING_MAP_SEED_BASE + min(training_seeds) * 10**6 + 10**4``
(:class:`~daf_core.training.environments.MissionEnvCreator`; an environment's map seed only grows).
The fresh seeds are the block right after the sweep's: ``episodes`` seeds from
``evaluation_seed + episodes_per_trial``. They are disjoint from the evaluation block by construction,
and a block that would reach the training maps is refused.

**Shrinkage and its interval.** shrinkage = S - F, with S the trial's objective in the sweep and F the
same objective (same checkpoints, missions, policy arguments) on the fresh seeds. Once the sweep is over
S is a known number, so the curse is S - mu, mu the true objective of these checkpoints, and only mu is
unknown. F estimates mu without bias whatever the selection did, because no selection saw its episodes.
The interval is therefore S minus the Student t interval of F, over the objective's value per fresh seed
(:func:`~daf_core.sweeps.trial.objective_per_episode_seed`: episodes of one seed share their map across
missions' training seeds, so seeds, not episodes, are the independent units). Its coverage holds given
the selection; tests/sweeps/test_reevaluation.py checks it by simulating sweeps that select.

Why not Welch's interval of (sweep episodes - fresh episodes): it is an interval for the difference of
two populations' means, and both seed blocks are draws of the same maps, so that difference is zero. What
is not zero is the selection's bias, which exists only given the selection, where the sweep's episodes
are no longer a random sample (they are the ones that made the trial win). Pairing by mission pairs
nothing either: fresh seeds are other maps. When minimizing, the curse shows as a negative shrinkage.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from daf_core.config import DAFConfig, DAFSweepConfig
from daf_core.sweeps.results import FreshEvaluation, SweepResult

if TYPE_CHECKING:
    import pandas as pd

    from daf_core.sweeps.study import SweepStudy

logger = logging.getLogger(__name__)

#: Where a re-evaluated trial's fresh episodes are recorded, inside its trial directory.
FRESH_DIR = "fresh_evaluation"
#: Map seeds of training environment slots start this far above a training seed's base (slot 1).
_FIRST_TRAINING_SLOT_OFFSET = 10_000


@dataclass(frozen=True)
class SeedBlocks:
    """The seeds a sweep evaluated its trials on, the fresh ones, and where training maps begin."""

    sweep: range
    fresh: range
    training_maps_from: int


def seed_blocks(config: DAFSweepConfig, episodes: int) -> SeedBlocks:
    """The sweep's evaluation seeds and ``episodes`` fresh ones (see the module docstring for the rule);
    ``ValueError`` when the fresh block would reach the seeds training maps come from."""
    from daf_core.training.environments import TRAINING_MAP_SEED_BASE  # noqa: PLC0415 - imports PufferLib

    sweep = range(config.evaluation_seed, config.evaluation_seed + config.episodes_per_trial)
    fresh = range(sweep.stop, sweep.stop + episodes)
    training = TRAINING_MAP_SEED_BASE + min(config.training_seeds) * 1_000_000 + _FIRST_TRAINING_SLOT_OFFSET
    if fresh.stop > training:
        raise ValueError(
            f"reevaluate_episodes: {episodes} fresh seeds from {fresh.start} would reach seed {training}, "
            f"where the training maps of training_seeds {config.training_seeds} begin; lower "
            "evaluation_seed or reevaluate_episodes"
        )
    return SeedBlocks(sweep, fresh, training)


def check_reevaluation(config: DAFSweepConfig, top_k: int, episodes: int | None) -> int:
    """The number of fresh episodes (``episodes``, by default ``episodes_per_trial``), checked with
    ``top_k`` before any trial runs, so a bad value is refused before the sweep spends its budget."""
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"reevaluate_top_k: must be a positive integer, got {top_k!r}")
    given = episodes
    episodes = config.episodes_per_trial if given is None else given
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 2:
        raise ValueError(
            f"reevaluate_episodes: must be an integer >= 2 (an interval needs two fresh seeds), got "
            f"{episodes!r}" + (" (default: episodes_per_trial)" if given is None else "")
        )
    seed_blocks(config, episodes)
    return episodes


def shrinkage_interval(
    sweep_estimate: ArrayLike, fresh_values: ArrayLike, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(fresh mean, its t interval's low and high, and the shrinkage interval's low and high).

    ``fresh_values`` holds the objective per fresh seed along its last axis; leading axes are independent
    problems (the coverage simulation passes thousands at once). The shrinkage interval is
    ``sweep_estimate`` minus the fresh mean's interval: ``[S - high, S - low]``. Constant fresh values
    give the point as interval (there is no spread to measure).
    """
    import scipy.stats  # noqa: PLC0415 - keeps importing daf_core.sweeps light

    values = np.asarray(fresh_values, dtype=float)
    n = values.shape[-1]
    if n < 2:
        raise ValueError(f"fresh_values: an interval needs at least 2 fresh seeds, got {n}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence: must be in (0, 1), got {confidence!r}")
    mean = values.mean(axis=-1)
    half = scipy.stats.t.ppf((1.0 + confidence) / 2.0, n - 1) * values.std(axis=-1, ddof=1) / np.sqrt(n)
    low, high = mean - half, mean + half
    sweep = np.asarray(sweep_estimate, dtype=float)
    return mean, low, high, sweep - high, sweep - low


def reevaluate_top_trials(
    sweep: SweepStudy, top_k: int, episodes: int | None = None, confidence: float = 0.95
) -> list[FreshEvaluation]:
    """Evaluate the ``top_k`` best complete trials (all of them when fewer) on fresh seeds, keep the
    result in the study (every later ``results.json`` has it) and return it, best first.

    Refuses a sweep that has not finished (its best trials may still change) or has no complete trial.
    A rerun reuses the fresh episodes already recorded in each trial's ``fresh_evaluation/``.
    """
    from daf_core.sweeps.study import collect_results, store_fresh_evaluations  # noqa: PLC0415
    from daf_core.sweeps.trial import evaluate_checkpoints  # noqa: PLC0415 - imports the evaluation engine

    plan = sweep.plan
    config = plan.config
    episodes = check_reevaluation(config, top_k, episodes)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence: must be in (0, 1), got {confidence!r}")
    blocks = seed_blocks(config, episodes)
    result = collect_results(sweep)
    if not result.is_finished:
        raise ValueError(
            f"sweep {config.name!r} has {result.finished_trials()} of {plan.num_trials} trials finished; "
            "its best trials may still change, so it is re-evaluated only once finished"
        )
    top = result.top_trials(top_k)
    if not top:
        raise ValueError(f"sweep {config.name!r} has no complete trial to re-evaluate ({result.counts()})")
    if len(top) < top_k:
        logger.info("sweep %s: only %d complete trials; re-evaluating all of them", config.name, len(top))
    evaluations = []
    for rank, trial in enumerate(top, start=1):
        first = trial.retry_of if trial.retry_of is not None else trial.trial_id
        records = evaluate_checkpoints(
            plan,
            trial.hyperparameters,
            plan.trial_dir(first),
            plan.trial_checkpoint_dir(first),
            trial.run_dirs,
            episodes=episodes,
            seed=blocks.fresh.start,
            name=FRESH_DIR,
        )
        evaluation = _measure(
            trial.trial_id, rank, float(trial.primary_metric), records, config, blocks, confidence
        )
        logger.info(
            "sweep %s: trial %d (rank %d): %s %.4g in the sweep, %.4g on fresh seeds; shrinkage %+.4g "
            "[%.4g, %.4g]",
            config.name,
            trial.trial_id,
            rank,
            config.objective_metric,
            evaluation.sweep_estimate,
            evaluation.fresh_estimate,
            evaluation.shrinkage,
            evaluation.shrinkage_ci_low,
            evaluation.shrinkage_ci_high,
        )
        evaluations.append(evaluation)
    store_fresh_evaluations(sweep, evaluations)
    return evaluations


def _measure(
    trial_id: int,
    rank: int,
    sweep_estimate: float,
    records: pd.DataFrame,
    config: DAFSweepConfig,
    blocks: SeedBlocks,
    confidence: float,
) -> FreshEvaluation:
    """The trial's fresh estimate from its fresh records, and its shrinkage with the interval."""
    from daf_core.sweeps.trial import objective_per_episode_seed, score_records  # noqa: PLC0415

    fresh, _ = score_records(records, config.objective_metric)
    per_seed = objective_per_episode_seed(records, config.objective_metric)
    if list(per_seed.index) != list(blocks.fresh):
        raise RuntimeError(
            f"trial {trial_id}: fresh records hold seeds {list(per_seed.index)}, expected "
            f"{list(blocks.fresh)}"
        )
    values = per_seed.to_numpy()
    _, low, high, shrink_low, shrink_high = shrinkage_interval(sweep_estimate, values, confidence)
    constant = bool(np.ptp(values) == 0)
    return FreshEvaluation(
        trial_id=trial_id,
        rank=rank,
        sweep_estimate=sweep_estimate,
        fresh_estimate=fresh,
        fresh_ci_low=float(low),
        fresh_ci_high=float(high),
        shrinkage=sweep_estimate - fresh,
        shrinkage_ci_low=float(shrink_low),
        shrinkage_ci_high=float(shrink_high),
        sweep_seeds=[blocks.sweep.start, blocks.sweep.stop - 1],
        fresh_seeds=[blocks.fresh.start, blocks.fresh.stop - 1],
        sweep_episodes=config.episodes_per_trial,
        fresh_episodes=len(values),
        confidence=confidence,
        note="the objective was the same on every fresh seed: the interval is the point" if constant else "",
    )


def daf_reevaluate_sweep(
    sweep_config: DAFSweepConfig | str | Path,
    top_k: int,
    episodes: int | None = None,
    *,
    daf_config: DAFConfig | None = None,
    confidence: float = 0.95,
) -> SweepResult:
    """Re-evaluate a finished sweep's ``top_k`` best trials on ``episodes`` fresh seeds (default: the
    sweep's ``episodes_per_trial``) and return its results with ``fresh_evaluations`` (also written to
    ``results.json``). ``daf_config`` as for :func:`~daf_core.sweeps.daf_launch_sweep` (the device)."""
    from daf_core.sweeps.plan import plan_sweep, sweep_daf_config  # noqa: PLC0415
    from daf_core.sweeps.study import open_study, write_results  # noqa: PLC0415

    config = (
        sweep_config if isinstance(sweep_config, DAFSweepConfig) else DAFSweepConfig.from_file(sweep_config)
    )
    config = config.model_copy(update={"output_dir": Path(config.output_dir).absolute()})
    check_reevaluation(config, top_k, episodes)
    plan = plan_sweep(config, sweep_daf_config(config, daf_config))
    sweep = open_study(plan)
    reevaluate_top_trials(sweep, top_k, episodes, confidence)
    return write_results(sweep)
