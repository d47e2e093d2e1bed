"""The intervals of cross-play hold their level: measured by simulation at 5, 10 and 20 seeds.

Rewards are simulated the way common random numbers make them: a map (seed) effect shared by every
lineup played on that seed, plus per-agent noise. 1000 repetitions per case (600 for the matrix, whose
simulation runs through the whole records pipeline): the Monte-Carlo standard error of a 95% coverage is
0.007 (0.009), so a coverage within 0.03 of 0.95 is the level held.
"""

import numpy as np
import pytest

from daf_core import stats
from daf_core.crossplay import (
    bradley_terry_ratings,
    cross_play_matrix,
    default_splits,
    paired_differences,
    policy_scores,
    round_robin_lineups,
)
from daf_core.stats.t_tests import one_sample_t, welch_t

from .synthetic import crn_records

REPETITIONS = 1000
MATRIX_REPETITIONS = 600  # standard error 0.009: within 0.03 is still the level held (3.4 standard errors)
MEANS = {"a": 1.0, "b": 0.3}


def matrix_coverage(n_seeds: int, rng: np.random.Generator) -> tuple[float, float]:
    """Coverage of cell (a, b) by the matrix's interval, and by a t interval that wrongly treats every
    episode as independent. Each repetition is one mission of the same records."""
    missions = [f"m{r}" for r in range(MATRIX_REPETITIONS)]
    lineups = round_robin_lineups(["a", "b"], default_splits(4))
    records = crn_records(lineups, missions, n_seeds, MEANS, seed_sd=1.0, noise_sd=0.5, rng=rng)
    cells = [c for c in cross_play_matrix(records) if (c["policy"], c["partner"]) == ("a", "b")]
    covered = np.mean([c["ci_low"] <= MEANS["a"] <= c["ci_high"] for c in cells if c["mission"] != "all"])
    # The contrast: a's agents' per-episode means beside b, every episode its own unit.
    scores = policy_scores(records)
    beside_b = scores[(scores["policy"] == "a") & scores["members"].map(("a", "b").__eq__)]
    per_mission = np.stack(beside_b.groupby("mission", sort=False)["score"].apply(np.asarray).to_list())
    naive = one_sample_t(per_mission, 0.95)
    return float(covered), float(np.mean((naive.low <= MEANS["a"]) & (MEANS["a"] <= naive.high)))


@pytest.mark.parametrize("n_seeds", [5, 10, 20])
def test_the_matrix_interval_over_seeds_holds_95_percent(n_seeds):
    covered, naive = matrix_coverage(n_seeds, np.random.default_rng(n_seeds))
    assert abs(covered - 0.95) < 0.03, covered
    # Treating a seed's 1v3, 2v2 and 3v1 episodes as independent would claim far more than it has.
    assert naive < 0.85, naive


def simulate_vor(n_seeds: int, rng: np.random.Generator, *, candidate_mean: float, slope: float):
    """Per-seed scores of a candidate at 1, 2, 3 agents beside a replacement of mean 0.5 on 4 agents, a map
    effect shared by every scenario of a seed; returns (candidate [rep, split, seed], replacement [rep,
    seed], counts, true VOR)."""
    counts = np.array([1, 2, 3])
    shared = rng.normal(0, 1.0, (REPETITIONS, 1, n_seeds))
    noise = rng.normal(0, 0.5, (REPETITIONS, 3, n_seeds)) / np.sqrt(counts)[:, None]
    candidate = candidate_mean + slope * counts[:, None] + shared + noise
    replacement = 0.5 + shared[:, 0] + rng.normal(0, 0.5 / 2, (REPETITIONS, n_seeds))
    truth = np.sum(counts / counts.sum() * (candidate_mean + slope * counts)) - 0.5
    return candidate, replacement, counts, truth


@pytest.mark.parametrize("n_seeds", [5, 10, 20])
@pytest.mark.parametrize("candidate_mean, slope", [(0.5, 0.0), (0.8, 0.1)])
def test_the_paired_vor_interval_holds_95_percent(n_seeds, candidate_mean, slope):
    """(0.5, 0): the candidate is its own replacement, VOR 0; the interval holds 0 in 95% of studies."""
    rng = np.random.default_rng(100 * n_seeds + int(10 * candidate_mean))
    candidate, replacement, counts, truth = simulate_vor(
        n_seeds, rng, candidate_mean=candidate_mean, slope=slope
    )
    per_split, overall = paired_differences(candidate, replacement, counts)
    intervals = [stats.mean_of_means_interval({"m": d}) for d in overall]
    covered = np.mean([i.low <= truth <= i.high for i in intervals])
    assert abs(covered - 0.95) < 0.03, covered
    split_truth = candidate_mean + slope * counts[1] - 0.5
    split_intervals = [stats.mean_of_means_interval({"m": d}) for d in per_split[:, 1]]
    assert abs(np.mean([i.low <= split_truth <= i.high for i in split_intervals]) - 0.95) < 0.03
    # Pairing by seed is what makes the interval short: the map effect (sd 1) cancels.
    unpaired = welch_t(overall + replacement, replacement, 0.95)
    assert np.median([i.high - i.low for i in intervals]) < 0.5 * np.median(unpaired.high - unpaired.low)


@pytest.mark.slow(seconds=15)
def test_the_rating_intervals_hold_their_level_at_ten_seeds():
    """Three policies in a round robin on 10 seeds, 200 studies: each rating's 95% interval covers the
    rating the same estimator gives on 3000 seeds (its target) about 95% of the time (Monte-Carlo
    standard error 0.009 for the mean over the three policies)."""
    means = {"a": 1.0, "b": 0.8, "c": 0.4}
    lineups = round_robin_lineups(list(means), default_splits(4))
    rng = np.random.default_rng(3)
    big = crn_records(lineups, ["m"], 3000, means, seed_sd=1.0, noise_sd=0.5, rng=rng)
    target = {r["policy"]: r["rating"] for r in bradley_terry_ratings(big, n_resamples=2)}
    covered = [
        r["ci_low"] <= target[r["policy"]] <= r["ci_high"]
        for k in range(200)
        for r in bradley_terry_ratings(
            crn_records(lineups, ["m"], 10, means, seed_sd=1.0, noise_sd=0.5, rng=rng),
            n_resamples=300,
            seed=k,
        )
    ]
    assert abs(np.mean(covered) - 0.95) < 0.03, np.mean(covered)
