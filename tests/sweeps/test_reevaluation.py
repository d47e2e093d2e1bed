"""Sweep winners on fresh seeds: which seeds are fresh, the shrinkage interval's coverage, and a real sweep
whose best trials are re-evaluated on seeds disjoint from every seed the sweep used.

The coverage test simulates thousands of sweeps that select their best configurations on shared
(common-random-number) seeds, so the winners' sweep estimates are biased upwards, and checks that the
interval for "sweep estimate - true value" holds its level given that selection.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from daf_core.sweeps import (
    SweepResult,
    daf_launch_sweep,
    daf_reevaluate_sweep,
    seed_blocks,
    shrinkage_interval,
)
from daf_core.sweeps.reevaluation import FRESH_DIR
from daf_core.training.environments import TRAINING_MAP_SEED_BASE
from daf_core.visualization.html_sweep_report import daf_export_sweep_html
from tests.sweeps.helpers import sweep_config, trial_dir

# --------------------------------------------------------------------------------------------------
# The interval, by simulation
# --------------------------------------------------------------------------------------------------


def simulate_sweeps(rng, sweeps=4000, configs=8, top_k=3, sweep_seeds=5, fresh_seeds=6):
    """Sweeps in a batch: true values, sweep estimates on shared seeds, the top-k, their fresh values."""
    true = rng.normal(0.0, 0.3, (sweeps, configs))
    # One map effect per seed shared by every configuration (common random numbers), plus episode noise.
    sweep_maps = rng.normal(0.0, 0.5, (sweeps, 1, sweep_seeds))
    sweep_values = true[..., None] + sweep_maps + rng.normal(0.0, 1.0, (sweeps, configs, sweep_seeds))
    estimates = sweep_values.mean(axis=-1)
    top = np.argsort(-estimates, axis=1)[:, :top_k]
    fresh_maps = rng.normal(0.0, 0.5, (sweeps, 1, fresh_seeds))  # the same fresh seeds for every winner
    chosen_true = np.take_along_axis(true, top, axis=1)
    fresh = chosen_true[..., None] + fresh_maps + rng.normal(0.0, 1.0, (sweeps, top_k, fresh_seeds))
    return np.take_along_axis(estimates, top, axis=1), chosen_true, fresh


def test_the_shrinkage_interval_covers_the_winners_curse_at_its_level():
    sweep_estimate, true, fresh = simulate_sweeps(np.random.default_rng(15))

    mean, low, high, shrink_low, shrink_high = shrinkage_interval(sweep_estimate, fresh, 0.9)

    curse = sweep_estimate - true
    assert curse[:, 0].mean() > 0.3  # the winner's sweep estimate is well above its true value
    covered = (shrink_low <= curse) & (curse <= shrink_high)
    # 12000 intervals, correlated within a sweep (shared fresh seeds): Monte-Carlo sd about 0.004.
    assert covered.mean() == pytest.approx(0.9, abs=0.015)
    assert covered[:, 0].mean() == pytest.approx(0.9, abs=0.02)  # the winner's own, given its selection
    np.testing.assert_allclose(shrink_low, sweep_estimate - high)
    np.testing.assert_allclose(mean, fresh.mean(axis=-1))
    assert ((low <= true) & (true <= high)).mean() == pytest.approx(0.9, abs=0.015)


def test_an_interval_needs_two_fresh_seeds_and_a_level_inside_0_and_1():
    with pytest.raises(ValueError, match="at least 2 fresh seeds, got 1"):
        shrinkage_interval(1.0, [0.5])
    with pytest.raises(ValueError, match="confidence: must be in"):
        shrinkage_interval(1.0, [0.5, 0.7], confidence=95)


# --------------------------------------------------------------------------------------------------
# Which seeds are fresh
# --------------------------------------------------------------------------------------------------


def test_fresh_seeds_follow_the_sweeps_own_and_stop_short_of_the_training_maps(tmp_path):
    config = sweep_config(tmp_path, evaluation_seed=1000, episodes_per_trial=5, training_seeds=[0, 3])
    blocks = seed_blocks(config, 7)
    assert (blocks.sweep, blocks.fresh) == (range(1000, 1005), range(1005, 1012))
    assert blocks.training_maps_from == TRAINING_MAP_SEED_BASE + 10_000

    near = sweep_config(tmp_path, evaluation_seed=TRAINING_MAP_SEED_BASE, episodes_per_trial=2)
    with pytest.raises(
        ValueError,
        match=r"reevaluate_episodes: 10000 fresh seeds from 1000000002 would reach seed 1000010000",
    ):
        seed_blocks(near, 10_000)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"reevaluate_top_k": -1}, r"'reevaluate_top_k': -1 \(Input should be greater than or equal to 0\)"),
        ({"reevaluate_top_k": True}, r"'reevaluate_top_k': True \(expected a number, got a boolean\)"),
        ({"reevaluate_top_k": 2, "reevaluate_episodes": 1}, r"'reevaluate_episodes': 1 \(Input should be"),
        ({"reevaluate_top_k": 1, "episodes_per_trial": 1}, r"reevaluate_episodes: the default \(episodes"),
    ],
)
def test_bad_reevaluation_settings_are_refused_before_any_trial(tmp_path, settings, message):
    with pytest.raises(ValueError, match=message):
        sweep_config(tmp_path, **settings)


def test_fresh_seeds_that_would_reach_the_training_maps_are_refused_before_any_trial(tmp_path):
    config = sweep_config(
        tmp_path, evaluation_seed=TRAINING_MAP_SEED_BASE, reevaluate_top_k=1, reevaluate_episodes=10_000
    )
    with pytest.raises(ValueError, match="reevaluate_episodes: 10000 fresh seeds"):
        daf_launch_sweep(config)
    assert not (tmp_path / config.name).exists()


# --------------------------------------------------------------------------------------------------
# A real sweep
# --------------------------------------------------------------------------------------------------


@pytest.mark.slow(seconds=12)
def test_the_best_trials_are_re_evaluated_on_fresh_seeds_and_their_shrinkage_measured(tmp_path):
    config = sweep_config(
        tmp_path,
        search_space={"learning_rate": [1e-3, 3e-2], "ent_coef": [0.0]},
        training_steps=512,
        reevaluate_top_k=2,
        reevaluate_episodes=3,
    )

    result = daf_launch_sweep(config)

    top = result.top_trials(2)
    assert [(e.rank, e.trial_id) for e in result.fresh_evaluations] == [
        (1, top[0].trial_id),
        (2, top[1].trial_id),
    ]
    for trial, fresh in zip(top, result.fresh_evaluations, strict=True):
        folder = trial_dir(config, trial)
        swept = pd.read_parquet(folder / "evaluation" / "episodes.parquet")
        again = pd.read_parquet(folder / FRESH_DIR / "episodes.parquet")
        # Fresh seeds: never an evaluation seed of the sweep (every trial has the same), never a training map.
        assert sorted(set(swept["seed"])) == [1000, 1001]
        assert sorted(set(again["seed"])) == [1002, 1003, 1004] and fresh.fresh_seeds == [1002, 1004]
        assert again["seed"].max() < TRAINING_MAP_SEED_BASE
        assert set(again["policy"]) == set(swept["policy"]) == {"seed0"}  # the trial's own checkpoints
        assert len(again) == 3
        # Shrinkage: the sweep's mean reward minus the fresh one, with the interval around it.
        assert fresh.sweep_estimate == pytest.approx(swept["reward"].mean()) == trial.primary_metric
        assert fresh.fresh_estimate == pytest.approx(again["reward"].mean())
        assert fresh.shrinkage == pytest.approx(swept["reward"].mean() - again["reward"].mean())
        assert fresh.shrinkage_ci_low <= fresh.shrinkage <= fresh.shrinkage_ci_high
        assert fresh.sweep_seeds == [1000, 1001] and fresh.fresh_episodes == 3

    # Kept in results.json and in the study: a later run of the finished sweep still reports them.
    saved = SweepResult.load_json(tmp_path / config.name / "results.json")
    assert saved.fresh_evaluations == result.fresh_evaluations
    assert daf_launch_sweep(config).fresh_evaluations == result.fresh_evaluations

    # And on the sweep's page.
    page = daf_export_sweep_html(tmp_path / config.name, tmp_path / "sweep.html").read_text()
    assert '<section id="fresh-seeds">' in page and 'data-figure="fresh_seeds"' in page


def test_an_unfinished_sweep_is_not_re_evaluated(tmp_path):
    with pytest.raises(ValueError, match=r"has 0 of 4 trials finished; its best trials may still change"):
        daf_reevaluate_sweep(sweep_config(tmp_path), top_k=1)
