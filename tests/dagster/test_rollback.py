"""``deployment_health_sensor`` and ``rollback_job`` against a real ``daf serve``: episodes played through
the server report their rewards, a clearly worse version deployed over a good one is degraded, and the
sensor requests exactly one rollback per incident (repeated ticks of one incident request nothing; the
same version activated again is a new incident); the requested run rolls the server back for real, a
rollback for an incident that is over changes nothing, no rollback goes back to a version already rolled
back from, and a server that cannot be reached fails the tick."""

import dagster as dg
import httpx
import pytest

from daf_core.deployment import PolicyServerClient, PolicyServerError, daf_deploy_policy
from daf_core.deployment.remote_policy import daf_evaluate_deployment
from daf_dagster.resources import PolicyServerResource
from daf_dagster.rollback import INCIDENT_TAG, rollback_job
from daf_dagster.sensors import deployment_health_sensor
from tests.deployment.served import MISSION, lstm_bundle
from tests.server.running_server import start_server

POLICY = "walker"
#: The health rules' default: each version needs this many reported episodes before its reward is judged.
EPISODES = 5


def last_activation(server) -> int:
    """The id of the newest activate/rollback event in the server's history (read with plain HTTP)."""
    history = httpx.get(f"{server.url}/v1/policies/{POLICY}/history", headers=server.headers()).json()
    return [e for e in history if e["action"] in ("activate", "rollback")][-1]["event_id"]


def test_a_degraded_deployment_is_rolled_back_once_per_incident(tmp_path):
    server = start_server(tmp_path / "server")
    try:
        resource = PolicyServerResource(endpoint=server.url, token=server.admin_token, policy=POLICY)
        instance = dg.DagsterInstance.ephemeral()

        def tick(cursor: str | None):
            context = dg.build_sensor_context(
                instance=instance, cursor=cursor, resources={"policy_server": resource}
            )
            return deployment_health_sensor(context)

        def rollback(request: dg.RunRequest) -> dict:
            """Run the requested rollback_job for real; its op's output metadata."""
            result = rollback_job.execute_in_process(
                run_config=request.run_config,
                instance=instance,
                resources={"policy_server": resource},
                tags=request.tags,
            )
            assert result.success
            (event,) = [e for e in result.all_node_events if e.event_type_value == "STEP_OUTPUT"]
            return {k: v.value for k, v in event.event_specific_data.metadata.items()}

        def active() -> str:
            with PolicyServerClient(server.url, server.admin_token) as client:
                return client.get_policy(POLICY)["active_version"]

        # Nothing deployed yet: a skip naming the policy (the state before the first promotion).
        nothing = tick(None)
        assert nothing.skip_message == f"walker is not on the server at {server.url} (served: [])"

        good = lstm_bundle(tmp_path, "1.0.0")
        lazy = lstm_bundle(tmp_path, "2.0.0", lazy=True)
        assert daf_deploy_policy(POLICY, good, server.url, server.admin_token).ok
        fresh = tick(None)
        assert isinstance(fresh, dg.SkipReason)
        assert fresh.skip_message.startswith(f"walker 1.0.0 at {server.url}: insufficient_data (")

        # Episodes through the server; then the lazy version replaces the good one and plays as badly
        # as it is: degraded by the reward rule.
        daf_evaluate_deployment(POLICY, server.url, [MISSION], EPISODES, server.act_token)
        assert isinstance(tick(None), dg.SkipReason)  # healthy: no previous version to compare with
        assert daf_deploy_policy(POLICY, lazy, server.url, server.admin_token).ok
        daf_evaluate_deployment(POLICY, server.url, [MISSION], EPISODES, server.act_token)
        incident = f"walker:2.0.0:{last_activation(server)}"
        degraded = tick(None)
        (request,) = degraded.run_requests
        assert request.run_key == f"rollback:{incident}"
        assert request.tags == {INCIDENT_TAG: incident}
        config = request.run_config["ops"]["rollback_deployment"]["config"]
        assert {k: config[k] for k in ("policy_name", "to_version", "from_version", "incident")} == {
            "policy_name": POLICY,
            "to_version": "1.0.0",
            "from_version": "2.0.0",
            "incident": incident,
        }
        assert config["reason"].startswith("degraded: mean reward of 2.0.0 is")
        assert degraded.cursor == f'{{"incidents": ["{incident}"]}}'

        # The resource's health rules are the ones judged: a drop this size allowed is no incident.
        lenient = PolicyServerResource(
            endpoint=server.url, token=server.admin_token, policy=POLICY, max_reward_drop=100.0
        )
        context = dg.build_sensor_context(instance=instance, resources={"policy_server": lenient})
        tolerated = deployment_health_sensor(context)
        assert isinstance(tolerated, dg.SkipReason) and ": healthy (" in tolerated.skip_message

        # The same incident on the next ticks (and after a restart with the saved cursor): nothing more.
        for _ in range(2):
            again = tick(degraded.cursor)
            assert isinstance(again, dg.SkipReason)
            assert again.skip_message.endswith(f"rollback already requested for incident {incident}")

        # The requested run rolls back for real, the history naming the incident and the run.
        values = rollback(request)
        assert values["rolled_back"] is True and (values["from_version"], values["to_version"]) == (
            "2.0.0",
            "1.0.0",
        )
        assert active() == "1.0.0"
        with PolicyServerClient(server.url, server.admin_token) as client:
            event = client.history(POLICY)[-1]
        assert event["action"] == "rollback" and f"(incident {incident})" in event["reason"]
        healthy = tick(degraded.cursor)
        assert isinstance(healthy, dg.SkipReason) and ": healthy (" in healthy.skip_message

        # The same rollback again: the incident is over (2.0.0 is not served), nothing is sent.
        events = last_activation(server)
        values = rollback(request)
        assert values["rolled_back"] is False and values["active_version"] == "1.0.0"
        assert last_activation(server) == events

        # 2.0.0 activated again by hand: a new incident (a new activation), a new rollback.
        with PolicyServerClient(server.url, server.admin_token) as client:
            client.activate(POLICY, "2.0.0", "try it again")
        second = tick(degraded.cursor)
        (request2,) = second.run_requests
        incident2 = f"walker:2.0.0:{last_activation(server)}"
        assert incident2 != incident and request2.run_key == f"rollback:{incident2}"
        assert second.cursor == f'{{"incidents": ["{incident}", "{incident2}"]}}'
        assert rollback(request2)["rolled_back"] is True and active() == "1.0.0"

        # 1.0.0 now does worse than 2.0.0 did (its clients report it): degraded, but 2.0.0 was rolled
        # back from twice, so no rollback goes to it.
        with PolicyServerClient(server.url, server.act_token) as client:
            for _ in range(3 * EPISODES):
                session = client.create_session(POLICY)
                client.report_episode(session["session_id"], -100.0)
                client.close_session(session["session_id"])
        stuck = tick(second.cursor)
        assert isinstance(stuck, dg.SkipReason)
        assert "degraded" in stuck.skip_message
        assert stuck.skip_message.endswith(
            "not rolling back to 2.0.0: it was itself rolled back from (needs a person)"
        )
    finally:
        server.stop()

    # The server is gone: the tick fails, naming the address it could not reach.
    with pytest.raises(PolicyServerError, match="cannot reach the server"):
        tick(second.cursor)
