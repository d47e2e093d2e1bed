"""Probability-of-improvement intervals and performance profiles hold the levels their docstrings state."""

import numpy as np
import pytest
import scipy.stats

from daf_core.stats import probability_of_improvement
from daf_core.stats.score_distributions import performance_profile, probability_of_improvement_interval

REPS = 400  # coverage SE about 0.012 at 0.93
SHIFT = 0.5  # true PoI of N(0.5, 1) over N(0, 1): Phi(0.5 / sqrt(2)) = 0.638
TRUE_POI = float(scipy.stats.norm.cdf(SHIFT / np.sqrt(2)))


def poi_coverage(n: int, correlation: float, missions: int = 1) -> float:
    """Share of 95% intervals that hold the true PoI, episodes of a and b correlated as by shared seeds."""
    rng = np.random.default_rng(n + missions)
    hits = 0
    for rep in range(REPS):
        samples = {}
        for m in range(missions):
            shared = rng.normal(size=n)
            noise = np.sqrt(1 - correlation)
            a = np.sqrt(correlation) * shared + noise * rng.normal(size=n) + SHIFT
            b = np.sqrt(correlation) * shared + noise * rng.normal(size=n)
            samples[f"m{m}"] = (a, b)
        estimate = probability_of_improvement_interval(samples, n_resamples=500, seed=rep)
        hits += estimate.low <= TRUE_POI <= estimate.high
    return hits / REPS


@pytest.mark.parametrize(
    ("n", "correlation", "missions", "band"),
    [
        (5, 0.0, 1, (0.86, 0.95)),  # stated 0.90
        (10, 0.0, 1, (0.89, 0.97)),  # stated 0.93-0.94
        (5, 0.0, 3, (0.89, 0.97)),  # stated 0.92-0.93
        (10, 0.7, 1, (0.96, 1.0)),  # stated 0.99: paired episodes over-cover, never under
    ],
)
def test_probability_of_improvement_intervals_cover_as_stated(n, correlation, missions, band):
    assert band[0] <= poi_coverage(n, correlation, missions) <= band[1]


def test_the_point_is_the_mean_over_missions_of_each_missions_poi():
    rng = np.random.default_rng(0)
    samples = {m: (rng.normal(1, 1, 6), rng.normal(0, 1, 6)) for m in ("x", "y")}
    estimate = probability_of_improvement_interval(samples, n_resamples=200)
    assert estimate.point == pytest.approx(
        np.mean([probability_of_improvement(a, b) for a, b in samples.values()])
    )
    assert estimate.low < estimate.point < estimate.high
    assert estimate.method == "stratified_percentile_bootstrap"


def test_a_poi_no_resample_can_change_is_its_own_interval():
    estimate = probability_of_improvement_interval({"m": ([3.0, 4.0, 5.0], [0.0, 1.0, 2.0])}, n_resamples=200)
    assert (estimate.point, estimate.low, estimate.high) == (1.0, 1.0, 1.0)
    assert "every resample" in estimate.note


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"samples": {}}, "samples: expected a non-empty mapping"),
        ({"samples": {"m": ([1.0], [float("nan")])}}, r"samples\['m'\] b contains 1 NaN"),
        ({"samples": {"m": ([1.0], [2.0])}, "confidence": 1.0}, "confidence must be in"),
        ({"samples": {"m": ([1.0], [2.0])}, "n_resamples": 0}, "n_resamples must be a positive integer"),
    ],
)
def test_bad_poi_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        probability_of_improvement_interval(**kwargs)


def test_performance_profile_bands_cover_as_stated():
    """Three missions of 10 normal episodes; stated pointwise coverage 0.92-0.94."""
    rng = np.random.default_rng(7)
    taus = np.array([-0.5, 0.0, 0.5, 1.0])
    means = (0.0, 0.5, 1.0)
    truth = np.mean([1 - scipy.stats.norm.cdf(taus, loc=mu) for mu in means], axis=0)
    hits = np.zeros(taus.size)
    for rep in range(REPS):
        groups = {f"m{i}": rng.normal(mu, 1.0, 10) for i, mu in enumerate(means)}
        profile = performance_profile(groups, taus, n_resamples=500, seed=rep)
        hits += (np.array(profile.low) <= truth) & (truth <= np.array(profile.high))
    coverage = hits / REPS
    assert np.all((coverage >= 0.88) & (coverage <= 0.98)), coverage


def test_a_performance_profile_is_the_mean_over_missions_of_the_share_above_each_threshold():
    profile = performance_profile(
        {"a": [0.0, 1.0], "b": [0.2, 0.4, 0.6, 0.8]}, [0.1, 0.5, 1.0], n_resamples=50
    )
    assert profile.fraction == pytest.approx(((0.5 + 1.0) / 2, (0.5 + 0.5) / 2, 0.0))
    assert all(lo <= f <= hi for lo, f, hi in zip(profile.low, profile.fraction, profile.high, strict=True))
    assert profile.low[2] == profile.high[2] == 0.0  # no episode above 1.0 in any resample
