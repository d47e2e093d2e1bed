"""Bradley-Terry ratings: the model's numbers, the order of a pool, and a duplicate changing nothing."""

import numpy as np
import pytest
import scipy.special

from daf_core.crossplay import bradley_terry_ratings, default_splits, fit_bradley_terry, round_robin_lineups

from .synthetic import normal_rewards, play

SKILL = {"strong": 1.0, "good": 0.6, "fair": 0.3, "weak": 0.0}


def pool_records(skill, seeds=10, seed=0):
    rng = np.random.default_rng(seed)
    lineups = round_robin_lineups(list(skill), default_splits(4))
    return play(lineups, ["explore"], range(seeds), normal_rewards(skill, seed_sd=0.5, noise_sd=0.6, rng=rng))


def test_two_policies_rating_gap_is_the_log_odds_of_the_smoothed_win_fraction():
    wins = np.array([[0.0, 7.0], [3.0, 0.0]])
    games = np.array([[0.0, 10.0], [10.0, 0.0]])
    ratings = fit_bradley_terry(wins, games)
    assert ratings[0] - ratings[1] == pytest.approx(scipy.special.logit(7.5 / 11), abs=1e-6)
    assert ratings.sum() == pytest.approx(0.0, abs=1e-9)


def test_a_policy_that_always_wins_gets_a_finite_rating():
    ratings = fit_bradley_terry(np.array([[0.0, 5.0], [0.0, 0.0]]), np.array([[0.0, 5.0], [5.0, 0.0]]))
    assert np.isfinite(ratings).all() and ratings[0] > ratings[1]


def test_ratings_order_a_pool_by_skill_with_rank_intervals():
    ratings = bradley_terry_ratings(pool_records(SKILL), n_resamples=300)
    assert [r["policy"] for r in ratings] == list(SKILL)
    assert [r["rank"] for r in ratings] == [1, 2, 3, 4]
    for r in ratings:
        assert r["ci_low"] <= r["rating"] <= r["ci_high"]
        assert r["rank_low"] <= r["rank"] <= r["rank_high"]
    assert ratings[0]["rank_high"] < ratings[-1]["rank_low"]  # strong and weak are told apart


def test_the_bootstrap_is_seeded():
    records = pool_records(SKILL, seeds=6)
    first = bradley_terry_ratings(records, n_resamples=200, seed=1)
    assert bradley_terry_ratings(records, n_resamples=200, seed=1) == first
    assert bradley_terry_ratings(records, n_resamples=200, seed=2) != first


def test_adding_a_duplicate_of_a_weak_policy_does_not_change_the_order_of_the_others():
    for seed in range(5):
        records = pool_records(SKILL | {"weak_copy": 0.0}, seed=seed)
        without_copy = records[~records["agent_policies"].map(lambda seats: "weak_copy" in seats)]
        alone = bradley_terry_ratings(without_copy, n_resamples=50)
        doubled = bradley_terry_ratings(records, n_resamples=50)
        others = [r["policy"] for r in doubled if r["policy"] not in ("weak", "weak_copy")]
        assert others == [r["policy"] for r in alone if r["policy"] != "weak"]
        gap = {r["policy"]: r["rating"] for r in alone}
        gap_doubled = {r["policy"]: r["rating"] for r in doubled}
        # Not only the order: the gaps between the others barely move.
        assert gap_doubled["strong"] - gap_doubled["fair"] == pytest.approx(
            gap["strong"] - gap["fair"], abs=0.25
        )


def test_no_mixed_episode_means_no_ratings():
    records = play([{"a": 2}, {"b": 2}], ["m"], [0, 1], lambda *_: 1.0)
    assert bradley_terry_ratings(records) == []


@pytest.mark.parametrize(("field", "value"), [("confidence", 1.0), ("n_resamples", 0)])
def test_settings_are_checked(field, value):
    with pytest.raises(ValueError, match=f"{field}: must be"):
        bradley_terry_ratings(pool_records(SKILL, seeds=2), **{field: value})


def test_policies_that_never_met_have_no_common_scale():
    records = play([{"a": 1, "b": 1}, {"c": 1, "d": 1}, {"e": 2}], ["m"], [0, 1], lambda p, *_: ord(p))
    with pytest.raises(
        ValueError, match=r"2 groups that never played together.*\[\['a', 'b'\], \['c', 'd'\]\]"
    ):
        bradley_terry_ratings(records)
    ratings = bradley_terry_ratings(records[records["lineup"] != "c:1+d:1"])
    assert [r["policy"] for r in ratings] == ["b", "a"]  # e only played itself: no rating
