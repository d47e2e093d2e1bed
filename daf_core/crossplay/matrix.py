"""The cross-play matrix: how each policy's agents score beside each other policy's agents.

Cell (policy i, partner j) on a mission is the mean per-agent reward of i's agents in the episodes
where i's agents play beside j's agents and no one else's, all splits pooled (with ``splits`` given,
only episodes where i's agent count is one of them); the diagonal is self-play. Mission ``"all"`` is
the mean over missions of the per-mission cells (every mission weighs the same, as in
:class:`~daf_core.comparison.ComparisonReport`), present whatever the number of missions.

The interval's unit is the **seed**, not the episode. evaluate_policies plays every lineup on the same
seeds (the same map), so a cell's 1v3, 2v2 and 3v1 episodes of one seed are correlated; treating them
as independent episodes understates the standard error. Measured in tests/crossplay/test_coverage.py
(a map effect of sd 1 shared by a seed's lineups, per-agent noise sd 0.5, 600 simulated studies): the
seed-unit interval covers 0.94, 0.96, 0.94 at 5, 10, 20 seeds; a t interval over the pooled episodes
covers only 0.70-0.75. Each seed gives one value,
the mean of its episodes in the cell, and the interval is Student's t over seeds
(:func:`daf_core.stats.mean_of_means_interval`; across missions with Welch-Satterthwaite degrees of
freedom). One seed gives no interval (None); constant values give the point.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from daf_core import stats
from daf_core.crossplay.episodes import policy_scores
from daf_core.crossplay.splits import Split, parse_split

AGGREGATE_MISSION = "all"


def cross_play_matrix(
    records: pd.DataFrame,
    *,
    policies: Sequence[str] | None = None,
    splits: Iterable[str | Split] | None = None,
    confidence: float = 0.95,
) -> list[dict[str, Any]]:
    """The matrix as cells ``{mission, policy, partner, mean, ci_low, ci_high, n_episodes}``, per mission
    (in records order) then ``"all"``; a pair that never played together has no cell.

    ``policies`` orders (and restricts) rows and columns; by default every policy in the records, in
    order of appearance.
    """
    scores = policy_scores(records)
    policies = list(dict.fromkeys(scores["policy"])) if policies is None else list(policies)
    if splits is not None:
        wanted = {parse_split(s) for s in splits}
        split = [Split(a, n - a) for a, n in zip(scores["agents"], scores["num_agents"], strict=True)]
        scores = scores[[s in wanted or s.others == 0 for s in split]]
    # Each row's partner: itself in self-play, the other policy beside two; episodes of three or more
    # policies are no cell's.
    scores = scores[(scores["members"].map(len) <= 2) & scores["policy"].isin(policies)].copy()
    scores["partner"] = [
        m[-1] if m[0] == p else m[0] for p, m in zip(scores["policy"], scores["members"], strict=True)
    ]
    scores = scores[scores["partner"].isin(policies)]
    cell = ["mission", "policy", "partner"]
    units = scores.groupby([*cell, "seed"], sort=False)["score"].mean().reset_index()
    counts = scores.groupby(cell, sort=False).size()
    values = units["score"].to_numpy()
    by_cell = {key: values[rows] for key, rows in units.groupby(cell, sort=False).indices.items()}
    missions = {m: k for k, m in enumerate(dict.fromkeys(scores["mission"]))}
    order = {p: k for k, p in enumerate(policies)}
    keys = sorted(by_cell, key=lambda key: (missions[key[0]], order[key[1]], order[key[2]]))
    cells = [_cell(m, i, j, {m: by_cell[(m, i, j)]}, int(counts[(m, i, j)]), confidence) for m, i, j in keys]
    across: dict[tuple[str, str], list[str]] = {}
    for m, i, j in keys:
        across.setdefault((i, j), []).append(m)
    for (i, j), on in sorted(across.items(), key=lambda item: (order[item[0][0]], order[item[0][1]])):
        groups = {m: by_cell[(m, i, j)] for m in on}
        cells.append(
            _cell(AGGREGATE_MISSION, i, j, groups, sum(int(counts[(m, i, j)]) for m in on), confidence)
        )
    return cells


def _cell(
    mission: str, policy: str, partner: str, groups: dict[str, np.ndarray], n_episodes: int, confidence: float
) -> dict[str, Any]:
    estimate = stats.mean_of_means_interval(groups, confidence=confidence)
    return {
        "mission": mission,
        "policy": policy,
        "partner": partner,
        "mean": estimate.point,
        "ci_low": estimate.low,
        "ci_high": estimate.high,
        "n_episodes": n_episodes,
    }
