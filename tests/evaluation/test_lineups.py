"""Mixed populations: one episode's agents split between policies, as CoGames' tournament scores them.

Real episodes on ``explore`` (4 agents, 200 steps) and ``tiny_walk`` (2 agents, 100 steps). ``noop``
never leaves its spawn cell, so each of its agents earns exactly 0.01 (one distinct cell): a record's
seats can be checked against the rewards the agents in them actually earned.
"""

import pandas as pd
import pytest
import torch
from metta_alo.scoring import allocate_counts
from mettagrid.config.mettagrid_config import ChangeVibeActionConfig
from mettagrid.config.vibes import VIBES
from mettagrid.policy.lstm import LSTMPolicy
from mettagrid.policy.policy_env_interface import PolicyEnvInterface
from scipy.stats import ttest_ind

from daf_core.evaluation import (
    EvaluationError,
    Lineup,
    agent_table,
    evaluate_policies,
    load_records,
    seat_assignment,
)
from daf_core.evaluation.batched_rollout import run_batched_episodes
from daf_core.evaluation.lineup_rollout import run_lineup_episodes
from daf_core.missions import load_mission

TIMING = ["wall_time_s"]
POOL = ["random", "noop"]
LINEUPS = [{"random": 2, "noop": 2}, Lineup.of({"random": 1, "noop": 3}, name="1v3")]


@pytest.fixture(scope="module")
def mixed():
    return evaluate_policies(POOL, ["explore"], episodes=3, seed=3, lineups=LINEUPS, show_progress=False)


def test_a_2v2_episode_records_which_policy_controlled_each_agent(mixed):
    two_v_two = mixed[mixed.lineup == "random:2+noop:2"]
    assert two_v_two["policy"].tolist() == ["random:2+noop:2"] * 3  # the lineup names the episodes
    assert two_v_two["seed"].tolist() == [3, 4, 5]
    for _, row in two_v_two.iterrows():
        # Seats: the lineup's slots shuffled by random.Random(seed), the documented rule.
        assert row["agent_policies"] == seat_assignment([("random", 2), ("noop", 2)], row["seed"])
        assert sorted(row["agent_policies"]) == ["noop", "noop", "random", "random"]
        rewards = dict(zip(range(4), row["agent_rewards"], strict=True))
        seats = row["agent_policies"]
        assert [rewards[i] for i in range(4) if seats[i] == "noop"] == pytest.approx([0.01, 0.01])
        assert all(rewards[i] > 0.01 for i in range(4) if seats[i] == "random")  # random walks away
    assert len({tuple(s) for s in two_v_two["agent_policies"]}) > 1  # seats change between episodes


def test_each_policys_agents_add_up_to_its_team_total_and_all_agents_to_the_reward(mixed):
    agents = agent_table(mixed)
    assert list(agents.columns) == ["population", "mission", "seed", "episode", "agent", "policy", "reward"]
    assert len(agents) == 4 * len(mixed)
    teams = agents.groupby(["population", "seed", "policy"])["reward"].sum().unstack("policy")
    episodes = mixed.set_index(["policy", "seed"])["reward"]
    assert (teams["random"] + teams["noop"]).to_numpy() == pytest.approx(episodes.loc[teams.index].to_numpy())
    # noop's team total is 0.01 per agent it fields: 2 in the 2v2, 3 in the 1v3.
    assert teams["noop"].xs("random:2+noop:2").to_numpy() == pytest.approx([0.02] * 3)
    assert teams["noop"].xs("1v3").to_numpy() == pytest.approx([0.03] * 3)


def test_agent_table_refuses_records_it_cannot_split(mixed):
    with pytest.raises(ValueError, match=r"columns \['agent_policies'\] missing"):
        agent_table(mixed.drop(columns="agent_policies"))
    short = mixed.assign(agent_policies=[["noop"]] * len(mixed))
    with pytest.raises(ValueError, match=r"seed 3\) has 1 agent_policies but 4 agent_rewards"):
        agent_table(short)
    assert list(agent_table(mixed.iloc[:0]).columns) == list(agent_table(mixed).columns)


