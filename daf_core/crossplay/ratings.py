"""Bradley-Terry ratings from mixed-team episodes, with bootstrap intervals for ratings and ranks.

The data: every episode in which policies i and j both have agents is one comparison of i and j - the
mean per-agent reward of i's agents against j's (1 if i's is higher, 0 if lower, 1/2 for a tie; with
more than two policies in an episode, every pair of them). The model: P(i beats j) = sigmoid(r_i - r_j),
ratings in log-odds units, centred to mean 0; a rating difference of 1 means i wins 73% against j.

The estimator, and why:

* **Balanced per pair.** Each pair that met weighs the same in the likelihood, whatever its number of
  episodes: the fit uses each pair's win fraction, not its raw count of wins. A policy's rating then
  depends on whom it met and how it fared, not on how many episodes a pairing happened to get (a pool
  grown by a duplicate, or a rerun of one pairing, does not tilt the others' ratings through episode
  counts). When the win fractions follow the model, the rating differences are the same for any pair
  weights, so adding a copy of any policy (the copy's pairs are the original's, its meeting with the
  original a draw) leaves the others' ratings and their order unchanged; tests/crossplay/test_ratings.py
  checks this on noisy data. What no rating can promise is invariance on strongly intransitive data
  (a beats b, b beats c, c beats a): there a copy of c doubles the weight of games against c.
* **Smoothed fractions.** A policy that always wins (or always loses, like ``noop``) would have an
  infinite maximum-likelihood rating. Each pair's fraction is (wins + 1/2) / (episodes + 1) - half a
  pseudo-episode each way, the Jeffreys-style correction - so every rating is finite and the smoothing
  fades as episodes accumulate.
* **Intervals by bootstrap over seeds.** Episodes on one seed share a map (common random numbers), so
  the unit resampled is the seed within each mission (stratified: every resample keeps every mission and
  its seed count), with all of that seed's episodes; seeded, ``n_resamples`` resamples. Rating intervals
  are percentile intervals with their arms widened for few seeds (``_few_seeds_widened``: in 200
  simulated studies of three policies, 95% intervals cover 90-96% at 5 seeds, 92-95% at 10 and 92-98% at
  20, where plain percentiles cover 82-84%, 88-90% and 90-93%); each resample
  is also ranked, and the rank interval is the percentile interval of the ranks; both contain the point
  estimate.

The fit is the maximum-likelihood estimate by ``scipy.optimize.minimize`` (L-BFGS-B, exact gradient, the
gauge fixed by a penalty on the ratings' sum), one batched problem for all resamples.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.optimize
import scipy.sparse.csgraph
import scipy.special
import scipy.stats

from daf_core.crossplay.episodes import policy_scores


def pairwise_outcomes(
    records: pd.DataFrame, policies: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per seed unit u (a (mission, seed)): ``wins[u, i, j]`` (i's wins over j, ties 1/2) and
    ``games[u, i, j]`` (episodes where both played), and each unit's mission."""
    scores = policy_scores(records)
    index = {p: k for k, p in enumerate(policies)}
    scores = scores[scores["policy"].isin(index) & (scores["members"].map(len) >= 2)]
    units = list(dict.fromkeys(zip(scores["mission"], scores["seed"], strict=True)))
    unit_index = {u: k for k, u in enumerate(units)}
    wins = np.zeros((len(units), len(policies), len(policies)))
    games = np.zeros_like(wins)
    for (mission, seed, _), episode in scores.groupby(["mission", "seed", "population"], sort=False):
        u = unit_index[(mission, seed)]
        score = dict(zip(episode["policy"], episode["score"], strict=True))
        for a, b in itertools.combinations(score, 2):
            i, j = index[a], index[b]
            outcome = 0.5 if score[a] == score[b] else float(score[a] > score[b])
            wins[u, i, j] += outcome
            wins[u, j, i] += 1.0 - outcome
            games[u, i, j] += 1
            games[u, j, i] += 1
    return wins, games, [m for m, _ in units]


def fit_bradley_terry(wins: np.ndarray, games: np.ndarray) -> np.ndarray:
    """Ratings ``[..., K]`` (mean 0) maximising the balanced, smoothed Bradley-Terry likelihood of
    ``wins[..., K, K]`` out of ``games[..., K, K]`` (see the module docstring); batches fitted together."""
    wins, games = np.asarray(wins, dtype=float), np.asarray(games, dtype=float)
    shape = wins.shape[:-1]
    met = games > 0
    fraction = np.where(met, (wins + 0.5) / (games + 1.0), 0.0)
    weight = met.astype(float)

    def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
        r = flat.reshape(shape)
        diff = r[..., :, None] - r[..., None, :]
        # -sum over ordered pairs of f_ij log sigmoid(r_i - r_j); each unordered pair appears twice with
        # f_ji = 1 - f_ij, which is the pair's binomial log-likelihood. Halved to count each pair once.
        loss = -0.5 * np.sum(weight * fraction * scipy.special.log_expit(diff))
        grad_diff = -0.5 * weight * fraction * scipy.special.expit(-diff)
        grad = grad_diff.sum(axis=-1) - grad_diff.sum(axis=-2)
        total = r.sum(axis=-1, keepdims=True)
        loss += 0.5 * float(np.sum(total**2))
        grad = grad + total
        return loss, grad.ravel()

    result = scipy.optimize.minimize(
        objective,
        np.zeros(int(np.prod(shape))),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 20000, "gtol": 1e-10, "ftol": 1e-15},
    )
    ratings = result.x.reshape(shape)
    gradient = np.abs(objective(result.x)[1]).max()
    if gradient > 1e-6:
        raise RuntimeError(
            f"Bradley-Terry fit did not converge ({result.message}; max |gradient| {gradient:.2g})"
        )
    return ratings - ratings.mean(axis=-1, keepdims=True)


