"""``promotion_job`` for real against a real ``daf serve``: the first package is deployed without a
comparison, a clearly better one is promoted over it on the quick suite's seeds, a clearly worse one
is refused (a successful run whose metadata says why; nothing deployed), the served bytes again are
``already_active``; each deployment is smoke-tested through the server and tags its run. Then a
promotion whose smoke test fails after activating: the run fails, the promotion failure sensor asks for
a rollback, and the requested ``rollback_job`` run brings the replaced version back."""

import dagster as dg
import pytest

from daf_core.deployment import PolicyServerClient
from daf_dagster.assets.promotion import (
    DEPLOYED_VERSION_TAG,
    POLICY_TAG,
    PREVIOUS_VERSION_TAG,
    policy_promotion,
)
from daf_dagster.jobs import promotion_job
from daf_dagster.partitions import TRAINING_RUNS
from daf_dagster.resources import DAFResource, PolicyServerResource
from daf_dagster.rollback import rollback_job
from daf_dagster.sensors import promotion_failure_sensor
from tests.deployment.served import lstm_bundle
from tests.server.running_server import start_server

pytestmark = pytest.mark.slow

POLICY = "walker"
RUN = "walker_run"
#: Episodes per quick-suite mission for each side: enough for the lazy/untrained gap, a short test.
EPISODES = 5


class Promotions:
    """promotion_job and rollback_job on one instance, against one server."""

    def __init__(self, tmp_path, server):
        self.server = server
        self.instance = dg.DagsterInstance.ephemeral()
        self.instance.add_dynamic_partitions(TRAINING_RUNS.name, [RUN])
        defs = dg.Definitions(
            assets=[policy_promotion],
            jobs=[promotion_job, rollback_job],
            resources={
                "daf": DAFResource(output_root=str(tmp_path / "out")),
                "policy_server": PolicyServerResource(
                    endpoint=server.url, token=server.admin_token, policy=POLICY
                ),
            },
        )
        self.promotion = defs.resolve_job_def("promotion_job")
        self.rollback = defs.resolve_job_def("rollback_job")

    def promote(self, bundle, **config) -> dg.ExecuteInProcessResult:
        return self.promotion.execute_in_process(
            run_config={
                "ops": {
                    "policy_promotion": {
                        "config": {"bundle": str(bundle), "episodes_per_mission": EPISODES, **config}
                    }
                }
            },
            instance=self.instance,
            partition_key=RUN,
            raise_on_error=False,
        )

    def values(self, result: dg.ExecuteInProcessResult) -> dict:
        (materialization,) = result.asset_materializations_for_node("policy_promotion")
        return {key: value.value for key, value in materialization.metadata.items()}

    def tags(self, result: dg.ExecuteInProcessResult) -> dict:
        tags = self.instance.get_run_by_id(result.run_id).tags
        return {k: v for k, v in tags.items() if k.startswith("daf/")}

    def active(self) -> str:
        with PolicyServerClient(self.server.url, self.server.admin_token) as client:
            return client.get_policy(POLICY)["active_version"]


