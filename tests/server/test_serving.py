"""Playing through the server: a real mettagrid episode driven by a client over the act endpoint.

The client builds the simulation exactly as DAF's evaluation does, sends every agent's observation
tokens each step, applies the actions it gets back and reports the reward. The server samples with the
session's seed the way DAF's batched rollout samples with the episode seed, so the episode must come out
identical to ``run_batched_episodes`` in process: same rewards, same per-agent stats.
"""

from __future__ import annotations

import base64

import numpy as np
import pytest
import torch
from mettagrid.runner.rollout import resolve_env_for_seed
from mettagrid.simulator import Simulator
from prometheus_client.parser import text_string_to_metric_families

from daf_core.evaluation.batched_rollout import run_batched_episodes
from daf_core.missions import load_mission
from tests.server import bundles
from tests.server.conftest import MAX_SESSIONS
from tests.server.running_server import RunningServer

SEED = 7


def _observations(sim, shape: tuple[int, int]) -> np.ndarray:
    """Every agent's tokens through mettagrid's public per-agent API, unused slots [255, 0, 0]."""
    obs = np.full((sim.num_agents, *shape), (255, 0, 0), dtype=np.uint8)
    for agent in range(sim.num_agents):
        for k, token in enumerate(sim.agent(agent).observation.tokens[: shape[0]]):
            obs[agent, k] = token.raw_token
    return obs


def _act_body(obs: np.ndarray) -> dict:
    return {
        "observations": base64.b64encode(obs.tobytes()).decode(),
        "shape": list(obs.shape),
        "agent_ids": None,
    }


@pytest.fixture
def deployed(server: RunningServer, test_bundles) -> str:
    """The walker deployed as policy 'player-<db>' version 1.0.0, active."""
    name = f"player-{'pg' if server.database_url else 'sqlite'}"
    uploaded = server.upload(name, test_bundles.lstm)
    assert uploaded.status_code in (201, 409), uploaded.text  # 409: an earlier test of this module did it
    if uploaded.status_code == 201:
        with server.client() as admin:
            admin.post(f"/v1/policies/{name}/activate", json={"version": "1.0.0", "reason": "serve"})
    return name


def _play_episode(
    server: RunningServer, policy: str, seed: int
) -> tuple[object, list[list[int]], list[np.ndarray]]:
    env_cfg = load_mission(bundles.MISSION)
    sim = Simulator().new_simulation(resolve_env_for_seed(env_cfg, seed), seed)
    actions, observations = [], []
    with server.client(server.act_token) as player:
        session = player.post(f"/v1/policies/{policy}/sessions", json={"seed": seed}).json()
        names = session["policy_env_interface"]["action_names"]
        shape = tuple(session["policy_env_interface"]["observation_shape"])
        try:
            while not sim.is_done():
                obs = _observations(sim, shape)
                reply = player.post(f"/v1/sessions/{session['session_id']}/act", json=_act_body(obs))
                assert reply.status_code == 200, reply.text
                assert reply.json()["version"] == "1.0.0"
                step_actions = reply.json()["actions"]
                for agent, action in enumerate(step_actions):
                    sim.agent(agent).set_action(names[action])
                sim.step()
                actions.append(step_actions)
                observations.append(obs)
            reward = float(np.sum(sim.episode_rewards))
            report = player.post(
                f"/v1/sessions/{session['session_id']}/episode",
                json={"reward": reward, "steps": sim.current_step},
            )
            assert report.json() == {"recorded": True}
        finally:
            player.delete(f"/v1/sessions/{session['session_id']}")
    return sim, actions, observations


def test_an_episode_played_through_the_act_endpoint_equals_the_in_process_rollout(
    server: RunningServer, deployed: str, test_bundles
):
    sim, actions, observations = _play_episode(server, deployed, SEED)
    try:
        assert sim.current_step == 100 and len(actions) == 100  # tiny_walk's full length
        assert float(np.sum(sim.episode_rewards)) > 0  # the agents walked to new cells

        from daf_core.server.policies import load_policy  # the same weights, built in this process

        local = load_policy(test_bundles.lstm, ("mettagrid.policy.lstm.LSTMPolicy",))
        (expected,) = run_batched_episodes(local.policy, load_mission(bundles.MISSION), [SEED])
        assert [float(r) for r in sim.episode_rewards] == expected.rewards
        assert sim.episode_stats["agent"] == expected.stats["agent"]

        # The hidden state matters for this network: a state-blind replay of the same observations with
        # the same draws picks other actions; the server carried each agent's state across the steps.
        generator = torch.Generator().manual_seed(SEED)
        network = local.network
        blind = []
        with torch.no_grad():
            for obs in observations:
                zero = {key: torch.zeros(2, 1, network.hidden_size) for key in ("lstm_h", "lstm_c")}
                logits, _ = network.forward_eval(torch.from_numpy(obs), zero)
                blind.append(
                    torch.multinomial(torch.softmax(logits, -1), 1, generator=generator).squeeze(1).tolist()
                )
        assert (
            sum(
                a != b
                for step, other in zip(actions, blind, strict=True)
                for a, b in zip(step, other, strict=True)
            )
            > 0
        )
    finally:
        sim.close()

    with server.client() as admin:
        metrics = admin.get(f"/v1/policies/{deployed}/metrics").json()
    mine = metrics["versions"]["1.0.0"]
    assert metrics["active_version"] == "1.0.0"
    assert mine["requests"] >= 100 and mine["latency_ms"]["p50"] > 0
    assert mine["latency_ms"]["p50"] <= mine["latency_ms"]["p95"] <= mine["latency_ms"]["p99"]
    assert mine["episode_rewards"][-1] == pytest.approx(float(np.sum(expected.rewards)))


