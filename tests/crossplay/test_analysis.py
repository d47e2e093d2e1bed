"""The cross-play matrix and value over replacement on hand-made records: exact numbers, cogames' VOR."""

import numpy as np
import pandas as pd
import pytest
from metta_alo.scoring import VorScenarioSummary, VorTotals, overall_value_over_replacement

from daf_core import stats
from daf_core.crossplay import (
    cross_play_matrix,
    default_splits,
    policy_scores,
    replacement_lineups,
    round_robin_lineups,
    value_over_replacement,
)

from .synthetic import episode, play


def shaped(policy, mission, seed, lineup):
    """a's agents earn 1, b's 0; +0.1 per seed (the map), +0.01 per agent of the own team."""
    return {"a": 1.0, "b": 0.0}[policy] + 0.1 * seed + 0.01 * lineup[policy]


@pytest.fixture
def round_robin() -> pd.DataFrame:
    return play(round_robin_lineups(["a", "b"], default_splits(4)), ["m"], [0, 1], shaped)


def test_policy_scores_are_each_policys_mean_per_agent_reward_per_episode():
    records = pd.DataFrame([episode("a:1+b:3", "m", 7, ["b", "a", "b", "b"], [1.0, 5.0, 2.0, 3.0])])
    scores = policy_scores(records).set_index("policy")
    assert scores.loc["a", "score"] == 5.0 and scores.loc["b", "score"] == 2.0
    assert scores.loc["b", "agents"] == 3 and scores.loc["a", "num_agents"] == 4
    assert scores.loc["a", "members"] == ("a", "b")


def test_a_cell_is_the_rows_agents_beside_the_partners_all_splits_pooled(round_robin):
    cells = {(c["mission"], c["policy"], c["partner"]): c for c in cross_play_matrix(round_robin)}
    assert set(cells) == {(m, i, j) for m in ("m", "all") for i in "ab" for j in "ab"}
    # a beside b: k = 1, 2, 3 agents on seeds 0 and 1 -> 1 + 0.05 + 0.02.
    assert cells[("m", "a", "b")]["mean"] == pytest.approx(1.07)
    assert cells[("m", "b", "a")]["mean"] == pytest.approx(0.07)
    assert cells[("m", "a", "a")]["mean"] == pytest.approx(1.09)  # self-play: 4 agents
    assert cells[("m", "a", "b")]["n_episodes"] == 6 and cells[("m", "a", "a")]["n_episodes"] == 2
    # The interval's unit is the seed: the mean of each seed's three episodes, then Student's t.
    expected = stats.mean_interval([1.02, 1.12])
    assert (cells[("m", "a", "b")]["ci_low"], cells[("m", "a", "b")]["ci_high"]) == pytest.approx(
        (expected.low, expected.high)
    )
    assert cells[("all", "a", "b")]["mean"] == pytest.approx(1.07)


def test_across_missions_every_mission_weighs_the_same(round_robin):
    other = play(round_robin_lineups(["a", "b"], default_splits(2)), ["small"], [0, 1, 2, 3], shaped)
    cells = cross_play_matrix(pd.concat([round_robin, other], ignore_index=True))
    overall = next(c for c in cells if (c["mission"], c["policy"], c["partner"]) == ("all", "a", "b"))
    small = next(c for c in cells if (c["mission"], c["policy"], c["partner"]) == ("small", "a", "b"))
    assert overall["mean"] == pytest.approx((1.07 + small["mean"]) / 2)
    assert overall["n_episodes"] == 6 + 4


def test_given_splits_restrict_each_rows_episodes(round_robin):
    cells = {
        (c["mission"], c["policy"], c["partner"]): c for c in cross_play_matrix(round_robin, splits=["1v3"])
    }
    assert cells[("m", "a", "b")]["mean"] == pytest.approx(1.0 + 0.05 + 0.01)
    assert cells[("m", "a", "b")]["n_episodes"] == 2
    assert cells[("m", "a", "a")]["n_episodes"] == 2  # self-play stays on the diagonal


def test_one_seed_gives_a_mean_without_an_interval():
    records = play(round_robin_lineups(["a", "b"], default_splits(2)), ["m"], [0], shaped)
    cell = cross_play_matrix(records)[0]
    assert cell["ci_low"] is None and cell["ci_high"] is None and cell["mean"] is not None


def cogames_vor(records: pd.DataFrame, candidate: str) -> tuple[float, dict[int, float]]:
    """cogames pickup's arithmetic (metta_alo.scoring) on the same episodes."""
    totals, means = VorTotals(), {}
    scenario = records["agent_policies"].map(lambda seats: seats.count(candidate))
    for k in sorted(scenario.unique(), reverse=True):
        rows = records[scenario == k]
        per_episode = [
            np.mean([r for p, r in zip(ps, rs, strict=True) if p == candidate] if k else rs)
            for ps, rs in zip(rows["agent_policies"], rows["agent_rewards"], strict=True)
        ]
        summary = VorScenarioSummary(
            candidate_mean=float(np.mean(per_episode)) if k else None,
            replacement_mean=None if k else float(np.mean(per_episode)),
            candidate_episode_count=len(rows) if k else 0,
        )
        totals.update(int(k), summary)
        means[int(k)] = float(np.mean(per_episode))
    overall = overall_value_over_replacement(
        totals.total_candidate_weighted_sum, totals.total_candidate_agents, totals.replacement_mean
    )
    return overall, {k: m - totals.replacement_mean for k, m in means.items() if k}


def test_vor_is_cogames_pickups_per_split_and_candidate_weighted_overall():
    rng = np.random.default_rng(3)
    lineups = replacement_lineups("lstm", "random", default_splits(4))
    records = play(
        lineups, ["explore"], range(6), lambda p, m, s, lineup: rng.exponential(2.0 if p == "lstm" else 1.0)
    )
    result = value_over_replacement(records, "lstm", "random")
    overall, per_split = cogames_vor(records, "lstm")
    assert result["vor"] == pytest.approx(overall)
    assert [s["split"] for s in result["splits"]] == ["1v3", "2v2", "3v1"]
    assert [s["vor"] for s in result["splits"]] == pytest.approx([per_split[1], per_split[2], per_split[3]])
    assert result["n_episodes"] == 6 * 4
    assert result["ci_low"] < result["vor"] < result["ci_high"]
    split = result["splits"][0]
    assert split["vor"] == pytest.approx(split["candidate_mean"] - split["replacement_mean"])


def test_vor_needs_the_all_replacement_baseline():
    records = play([{"lstm": 1, "random": 1}], ["tiny_walk"], [0, 1], lambda *_: 1.0)
    with pytest.raises(
        ValueError, match="mission 'tiny_walk' has no episode of the replacement 'random' alone"
    ):
        value_over_replacement(records, "lstm", "random")
    with pytest.raises(ValueError, match="no episode of 'x' and 'y' alone"):
        value_over_replacement(records, "x", "y")
