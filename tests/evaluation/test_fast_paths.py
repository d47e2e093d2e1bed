"""DAF's fast paths give the records of mettagrid's per-agent loop, the loop ``cogames.evaluate`` runs.

``random`` and ``noop`` skip the per-agent observation objects (``scripted_rollout``); every episode gets
a cheaper seeded copy of its mission; workers take network batches first. None of it may change a number.
"""

import pandas as pd
import pytest
from mettagrid.config.mettagrid_config import ChangeVibeActionConfig
from mettagrid.config.vibes import VIBES
from mettagrid.runner.rollout import resolve_env_for_seed

from daf_core.evaluation import evaluate_policies, resolve_mission, resolve_policy
from daf_core.evaluation.batched_rollout import env_for_seed
from daf_core.evaluation.planning import plan_batches
from daf_core.evaluation.scripted_rollout import _inlined_draws_match_stdlib
from daf_core.evaluation.workers import longest_first
from daf_core.missions import load_mission

TIMING = ["wall_time_s"]


def same_records(fast: pd.DataFrame, looped: pd.DataFrame) -> None:
    columns = [c for c in looped.columns if c not in TIMING]
    assert list(fast.columns) == list(looped.columns)
    pd.testing.assert_frame_equal(fast[columns], looped[columns])


def test_scripted_policies_match_mettagrids_per_agent_loop():
    kwargs = {"episodes": 3, "seed": 11, "show_progress": False}
    fast = evaluate_policies(["random", "noop"], ["tiny_walk", "explore"], **kwargs)
    looped = evaluate_policies(["random", "noop"], ["tiny_walk", "explore"], batch_networks=False, **kwargs)
    same_records(fast, looped)
    assert fast[fast.policy == "random"]["reward"].nunique() > 1  # real, differing episodes


def test_random_with_vibe_actions_matches_mettagrids_per_agent_loop():
    # Vibe actions go to their own buffer, and random draws its category first: both paths must agree.
    env_cfg = load_mission("tiny_walk").model_copy(deep=True)
    env_cfg.game.actions.change_vibe = ChangeVibeActionConfig(enabled=True, vibes=list(VIBES)[:3])
    kwargs = {"episodes": 2, "seed": 1, "show_progress": False}
    fast = evaluate_policies(["random"], [("vibes", env_cfg)], **kwargs)
    looped = evaluate_policies(["random"], [("vibes", env_cfg)], batch_networks=False, **kwargs)
    same_records(fast, looped)
    assert (fast["agent/action.change_vibe.success"] > 0).all()


def test_scripted_records_are_the_same_in_two_workers():
    kwargs = {"episodes": 4, "seed": 2, "show_progress": False}
    serial = evaluate_policies(["random", "noop"], ["explore"], **kwargs)
    parallel = evaluate_policies(["random", "noop"], ["explore"], max_parallel_jobs=2, **kwargs)
    same_records(parallel, serial)


def test_episodes_that_end_at_different_steps_match_mettagrids_per_agent_loop():
    # Ending on a game stat: the episodes of a network batch finish at different steps (the batch shrinks),
    # and the simulation has an event handler, so the scripted rollout steps it through Simulation.step.
    env_cfg = load_mission("explore").model_copy(deep=True)
    env_cfg.game.end_episode_on_game_stats = {"tokens_written": 20000}
    policies = {"greedy_net": "class=tests.policies.DeterministicNetworkPolicy", "random": "random"}
    kwargs = {"episodes": 2, "seed": 5, "show_progress": False}
    fast = evaluate_policies(policies, [("ends_early", env_cfg)], **kwargs)
    looped = evaluate_policies(policies, [("ends_early", env_cfg)], batch_networks=False, **kwargs)
    same_records(fast, looped)
    assert (fast["steps"] < env_cfg.game.max_steps).all()
    assert fast[fast.policy == "greedy_net"]["steps"].nunique() > 1


@pytest.mark.parametrize("mission", ["tiny_walk", "explore_large", "collect"])
def test_the_cheap_seeded_copy_equals_mettagrids_and_leaves_the_mission_alone(mission):
    env_cfg = load_mission(mission)
    before = env_cfg.model_dump_json()
    assert env_for_seed(env_cfg, 9).model_dump_json() == resolve_env_for_seed(env_cfg, 9).model_dump_json()
    assert env_cfg.model_dump_json() == before


def test_workers_take_network_batches_first():
    policies = [resolve_policy("random"), resolve_policy("lstm")]
    batches = plan_batches(policies, [resolve_mission("tiny_walk")], 10, 0, 2, 10_000, "cpu")
    ordered = longest_first(batches)
    assert sorted(map(id, ordered)) == sorted(map(id, batches))
    kinds = [b.batch_networks for b in ordered]
    assert kinds == sorted(kinds, reverse=True) and kinds[0]


def test_the_inlined_random_draws_are_the_stdlibs():
    # If a Python release changed random.choices/choice, the scripted rollout would fall back to calling
    # them (same records, slower); this says the fast draws are in use on this interpreter.
    assert _inlined_draws_match_stdlib()