def test_the_gate_deploys_a_better_bundle_and_refuses_a_worse_one(tmp_path):
    lazy = lstm_bundle(tmp_path, "0.1.0", lazy=True)
    walker = lstm_bundle(tmp_path, "0.2.0")
    lazier = lstm_bundle(tmp_path, "0.3.0", lazy=True)
    server = start_server(tmp_path / "server")
    try:
        jobs = Promotions(tmp_path, server)

        first = jobs.promote(lazy)
        assert first.success
        v1 = f"0.1.0+run-{first.run_id}"
        values = jobs.values(first)
        assert (values["decision"], values["promoted"], values["deployed_version"]) == (
            "deployed_first",
            True,
            v1,
        )
        assert "comparison" not in values and jobs.active() == v1
        # Smoke-tested on the quick suite's missions it can play: tiny_walk (explore has 4 agents, it 2).
        smoke = values["smoke_test"]
        assert (smoke["version"], smoke["missions"], smoke["episodes"]) == (v1, ["tiny_walk"], 1)
        assert jobs.tags(first) == {POLICY_TAG: POLICY, DEPLOYED_VERSION_TAG: v1}

        better = jobs.promote(walker)
        assert better.success
        v2 = f"0.2.0+run-{better.run_id}"
        values = jobs.values(better)
        assert (values["decision"], values["incumbent_version"], values["previous_version"]) == (
            "promoted",
            v1,
            v1,
        )
        assert values["lower_bound"] > 0 and values["n_seeds"] == EPISODES
        assert [m["mission"] for m in values["comparison"]["missions"]] == ["tiny_walk", "explore"]
        assert "| tiny_walk | 5 |" in values["missions"]
        assert jobs.active() == v2 and values["smoke_test"]["version"] == v2
        assert jobs.tags(better) == {POLICY_TAG: POLICY, DEPLOYED_VERSION_TAG: v2, PREVIOUS_VERSION_TAG: v1}
        report = tmp_path / "out" / "promotions" / RUN / better.run_id
        assert values["report_dir"] == str(report / "benchmark") and (report / "promotion.json").is_file()

        worse = jobs.promote(lazier)
        assert worse.success  # refusing is the gate working, not a failure
        values = jobs.values(worse)
        assert (values["decision"], values["promoted"], values["deployed_version"]) == (
            "refused",
            False,
            "none",
        )
        assert values["lower_bound"] <= 0 and any("lower bound" in r for r in values["reasons"])
        assert jobs.active() == v2 and jobs.tags(worse) == {} and values["smoke_test"] == "none"

        again = jobs.promote(walker)
        assert again.success and jobs.values(again)["decision"] == "already_active"
        assert jobs.active() == v2 and jobs.tags(again) == {}

    finally:
        server.stop()


def test_a_failed_smoke_test_is_rolled_back_by_the_failure_sensor(tmp_path):
    lazy = lstm_bundle(tmp_path, "0.1.0", lazy=True)
    walker = lstm_bundle(tmp_path, "0.2.0")
    server = start_server(tmp_path / "server")
    try:
        jobs = Promotions(tmp_path, server)
        first = jobs.promote(lazy, smoke_episodes=0)
        v1 = f"0.1.0+run-{first.run_id}"
        assert first.success and jobs.active() == v1

        # Promoted, then played on a mission it was not built for (collect has other actions): the
        # smoke test fails the run after the activation, which the run's tags record.
        failed = jobs.promote(walker, smoke_missions=["collect"])
        assert not failed.success
        v2 = f"0.2.0+run-{failed.run_id}"
        (failure,) = failed.get_step_failure_events()
        assert "was built for another mission" in failure.step_failure_data.error.cause.message
        assert jobs.active() == v2
        assert jobs.tags(failed) == {POLICY_TAG: POLICY, DEPLOYED_VERSION_TAG: v2, PREVIOUS_VERSION_TAG: v1}

        context = dg.build_run_status_sensor_context(
            sensor_name=promotion_failure_sensor.name,
            dagster_instance=jobs.instance,
            dagster_run=jobs.instance.get_run_by_id(failed.run_id),
            dagster_event=failed.get_run_failure_event(),
        ).for_run_failure()
        request = promotion_failure_sensor(context)
        assert request.run_key == f"rollback-failed-run:{failed.run_id}"
        rolled = jobs.rollback.execute_in_process(
            run_config=request.run_config, instance=jobs.instance, tags=request.tags
        )
        assert rolled.success and jobs.active() == v1
        with PolicyServerClient(server.url, server.admin_token) as client:
            event = client.history(POLICY)[-1]
        assert (event["action"], event["version"], event["previous_version"]) == ("rollback", v1, v2)
    finally:
        server.stop()