@pytest.mark.parametrize(
    ("pool", "lineups", "batch_networks"),
    [
        (POOL, LINEUPS, True),  # the scripted rollout
        (POOL, LINEUPS, False),  # mettagrid's loop
        (["lstm", "random"], [{"lstm": 2, "random": 2}, {"lstm": 1, "random": 3}], True),  # lockstep
    ],
    ids=["scripted", "mettagrid_loop", "lockstep"],
)
def test_mixed_records_are_the_same_in_two_workers(pool, lineups, batch_networks):
    kwargs = {"episodes": 3, "seed": 3, "lineups": lineups, "batch_networks": batch_networks}
    serial = evaluate_policies(pool, ["explore"], show_progress=False, **kwargs)
    parallel = evaluate_policies(pool, ["explore"], max_parallel_jobs=2, show_progress=False, **kwargs)
    columns = [c for c in serial.columns if c not in TIMING]
    pd.testing.assert_frame_equal(serial[columns], parallel[columns])
    assert serial["reward"].nunique() > 1


def test_a_self_play_lineup_gives_the_self_play_records():
    self_play = evaluate_policies(["random"], ["explore"], episodes=2, seed=8, show_progress=False)
    lineup = evaluate_policies(
        ["random"], ["explore"], episodes=2, seed=8, lineups=[{"random": 4}], show_progress=False
    )
    assert lineup["policy"].tolist() == ["random:4"] * 2
    assert lineup["agent_policies"].tolist() == [["random"] * 4] * 2
    assert lineup["agent_rewards"].tolist() == self_play["agent_rewards"].tolist()
    assert self_play["agent_policies"].tolist() == [["random"] * 4] * 2
    assert self_play["lineup"].tolist() == ["random"] * 2


