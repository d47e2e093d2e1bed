"""A restart loses nothing: every version, the history, the active version and the tokens come back,
and the active version plays again from the stored bundle."""

from __future__ import annotations

from tests.server.running_server import RunningServer


def test_a_restart_keeps_every_version_and_the_active_one(server: RunningServer, test_bundles):
    for version in ("2.0.0", "2.1.0", "2.2.0"):
        server.upload_ok("keeper", test_bundles.lstm, version=version)
    with server.client() as admin:
        admin.post("/v1/policies/keeper/activate", json={"version": "2.2.0", "reason": "latest"})
        admin.post("/v1/policies/keeper/activate", json={"version": "2.1.0", "reason": "safer"})
        before = {
            path: admin.get(f"/v1/policies/keeper{path}").json() for path in ("", "/versions", "/history")
        }

    server.restart()

    with server.client() as admin:
        after = {
            path: admin.get(f"/v1/policies/keeper{path}").json() for path in ("", "/versions", "/history")
        }
        assert admin.get("/health").json()["policies"]["keeper"] == "2.1.0"
        rolled_back = admin.post("/v1/policies/keeper/rollback", json={"reason": "after restart"}).json()
    assert after == before
    assert after[""]["active_version"] == "2.1.0"
    assert [v["version"] for v in after["/versions"]] == ["2.0.0", "2.1.0", "2.2.0"]
    assert (rolled_back["previous_version"], rolled_back["active_version"]) == ("2.1.0", "2.2.0")

    with server.client(server.act_token) as player:  # the act token survived the restart too
        session = player.post("/v1/policies/keeper/sessions", json={"seed": 1})
        assert session.status_code == 201, session.text
        assert session.json()["version"] == "2.2.0"
        assert player.delete(f"/v1/sessions/{session.json()['session_id']}").status_code == 204
