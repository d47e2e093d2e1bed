"""The mission catalog: built-in missions, mission files, unknown names (installed games: test_games.py)."""

import json
import time

import pytest
from mettagrid.config.mettagrid_config import MettaGridConfig
from mettagrid.policy.policy import PolicySpec
from mettagrid.runner.rollout import run_multi_episode_rollout

from daf_core.missions import (
    BUILTIN_MISSIONS,
    installed_games,
    list_missions,
    load_mission,
    load_mission_file,
    save_mission,
)


def test_catalog_lists_the_builtin_missions():
    assert {"tiny_walk", "explore", "explore_large", "collect"} <= set(list_missions())
    assert "daf" in installed_games()


@pytest.mark.parametrize("name", sorted(BUILTIN_MISSIONS))
def test_each_builtin_mission_builds_a_config_with_a_seedless_map(name):
    cfg = load_mission(name)
    assert isinstance(cfg, MettaGridConfig)
    assert cfg.label == name
    # An unseeded map builder lets mettagrid tie the map to each episode's seed (common random numbers).
    assert cfg.game.map_builder.seed is None


def test_load_mission_returns_a_fresh_copy_each_time():
    first = load_mission("explore")
    first.game.max_steps = 5
    assert load_mission("explore").game.max_steps == 200


def test_builtin_missions_are_registered_with_cogames():
    from cogames.cli.mission import get_mission

    name, env_cfg, mission = get_mission("explore", game_name="daf")
    assert name == "explore"
    assert env_cfg.game.num_agents == 4


def mean_reward_of_fast_episodes(cfg, policy: str, episodes: int = 2) -> float:
    """Mean total reward of a few episodes through mettagrid's own rollout; each must take under 2 s."""
    started = time.perf_counter()
    result, _ = run_multi_episode_rollout(
        policy_specs=[PolicySpec(class_path=policy)],
        assignments=[0] * cfg.game.num_agents,
        env_cfg=cfg,
        episodes=episodes,
        seed=0,
        max_action_time_ms=10_000,
    )
    elapsed = (time.perf_counter() - started) / episodes
    assert elapsed < 2.0, f"{policy} episode took {elapsed:.2f}s"
    return sum(sum(e.rewards) for e in result.episodes) / episodes


def test_tiny_walk_episode_is_fast_and_random_explores_more_than_noop():
    cfg = load_mission("tiny_walk")
    means = {policy: mean_reward_of_fast_episodes(cfg, policy) for policy in ("random", "noop")}
    # noop stays on its spawn cell: exactly one visited cell per agent.
    assert means["noop"] == pytest.approx(0.01 * cfg.game.num_agents)
    assert means["random"] > 3 * means["noop"]


def test_collect_episode_is_fast_and_random_collects_coins_noop_none():
    cfg = load_mission("collect")
    assert cfg.game.max_steps == 150
    # Only noop and the four moves: the learnable action set.
    assert len(cfg.game.actions.actions()) == 5
    means = {policy: mean_reward_of_fast_episodes(cfg, policy) for policy in ("random", "noop")}
    # noop never walks into a coin; random picks up a few (about 10 of the 40 in 150 steps).
    assert means["noop"] == 0
    assert means["random"] >= 2


def test_collect_parameters_override_its_fields_and_are_checked():
    cfg = load_mission("collect", num_agents=1, length=20, coins=5, max_steps=30)
    assert cfg.game.num_agents == 1
    assert cfg.game.max_steps == 30
    assert (cfg.game.map_builder.width, cfg.game.map_builder.height) == (20, 3)
    with pytest.raises(ValueError, match="walls"):
        load_mission("collect", walls=3)
    with pytest.raises(ValueError, match="coins=100"):
        load_mission("collect", coins=100)


def test_mission_parameters_override_builtin_fields():
    cfg = load_mission("explore", num_agents=2, max_steps=50, width=10, height=10, walls=3)
    assert cfg.game.num_agents == 2
    assert cfg.game.max_steps == 50
    assert (cfg.game.map_builder.width, cfg.game.map_builder.height) == (10, 10)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"widht": 10}, "widht"),
        ({"width": 2}, "width=2"),
        ({"walls": 400}, "walls=400"),
    ],
)
def test_bad_mission_parameters_name_the_parameter(params, message):
    with pytest.raises(ValueError, match=message):
        load_mission("explore", **params)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_mission_file_round_trips(tmp_path, suffix):
    path = save_mission(load_mission("tiny_walk"), tmp_path / f"mission{suffix}")
    loaded = load_mission(str(path))
    assert loaded.model_dump() == load_mission("tiny_walk").model_dump()
    assert load_mission(path, max_steps=7).game.max_steps == 7


def test_a_missing_mission_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_mission(str(tmp_path / "nope.yaml"))


def test_a_malformed_mission_file_names_the_file_and_field(tmp_path):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("game: [unclosed\n")
    with pytest.raises(ValueError, match="bad.yaml.*not valid YAML"):
        load_mission_file(bad_yaml)

    wrong_field = tmp_path / "wrong.json"
    data = load_mission("tiny_walk").model_dump(mode="json")
    data["game"]["num_agents"] = "many"
    wrong_field.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="game.num_agents.*'many'"):
        load_mission_file(wrong_field)


def test_unknown_name_lists_close_matches():
    with pytest.raises(ValueError) as err:
        load_mission("explor")
    assert "Did you mean: explore" in str(err.value)
    assert "Installed games" in str(err.value)


def test_game_qualified_builtin_name_resolves():
    assert load_mission("daf:tiny_walk").game.num_agents == 2