@pytest.mark.parametrize(
    ("policy", "mission", "batch_networks"),
    [("random", "explore", True), ("lstm", "tiny_walk", False)],
)
def test_two_copies_of_a_policy_in_a_lineup_play_exactly_as_it_does_alone(policy, mission, batch_networks):
    # Each copy is its own policy object, built as for self-play (an untrained lstm: the same network,
    # drawn from the construction seed); the agents step in agent order and draw what they draw alone.
    # random alone takes the scripted fast path, lstm alone (batch_networks=False) mettagrid's loop.
    pool = {policy: policy, "copy": policy}
    kwargs = {"episodes": 2, "seed": 1, "show_progress": False, "batch_networks": batch_networks}
    alone = evaluate_policies([policy], [mission], **kwargs)
    num_agents = int(alone["num_agents"].iloc[0])
    lineup = {policy: num_agents // 2, "copy": num_agents // 2}
    paired = evaluate_policies(pool, [mission], lineups=[lineup], **kwargs)
    assert paired["agent_rewards"].tolist() == alone["agent_rewards"].tolist()
    assert paired["agent/cell.unique_visited"].tolist() == alone["agent/cell.unique_visited"].tolist()
    assert alone["reward"].nunique() > 1  # real, differing episodes
    assert {"copy", policy} == {p for seats in paired["agent_policies"] for p in seats}


def test_lineups_of_random_and_noop_give_the_records_of_mettagrids_loop_on_the_fast_path():
    # The scripted rollout draws each agent's action as its seat's policy does, in agent order; with vibe
    # actions enabled and two random members of different vibe_action_p, the draws must still agree.
    vibes = load_mission("tiny_walk").model_copy(deep=True)
    vibes.game.actions.change_vibe = ChangeVibeActionConfig(enabled=True, vibes=list(VIBES)[:3])
    pool = {"random": "random", "noop": "noop", "vibey": "class=random,kw.vibe_action_p=0.9"}
    lineups = [
        Lineup.from_proportions({"random": 1, "noop": 1}),
        Lineup.from_proportions({"random": 1, "vibey": 1}),
    ]
    kwargs = {"episodes": 2, "seed": 4, "lineups": lineups, "show_progress": False}
    missions = ["explore", ("vibes", vibes)]
    fast = evaluate_policies(pool, missions, **kwargs)
    looped = evaluate_policies(pool, missions, batch_networks=False, **kwargs)
    columns = [c for c in looped.columns if c not in TIMING]
    assert list(fast.columns) == list(looped.columns)
    pd.testing.assert_frame_equal(fast[columns], looped[columns])
    assert (fast[fast.mission == "vibes"]["agent/action.change_vibe.success"] > 0).all()
    assert fast["wall_time_s"].sum() < looped["wall_time_s"].sum()


def test_lineups_with_networks_run_in_lockstep_with_the_records_of_mettagrids_loop():
    # A deterministic network beside random and noop agents, and two network members, on explore and on a
    # mission whose episodes end at different steps (the lockstep batch shrinks): every number agrees.
    greedy = "class=tests.policies.DeterministicNetworkPolicy"
    pool = {"greedy": greedy, "greedy_too": greedy, "random": "random", "noop": "noop"}
    ends_early = load_mission("explore").model_copy(deep=True)
    ends_early.game.end_episode_on_game_stats = {"tokens_written": 20000}
    lineups = [{"greedy": 2, "random": 1, "noop": 1}, {"greedy": 2, "greedy_too": 2}]
    kwargs = {"episodes": 2, "seed": 5, "lineups": lineups, "show_progress": False}
    missions = ["explore", ("ends_early", ends_early)]
    fast = evaluate_policies(pool, missions, **kwargs)
    looped = evaluate_policies(pool, missions, batch_networks=False, **kwargs)
    columns = [c for c in looped.columns if c not in TIMING]
    pd.testing.assert_frame_equal(fast[columns], looped[columns])
    assert fast[fast.mission == "ends_early"]["steps"].nunique() > 1
    assert fast["wall_time_s"].sum() < looped["wall_time_s"].sum()


def test_the_lineup_lockstep_with_one_member_is_the_self_play_lockstep():
    # The lineup lockstep keeps each member's recurrent state row by row; with one lstm in every seat it
    # must play exactly as self-play's lockstep, also while the batch shrinks as episodes end.
    env_cfg = load_mission("explore").model_copy(deep=True)
    env_cfg.game.end_episode_on_game_stats = {"tokens_written": 20000}
    torch.manual_seed(0)
    lstm = LSTMPolicy(PolicyEnvInterface.from_mg_cfg(env_cfg))
    seeds = [3, 4, 5]
    alone = run_batched_episodes(lstm, env_cfg, seeds)
    lineup = run_lineup_episodes([lstm], [[0] * 4] * len(seeds), env_cfg, seeds)
    assert [(r.rewards, r.steps, r.stats) for r in lineup] == [(r.rewards, r.steps, r.stats) for r in alone]
    assert len({r.steps for r in alone}) > 1


def test_an_lstm_in_a_lineup_scores_alike_in_lockstep_and_in_mettagrids_loop():
    # The lockstep samples the lstm's actions from a generator of its episode, mettagrid's loop from
    # torch's global one: different draws, the same distribution (as for self-play's lockstep).
    kwargs = {"episodes": 16, "seed": 0, "lineups": [{"lstm": 1, "random": 1}], "show_progress": False}
    lockstep = agent_table(evaluate_policies(["lstm", "random"], ["tiny_walk"], **kwargs))
    looped = agent_table(evaluate_policies(["lstm", "random"], ["tiny_walk"], batch_networks=False, **kwargs))
    lstm = [table[table.policy == "lstm"]["reward"] for table in (lockstep, looped)]
    assert ttest_ind(*lstm, equal_var=False).pvalue > 0.001
    assert lstm[0].nunique() > 1


def test_proportions_are_resolved_per_mission_as_cogames_does():
    half = Lineup.from_proportions({"random": 0.5, "noop": 0.5})
    assert half.name == "random:0.5+noop:0.5"
    records = evaluate_policies(
        POOL, ["tiny_walk", "explore"], episodes=1, lineups=[half], show_progress=False
    )
    seats = dict(zip(records["mission"], records["agent_policies"], strict=True))
    assert sorted(seats["explore"]) == ["noop", "noop", "random", "random"]
    assert sorted(seats["tiny_walk"]) == ["noop", "random"]
    quarter = Lineup.from_proportions({"a": 1, "b": 3})
    for agents in (4, 5, 7, 12):
        assert [c for _, c in quarter.counts_for(agents)] == allocate_counts(agents, [1, 3])


def test_resume_skips_the_recorded_lineup_episodes(tmp_path):
    log = tmp_path / "played.log"
    pool = {
        "counter": f"class=tests.evaluation.lineup_policies.EpisodeCountingPolicy,kw.log={log}",
        "noop": "noop",
    }
    run = {
        "lineups": [{"counter": 1, "noop": 3}],
        "seed": 0,
        "output_dir": tmp_path / "out",
        "show_progress": False,
    }
    first = evaluate_policies(pool, ["explore"], episodes=2, **run)
    assert len(log.read_text().splitlines()) == 2  # one agent in each of the two episodes
    second = evaluate_policies(pool, ["explore"], episodes=3, **run)
    assert len(log.read_text().splitlines()) == 3  # only the third episode ran
    assert second["seed"].tolist() == [0, 1, 2]
    saved = load_records(tmp_path / "out" / "episodes.csv")
    assert saved["agent_policies"].tolist() == second["agent_policies"].tolist()
    pd.testing.assert_frame_equal(second.iloc[:2], first)
    # Another split of the same policies is another lineup: nothing of the first is reused for it.
    evaluate_policies(pool, ["explore"], episodes=1, **(run | {"lineups": [{"counter": 2, "noop": 2}]}))
    assert len(log.read_text().splitlines()) == 5


@pytest.mark.parametrize(
    ("lineups", "message"),
    [
        ([{"random": 2, "ghost": 2}], r"lineup 'random:2\+ghost:2': policies \['ghost'\] are not among"),
        ([{"random": 3}], r"lineup 'random:3' on mission 'explore': the counts give 3 agents, .* has 4"),
        ([{"random": 4, "noop": 0}], r"counts: agent count of 'noop' must be a positive integer, got 0"),
        ([{"random": 2.0, "noop": 2}], r"got 2.0 \(proportions: use Lineup.from_proportions\)"),
        ([{"random": 4}, Lineup.of({"noop": 4}, name="random:4")], r"repeated: \['random:4'\]"),
        ([Lineup.from_proportions({"random": 0.9, "noop": 0.1})], r"give \['noop'\] 0 of the mission's 4"),
        ([], r"lineups: expected a non-empty list"),
        ({"random": 4}, r"lineups: expected a non-empty list"),
    ],
)
def test_lineups_that_cannot_be_played_are_refused_naming_them(lineups, message):
    with pytest.raises(ValueError, match=message):
        evaluate_policies(POOL, ["explore"], episodes=1, lineups=lineups, show_progress=False)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Lineup.from_proportions({"random": 1, "noop": -1}), r"proportion of 'noop' .* got -1"),
        (lambda: Lineup.of({"random": 2, "noop": True}), r"agent count of 'noop' .* got True"),
        (lambda: Lineup(counts=(("a", 2),), weights=(("b", 0.5),)), r"either counts or weights"),
        (lambda: Lineup.of({"": 2}), r"non-empty strings, got ''"),
    ],
)
def test_a_lineup_is_checked_when_it_is_made(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_a_failing_lineup_episode_names_the_lineup_and_keeps_the_finished_ones():
    # The test policy fails in the second episode where it plays agent 0; seats say which one that is.
    pool = {"bad": "class=tests.policies.FailsOnSecondEpisodePolicy", "noop": "noop"}
    counts = [("bad", 1), ("noop", 1)]
    holds_agent_0 = [s for s in range(6) if seat_assignment(counts, s)[0] == "bad"]
    with pytest.raises(EvaluationError) as err:
        evaluate_policies(pool, ["tiny_walk"], episodes=6, lineups=[dict(counts)], show_progress=False)
    assert f"lineup 'bad:1+noop:1' on mission 'tiny_walk', seed {holds_agent_0[1]}" in str(err.value)
    assert err.value.records["seed"].tolist() == list(range(holds_agent_0[1]))
