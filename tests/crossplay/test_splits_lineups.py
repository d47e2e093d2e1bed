"""Splits ("1v3") and the lineups a study plays: the tournament's defaults, checked inputs."""

import pytest

from daf_core.crossplay import (
    Split,
    default_splits,
    parse_split,
    replacement_lineups,
    resolve_splits,
    round_robin_lineups,
)


def test_a_split_is_candidate_agents_v_other_agents():
    assert parse_split("1v3") == Split(1, 3)
    assert parse_split(" 2 v 2 ") == Split(2, 2)
    assert parse_split("4v0").num_agents == 4
    assert str(Split(3, 1)) == "3v1"


@pytest.mark.parametrize("text", ["", "1-3", "v3", "1v", "a v b", 13, None])
def test_a_malformed_split_is_refused_with_its_value(text):
    with pytest.raises(ValueError, match="splits: expected a split like '1v3'"):
        parse_split(text)


def test_a_split_without_candidate_agents_is_refused():
    with pytest.raises(ValueError, match="'0v4' gives the candidate no agent"):
        parse_split("0v4")


def test_the_defaults_are_the_tournaments_on_four_agents_and_k_v_n_minus_k_in_general():
    assert [s.name for s in default_splits(4)] == ["1v3", "2v2", "3v1"]
    assert [s.name for s in default_splits(2)] == ["1v1"]
    assert [s.name for s in default_splits(5)] == ["1v4", "2v3", "3v2", "4v1"]
    with pytest.raises(ValueError, match="num_agents: a mixed team needs at least 2 agents, got 1"):
        default_splits(1)


def test_given_splits_must_fit_the_mission():
    assert resolve_splits(["1v3", "3v1"], 4, "explore", allow_self_play=False) == [Split(1, 3), Split(3, 1)]
    with pytest.raises(ValueError, match="splits: '1v3' has 4 agents, mission 'tiny_walk' has 2"):
        resolve_splits(["1v3"], 2, "tiny_walk", allow_self_play=False)
    with pytest.raises(ValueError, match="splits: '4v0' has no other agents"):
        resolve_splits(["4v0"], 4, "explore", allow_self_play=False)
    assert resolve_splits(["4v0"], 4, "explore", allow_self_play=True) == [Split(4, 0)]
    with pytest.raises(ValueError, match=r"splits: each split once, repeated: \['1v3'\]"):
        resolve_splits(["1v3", "1v3"], 4, "explore", allow_self_play=False)
    with pytest.raises(ValueError, match="splits: expected a non-empty list"):
        resolve_splits("1v3", 4, "explore", allow_self_play=False)


def test_a_round_robin_plays_each_policy_alone_and_each_pair_in_every_split():
    lineups = round_robin_lineups(["a", "b", "c"], default_splits(4))
    assert lineups[:3] == [{"a": 4}, {"b": 4}, {"c": 4}]
    assert {"a": 1, "b": 3} in lineups and {"a": 3, "b": 1} in lineups and {"b": 2, "c": 2} in lineups
    assert len(lineups) == 3 + 3 * 3  # self-play, then 3 pairs x 3 splits


def test_a_one_sided_split_is_played_both_ways_so_each_row_gets_it():
    assert round_robin_lineups(["a", "b"], [Split(1, 3)]) == [
        {"a": 4},
        {"b": 4},
        {"a": 1, "b": 3},
        {"a": 3, "b": 1},
    ]


def test_value_over_replacement_plays_every_split_and_the_replacement_alone():
    assert replacement_lineups("lstm", "random", default_splits(4) + [Split(4, 0)]) == [
        {"lstm": 1, "random": 3},
        {"lstm": 2, "random": 2},
        {"lstm": 3, "random": 1},
        {"lstm": 4},
        {"random": 4},
    ]
    with pytest.raises(ValueError, match="replacement: must be named apart from the candidate"):
        replacement_lineups("random", "random", default_splits(2))