def bradley_terry_ratings(
    records: pd.DataFrame,
    policies: Sequence[str] | None = None,
    *,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """``[{policy, rating, ci_low, ci_high, rank, rank_low, rank_high}]``, best first, for every policy
    that shared an episode with another; [] when none did. ``policies`` restricts the pool (default: all
    in the records). Policies in groups that never met, even through others, are refused (ValueError)."""
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence: must be a number in (0, 1), got {confidence!r}")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 1:
        raise ValueError(f"n_resamples: must be a positive integer, got {n_resamples!r}")
    if policies is None:
        policies = list(dict.fromkeys(policy_scores(records)["policy"]))
    policies = list(policies)
    wins, games, missions = pairwise_outcomes(records, policies)
    met = games.sum(axis=0) > 0
    rated = met.any(axis=1)
    if rated.sum() < 2:
        return []
    # A policy that never shared an episode has no rating; two groups that never met have no common scale.
    policies = [p for p, keep in zip(policies, rated, strict=True) if keep]
    wins, games = wins[:, rated][:, :, rated], games[:, rated][:, :, rated]
    n_groups, group = scipy.sparse.csgraph.connected_components(met[rated][:, rated], directed=False)
    if n_groups > 1:
        groups = [[p for p, g in zip(policies, group, strict=True) if g == k] for k in range(n_groups)]
        raise ValueError(
            f"ratings: the policies form {n_groups} groups that never played together, directly or through "
            f"others: {groups}; ratings across them would be arbitrary"
        )
    point = fit_bradley_terry(wins.sum(axis=0), games.sum(axis=0))
    draws = _stratified_counts(missions, n_resamples, seed)
    boot = fit_bradley_terry(np.einsum("bu,uij->bij", draws, wins), np.einsum("bu,uij->bij", draws, games))
    alpha = (1.0 - confidence) / 2
    low, high = _few_seeds_widened(
        point, *np.quantile(boot, [alpha, 1 - alpha], axis=0), len(missions), alpha
    )
    rank = scipy.stats.rankdata(-point, method="min").astype(int)
    boot_ranks = scipy.stats.rankdata(-boot, method="min", axis=-1)
    rank_low = np.minimum(np.quantile(boot_ranks, alpha, axis=0, method="lower"), rank)
    rank_high = np.maximum(np.quantile(boot_ranks, 1 - alpha, axis=0, method="higher"), rank)
    rows = [
        {
            "policy": p,
            "rating": float(point[i]),
            "ci_low": float(min(low[i], point[i])),
            "ci_high": float(max(high[i], point[i])),
            "rank": int(rank[i]),
            "rank_low": int(rank_low[i]),
            "rank_high": int(rank_high[i]),
        }
        for i, p in enumerate(policies)
    ]
    return sorted(rows, key=lambda row: (row["rank"], -row["rating"]))


def _few_seeds_widened(
    point: np.ndarray, low: np.ndarray, high: np.ndarray, n_units: int, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """The percentile interval's arms scaled by ``t_{n-1} / z * sqrt(n / (n - 1))`` over ``n`` resampled
    seeds: a bootstrap over a handful of seeds sees too little spread (it resamples only what it has, and
    its variance carries the ``(n - 1) / n`` of a plug-in estimate), so its 95% intervals covered 82-84%
    of the time at 5 seeds, 88-90% at 10 and 90-93% at 20 in simulation, and 90-96%, 92-95% and 92-98%
    with the factor (tests/crossplay/test_coverage.py checks 10 seeds). The factor tends to 1 as seeds
    accumulate."""
    if n_units < 2:
        return low, high
    factor = scipy.stats.t.ppf(1 - alpha, n_units - 1) / scipy.stats.norm.ppf(1 - alpha)
    factor *= np.sqrt(n_units / (n_units - 1))
    return point - factor * (point - low), point + factor * (high - point)


def _stratified_counts(missions: Sequence[str], n_resamples: int, seed: int) -> np.ndarray:
    """``[resample, unit]`` multiplicities: each mission's seeds drawn with replacement, as many as it has."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(missions)
    counts = np.zeros((n_resamples, len(labels)))
    for mission in dict.fromkeys(missions):
        members = np.flatnonzero(labels == mission)
        counts[:, members] = rng.multinomial(
            len(members), np.full(len(members), 1 / len(members)), n_resamples
        )
    return counts
