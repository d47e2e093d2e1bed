"""The promotion rule, measured: how often it promotes a candidate that is no better (its level), how
often it promotes a clearly better one (its power), that one regressing mission vetoes a suite-wide gain,
and that records which do not pair are refused with the field and value named.

The simulations call :func:`promotion_decision` itself on benchmark-shaped records: two missions (as the
``quick`` suite), both policies on the same seeds, each seed's episodes sharing a seed effect (common
random numbers make the paired differences far less noisy than the rewards). A rate is checked against
its bound with a one-sided binomial test (``scipy.stats.binomtest``) at 0.001, so a correct rule fails
such a check about once in a thousand runs, and a rule 1.5 points over its level fails it almost always.
"""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from daf_core.deployment import PromotionDecision, promotion_decision

ALPHA = 0.05
MISSIONS = ("tiny_walk", "explore")
#: Simulated benchmarks per episode count for a level (5% +- 1.4 points); fewer for the other nulls.
LEVEL_SIMULATIONS = 1000
OTHER_NULL_SIMULATIONS = 600
POWER_SIMULATIONS = 200


def records(candidate: np.ndarray, incumbent: np.ndarray, missions=MISSIONS, seeds=None) -> pd.DataFrame:
    """Per-episode records of ``candidate[seed, mission]`` and ``incumbent[seed, mission]`` rewards."""
    n, m = candidate.shape
    seeds = np.arange(n) if seeds is None else np.asarray(seeds)
    return pd.DataFrame(
        {
            "policy": np.repeat(["candidate", "incumbent"], n * m),
            "mission": np.tile(np.repeat(missions, n), 2),
            "seed": np.tile(seeds, 2 * m),
            "reward": np.concatenate([candidate.T.ravel(), incumbent.T.ravel()]),
        }
    )


def benchmark(rng, n: int, gain=(0.0, 0.0), *, skewed: bool = False) -> pd.DataFrame:
    """One simulated benchmark: per-mission baselines, a seed effect both policies share, episode noise
    (normal, or exponential for a skewed reward), and the candidate's true mean gain per mission."""
    base = np.array([1.0, 5.0])
    seed_effect = rng.normal(0.0, 1.0, (n, 1))
    noise = (lambda: rng.exponential(1.0, (n, 2))) if skewed else (lambda: rng.normal(0.0, 1.0, (n, 2)))
    incumbent = base + seed_effect + noise()
    candidate = base + seed_effect + noise() + np.asarray(gain)
    return records(candidate, incumbent)


def promotion_rate(rng, n: int, simulations: int, gain=(0.0, 0.0), *, skewed: bool = False) -> int:
    return sum(
        promotion_decision(benchmark(rng, n, gain, skewed=skewed), "candidate", "incumbent").promote
        for _ in range(simulations)
    )


def not_above(count: int, trials: int, rate: float) -> bool:
    """No evidence (one-sided binomial test at 0.001) that the true rate exceeds ``rate``."""
    return scipy.stats.binomtest(count, trials, rate, alternative="greater").pvalue > 0.001


# -- the level: false promotion ------------------------------------------------------------------------


@pytest.mark.parametrize("n", [5, 10, 20])
def test_an_equal_candidate_is_promoted_at_most_alpha_of_the_time(n):
    """Under the null (the candidate plays as the incumbent does) the rule promotes <= 5%.

    Measured (seeded, 1000 benchmarks each): 5 episodes 5.3%, 10 episodes 4.8%, 20 episodes 5.5%; rule 1
    alone is exact for normal differences and the regression veto only removes promotions.
    """
    rng = np.random.default_rng(1200 + n)
    promoted = promotion_rate(rng, n, LEVEL_SIMULATIONS)
    assert not_above(promoted, LEVEL_SIMULATIONS, ALPHA), f"{promoted}/{LEVEL_SIMULATIONS} at n = {n}"
    # Not a rule that simply never promotes: its level is used, not wasted.
    assert promoted / LEVEL_SIMULATIONS > 0.02


def test_a_trade_between_missions_with_no_net_gain_is_rarely_promoted():
    """The least favourable null: +0.5 on one mission, -0.5 on the other (mean gain 0). Rule 1 is at its
    level; the veto removes a few more. Measured 4.5% of 600 at 10 episodes."""
    rng = np.random.default_rng(12)
    promoted = promotion_rate(rng, 10, OTHER_NULL_SIMULATIONS, gain=(0.5, -0.5))
    assert not_above(promoted, OTHER_NULL_SIMULATIONS, ALPHA), promoted


