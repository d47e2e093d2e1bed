"""Intervals worked out by hand, the wiring of summaries and comparisons to them, and the package's weight.

The levels of these intervals are measured in test_coverage.py; here each one is checked against its
textbook formula, so that what the simulations measure is what reports print.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import scipy.stats

from daf_core.stats import (
    compare_samples,
    iqm_interval,
    mean_interval,
    mean_of_means_interval,
    summarize,
)
from daf_core.stats.descriptive import iqm_statistic
from daf_core.stats.intervals import bootstrap_interval


def t_quantile(confidence: float, df: float) -> float:
    return float(scipy.stats.t.ppf(0.5 + confidence / 2, df))


def test_iqm_statistic_is_trim_mean_along_any_axis():
    x = np.random.default_rng(0).normal(size=(7, 3, 13))
    for axis in (0, 1, 2, -1):
        np.testing.assert_allclose(iqm_statistic(x, axis), scipy.stats.trim_mean(x, 0.25, axis=axis))


def test_mean_interval_is_students_t_from_the_formula():
    x = [1.0, 2.0, 4.0, 7.0, 11.0]
    n, mean = 5, 5.0
    sd = math.sqrt(sum((v - mean) ** 2 for v in x) / (n - 1))
    half = t_quantile(0.95, n - 1) * sd / math.sqrt(n)
    result = mean_interval(x)
    assert (result.point, result.method) == (5.0, "student_t")
    assert (result.low, result.high) == pytest.approx((mean - half, mean + half))
    narrower = mean_interval(x, confidence=0.5)
    assert narrower.high - narrower.low == pytest.approx(2 * t_quantile(0.5, 4) * sd / math.sqrt(n))


def test_summarize_reports_the_mean_t_interval_and_the_iqm_bootstrap():
    x = np.random.default_rng(4).exponential(size=12)
    s = summarize(x, seed=3, n_resamples=500)
    mean = mean_interval(x)
    assert (s.ci_low, s.ci_high, s.ci_method) == (mean.low, mean.high, "student_t")
    low, high, _ = bootstrap_interval(
        [x], iqm_statistic, confidence=0.95, n_resamples=500, seed=3, method="percentile"
    )
    assert (s.iqm_ci_low, s.iqm_ci_high, s.iqm_ci_method) == (float(low), float(high), "percentile")
    assert s.iqm_ci_low < s.iqm < s.iqm_ci_high
    # n_resamples is used: a different number of resamples gives a different bootstrap interval.
    assert summarize(x, seed=3, n_resamples=400).iqm_ci_low != s.iqm_ci_low


def test_iqm_of_fewer_than_four_episodes_is_the_mean_with_its_t_interval():
    result = iqm_interval([1.0, 2.0, 6.0])
    assert result.method == "student_t"
    assert (result.point, result.low, result.high) == pytest.approx(
        (3.0, mean_interval([1.0, 2.0, 6.0]).low, mean_interval([1.0, 2.0, 6.0]).high)
    )
    assert iqm_interval([5.0]).note == "single sample, no interval"
    assert (iqm_interval([0.0] * 6).low, iqm_interval([0.0] * 6).high) == (0.0, 0.0)


def test_mean_of_means_interval_uses_welch_satterthwaite_degrees_of_freedom():
    groups = {"small": [0.1, 0.3, 0.2, 0.6], "large": [10.0, 30.0, 20.0, 25.0, 15.0, 40.0]}
    m = 2
    components = []
    for values in groups.values():
        mean = sum(values) / len(values)
        var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
        components.append((var / (len(values) * m**2), len(values) - 1))
    total = sum(v for v, _ in components)
    df = total**2 / sum(v**2 / k for v, k in components)
    point = (0.3 + 23.333333333333332) / 2
    half = t_quantile(0.95, df) * math.sqrt(total)
    result = mean_of_means_interval(groups)
    assert result.method == "welch_satterthwaite_t"
    assert (result.point, result.low, result.high) == pytest.approx((point, point - half, point + half))
    # One mission: exactly that mission's t interval.
    one = mean_of_means_interval({"large": groups["large"]})
    assert (one.low, one.high) == pytest.approx(
        (mean_interval(groups["large"]).low, mean_interval(groups["large"]).high)
    )


def test_mean_of_means_interval_degenerate_cases_are_explained():
    lonely = mean_of_means_interval({"one_episode": [3.0], "noisy": [1.0, 5.0, 2.0]})
    assert lonely.point == pytest.approx((3.0 + 8 / 3) / 2)
    assert lonely.low is None and lonely.high is None and "single episode on ['one_episode']" in lonely.note
    flat = mean_of_means_interval({"a": [2.0, 2.0], "b": [4.0, 4.0, 4.0]})
    assert (flat.point, flat.low, flat.high) == (3.0, 3.0, 3.0) and "zero variance" in flat.note
    with pytest.raises(ValueError, match="groups is empty"):
        mean_of_means_interval({})


def test_unpaired_difference_interval_is_welchs():
    a, b = [3.0, 4.0, 5.0, 6.0, 7.0], [1.0, 2.5, 3.0, 4.5, 5.0, 2.0, 9.0]
    va = np.var(a, ddof=1) / len(a)
    vb = np.var(b, ddof=1) / len(b)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    diff = np.mean(a) - np.mean(b)
    half = t_quantile(0.9, df) * math.sqrt(va + vb)
    result = compare_samples(a, b, confidence=0.9)
    assert (result.mean_diff_ci_low, result.mean_diff_ci_high) == pytest.approx((diff - half, diff + half))


def test_paired_difference_interval_is_the_t_interval_of_the_differences():
    b = [10.0, 20.0, 30.0, 40.0, 50.0]
    d = [1.0, 2.0, -3.0, 4.0, 5.0]
    a = [x + y for x, y in zip(b, d, strict=True)]
    half = t_quantile(0.95, 4) * np.std(d, ddof=1) / math.sqrt(5)
    result = compare_samples(a, b, paired=True)
    assert (result.mean_diff_ci_low, result.mean_diff_ci_high) == pytest.approx((1.8 - half, 1.8 + half))


@pytest.mark.parametrize("paired", [True, False])
@pytest.mark.parametrize("confidence", [0.95, 0.9])
def test_the_difference_interval_excludes_zero_exactly_when_the_t_test_rejects(paired, confidence):
    rng = np.random.default_rng(11)
    agreed = []
    for _ in range(100):
        n = int(rng.integers(3, 12))
        a = rng.normal(rng.normal(0.0, 1.0), 1.0, size=n)
        b = rng.normal(0.0, 1.0, size=n if paired else int(rng.integers(3, 12)))
        result = compare_samples(a, b, paired=paired, confidence=confidence)
        excludes_zero = result.mean_diff_ci_low > 0 or result.mean_diff_ci_high < 0
        agreed.append(excludes_zero == (result.p_value < 1 - confidence))
    assert all(agreed)


def test_importing_stats_loads_neither_the_simulator_nor_pandas_nor_torch():
    code = (
        "import sys, daf_core.stats; "
        "roots = {m.split('.')[0] for m in sys.modules}; "
        "heavy = sorted(roots & {'mettagrid', 'pandas', 'torch', 'rich'}); "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
