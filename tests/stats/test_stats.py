"""daf_core.stats checked against independent computations on data with known answers.

Each expected value is worked out here from the textbook formula (or by brute force), not by calling
the scipy function the module uses, so a wrong choice of scipy option shows up as a failure.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math

import numpy as np
import pytest
import scipy.stats

from daf_core.stats import (
    Interval,
    PairwiseTest,
    Summary,
    apply_correction,
    cohens_d,
    compare_samples,
    hedges_g,
    holm_bonferroni,
    iqm,
    paired_win_rate,
    probability_of_improvement,
    stratified_bootstrap_ci,
    summarize,
)


def strict_json(result) -> str:
    """What a report writer does; fails on NaN or inf."""
    return json.dumps(dataclasses.asdict(result), allow_nan=False)


def mean(xs):
    return sum(xs) / len(xs)


def var(xs):
    m = mean(xs)
    return sum((x - m) ** 2 for x in xs) / (len(xs) - 1)


# ---------------------------------------------------------------------------------------------------
# IQM and summarize
# ---------------------------------------------------------------------------------------------------


def test_iqm_drops_a_quarter_from_each_end():
    assert iqm(range(1, 9)) == pytest.approx((3 + 4 + 5 + 6) / 4)  # 4.5
    assert iqm([1, 2, 3, 4, 100]) == pytest.approx((2 + 3 + 4) / 3)  # floor(5/4) = 1 cut each end
    assert iqm([8, 1, 100, 2, 3, 4, 7, -50, 5, 6]) == pytest.approx(mean([2, 3, 4, 5, 6, 7]))
    assert iqm([1.0, 2.0, 9.0]) == pytest.approx(4.0)  # n < 4: nothing to trim, the plain mean


def test_summarize_describes_a_sample():
    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 100.0]
    s = summarize(values)
    assert isinstance(s, Summary)
    assert s.n == 8
    assert s.mean == pytest.approx(128 / 8)
    assert s.std == pytest.approx(math.sqrt(var(values)))
    assert s.median == pytest.approx(4.5)
    assert s.iqm == pytest.approx(mean([3, 4, 5, 6]))  # the outlier does not move the IQM
    assert (s.min, s.max) == (1.0, 100.0)
    assert s.ci_low < s.mean < s.ci_high
    assert s.note == ""
    strict_json(s)


def test_mean_ci_contains_true_mean_and_matches_normal_theory():
    x = np.random.default_rng(123).normal(loc=3.0, scale=2.0, size=2000)
    s = summarize(x, confidence=0.95, n_resamples=2000, seed=7)
    assert s.ci_low < 3.0 < s.ci_high
    expected_width = 2 * 1.959964 * x.std(ddof=1) / math.sqrt(x.size)
    assert (s.ci_high - s.ci_low) == pytest.approx(expected_width, rel=0.1)


def test_bootstrap_ci_is_reproducible_with_a_seed():
    x = np.random.default_rng(0).exponential(size=30)
    assert summarize(x, seed=5) == summarize(x, seed=5)
    # The IQM's interval is the bootstrapped one (the mean's is Student's t and takes no seed).
    assert summarize(x, seed=5).iqm_ci_low != summarize(x, seed=6).iqm_ci_low
    assert summarize(x, seed=5).ci_low == summarize(x, seed=6).ci_low


def test_mean_ci_narrows_with_more_episodes():
    rng = np.random.default_rng(1)
    widths = []
    for n in (20, 200, 2000):
        s = summarize(rng.normal(size=n), seed=0)
        widths.append(s.ci_high - s.ci_low)
    assert widths[0] > widths[1] > widths[2]


def test_bca_interval_is_available():
    x = np.random.default_rng(2).exponential(size=50)
    s = summarize(x, method="bca", seed=0)
    assert s.iqm_ci_method == "bca" and s.ci_method == "student_t"
    assert s.iqm_ci_low < s.iqm < s.iqm_ci_high
    assert s.iqm_ci_low != summarize(x, method="percentile", seed=0).iqm_ci_low


def test_summarize_single_episode_has_no_interval():
    s = summarize([4.0])
    assert (s.n, s.mean, s.std, s.ci_low, s.ci_high) == (1, 4.0, 0.0, 4.0, 4.0)
    assert s.note == "single sample, no interval"
    strict_json(s)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_summarize_constant_scores_give_a_point_interval(method):
    s = summarize([0.0] * 10, method=method)  # e.g. a sparse-reward mission nobody solved
    assert (s.mean, s.std, s.ci_low, s.ci_high) == (0.0, 0.0, 0.0, 0.0)
    assert "zero variance" in s.note
    strict_json(s)


def test_summarize_rejects_empty_and_nan():
    with pytest.raises(ValueError, match="values is empty"):
        summarize([])
    with pytest.raises(ValueError, match="2 NaN"):
        summarize([1.0, float("nan"), 2.0, float("nan")])
    with pytest.raises(ValueError, match="infinite"):
        summarize([1.0, float("inf")])


# ---------------------------------------------------------------------------------------------------
# Stratified bootstrap over missions
# ---------------------------------------------------------------------------------------------------


def two_missions_different_scales():
    rng = np.random.default_rng(42)
    return {
        "small_scale": rng.normal(0.5, 0.1, size=400),  # scores around 0-1
        "large_scale": rng.normal(50.0, 10.0, size=400),  # scores around 0-100
    }


def test_stratified_mean_is_mean_of_mission_means_with_normal_theory_width():
    groups = two_missions_different_scales()
    point, low, high = stratified_bootstrap_ci(groups, "mean", seed=0)
    m1, m2 = groups["small_scale"], groups["large_scale"]
    assert point == pytest.approx((m1.mean() + m2.mean()) / 2)
    assert low < point < high
    # Var(mean of two independent means) = (s1^2/n1 + s2^2/n2) / 4
    se = math.sqrt(m1.var(ddof=1) / m1.size + m2.var(ddof=1) / m2.size) / 2
    assert (high - low) == pytest.approx(2 * 1.959964 * se, rel=0.1)
    assert 25.25 - 4 * se < point < 25.25 + 4 * se  # the true value


def test_stratified_bootstrap_is_narrower_than_pooling_missions():
    """Resampling within missions keeps each mission's share fixed; pooling lets it wander, and with
    missions on different scales that adds spurious between-mission variance."""
    groups = two_missions_different_scales()
    _, low, high = stratified_bootstrap_ci(groups, "mean", seed=0)
    pooled = np.concatenate(list(groups.values()))
    naive = summarize(pooled, seed=0)
    assert naive.mean == pytest.approx((low + high) / 2, rel=0.05)
    assert (high - low) < 0.5 * (naive.ci_high - naive.ci_low)


def test_stratified_mean_weighs_missions_equally_and_iqm_pools_scores():
    groups = {"a": [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0], "b": [10.0, 12.0]}
    mean_result = stratified_bootstrap_ci(groups, "mean", seed=0)
    assert isinstance(mean_result, Interval)
    assert mean_result.point == pytest.approx((1.125 + 11.0) / 2)
    iqm_result = stratified_bootstrap_ci(groups, "iqm", seed=0)
    pooled_sorted = sorted(groups["a"] + groups["b"])  # 10 scores, drop 2 from each end
    assert iqm_result.point == pytest.approx(mean(pooled_sorted[2:8]))
    assert iqm_result.low <= iqm_result.point <= iqm_result.high


def test_stratified_is_reproducible_and_handles_single_episode_and_constant_missions():
    groups = {"one_episode": [3.0], "unsolved": [0.0, 0.0, 0.0], "noisy": [1.0, 5.0, 2.0, 8.0]}
    first = stratified_bootstrap_ci(groups, "mean", seed=3)
    assert first == stratified_bootstrap_ci(groups, "mean", seed=3)
    # Only "noisy" varies: the interval is its mean's interval shifted and scaled by 1/3.
    noisy = stratified_bootstrap_ci({"noisy": groups["noisy"]}, "mean", seed=3)
    assert first.low == pytest.approx((3.0 + 0.0 + noisy.low) / 3)
    assert first.high == pytest.approx((3.0 + 0.0 + noisy.high) / 3)
    constant = {"x": [2.0, 2.0], "y": [4.0]}  # every resample is the same data
    assert stratified_bootstrap_ci(constant, "mean", method="bca") == (3.0, 3.0, 3.0)
    assert stratified_bootstrap_ci(constant, "iqm") == pytest.approx((8 / 3, 8 / 3, 8 / 3))


def test_stratified_rejects_bad_input():
    with pytest.raises(ValueError, match="statistic"):
        stratified_bootstrap_ci({"m": [1.0, 2.0]}, "median")
    with pytest.raises(ValueError, match="groups is empty"):
        stratified_bootstrap_ci({})
    with pytest.raises(ValueError, match=r"groups\['m2'\] is empty"):
        stratified_bootstrap_ci({"m1": [1.0], "m2": []})
    with pytest.raises(ValueError, match=r"groups\['m1'\] contains 1 NaN"):
        stratified_bootstrap_ci({"m1": [1.0, float("nan")]})


# ---------------------------------------------------------------------------------------------------
# Effect sizes and probability of improvement
# ---------------------------------------------------------------------------------------------------

A = [1.0, 2.0, 3.0, 4.0, 5.0]  # mean 3, variance 2.5
B = [3.0, 5.0, 7.0, 9.0, 11.0]  # mean 7, variance 10


def test_cohens_d_and_hedges_g_from_the_formulas():
    pooled_sd = math.sqrt((4 * 2.5 + 4 * 10.0) / 8)  # 2.5
    d = (3.0 - 7.0) / pooled_sd  # -1.6
    assert cohens_d(A, B) == pytest.approx(-1.6)
    assert cohens_d(A, B) == pytest.approx(d)
    df = 8
    j_exact = math.gamma(df / 2) / (math.sqrt(df / 2) * math.gamma((df - 1) / 2))
    assert hedges_g(A, B) == pytest.approx(j_exact * d)
    j_approx = 1 - 3 / (4 * df - 1)
    assert hedges_g(A, B) == pytest.approx(j_approx * d, rel=1e-3)
    assert hedges_g(B, A) == pytest.approx(-hedges_g(A, B))


def test_effect_sizes_are_none_where_undefined():
    assert cohens_d([1.0], [2.0]) is None  # no degrees of freedom
    assert cohens_d([1.0, 1.0], [2.0, 2.0]) is None  # infinite standardized effect
    assert cohens_d([1.0, 1.0], [1.0, 1.0]) == 0.0  # nothing to standardize
    assert hedges_g([1.0, 1.0], [2.0, 2.0]) is None


def test_hedges_g_is_undefined_at_one_degree_of_freedom():
    """J(1) = 0 used to turn any difference into g = 0.0, "no effect"; it is undefined instead."""
    assert cohens_d([1.0], [5.0, 6.0]) is not None  # d has its one degree of freedom
    assert hedges_g([1.0], [5.0, 6.0]) is None
    assert hedges_g([1.0, 2.0], [5.0, 6.0]) is not None  # two degrees of freedom: defined


def brute_force_poi(a, b):
    wins = sum(1.0 if x > y else 0.5 if x == y else 0.0 for x in a for y in b)
    return wins / (len(a) * len(b))


def test_probability_of_improvement_with_ties_by_brute_force():
    a = [1.0, 2.0, 2.0, 3.0, 5.0]
    b = [2.0, 2.0, 3.0, 4.0]
    assert probability_of_improvement(a, b) == pytest.approx(brute_force_poi(a, b))
    assert probability_of_improvement(a, b) + probability_of_improvement(b, a) == pytest.approx(1.0)
    assert probability_of_improvement([1.0, 1.0], [1.0, 1.0]) == 0.5
    assert probability_of_improvement([2.0], [1.0]) == 1.0


def test_paired_win_rate_counts_matched_pairs():
    a = [5.0, 1.0, 3.0, 2.0]
    b = [4.0, 2.0, 3.0, 0.0]  # a wins seeds 0 and 3, loses seed 1, ties seed 2
    assert paired_win_rate(a, b) == pytest.approx((2 + 0.5) / 4)
    # The probability of improvement ignores the matching and compares all 16 combinations.
    assert probability_of_improvement(a, b) == pytest.approx(brute_force_poi(a, b))
    with pytest.raises(ValueError, match="equal length"):
        paired_win_rate([1.0, 2.0], [1.0])


# ---------------------------------------------------------------------------------------------------
# compare_samples: the regular cases
# ---------------------------------------------------------------------------------------------------


def test_unpaired_comparison_uses_welch_t_from_the_formula():
    result = compare_samples(A, B, names=("baseline", "lstm"), mission="arena")
    assert isinstance(result, PairwiseTest)
    assert (result.policy_a, result.policy_b, result.mission) == ("baseline", "lstm", "arena")
    assert (result.n_a, result.n_b, result.mean_a, result.mean_b, result.mean_diff) == (5, 5, 3.0, 7.0, -4.0)
    assert result.test_name == "welch_t" and not result.paired

    va, vb = 2.5 / 5, 10.0 / 5
    t = (3.0 - 7.0) / math.sqrt(va + vb)  # -2.5298
    df = (va + vb) ** 2 / (va**2 / 4 + vb**2 / 4)  # Welch-Satterthwaite, 5.88
    assert result.statistic == pytest.approx(t)
    assert result.p_value == pytest.approx(2 * scipy.stats.t.sf(abs(t), df))

    assert result.effect_size_name == "hedges_g"
    g = hedges_g(A, B)
    assert result.effect_size == pytest.approx(g)
    half = 1.959964 * math.sqrt(10 / 25 + g**2 / 20)  # Hedges & Olkin normal approximation
    assert result.effect_ci_low == pytest.approx(g - half, rel=1e-5)
    assert result.effect_ci_high == pytest.approx(g + half, rel=1e-5)
    assert result.probability_of_improvement == pytest.approx(brute_force_poi(A, B))
    assert result.mean_diff_ci_low < -4.0 < result.mean_diff_ci_high
    assert result.p_adjusted == result.p_value  # a family of one
    assert result.significant == (result.p_value < 0.05)
    strict_json(result)


def test_unpaired_comparison_reports_mann_whitney_with_ties():
    a = [1.0, 2.0, 2.0, 3.0, 5.0, 5.0]
    b = [2.0, 3.0, 3.0, 4.0, 6.0, 7.0, 7.0]
    result = compare_samples(a, b)
    na, nb = len(a), len(b)
    u = sum(1.0 if x > y else 0.5 if x == y else 0.0 for x in a for y in b)
    assert result.nonparametric_test == "mann_whitney_u"
    assert result.statistic_nonparametric == pytest.approx(u)
    # Normal approximation with tie-corrected variance and continuity correction.
    pooled = a + b
    n = na + nb
    tie_term = sum(c**3 - c for c in (pooled.count(v) for v in set(pooled)))
    sigma = math.sqrt(na * nb / 12 * ((n + 1) - tie_term / (n * (n - 1))))
    z = (abs(u - na * nb / 2) - 0.5) / sigma
    assert result.p_value_nonparametric == pytest.approx(2 * scipy.stats.norm.sf(z))
    assert result.probability_of_improvement == pytest.approx(u / (na * nb))


def test_paired_comparison_uses_paired_t_and_exact_wilcoxon():
    b = [10.0, 20.0, 30.0, 40.0, 50.0]
    d = [1.0, 2.0, -3.0, 4.0, 5.0]
    a = [x + y for x, y in zip(b, d, strict=True)]
    result = compare_samples(a, b, paired=True)
    assert result.paired and result.test_name == "paired_t"
    n = 5
    t = mean(d) / math.sqrt(var(d) / n)
    assert result.statistic == pytest.approx(t)
    assert result.p_value == pytest.approx(2 * scipy.stats.t.sf(abs(t), n - 1))

    # Wilcoxon signed rank, exact: ranks of |d| are 1..5, negative ranks sum to 3; enumerate all 2^5
    # sign patterns for the two-sided p-value.
    w = min(
        sum(r for r, x in zip(range(1, 6), d, strict=True) if x < 0),
        sum(r for r, x in zip(range(1, 6), d, strict=True) if x > 0),
    )
    as_extreme = sum(
        1
        for signs in itertools.product([0, 1], repeat=5)
        if sum(r for r, s in zip(range(1, 6), signs, strict=True) if s) <= w
    )
    assert result.nonparametric_test == "wilcoxon_signed_rank"
    assert result.statistic_nonparametric == w == 3
    assert result.p_value_nonparametric == pytest.approx(2 * as_extreme / 32)  # 10 / 32

    dz = mean(d) / math.sqrt(var(d))
    assert result.effect_size_name == "cohens_dz"
    assert result.effect_size == pytest.approx(dz)
    assert result.effect_size * math.sqrt(n) == pytest.approx(result.statistic)  # t = d_z sqrt(n)
    # PoI over all 25 pairs of episodes (14 won); the matched-seed win rate is its own number (4 of 5).
    assert result.probability_of_improvement == pytest.approx(brute_force_poi(a, b)) == pytest.approx(14 / 25)
    assert result.paired_win_rate == pytest.approx(4 / 5)
    strict_json(result)


def test_pairing_makes_a_consistent_small_improvement_visible():
    """Common random numbers: seed difficulty dominates the variance, the policy gap is small but steady."""
    seed_difficulty = np.random.default_rng(0).normal(0, 10, size=12)
    gain = np.random.default_rng(1).normal(1.0, 0.2, size=12)
    b = seed_difficulty
    a = seed_difficulty + gain
    assert compare_samples(a, b, paired=True).p_value < 0.001
    assert compare_samples(a, b, paired=False).p_value > 0.5


def test_paired_comparison_needs_equal_lengths():
    with pytest.raises(ValueError, match=r"len\(a\)=3, len\(b\)=2"):
        compare_samples([1.0, 2.0, 3.0], [1.0, 2.0], paired=True)


# ---------------------------------------------------------------------------------------------------
# compare_samples: degenerate cases never leak NaN or inf
# ---------------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("error")
def test_identical_constant_samples_mean_no_difference():
    result = compare_samples([0.0] * 5, [0.0] * 5)
    assert (result.p_value, result.p_value_nonparametric, result.effect_size) == (1.0, 1.0, 0.0)
    assert result.effect_ci_low is None and result.effect_ci_high is None
    assert result.probability_of_improvement == 0.5
    assert (result.mean_diff_ci_low, result.mean_diff_ci_high) == (0.0, 0.0)
    assert not result.significant
    assert "same constant" in result.note
    strict_json(result)


@pytest.mark.filterwarnings("error")
def test_different_constants_use_the_exact_rank_test():
    result = compare_samples([1.0] * 3, [2.0] * 4)
    # The only arrangement as extreme is complete separation, either way round: 2 / C(7, 3).
    assert result.test_name == "mann_whitney_u"
    assert result.p_value == pytest.approx(2 / math.comb(7, 3))
    assert result.p_value_nonparametric == result.p_value
    assert result.effect_size is None
    assert "standardized effect undefined" in result.note
    assert result.probability_of_improvement == 0.0
    assert (result.mean_diff_ci_low, result.mean_diff_ci_high) == (-1.0, -1.0)
    strict_json(result)


@pytest.mark.filterwarnings("error")
def test_paired_all_zero_differences():
    result = compare_samples([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], paired=True)
    assert (result.p_value, result.p_value_nonparametric, result.effect_size) == (1.0, 1.0, 0.0)
    assert "all paired differences are zero" in result.note
    strict_json(result)


SHIFTED_BY_ONE = ([2.0, 3.0, 4.0, 5.0, 6.0], [1.0, 2.0, 3.0, 4.0, 5.0])


@pytest.mark.filterwarnings("error")
def test_paired_constant_nonzero_difference_uses_exact_wilcoxon():
    result = compare_samples(*SHIFTED_BY_ONE, paired=True)
    assert result.test_name == "wilcoxon_signed_rank"
    assert result.p_value == pytest.approx(2 / 2**5)  # all five signs positive, either tail
    assert result.effect_size is None
    assert result.paired_win_rate == 1.0
    assert result.probability_of_improvement == pytest.approx(brute_force_poi(*SHIFTED_BY_ONE)) == 0.68
    strict_json(result)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize(
    ("a", "b", "paired"),
    [([3.0], [1.0, 2.0, 3.0], False), ([1.0, 2.0], [7.0], False), ([1.0], [2.0], True)],
)
def test_too_few_samples_computes_no_test(a, b, paired):
    result = compare_samples(a, b, paired=paired)
    assert result.p_value is None and result.p_value_nonparametric is None
    assert result.effect_size is None and result.p_adjusted is None
    assert not result.significant
    assert "too few samples" in result.note
    assert 0.0 <= result.probability_of_improvement <= 1.0
    strict_json(result)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize(
    ("a", "b", "paired"),
    [
        ([0.0] * 4, [0.0] * 4, False),
        ([0.0] * 4, [1.0] * 4, False),
        ([5.0] * 6, [1.0, 2.0, 3.0], False),  # one constant group is fine for Welch
        ([1.0, 1.0], [1.0, 2.0], False),
        ([0.0] * 4, [0.0] * 4, True),
        ([1.0, 2.0, 3.0], [0.0, 1.0, 2.0], True),
        ([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 5.0], True),  # one non-zero difference
        ([1.0], [1.0], False),
    ],
)
def test_degenerate_inputs_serialise_to_strict_json(a, b, paired):
    result = compare_samples(a, b, paired=paired)
    payload = json.loads(strict_json(result))
    for key, value in payload.items():
        if isinstance(value, float):
            assert math.isfinite(value), key
    corrected = apply_correction([result, compare_samples(A, B)])
    for test in corrected:
        strict_json(test)


# ---------------------------------------------------------------------------------------------------
# Holm-Bonferroni
# ---------------------------------------------------------------------------------------------------


def test_holm_textbook_example_worked_by_hand():
    # Sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06.
    adjusted, reject = holm_bonferroni([0.01, 0.04, 0.03, 0.005], alpha=0.05)
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert reject == [True, False, False, True]


def test_holm_adjusted_values_are_monotone_and_capped_at_one():
    adjusted, reject = holm_bonferroni([0.5, 0.6, 0.001])
    # 0.001*3 = 0.003; 0.5*2 = 1.0; 0.6*1 = 0.6 -> must not drop below 1.0 after a larger raw p.
    assert adjusted == pytest.approx([1.0, 1.0, 0.003])
    assert reject == [False, False, True]


def test_holm_passes_none_through_and_does_not_count_it():
    adjusted, reject = holm_bonferroni([None, 0.02, None, 0.04])
    assert adjusted == pytest.approx([None, 0.04, None, 0.04])  # m = 2, not 4
    assert reject == [False, True, False, True]
    assert holm_bonferroni([]) == ([], [])


def statsmodels_holm(pvals, alpha):
    """statsmodels.stats.multitest.multipletests(method="holm"), written out."""
    pvals = np.asarray(pvals)
    sortind = np.argsort(pvals)
    pvals_sorted = pvals[sortind]
    ntests = len(pvals)
    notreject = pvals_sorted > alpha / np.arange(ntests, 0, -1)
    nr_index = np.nonzero(notreject)[0]
    if nr_index.size:
        notreject[nr_index[0] :] = True
    reject_sorted = ~notreject
    corrected = np.minimum(1, np.maximum.accumulate(pvals_sorted * np.arange(ntests, 0, -1)))
    reject = np.empty_like(reject_sorted)
    reject[sortind] = reject_sorted
    out = np.empty_like(corrected)
    out[sortind] = corrected
    return out, reject


@pytest.mark.parametrize("seed", range(20))
def test_holm_agrees_with_statsmodels_definition(seed):
    rng = np.random.default_rng(seed)
    pvals = np.concatenate([rng.uniform(0, 0.02, size=rng.integers(0, 5)), rng.uniform(0, 1, size=8)])
    adjusted, reject = holm_bonferroni(list(pvals), alpha=0.05)
    expected_adjusted, expected_reject = statsmodels_holm(pvals, 0.05)
    assert adjusted == pytest.approx(list(expected_adjusted))
    assert reject == list(expected_reject)


def test_holm_rejects_invalid_p_values():
    with pytest.raises(ValueError, match=r"p_values\[1\].*1.5"):
        holm_bonferroni([0.1, 1.5])
    with pytest.raises(ValueError, match=r"p_values\[0\].*nan"):
        holm_bonferroni([float("nan")])


def test_apply_correction_corrects_all_pairs_and_missions_as_one_family():
    rng = np.random.default_rng(3)
    scores = {
        ("good", "m1"): rng.normal(10, 1, 20),
        ("good", "m2"): rng.normal(5, 1, 20),
        ("bad", "m1"): rng.normal(8, 1, 20),
        ("bad", "m2"): rng.normal(5, 1, 20),
    }
    tests = [
        compare_samples(scores[("good", m)], scores[("bad", m)], names=("good", "bad"), mission=m)
        for m in ("m1", "m2")
    ]
    tests.append(compare_samples([1.0], [2.0], names=("good", "bad"), mission="m3"))  # too few
    corrected = apply_correction(tests, alpha=0.05)
    expected, _ = holm_bonferroni([t.p_value for t in tests])
    assert [t.p_adjusted for t in corrected] == expected
    assert [t.significant for t in corrected] == [p is not None and p < 0.05 for p in expected]
    assert corrected[0].significant and not corrected[1].significant and not corrected[2].significant
    assert corrected[1].p_adjusted >= tests[1].p_value
    assert [t.mission for t in corrected] == ["m1", "m2", "m3"]
    assert tests[0].alpha == 0.05 and corrected[0].alpha == 0.05


# ---------------------------------------------------------------------------------------------------
# Argument validation
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_alpha_and_confidence_must_be_inside_zero_one(bad):
    with pytest.raises(ValueError, match=rf"confidence must be in \(0, 1\), got {bad}"):
        summarize([1.0, 2.0], confidence=bad)
    with pytest.raises(ValueError, match="confidence"):
        stratified_bootstrap_ci({"m": [1.0, 2.0]}, confidence=bad)
    with pytest.raises(ValueError, match="confidence"):
        compare_samples([1.0, 2.0], [3.0, 4.0], confidence=bad)
    with pytest.raises(ValueError, match=rf"alpha must be in \(0, 1\), got {bad}"):
        compare_samples([1.0, 2.0], [3.0, 4.0], alpha=bad)
    with pytest.raises(ValueError, match="alpha"):
        holm_bonferroni([0.1], alpha=bad)
    with pytest.raises(ValueError, match="alpha"):
        apply_correction([], alpha=bad)


def test_other_bad_arguments_are_named():
    with pytest.raises(ValueError, match="n_resamples"):
        summarize([1.0, 2.0], n_resamples=0)
    with pytest.raises(ValueError, match="method"):
        summarize([1.0, 2.0], method="basic")
    with pytest.raises(ValueError, match="a contains 1 NaN"):
        compare_samples([1.0, float("nan")], [1.0, 2.0])
    with pytest.raises(ValueError, match="b is empty"):
        compare_samples([1.0, 2.0], [])
    with pytest.raises(ValueError, match="one-dimensional"):
        summarize([[1.0, 2.0], [3.0, 4.0]])
