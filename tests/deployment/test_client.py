"""The client side of deployment against the real server: what each failure becomes, and that a result
says "success" only for what the server confirmed.
"""

import pytest

from daf_core.config import DAFDeploymentConfig
from daf_core.deployment import (
    PolicyServerClient,
    PolicyServerError,
    daf_deploy_policy,
    daf_package_policy,
    daf_rollback_deployment,
)
from daf_core.orchestrators import daf_deploy_from_config
from tests.deployment.served import MISSION, free_port
from tests.server.running_server import start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = start_server(tmp_path_factory.mktemp("client") / "server")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """mettagrid's random policy: no weights, so the server's validation of it is quick."""
    packaged = daf_package_policy(
        "random",
        policy_name="client",
        version="0.1.0",
        output_dir=tmp_path_factory.mktemp("bundles"),
        mission=MISSION,
    )
    assert packaged.ok, packaged.message
    return packaged.package_path


def config_for(url: str, **fields) -> DAFDeploymentConfig:
    defaults = {"policy_name": "client", "policy_class_path": "random", "version": "0.1.0"}
    return DAFDeploymentConfig(deployment_endpoint=url, **(defaults | fields))


def test_server_errors_carry_the_status_and_the_servers_reason(server, bundle):
    with PolicyServerClient(server.url) as anonymous:
        assert anonymous.health()["status"] == "ok"
        with pytest.raises(PolicyServerError) as missing:
            anonymous.upload_version("client", bundle)
    assert missing.value.status_code == 401
    with PolicyServerClient(server.url, server.act_token) as player:
        with pytest.raises(PolicyServerError) as forbidden:
            player.upload_version("client", bundle)
        with pytest.raises(PolicyServerError) as unknown:
            player.get_policy("nobody")
    assert forbidden.value.status_code == 403
    assert unknown.value.status_code == 404
    assert "nobody" in str(unknown.value)


def test_an_unreachable_endpoint_is_a_failed_deployment_naming_the_url(bundle):
    url = f"http://127.0.0.1:{free_port()}"
    result = daf_deploy_policy("client", bundle, url, "token")
    assert result.status == "deployment_failed"
    assert url in result.message
    assert result.deployment_id is None


def test_a_dry_run_sends_nothing_and_is_never_success(server, bundle):
    config = config_for(server.url, dry_run=True, version="0.3.0")
    result = daf_deploy_policy("client", bundle, server.url, server.admin_token, config=config)
    assert result.status == "dry_run" and not result.ok
    assert [r["url"] for r in result.details["requests"]] == [
        f"{server.url}/v1/policies/client/versions",
        f"{server.url}/v1/policies/client/activate",
    ]
    assert result.details["requests"][0]["params"] == {"version": "0.3.0"}  # the config's version
    assert result.details["requests"][1]["json"]["version"] == "0.3.0"
    assert server.admin_token not in str(result.details)
    with PolicyServerClient(server.url) as client:
        assert "client" not in client.health()["policies"]


def test_deploy_upload_only_duplicate_and_rollback_say_what_the_server_did(server, bundle):
    deployed = daf_deploy_policy("client", bundle, server.url, server.admin_token)
    assert deployed.status == "success", deployed.message
    assert (deployed.deployment_id, deployed.version) == ("client", "0.1.0")

    again = daf_deploy_policy("client", bundle, server.url, server.admin_token)
    assert again.status == "deployment_failed"
    assert "already has version" in again.message

    # The same bytes under another version: uploaded, not served.
    staged = daf_deploy_policy(
        "client", bundle, server.url, server.admin_token, version="0.1.1", activate=False
    )
    assert staged.status == "success" and staged.version == "0.1.1"
    with PolicyServerClient(server.url, server.act_token) as client:
        assert client.get_policy("client")["active_version"] == "0.1.0"

    # Nothing was active before 0.1.0: the server has nothing to roll back to, and says so.
    nothing = daf_rollback_deployment("client", server.url, None, server.admin_token)
    assert nothing.status == "deployment_failed"
    assert nothing.details["status_code"] == 409

    refused = daf_rollback_deployment(
        "client",
        server.url,
        "0.1.1",
        server.admin_token,
        config=config_for(server.url, enable_rollback=False),
    )
    assert refused.status == "deployment_failed" and "enable_rollback" in refused.message
    named = daf_rollback_deployment("client", server.url, "0.1.1", server.admin_token, reason="try the copy")
    assert named.status == "success"
    assert (named.details["from_version"], named.details["to_version"]) == ("0.1.0", "0.1.1")


def test_a_bundle_the_servers_validation_rejects_is_validation_failed_with_its_reasons(server, tmp_path):
    noop = daf_package_policy(
        "noop", policy_name="idle", version="0.1.0", output_dir=tmp_path, mission=MISSION
    )
    assert noop.ok, noop.message
    result = daf_deploy_policy("idle", noop.package_path, server.url, server.admin_token)
    assert result.status == "validation_failed"
    assert result.details["status_code"] == 422
    assert "no-op" in result.message.lower() or "noop" in result.message.lower()
    with PolicyServerClient(server.url, server.act_token) as client:
        assert client.list_versions("idle")[0]["state"] == "rejected"


def test_a_config_whose_validation_fails_is_never_deployed(server, tmp_path):
    config = config_for(
        server.url,
        policy_name="gated",
        policy_class_path="random",
        validation_missions=[MISSION],
        validation_episodes=1,
        validation_max_steps=10,
        min_mean_reward=1000.0,
    )
    result = daf_deploy_from_config(config, auth_token=server.admin_token, package_dir=tmp_path)
    assert result.status == "validation_failed"
    assert "min_mean_reward=1000" in result.message
    with PolicyServerClient(server.url) as client:
        assert "gated" not in client.health()["policies"]
