"""Value over replacement (VOR): what a candidate's agents add over the agents they replace.

cogames' own definition (``cogames.pickup`` with ``metta_alo.scoring``): on an ``n``-agent mission,
play the candidate with ``k`` agents beside ``n - k`` replacement agents for each split, and the
replacement alone. Per split, VOR is the candidate's mean per-agent reward minus the all-replacement
episodes' mean per-agent reward; overall, the candidate-agent-weighted average of the splits'
candidate means (weight ``k`` times the split's episodes) minus the same baseline. Both are kept
exactly; across missions (pickup scores one) the per-mission VORs are averaged, every mission alike.

Intervals use the common random numbers: evaluate_policies plays every scenario on the same seeds
(same maps), so each seed gives one paired difference - the seed's (weighted) candidate score minus
the seed's all-replacement score - and the interval is Student's t over those differences
(:func:`daf_core.stats.mean_of_means_interval`, Welch-Satterthwaite across missions). Pairing removes
the map-to-map variation both sides share, which is most of it on these missions; only seeds played in
every scenario of a mission are used. Coverage, measured in tests/crossplay/test_coverage.py (1000
simulated studies, map effect sd 1 shared by a seed's scenarios): 0.942-0.957 at 5, 10 and 20 seeds, for
a candidate that is its own replacement (VOR 0) and one that is better; the paired interval is less
than half as wide as an unpaired (Welch) one there.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from daf_core import stats
from daf_core.crossplay.episodes import policy_scores
from daf_core.crossplay.splits import Split


def paired_differences(
    candidate: np.ndarray, replacement: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-seed VOR: ``candidate[..., split, seed]`` (the candidate's mean per-agent reward),
    ``replacement[..., seed]`` (all-replacement mean per-agent reward) and ``counts[split]`` (the
    candidate's agents) -> (per-split differences ``[..., split, seed]``, overall ``[..., seed]``: the
    candidate-agent-weighted candidate score minus the baseline). Vectorised: leading axes are batches."""
    counts = np.asarray(counts, dtype=float)
    per_split = candidate - replacement[..., None, :]
    weighted = np.einsum("k,...kn->...n", counts / counts.sum(), candidate)
    return per_split, weighted - replacement


def value_over_replacement(
    records: pd.DataFrame, candidate: str, replacement: str, *, confidence: float = 0.95
) -> dict[str, Any]:
    """The candidate's VOR from the records of :func:`~daf_core.crossplay.replacement_lineups`' episodes:
    ``{policy, replacement, vor, ci_low, ci_high, n_episodes, splits: [{split, candidate_mean,
    replacement_mean, vor, ci_low, ci_high}]}`` (splits in order of the candidate's agent count).

    Episodes with any other policy are ignored. A mission without the all-replacement episodes, or
    without any candidate episode on the baseline's seeds, is refused (ValueError naming it).
    """
    scores = policy_scores(records)
    allowed = {candidate, replacement}
    scores = scores[scores["members"].map(lambda m: set(m) <= allowed)]
    if scores.empty:
        raise ValueError(f"records: no episode of {candidate!r} and {replacement!r} alone")
    per_split: dict[Split, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    overall: dict[str, np.ndarray] = {}
    n_episodes = 0
    for mission, rows in scores.groupby("mission", sort=False):
        baseline = rows[(rows["policy"] == replacement) & rows["members"].map((replacement,).__eq__)]
        if baseline.empty:
            raise ValueError(
                f"records: mission {mission!r} has no episode of the replacement {replacement!r} alone, "
                "the baseline of value over replacement"
            )
        mine = rows[rows["policy"] == candidate]
        table = mine.pivot_table(index="seed", columns="agents", values="score", aggfunc="mean")
        base = baseline.groupby("seed")["score"].mean()
        seeds = base.index.intersection(table.dropna().index)
        if not len(seeds):
            raise ValueError(
                f"records: mission {mission!r} has no seed where {candidate!r} played every split and "
                f"{replacement!r} played alone"
            )
        num_agents = int(rows["num_agents"].iloc[0])
        ks = np.asarray(table.columns, dtype=int)
        c = table.loc[seeds].to_numpy().T
        r = base.loc[seeds].to_numpy()
        split_diffs, overall[mission] = paired_differences(c, r, ks)
        for k, c_k, d_k in zip(ks, c, split_diffs, strict=True):
            per_split.setdefault(Split(int(k), num_agents - int(k)), {})[mission] = (c_k, r, d_k)
        n_episodes += len(seeds) * (len(ks) + 1)
    total = stats.mean_of_means_interval(overall, confidence=confidence)
    return {
        "policy": candidate,
        "replacement": replacement,
        "vor": total.point,
        "ci_low": total.low,
        "ci_high": total.high,
        "n_episodes": n_episodes,
        "splits": [_split_entry(s, per_split[s], confidence) for s in sorted(per_split)],
    }


def _split_entry(
    split: Split, groups: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], confidence: float
) -> dict[str, Any]:
    vor = stats.mean_of_means_interval({m: d for m, (_, _, d) in groups.items()}, confidence=confidence)
    return {
        "split": split.name,
        "candidate_mean": float(np.mean([c.mean() for c, _, _ in groups.values()])),
        "replacement_mean": float(np.mean([r.mean() for _, r, _ in groups.values()])),
        "vor": vor.point,
        "ci_low": vor.low,
        "ci_high": vor.high,
    }
