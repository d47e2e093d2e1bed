"""The promotion gate against a real ``daf serve``: the served bundle is downloaded, benchmarked against the
candidate on the ``quick`` suite (both missions, the same seeds, a few episodes) and replaced only when the
candidate is better.

The bundles are tests/deployment/served.py's lstm for tiny_walk: ``untrained`` walks about, ``lazy`` picks
noop ~93% of the time and scores far less on both missions (about 0.08 against 0.39 on tiny_walk and 0.3
against 1.9 on explore in 3 episodes), so 4 episodes per mission tell them apart with a wide margin.
"""

from __future__ import annotations

import json

import pytest

from daf_core.deployment import PolicyServerClient, daf_promote_policy
from tests.deployment.served import lstm_bundle
from tests.server.running_server import start_server

EPISODES = 4


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = start_server(tmp_path_factory.mktemp("promotion") / "server")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """A walking lstm and two lazy ones (other versions, so other bytes)."""
    root = tmp_path_factory.mktemp("promotion-bundles")
    return {
        "lazy": lstm_bundle(root, "0.1.0", lazy=True),
        "walker": lstm_bundle(root, "0.2.0"),
        "lazier": lstm_bundle(root, "0.3.0", lazy=True),
    }


def promote(server, bundle, policy, **kwargs):
    return daf_promote_policy(
        bundle, policy, server.url, server.admin_token, episodes_per_mission=EPISODES, **kwargs
    )


def served(server, policy):
    with PolicyServerClient(server.url, server.act_token) as client:
        return client.get_policy(policy)


def test_first_deployment_then_a_better_candidate_is_promoted(server, bundles, tmp_path):
    policy = "promote-up"
    first = promote(server, bundles["lazy"], policy)
    assert (first.decision, first.promoted, first.deployed_version) == ("deployed_first", True, "0.1.0")
    assert first.comparison is None and first.incumbent_version is None

    better = promote(server, bundles["walker"], policy, output_dir=tmp_path / "up", reason="nightly")
    assert better.decision == "promoted", better.reasons
    assert (better.incumbent_version, better.deployed_version, better.previous_version) == (
        "0.1.0",
        "0.2.0",
        "0.1.0",
    )
    comparison = better.comparison
    assert comparison["promote"] and comparison["lower_bound"] > 0
    assert comparison["n_seeds"] == EPISODES and comparison["seeds"] == list(range(EPISODES))
    assert [row["mission"] for row in comparison["missions"]] == ["tiny_walk", "explore"]
    assert all(row["mean_diff"] > 0 and not row["regression"] for row in comparison["missions"])
    assert served(server, policy)["active_version"] == "0.2.0"
    with PolicyServerClient(server.url, server.act_token) as client:
        event = client.history(policy)[-1]
    assert (event["action"], event["version"], event["previous_version"], event["reason"]) == (
        "activate",
        "0.2.0",
        "0.1.0",
        "nightly",
    )

    # What output_dir holds: the served bundle that was benchmarked, the benchmark, the result.
    out = tmp_path / "up"
    assert better.report_dir == out / "benchmark"
    assert (out / "incumbent" / f"{policy}-0.1.0.zip").read_bytes() == bundles["lazy"].read_bytes()
    report = json.loads((out / "benchmark" / "report.json").read_text())
    assert report["metadata"]["suite"]["name"] == "quick"
    assert (out / "benchmark" / "episodes.parquet").is_file()
    assert json.loads((out / "promotion.json").read_text()) == json.loads(json.dumps(better.to_dict()))


def test_a_worse_candidate_is_refused_and_nothing_is_deployed(server, bundles):
    policy = "promote-down"
    assert promote(server, bundles["walker"], policy).decision == "deployed_first"
    before = served(server, policy)

    worse = promote(server, bundles["lazier"], policy)
    assert (worse.decision, worse.promoted, worse.deployed_version) == ("refused", False, None)
    assert worse.incumbent_version == "0.2.0" and worse.report_dir is None
    assert worse.comparison["mean_improvement"] < 0 and worse.comparison["lower_bound"] < 0
    assert any("no established improvement" in reason for reason in worse.reasons)
    assert any("regressed" in reason for reason in worse.reasons)
    after = served(server, policy)
    assert after["active_version"] == "0.2.0"
    assert (
        [v["version"] for v in after["versions"]] == [v["version"] for v in before["versions"]] == ["0.2.0"]
    )


def test_the_served_bytes_are_not_benchmarked_and_a_taken_version_is_an_error(server, bundles):
    policy = "promote-same"
    assert promote(server, bundles["walker"], policy).decision == "deployed_first"

    # The same bytes under a new version name: nothing to compare, nothing deployed.
    same = promote(server, bundles["walker"], policy, version="0.2.0+rerun")
    assert (same.decision, same.promoted, same.incumbent_version, same.comparison) == (
        "already_active",
        False,
        "0.2.0",
        None,
    )
    assert [v["version"] for v in served(server, policy)["versions"]] == ["0.2.0"]

    with pytest.raises(ValueError, match=r"promote-same 0\.2\.0 is already on the server with other bytes"):
        promote(server, bundles["lazy"], policy, version="0.2.0")


def test_a_version_the_server_already_holds_is_activated_not_uploaded(server, bundles):
    """Rolled back from 0.2.0 to 0.1.0, the 0.2.0 bundle is still better: it is activated again."""
    policy = "promote-again"
    assert promote(server, bundles["lazy"], policy).decision == "deployed_first"
    assert promote(server, bundles["walker"], policy).decision == "promoted"
    with PolicyServerClient(server.url, server.admin_token) as admin:
        admin.rollback(policy, reason="test")
    assert served(server, policy)["active_version"] == "0.1.0"

    again = promote(server, bundles["walker"], policy)
    assert (again.decision, again.deployed_version, again.previous_version) == ("promoted", "0.2.0", "0.1.0")
    assert [v["version"] for v in served(server, policy)["versions"]] == ["0.1.0", "0.2.0"]


def test_bad_arguments_are_refused_before_anything_is_sent(server, bundles, tmp_path):
    with pytest.raises(FileNotFoundError, match="candidate_bundle: no bundle at"):
        promote(server, tmp_path / "missing.zip", "promote-args")
    with pytest.raises(ValueError, match="policy_name:"):
        promote(server, bundles["walker"], "bad name")
    with pytest.raises(ValueError, match="significance_level:"):
        promote(server, bundles["walker"], "promote-args", significance_level=1.0)
    with PolicyServerClient(server.url) as client:
        assert "promote-args" not in client.health()["policies"]
