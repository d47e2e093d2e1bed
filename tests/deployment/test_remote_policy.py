"""A deployed policy evaluated through the server: ``RemotePolicy`` under DAF's evaluation and under
mettagrid's own rollout loop, against the real server in a subprocess.
"""

import pytest

from daf_core.deployment import PolicyServerClient, daf_deploy_policy
from daf_core.deployment.remote_policy import RemotePolicy, daf_evaluate_deployment, remote_policy_spec
from daf_core.evaluation import evaluate_policies
from daf_core.missions import load_mission
from tests.deployment.served import MISSION, lstm_bundle, lstm_weights
from tests.server.running_server import start_server


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The server with an lstm for tiny_walk deployed as walker 0.1.0; (server, its weights file)."""
    tmp_path = tmp_path_factory.mktemp("remote")
    server = start_server(tmp_path / "server")
    try:
        bundle = lstm_bundle(tmp_path, "0.1.0")
        deployed = daf_deploy_policy("walker", bundle, server.url, server.admin_token)
        assert deployed.ok, deployed.message
        yield server, lstm_weights(tmp_path / "same.pt")
    finally:
        server.stop()


def requests_of(server, version="0.1.0"):
    with PolicyServerClient(server.url, server.act_token) as client:
        return client.metrics("walker")["versions"][version]["requests"]


def test_evaluate_policies_plays_a_deployed_policy_with_one_request_per_step(served, monkeypatch):
    server, _ = served
    monkeypatch.setenv("DAF_ACT_TOKEN", server.act_token)
    before = requests_of(server)
    spec = remote_policy_spec(server.url, "walker", auth_token_env="DAF_ACT_TOKEN")
    records = evaluate_policies({"walker@server": spec}, [MISSION], 2, show_progress=False)
    assert list(records["steps"]) == [100, 100]
    assert (records["num_agents"] == 2).all()
    # Both agents of a step went in one request (mettagrid's step_group): 100 requests per episode.
    assert requests_of(server) - before == 200
    assert server.act_token not in str(spec.init_kwargs)  # the spec names the variable, not the token


def test_the_server_plays_what_the_same_policy_plays_in_process(served):
    """Sessions seeded with the episode seed draw the actions DAF's in-process evaluation draws for that
    seed, so the rewards through the server are the in-process rewards, episode by episode."""
    server, weights = served
    remote = daf_evaluate_deployment("walker", server.url, [MISSION], 3, server.act_token, seed=7)
    local = evaluate_policies(
        {"walker": f"class=lstm,data={weights}"}, [MISSION], 3, seed=7, show_progress=False
    )
    assert list(remote["seed"]) == list(local["seed"]) == [7, 8, 9]
    assert list(remote["reward"]) == pytest.approx(list(local["reward"]))
    with PolicyServerClient(server.url, server.act_token) as client:
        reported = client.metrics("walker")["versions"]["0.1.0"]["episode_rewards"]
    assert reported[-3:] == pytest.approx(list(remote["reward"]))


def test_a_mission_the_deployed_version_was_not_built_for_is_refused(served):
    server, _ = served
    from mettagrid.policy.policy_env_interface import PolicyEnvInterface

    other = PolicyEnvInterface.from_mg_cfg(load_mission("collect"))
    policy = RemotePolicy(other, endpoint=server.url, policy_name="walker", auth_token=server.act_token)
    with pytest.raises(ValueError, match="walker.*0.1.0 was built for another mission"):
        policy.act([])
    policy.close()


def test_a_missing_token_variable_is_named(served, monkeypatch):
    server, _ = served
    from mettagrid.policy.policy_env_interface import PolicyEnvInterface

    monkeypatch.delenv("DAF_NO_SUCH_TOKEN", raising=False)
    interface = PolicyEnvInterface.from_mg_cfg(load_mission(MISSION))
    with pytest.raises(ValueError, match="auth_token_env.*DAF_NO_SUCH_TOKEN"):
        RemotePolicy(interface, endpoint=server.url, policy_name="walker", auth_token_env="DAF_NO_SUCH_TOKEN")