def test_prometheus_exposition_counts_requests_errors_latency_and_rewards_per_version(
    server: RunningServer, deployed: str
):
    _play_episode(server, deployed, SEED + 1)
    with server.client(server.act_token) as player:
        session = player.post(f"/v1/policies/{deployed}/sessions", json={}).json()
        bad = player.post(
            f"/v1/sessions/{session['session_id']}/act", json={"observations": "AAAA", "shape": [1, 2, 3]}
        )
        assert bad.status_code == 400 and "shape" in bad.json()["detail"]
        not_base64 = {
            "observations": "%%%",
            "shape": [1, *session["policy_env_interface"]["observation_shape"]],
        }
        assert player.post(f"/v1/sessions/{session['session_id']}/act", json=not_base64).status_code == 400
        player.delete(f"/v1/sessions/{session['session_id']}")
        text = player.get("/metrics", headers={"Authorization": ""}).text
        summary = player.get(f"/v1/policies/{deployed}/metrics").json()["versions"]["1.0.0"]

    labels = {"policy": deployed, "version": "1.0.0"}
    samples = {
        (sample.name, tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if {k: sample.labels.get(k) for k in labels} == labels and sample.labels.get("le") in (None, "+Inf")
    }
    key = tuple(sorted(labels.items()))
    assert samples[("daf_act_requests_total", key)] == summary["requests"] >= 102
    assert samples[("daf_act_errors_total", key)] == summary["errors"] >= 2
    assert samples[("daf_act_latency_seconds_count", key)] == summary["requests"]
    assert samples[("daf_act_latency_seconds_sum", key)] > 0
    assert samples[("daf_episode_reward_count", key)] >= 1
    assert summary["error_rate"] == pytest.approx(summary["errors"] / summary["requests"])


def test_a_session_keeps_the_version_it_started_with(server: RunningServer, deployed: str, test_bundles):
    assert server.upload(deployed, test_bundles.lstm, version="1.0.1").status_code in (201, 409)
    shape = bundles.mission_interface().observation_shape
    obs = np.full((2, *shape), 255, dtype=np.uint8)
    with server.client(server.act_token) as player, server.client() as admin:
        old = player.post(f"/v1/policies/{deployed}/sessions", json={}).json()
        admin.post(f"/v1/policies/{deployed}/activate", json={"version": "1.0.1", "reason": "newer"})
        new = player.post(f"/v1/policies/{deployed}/sessions", json={}).json()
        try:
            assert (old["version"], new["version"]) == ("1.0.0", "1.0.1")
            assert (
                player.post(f"/v1/sessions/{old['session_id']}/act", json=_act_body(obs)).json()["version"]
                == "1.0.0"
            )
            assert (
                player.post(f"/v1/sessions/{new['session_id']}/act", json=_act_body(obs)).json()["version"]
                == "1.0.1"
            )
        finally:
            admin.post(f"/v1/policies/{deployed}/activate", json={"version": "1.0.0", "reason": "back"})
            for session in (old, new):
                player.delete(f"/v1/sessions/{session['session_id']}")
        assert player.post(f"/v1/sessions/{old['session_id']}/act", json=_act_body(obs)).status_code == 404


def test_no_more_than_max_sessions_are_open_at_once(server: RunningServer, deployed: str):
    with server.client(server.act_token) as player:
        open_before = player.get("/health").json()["sessions"]
        opened = []
        try:
            while len(opened) <= MAX_SESSIONS:
                response = player.post(f"/v1/policies/{deployed}/sessions", json={})
                if response.status_code != 201:
                    break
                opened.append(response.json()["session_id"])
            assert response.status_code == 429 and f"max_sessions={MAX_SESSIONS}" in response.json()["detail"]
            assert len(opened) == MAX_SESSIONS - open_before
            player.delete(f"/v1/sessions/{opened.pop()}")
            again = player.post(f"/v1/policies/{deployed}/sessions", json={})
            assert again.status_code == 201
            opened.append(again.json()["session_id"])
        finally:
            for session_id in opened:
                player.delete(f"/v1/sessions/{session_id}")


def test_the_openapi_schema_lists_every_endpoint(server: RunningServer):
    with server.client() as client:
        paths = client.get("/openapi.json").json()["paths"]
    assert set(paths) == {
        "/health",
        "/metrics",
        "/v1/policies/{policy_name}",
        "/v1/policies/{policy_name}/versions",
        "/v1/policies/{policy_name}/versions/{version}/bundle",
        "/v1/policies/{policy_name}/activate",
        "/v1/policies/{policy_name}/rollback",
        "/v1/policies/{policy_name}/history",
        "/v1/policies/{policy_name}/metrics",
        "/v1/policies/{policy_name}/sessions",
        "/v1/sessions/{session_id}/act",
        "/v1/sessions/{session_id}/episode",
        "/v1/sessions/{session_id}",
    }
    assert "application/zip" in paths["/v1/policies/{policy_name}/versions"]["post"]["requestBody"]["content"]