def test_skewed_rewards_keep_the_level():
    """Exponential episode noise: the paired differences are symmetric, so the t bound keeps about its
    level (measured 7.0% of 600 at 5 episodes: within binomial noise of 5%, one-sided p = 0.02)."""
    rng = np.random.default_rng(5)
    promoted = promotion_rate(rng, 5, OTHER_NULL_SIMULATIONS, skewed=True)
    assert not_above(promoted, OTHER_NULL_SIMULATIONS, ALPHA), promoted


# -- the power: true promotion ------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "at_least"), [(5, 0.75), (10, 0.97), (20, 0.99)])
def test_a_clearly_better_candidate_is_promoted(n, at_least):
    """A gain of 1.5 episode-noise SDs on both missions. Measured (seeded, 200 benchmarks): 5 episodes
    82%, 10 episodes 99.5%, 20 episodes 100%."""
    rng = np.random.default_rng(2000 + n)
    promoted = promotion_rate(rng, n, POWER_SIMULATIONS, gain=(1.5, 1.5))
    assert promoted / POWER_SIMULATIONS >= at_least, f"{promoted}/{POWER_SIMULATIONS} at n = {n}"


# -- the veto: a regressing mission -------------------------------------------------------------------


def test_one_regressing_mission_vetoes_a_suite_wide_gain():
    """+4 on tiny_walk, -2 on explore: the suite mean improves by +1 and its bound is above zero, but
    explore's loss is Holm-significant, so the candidate is refused with explore named."""
    rng = np.random.default_rng(7)
    decision = promotion_decision(benchmark(rng, 10, gain=(4.0, -2.0)), "candidate", "incumbent")
    assert decision.lower_bound > 0 and decision.mean_improvement > 0.5
    assert not decision.promote
    rows = {row.mission: row for row in decision.missions}
    assert rows["explore"].regression and not rows["tiny_walk"].regression
    assert rows["explore"].ci_high < 0 and rows["explore"].p_regression_adjusted < ALPHA
    assert any("'explore' regressed" in reason for reason in decision.reasons)


def test_the_veto_refuses_most_such_candidates():
    """The same trade at 10 episodes, 200 benchmarks: the suite bound is above zero in 93.5% (rule 1
    alone would promote those), the rule promotes 1% (measured)."""
    rng = np.random.default_rng(8)
    decisions = [
        promotion_decision(benchmark(rng, 10, gain=(4.0, -2.0)), "candidate", "incumbent")
        for _ in range(POWER_SIMULATIONS)
    ]
    assert np.mean([d.lower_bound > 0 for d in decisions]) >= 0.85
    assert np.mean([d.promote for d in decisions]) <= 0.06


# -- what a decision holds ----------------------------------------------------------------------------


def test_a_decision_is_json_and_its_numbers_match_scipy():
    rng = np.random.default_rng(3)
    frame = benchmark(rng, 6, gain=(1.0, 0.5))
    decision = promotion_decision(frame, "candidate", "incumbent", significance_level=0.1)
    assert isinstance(decision, PromotionDecision)
    json.dumps(decision.to_dict(), allow_nan=False)
    assert decision.to_dict() == dataclasses.asdict(decision)
    wide = frame.pivot(index="seed", columns=["policy", "mission"], values="reward")
    diffs = wide["candidate"][list(MISSIONS)].to_numpy() - wide["incumbent"][list(MISSIONS)].to_numpy()
    per_seed = diffs.mean(axis=1)
    expected = scipy.stats.ttest_1samp(per_seed, 0.0, alternative="greater")
    assert decision.mean_improvement == pytest.approx(per_seed.mean())
    assert decision.lower_bound == pytest.approx(expected.confidence_interval(0.9).low)
    assert decision.p_value == pytest.approx(expected.pvalue)
    assert (decision.n_seeds, decision.seeds, decision.significance_level) == (6, list(range(6)), 0.1)
    explore = decision.missions[1]
    two_sided = scipy.stats.ttest_1samp(diffs[:, 1], 0.0).confidence_interval(0.8)
    assert (explore.mission, explore.n) == ("explore", 6)
    assert (explore.ci_low, explore.ci_high) == pytest.approx((two_sided.low, two_sided.high))
    assert explore.p_regression == pytest.approx(
        scipy.stats.ttest_1samp(diffs[:, 1], 0.0, alternative="less").pvalue
    )


