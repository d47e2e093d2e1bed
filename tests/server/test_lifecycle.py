"""A policy's life on the server: upload (validated on arrival), activate, roll back, history, rejection.

Runs against the SQLite and the PostgreSQL store (the ``server`` fixture's two parameters).
"""

from __future__ import annotations

import hashlib

import pytest

from tests.server.running_server import RunningServer


def test_upload_activate_roll_back_and_read_the_history(server: RunningServer, test_bundles):
    bundle = test_bundles.lstm
    first = server.upload("walker", bundle)
    assert first.status_code == 201, first.text
    version = first.json()
    assert version["version"] == "1.0.0"  # the manifest's version
    assert version["state"] == "ready"
    assert version["sha256"] == hashlib.sha256(bundle.read_bytes()).hexdigest()
    validation = version["validation"]
    assert validation["passed"] and validation["episodes"] == 1 and validation["p99_ms"] > 0
    assert validation["settings"] == {  # the server's validation flags (running_server.FAST_VALIDATION)
        "missions": ["tiny_walk"],
        "episodes": 1,
        "max_steps": 20,
        "min_mean_reward": None,
        "max_action_ms": 30000.0,
        "timeout_s": 600.0,
        "memory_mb": 8192,
        "seed": 0,
    }
    assert version["manifest"]["name"] == "walker" and version["manifest"]["class_path"].endswith(
        "LSTMPolicy"
    )

    # The same bytes under another version: a new immutable version, whose validation is reused.
    second = server.upload("walker", bundle, version="1.1.0")
    assert second.status_code == 201, second.text
    reused = second.json()["validation"]
    assert reused.pop("reused_from")  # "walker:1.0.0", or an earlier test's policy with these bytes
    assert reused == {key: value for key, value in validation.items() if key != "reused_from"}
    assert server.upload("walker", bundle, version="1.1.0").status_code == 409
    assert server.upload("walker", bundle, version="not-semver").status_code == 400

    with server.client() as admin:
        assert admin.get("/v1/policies/walker").json()["active_version"] is None
        moves = [
            admin.post("/v1/policies/walker/activate", json={"version": "1.0.0", "reason": "first deploy"}),
            admin.post("/v1/policies/walker/activate", json={"version": "1.1.0", "reason": "new weights"}),
            admin.post("/v1/policies/walker/rollback", json={"to_version": None, "reason": "reward dropped"}),
            admin.post("/v1/policies/walker/rollback", json={"to_version": "1.1.0", "reason": "false alarm"}),
        ]
        assert [m.status_code for m in moves] == [200] * 4, [m.text for m in moves]
        assert [(m.json()["previous_version"], m.json()["active_version"]) for m in moves] == [
            (None, "1.0.0"),
            ("1.0.0", "1.1.0"),
            ("1.1.0", "1.0.0"),
            ("1.0.0", "1.1.0"),
        ]
        policy = admin.get("/v1/policies/walker").json()
        assert policy["active_version"] == "1.1.0"
        assert [v["version"] for v in policy["versions"]] == ["1.0.0", "1.1.0"]
        assert [v["version"] for v in admin.get("/v1/policies/walker/versions").json()] == ["1.0.0", "1.1.0"]
        history = admin.get("/v1/policies/walker/history").json()
        assert admin.get("/health").json()["policies"]["walker"] == "1.1.0"

        assert admin.post("/v1/policies/walker/activate", json={"version": "9.9.9"}).status_code == 404
        assert admin.post("/v1/policies/nobody/activate", json={"version": "1.0.0"}).status_code == 404
        assert admin.get("/v1/policies/nobody/history").status_code == 404

    assert [(e["action"], e["version"], e["previous_version"], e["reason"]) for e in history] == [
        ("upload", "1.0.0", None, "upload"),
        ("upload", "1.1.0", None, "upload"),
        ("activate", "1.0.0", None, "first deploy"),
        ("activate", "1.1.0", "1.0.0", "new weights"),
        ("rollback", "1.0.0", "1.1.0", "reward dropped"),
        ("rollback", "1.1.0", "1.0.0", "false alarm"),
    ]
    assert {e["actor"] for e in history} == {"admin"}  # the name given to `daf token create`
    assert [e["event_id"] for e in history] == sorted(e["event_id"] for e in history)


@pytest.mark.parametrize(
    "server", ["sqlite"], indirect=True
)  # a validation run each; the store is shared code
def test_a_policy_that_only_emits_noops_is_rejected_recorded_and_never_activatable(
    server: RunningServer, test_bundles
):
    rejected = server.upload("idler", test_bundles.noop)
    assert rejected.status_code == 422, rejected.text
    detail = rejected.json()["detail"]
    assert any("no-op" in reason for reason in detail["reasons"]), detail["reasons"]
    with server.client() as admin:
        (version,) = admin.get("/v1/policies/idler/versions").json()
        assert version["state"] == "rejected" and version["validation"]["passed"] is False
        assert version["validation"]["noop_fraction"] == 1.0
        refused = admin.post("/v1/policies/idler/activate", json={"version": "1.0.0", "reason": "try"})
        assert refused.status_code == 409 and "rejected" in refused.json()["detail"]
        assert admin.post("/v1/policies/idler/rollback", json={"reason": "none"}).status_code == 409
        (event,) = admin.get("/v1/policies/idler/history").json()
    assert event["action"] == "reject" and "no-op" in event["reason"]
    assert not (server.store_dir / "bundles" / "idler").exists()  # a rejected bundle is not kept
