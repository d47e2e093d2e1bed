"""From records to what cross-play reads: each policy's mean per-agent reward in each episode.

Every statistic of this package starts from the same table (:func:`policy_scores`): one row per
episode and policy in it, with the policy's agent count and the mean reward of its agents - the
per-agent score cogames' tournament and pickup use, so a policy with 3 agents and one with 1 are
comparable. Records are ``evaluate_policies``' (read through :func:`daf_core.records.agent_table`).
"""

from __future__ import annotations

import pandas as pd

from daf_core.records import agent_table

#: The columns of :func:`policy_scores`.
SCORE_COLUMNS = ["mission", "seed", "population", "policy", "agents", "num_agents", "members", "score"]


def policy_scores(records: pd.DataFrame) -> pd.DataFrame:
    """One row per (mission, seed, population, policy): ``agents`` (the policy's agent count),
    ``num_agents`` (the episode's), ``members`` (the episode's policies as a sorted tuple) and ``score``
    (the mean reward of the policy's agents in that episode).

    An episode is (mission, seed, population); ``seed`` is also the unit of pairing, because
    evaluate_policies plays every population of a mission on the same seeds (same maps).
    """
    agents = agent_table(records)
    if agents.empty:
        return pd.DataFrame(columns=SCORE_COLUMNS)
    if agents["seed"].isna().any():
        raise ValueError("records: episodes without a seed cannot be paired across lineups")
    episode = ["mission", "seed", "population"]
    scores = (
        agents.groupby([*episode, "policy"], sort=False)["reward"]
        .agg(agents="size", score="mean")
        .reset_index()
    )
    scores["num_agents"] = scores.groupby(episode, sort=False)["agents"].transform("sum")
    members = records[["mission", "seed", "policy"]].rename(columns={"policy": "population"})
    members["members"] = records["agent_policies"].map(lambda seats: tuple(sorted(set(seats))))
    scores = scores.merge(members, on=episode, validate="many_to_one")
    scores["seed"] = scores["seed"].astype(int)
    return scores[SCORE_COLUMNS]
