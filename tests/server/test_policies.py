"""How the server builds a bundle's policy, in process: only allowed classes, data from the bundle only,
and per-agent play for policies without a batchable network (mettagrid's ``random``)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from mettagrid.runner.rollout import resolve_env_for_seed
from mettagrid.simulator import Simulator

from daf_core.missions import load_mission
from daf_core.server.policies import PolicyLoadError, load_policy
from daf_core.server.settings import DEFAULT_ALLOWED_CLASS_PATHS
from tests.server import bundles

ALLOWED = tuple(DEFAULT_ALLOWED_CLASS_PATHS)


def _with_spec(bundle: Path, out: Path, **changes) -> Path:
    """A copy of ``bundle`` whose policy_spec.json has ``changes`` applied."""
    with zipfile.ZipFile(bundle) as source, zipfile.ZipFile(out, "w") as target:
        for entry in source.infolist():
            data = source.read(entry)
            if entry.filename == "policy_spec.json":
                data = json.dumps({**json.loads(data), **changes}).encode()
            target.writestr(entry, data)
    return out


def test_a_policy_without_a_network_plays_per_agent_on_real_observations(tmp_path: Path):
    loaded = load_policy(bundles.package(tmp_path, "random", policy_name="dice"), ALLOWED)
    assert loaded.network is None and loaded.class_path.endswith("RandomMultiAgentPolicy")
    env_cfg = load_mission(bundles.MISSION)
    sim = Simulator().new_simulation(resolve_env_for_seed(env_cfg, 0), 0)
    player = loaded.new_player(seed=0)
    names = loaded.env_interface.action_names
    shape = loaded.env_interface.observation_shape
    chosen = []
    try:
        for _ in range(30):
            obs = np.full((2, *shape), 255, dtype=np.uint8)  # the raw buffer's padding, as training sees it
            for agent in range(2):
                for k, token in enumerate(sim.agent(agent).observation.tokens[: shape[0]]):
                    obs[agent, k] = token.raw_token
            actions = player.act(obs, [0, 1])
            chosen += actions
            for agent, action in enumerate(actions):
                sim.agent(agent).set_action(names[action])
            sim.step()
    finally:
        sim.close()
    assert all(0 <= a < len(loaded.env_interface.all_action_names) for a in chosen)
    assert len(set(chosen)) > 1  # random, not stuck on one action


def test_only_allowed_classes_are_built(test_bundles):
    noop_only = ("mettagrid.policy.noop.NoopPolicy",)
    with pytest.raises(PolicyLoadError, match="not allowed on this server"):
        load_policy(test_bundles.lstm, noop_only)
    assert load_policy(test_bundles.noop, noop_only).class_path == "mettagrid.policy.noop.NoopPolicy"
    with pytest.raises(
        ValueError, match="allowed_class_paths: 'mettagrid.policy.nothing.Here' cannot be imported"
    ):
        load_policy(test_bundles.noop, ("mettagrid.policy.nothing.Here",))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"setup_script": "setup.py"}, "never runs"),
        ({"data_path": "/etc/passwd"}, "outside the bundle"),
        ({"data_path": "../walker.pt"}, "outside the bundle"),
        ({"data_path": "missing.pt"}, "not a file in the bundle"),
        ({"policy_env_interface": None}, "no policy_env_interface"),
        ({"init_kwargs": {"no_such_argument": 1}}, "cannot be built"),
    ],
)
def test_the_spec_can_only_point_at_data_inside_the_bundle(test_bundles, tmp_path: Path, changes, message):
    with pytest.raises(PolicyLoadError, match=message):
        load_policy(_with_spec(test_bundles.lstm, tmp_path / "changed.zip", **changes), ALLOWED)
