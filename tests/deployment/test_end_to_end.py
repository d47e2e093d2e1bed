"""A policy's whole deployment against the real server (``daf serve`` in a subprocess on a loopback port):
package -> validate -> deploy -> play episodes through the act endpoint -> report rewards -> monitor
(healthy) -> deploy a worse version -> monitor (degraded: its reward dropped) -> roll back -> the previous
version serves again. Once with the default SQLite store, once with PostgreSQL.
"""

import pytest

from daf_core.config import DAFDeploymentConfig
from daf_core.deployment import (
    PolicyServerClient,
    daf_deploy_policy,
    daf_monitor_deployment,
    daf_package_policy,
    daf_rollback_deployment,
)
from daf_core.deployment.remote_policy import daf_evaluate_deployment
from daf_core.orchestrators import daf_deploy_from_config
from tests.deployment.served import MISSION, lstm_weights
from tests.postgres import fresh_postgres_database
from tests.server.running_server import start_server

EPISODES = 2


def deployment_config(url: str, version: str, weights) -> DAFDeploymentConfig:
    return DAFDeploymentConfig(
        policy_name="walker",
        policy_class_path="lstm",
        weights_path=weights,
        deployment_endpoint=url,
        version=version,
        validation_missions=[MISSION],
        validation_episodes=1,
        validation_max_steps=30,
        min_monitor_episodes=EPISODES,
        monitor_confidence=0.9,
    )


def deploy_monitor_roll_back(tmp_path, server, *, local_validation: bool):
    url, admin, act = server.url, server.admin_token, server.act_token

    # Package the first version and deploy it: the server validates it in isolation on arrival.
    config = deployment_config(url, "0.1.0", lstm_weights(tmp_path / "good.pt"))
    packaged = daf_package_policy(
        "lstm",
        config.weights_path,
        policy_name="walker",
        version="0.1.0",
        output_dir=tmp_path,
        mission=MISSION,
    )
    assert packaged.ok, packaged.message
    first = daf_deploy_policy("walker", packaged.package_path, url, admin, config=config)
    assert first.status == "success", first.message
    assert (first.deployment_id, first.version) == ("walker", "0.1.0")
    assert first.details["uploaded"]["validation"]["passed"]

    # Play through the act endpoint; each episode's reward is reported for the version that played it.
    played = daf_evaluate_deployment(first.deployment_id, url, [MISSION], EPISODES, act)
    assert list(played["version"]) == ["0.1.0"] * EPISODES
    assert (played["steps"] == 100).all()
    health = daf_monitor_deployment(first.deployment_id, url, act, config=config)
    assert health["status"] == "healthy", health["reasons"]
    assert health["metrics"]["versions"]["0.1.0"]["episode_rewards"] == pytest.approx(list(played["reward"]))

    # A worse second version: through the config-driven pipeline (package -> validate here, in isolation
    # -> deploy), or packaged and deployed directly.
    worse_config = deployment_config(url, "0.2.0", lstm_weights(tmp_path / "lazy.pt", lazy=True))
    if local_validation:
        second = daf_deploy_from_config(worse_config, auth_token=admin, package_dir=tmp_path)
        assert second.details["validation"]["passed"]
    else:
        lazy = daf_package_policy(
            "lstm",
            worse_config.weights_path,
            policy_name="walker",
            version="0.2.0",
            output_dir=tmp_path,
            mission=MISSION,
        )
        second = daf_deploy_policy("walker", lazy.package_path, url, admin, config=worse_config)
    assert second.status == "success", second.message
    assert second.details["activation"]["previous_version"] == "0.1.0"
    worse = daf_evaluate_deployment("walker", url, [MISSION], EPISODES, act)
    assert list(worse["version"]) == ["0.2.0"] * EPISODES
    assert worse["reward"].mean() < played["reward"].mean()

    degraded = daf_monitor_deployment("walker", url, act, config=worse_config)
    assert degraded["status"] == "degraded"
    assert (degraded["active_version"], degraded["previous_version"]) == ("0.2.0", "0.1.0")
    assert degraded["checks"]["reward_drop"]["status"] == "fail"
    assert degraded["reward_drop"]["ci"]["high"] < 0

    # Roll back: the first version serves again, and the history says when and why.
    rolled = daf_rollback_deployment("walker", url, None, admin, reason="reward dropped")
    assert rolled.status == "success", rolled.message
    assert (rolled.details["from_version"], rolled.details["to_version"]) == ("0.2.0", "0.1.0")
    with PolicyServerClient(url, act) as client:
        assert client.get_policy("walker")["active_version"] == "0.1.0"
        last = client.history("walker")[-1]
        assert (last["action"], last["version"], last["reason"]) == ("rollback", "0.1.0", "reward dropped")
        session = client.create_session("walker")
        assert session["version"] == "0.1.0"
        client.close_session(session["session_id"])
    recovered = daf_monitor_deployment("walker", url, act, config=config)
    assert (recovered["status"], recovered["active_version"]) == ("healthy", "0.1.0")


def test_deploy_play_monitor_and_roll_back_with_sqlite(tmp_path):
    server = start_server(tmp_path / "server")
    try:
        deploy_monitor_roll_back(tmp_path, server, local_validation=True)
    finally:
        server.stop()


@pytest.mark.slow
def test_deploy_play_monitor_and_roll_back_with_postgresql(tmp_path):
    """The same against a fresh PostgreSQL database; the validation here is the server's only (the local
    one, tested above, does not depend on the store)."""
    with fresh_postgres_database("deployment") as database_url:
        server = start_server(tmp_path / "server", database_url=database_url)
        try:
            deploy_monitor_roll_back(tmp_path, server, local_validation=False)
        finally:
            server.stop()
