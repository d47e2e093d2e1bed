"""compare_across_missions: the mean over missions of per-mission differences, checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from daf_core.stats import (
    cohens_dz,
    compare_across_missions,
    compare_samples,
    hedges_g,
    paired_win_rate,
    probability_of_improvement,
)
from daf_core.stats.across_missions import stratified_permutation_test


def brute_force_poi(a, b):
    wins = sum(1.0 if x > y else 0.5 if x == y else 0.0 for x in a for y in b)
    return wins / (len(a) * len(b))


PAIRED_A = [3.0, 4.5, 5.0, 6.0, 2.0]
PAIRED_B = [1.0, 4.0, 3.0, 4.5, 2.5]
UNPAIRED_A = [30.0, 45.0, 50.0, 62.0]
UNPAIRED_B = [10.0, 40.0, 35.0, 20.0, 28.0, 33.0]
MIXED = {"paired": (PAIRED_A, PAIRED_B, True), "unpaired": (UNPAIRED_A, UNPAIRED_B, False)}


def test_mixed_missions_stratified_t_from_the_formula():
    result = compare_across_missions(MIXED, names=("x", "y"), seed=0)
    m = 2
    d = np.subtract(PAIRED_A, PAIRED_B)
    components = [
        (np.var(d, ddof=1) / (5 * m**2), 4),
        (np.var(UNPAIRED_A, ddof=1) / (4 * m**2), 3),
        (np.var(UNPAIRED_B, ddof=1) / (6 * m**2), 5),
    ]
    total = sum(v for v, _ in components)
    df = total**2 / sum(v**2 / k for v, k in components)
    diff = (d.mean() + np.mean(UNPAIRED_A) - np.mean(UNPAIRED_B)) / 2
    t = diff / math.sqrt(total)
    half = scipy.stats.t.ppf(0.975, df) * math.sqrt(total)

    assert (result.policy_a, result.policy_b, result.mission) == ("x", "y", "all")
    assert result.test_name == "stratified_t" and result.nonparametric_test == "stratified_permutation"
    assert not result.paired and (result.n_a, result.n_b) == (9, 11)
    assert result.mean_a == pytest.approx((np.mean(PAIRED_A) + np.mean(UNPAIRED_A)) / 2)
    assert result.mean_diff == pytest.approx(diff)
    assert result.statistic == pytest.approx(t)
    assert result.p_value == pytest.approx(2 * scipy.stats.t.sf(abs(t), df))
    assert (result.mean_diff_ci_low, result.mean_diff_ci_high) == pytest.approx((diff - half, diff + half))


def test_probability_of_improvement_is_the_mean_over_missions_not_pooled():
    # On the large-scale mission a wins every pair; on the small one it loses most. Pooling the episodes
    # would let the large mission's scores beat the small mission's, inflating the PoI.
    samples = {
        "small": ([0.1, 0.2, 0.3], [0.25, 0.35, 0.4], False),
        "large": ([60.0, 70.0], [50.0, 55.0], False),
    }
    result = compare_across_missions(samples)
    per_mission = [brute_force_poi(a, b) for a, b, _ in samples.values()]
    assert result.probability_of_improvement == pytest.approx(np.mean(per_mission))  # (2/9 + 1) / 2
    pooled = brute_force_poi([0.1, 0.2, 0.3, 60.0, 70.0], [0.25, 0.35, 0.4, 50.0, 55.0])
    assert result.probability_of_improvement != pytest.approx(pooled)
    assert result.paired_win_rate is None


def test_all_paired_missions_average_win_rates_and_cohens_dz():
    samples = {
        "m1": (PAIRED_A, PAIRED_B, True),
        "m2": ([1.0, 2.0, 3.0, 4.0], [1.5, 1.0, 2.0, 2.0], True),
    }
    result = compare_across_missions(samples)
    assert result.paired
    assert result.paired_win_rate == pytest.approx(
        np.mean([paired_win_rate(PAIRED_A, PAIRED_B), paired_win_rate(*samples["m2"][:2])])
    )
    dz = [cohens_dz(a, b) for a, b, _ in samples.values()]
    assert result.effect_size_name == "mean_cohens_dz"
    assert result.effect_size == pytest.approx(np.mean(dz))
    var = sum(1 / n + e**2 / (2 * n) for e, n in zip(dz, (5, 4), strict=True)) / 4
    half = 1.959964 * math.sqrt(var)
    assert (result.effect_ci_low, result.effect_ci_high) == pytest.approx(
        (np.mean(dz) - half, np.mean(dz) + half), rel=1e-5
    )


def test_mixed_missions_average_hedges_g():
    result = compare_across_missions(MIXED)
    assert result.effect_size_name == "mean_hedges_g"
    assert result.effect_size == pytest.approx(
        (hedges_g(PAIRED_A, PAIRED_B) + hedges_g(UNPAIRED_A, UNPAIRED_B)) / 2
    )


@pytest.mark.parametrize("paired", [True, False])
def test_one_mission_is_exactly_the_per_mission_t_test(paired):
    a, b = (PAIRED_A, PAIRED_B) if paired else (UNPAIRED_A, UNPAIRED_B)
    aggregate = compare_across_missions({"only": (a, b, paired)})
    single = compare_samples(a, b, paired=paired)
    assert aggregate.p_value == pytest.approx(single.p_value)
    assert (aggregate.mean_diff_ci_low, aggregate.mean_diff_ci_high) == pytest.approx(
        (single.mean_diff_ci_low, single.mean_diff_ci_high)
    )
    assert aggregate.probability_of_improvement == pytest.approx(probability_of_improvement(a, b))


def test_permutation_test_matches_the_exact_sign_flip_distribution():
    # Three positive distinct paired differences: of the 8 sign patterns only all-plus and all-minus are
    # as extreme, so the exact two-sided p-value is 2/8.
    strata = {"m": (np.array([2.0, 4.0, 7.0]), np.array([1.0, 2.0, 4.0]), True)}
    statistic, p = stratified_permutation_test(strata, n_resamples=20000, seed=1)
    assert statistic == pytest.approx(2.0)
    assert p == pytest.approx(0.25, abs=0.015)
    assert stratified_permutation_test(strata, n_resamples=200, seed=1) == stratified_permutation_test(
        strata, n_resamples=200, seed=1
    )


def test_seed_and_n_resamples_drive_the_permutation_test():
    first = compare_across_missions(MIXED, seed=0, n_resamples=300)
    assert first == compare_across_missions(MIXED, seed=0, n_resamples=300)
    assert (
        first.p_value_nonparametric
        != compare_across_missions(MIXED, seed=1, n_resamples=300).p_value_nonparametric
    )
    # The smallest attainable p-value is 1 / (1 + n_resamples).
    separated = {"m": ([10.0, 11.0, 12.0, 13.0, 14.0, 15.0], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], False)}
    assert compare_across_missions(separated, n_resamples=99).p_value_nonparametric == pytest.approx(0.01)


def test_degenerate_aggregates_are_explained():
    too_few = compare_across_missions({"m1": ([1.0], [2.0], True), "m2": (PAIRED_A, PAIRED_B, True)})
    assert too_few.p_value is None and not too_few.significant
    assert "too few samples" in too_few.note and "['m1']" in too_few.note

    same = compare_across_missions(
        {"m1": ([1.0, 1.0], [1.0, 1.0], False), "m2": ([0.0] * 3, [0.0] * 3, True)}
    )
    assert (same.p_value, same.mean_diff_ci_low, same.mean_diff_ci_high) == (1.0, 0.0, 0.0)
    assert same.effect_size == 0.0 and same.effect_ci_low is None

    shifted = compare_across_missions(
        {"m1": ([2.0] * 4, [1.0] * 4, False), "m2": ([5.0] * 3, [3.0] * 3, False)}
    )
    assert shifted.test_name == "stratified_permutation" and shifted.p_value == shifted.p_value_nonparametric
    assert (shifted.mean_diff_ci_low, shifted.mean_diff_ci_high) == (1.5, 1.5)
    assert shifted.effect_size is None and "effect size undefined" in shifted.note


def test_bad_across_mission_input_is_refused():
    with pytest.raises(ValueError, match="samples is empty"):
        compare_across_missions({})
    with pytest.raises(ValueError, match=r"samples\['m'\].*len\(a\)=2, len\(b\)=3"):
        compare_across_missions({"m": ([1.0, 2.0], [1.0, 2.0, 3.0], True)})
    with pytest.raises(ValueError, match="n_resamples"):
        compare_across_missions(MIXED, n_resamples=0)
    with pytest.raises(ValueError, match="confidence"):
        compare_across_missions(MIXED, confidence=1.5)