def test_other_policies_and_columns_in_the_records_are_ignored():
    rng = np.random.default_rng(4)
    frame = benchmark(rng, 5, gain=(2.0, 2.0))
    extra = frame[frame["policy"] == "incumbent"].assign(policy="random", steps=10)
    decision = promotion_decision(pd.concat([frame, extra]), "candidate", "incumbent")
    assert decision == promotion_decision(frame, "candidate", "incumbent")
    assert decision.promote


def test_constant_differences_follow_the_stated_rule():
    """Deterministic policies: every seed's difference the same. A constant gain promotes (the bound
    is the point); a constant zero does not; a constant loss on one mission is a regression."""
    incumbent = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    gain = promotion_decision(records(incumbent + 0.5, incumbent), "candidate", "incumbent")
    assert gain.promote and gain.lower_bound == pytest.approx(0.5)
    assert any("no width" in reason for reason in gain.reasons)
    same = promotion_decision(records(incumbent.copy(), incumbent), "candidate", "incumbent")
    assert not same.promote and same.lower_bound == 0.0
    traded = promotion_decision(records(incumbent + [2.0, -0.5], incumbent), "candidate", "incumbent")
    assert traded.lower_bound == pytest.approx(0.75)
    assert [row.regression for row in traded.missions] == [False, True]
    assert not traded.promote


# -- records that cannot be judged --------------------------------------------------------------------


def good_records(n=4):
    rng = np.random.default_rng(9)
    return benchmark(rng, n, gain=(1.0, 1.0))


def test_a_missing_policy_is_named():
    with pytest.raises(
        ValueError, match=r"incumbent: no records of policy 'served'.*\['candidate', 'incumbent'\]"
    ):
        promotion_decision(good_records(), "candidate", "served")
    with pytest.raises(ValueError, match="candidate/incumbent: must be two policies"):
        promotion_decision(good_records(), "candidate", "candidate")


def test_unpaired_seeds_are_refused():
    frame = good_records()
    dropped = frame.drop(frame[(frame["policy"] == "incumbent") & (frame["mission"] == "explore")].index[2])
    with pytest.raises(
        ValueError, match=r"unpaired seeds: 'incumbent' has no episode on mission 'explore' with seed 2"
    ):
        promotion_decision(dropped, "candidate", "incumbent")
    shifted = frame.assign(seed=np.where(frame["policy"] == "candidate", frame["seed"] + 100, frame["seed"]))
    with pytest.raises(ValueError, match="unpaired seeds"):
        promotion_decision(shifted, "candidate", "incumbent")


def test_missions_with_different_seeds_are_refused():
    frame = good_records()
    moved = frame.assign(seed=np.where(frame["mission"] == "explore", frame["seed"] + 10, frame["seed"]))
    with pytest.raises(
        ValueError,
        match=r"mission 'explore' has seeds \[10, 11, 12, 13\], mission 'tiny_walk' \[0, 1, 2, 3\]",
    ):
        promotion_decision(moved, "candidate", "incumbent")


def test_too_few_seeds_and_repeated_episodes_are_refused():
    with pytest.raises(ValueError, match=r"n = 1 paired seed\(s\) per mission; the t bound needs at least 2"):
        promotion_decision(good_records(n=1), "candidate", "incumbent")
    frame = good_records()
    with pytest.raises(
        ValueError, match=r"policy 'candidate' has 2 episodes on mission 'tiny_walk' with seed 0"
    ):
        promotion_decision(pd.concat([frame, frame.iloc[:1]]), "candidate", "incumbent")


def test_bad_records_and_levels_are_refused():
    frame = good_records()
    with pytest.raises(ValueError, match=r"records: missing column\(s\) \['seed'\]"):
        promotion_decision(frame.drop(columns="seed"), "candidate", "incumbent")
    with pytest.raises(ValueError, match="records: 1 reward"):
        promotion_decision(
            frame.assign(reward=frame["reward"].where(frame.index != 3)), "candidate", "incumbent"
        )
    for bad in (0, 0.5, 1.5, True, "0.05"):
        with pytest.raises(ValueError, match="significance_level: expected a number in"):
            promotion_decision(frame, "candidate", "incumbent", significance_level=bad)
