"""Intervals of rliable's score-distribution measures: probability of improvement, performance profiles.

Both are stratified percentile bootstraps over episodes, as rliable computes them: each mission is a
stratum whose episodes are resampled with replacement on their own, and each policy's episodes
independently, so every resample keeps every mission and its episode counts.

* :func:`probability_of_improvement_interval`: P(a > b) + P(a = b)/2 over all pairs of episodes
  (:func:`~daf_core.stats.effect_sizes.probability_of_improvement`), averaged over missions as a
  report's aggregate is, with its interval. Measured coverage of the 95% interval (normal scores,
  true PoI 0.64 and 0.76; tests/stats/test_score_distributions.py): independent episodes 0.90 at 5
  episodes per policy, 0.93-0.94 at 10, 0.94-0.95 at 20; three missions of 5 episodes 0.92-0.93.
  Episodes paired by seed (correlation 0.7) are resampled independently too, which over-covers: 0.97
  at 5, 0.99 at 10, 0.998 at 20. Resampling seeds jointly instead was measured and refused: 0.76 at 5.
* :func:`performance_profile`: the fraction of episodes scoring above each threshold tau, averaged over
  missions (each mission weighs the same), with a pointwise band. Measured pointwise coverage of the
  95% band (three missions, normal scores, four thresholds): 0.88-0.92 at 5 episodes each, 0.92-0.94
  at 10, 0.91-0.94 at 20. Where a mission has every (or no) episode above a threshold, its resamples
  cannot vary there, so the band is narrow exactly where few episodes say little.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.stats
from numpy.typing import ArrayLike

from daf_core.stats._validation import as_sample, check_n_resamples, check_unit_interval
from daf_core.stats.effect_sizes import probability_of_improvement
from daf_core.stats.intervals import IntervalEstimate

MissionPair = tuple[ArrayLike, ArrayLike]

__all__ = ["PerformanceProfile", "performance_profile", "probability_of_improvement_interval"]


def probability_of_improvement_interval(
    samples: Mapping[str, MissionPair],
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> IntervalEstimate:
    """The mean over missions of P(a > b) + P(a = b)/2, with a stratified percentile bootstrap interval.

    ``samples`` maps mission -> (a's scores, b's scores). With one mission the point is that mission's
    probability of improvement (the same whether or not the episodes share seeds, and so is the
    resampling: see the module docstring).
    Where no resample can differ from the data (one episode each, or every episode of a above every
    episode of b so that each resample gives 1), the interval is the point, said in ``note``.
    Coverage, measured by simulation, is in the module docstring: 90% at 5 episodes, not 95%.
    """
    confidence = check_unit_interval("confidence", confidence)
    n_resamples = check_n_resamples(n_resamples)
    strata = _as_pairs(samples)
    rng = np.random.default_rng(seed)
    point = float(np.mean([probability_of_improvement(a, b) for a, b in strata.values()]))
    resampled = np.zeros(n_resamples)
    for a, b in strata.values():
        rows_a = rng.integers(0, a.size, size=(n_resamples, a.size))
        rows_b = rng.integers(0, b.size, size=(n_resamples, b.size))
        resampled += _poi_rows(a[rows_a], b[rows_b])
    resampled /= len(strata)
    if np.ptp(resampled) == 0.0:
        note = "every resample gives the same probability of improvement: the interval is the point"
        return IntervalEstimate(point, point, point, "none", note)
    low, high = np.quantile(resampled, [(1 - confidence) / 2, (1 + confidence) / 2])
    return IntervalEstimate(
        point, float(min(low, point)), float(max(high, point)), "stratified_percentile_bootstrap"
    )


def _as_pairs(samples: Mapping[str, MissionPair]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    if not isinstance(samples, Mapping) or not samples:
        raise ValueError(f"samples: expected a non-empty mapping of mission -> (a, b), got {samples!r}")
    return {
        mission: (as_sample(a, f"samples[{mission!r}] a"), as_sample(b, f"samples[{mission!r}] b"))
        for mission, (a, b) in samples.items()
    }


def _poi_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """P(a > b) + P(a = b)/2 of each row pair: the Mann-Whitney U of a over n_a n_b, from mid-ranks."""
    n_a, n_b = a.shape[1], b.shape[1]
    ranks = scipy.stats.rankdata(np.concatenate([a, b], axis=1), axis=1)
    u_a = ranks[:, :n_a].sum(axis=1) - n_a * (n_a + 1) / 2
    return u_a / (n_a * n_b)


@dataclass(frozen=True)
class PerformanceProfile:
    """Fraction of episodes above each threshold in ``taus`` (mean over missions) and its pointwise band."""

    taus: tuple[float, ...]
    fraction: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    confidence: float


def performance_profile(
    groups: Mapping[str, ArrayLike],
    taus: ArrayLike,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> PerformanceProfile:
    """rliable's score distribution: for each tau, the mean over missions of the fraction of episodes > tau.

    ``groups`` maps mission -> one policy's episode scores (normalise them first when missions have
    different scales: the thresholds are shared). The band is a stratified percentile bootstrap,
    pointwise at each tau (coverage measured by simulation: module docstring).
    """
    confidence = check_unit_interval("confidence", confidence)
    n_resamples = check_n_resamples(n_resamples)
    if not isinstance(groups, Mapping) or not groups:
        raise ValueError(f"groups: expected a non-empty mapping of mission -> scores, got {groups!r}")
    thresholds = as_sample(taus, "taus")
    rng = np.random.default_rng(seed)
    point = np.zeros(thresholds.size)
    resampled = np.zeros((n_resamples, thresholds.size))
    for mission, values in groups.items():
        x = as_sample(values, f"groups[{mission!r}]")
        above = (x[:, None] > thresholds).astype(float)
        point += above.mean(axis=0)
        # A resample's fraction above tau weighs each episode by how often it was drawn: multinomial
        # counts times the indicator, which needs n_resamples x episodes memory, not x thresholds too.
        counts = rng.multinomial(x.size, np.full(x.size, 1.0 / x.size), size=n_resamples)
        resampled += counts @ above / x.size
    point /= len(groups)
    resampled /= len(groups)
    low, high = np.quantile(resampled, [(1 - confidence) / 2, (1 + confidence) / 2], axis=0)
    return PerformanceProfile(
        taus=tuple(float(t) for t in thresholds),
        fraction=tuple(float(f) for f in point),
        low=tuple(float(v) for v in np.minimum(low, point)),
        high=tuple(float(v) for v in np.maximum(high, point)),
        confidence=confidence,
    )
