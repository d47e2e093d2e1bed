"""Who may do what: tokens from ``daf token create`` (stored hashed), scopes, revocation, and tokens
checked by an RFC 7662 introspection service on loopback (the ``introspection`` fixture)."""

from __future__ import annotations

import hashlib
import time

import pytest
from sqlalchemy import MetaData, create_engine, select

from daf_core.server.auth import PRINCIPAL_CACHE_S
from tests.server.introspection import IntrospectionServer
from tests.server.running_server import RunningServer, create_token, daf


def _database_dump(server: RunningServer) -> str:
    """Every row of every table, as text."""
    url = server.database_url or f"sqlite:///{server.store_dir / 'server.db'}"
    engine = create_engine(url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        with engine.connect() as connection:
            return "\n".join(
                repr(row) for table in metadata.sorted_tables for row in connection.execute(select(table))
            )
    finally:
        engine.dispose()


def test_the_database_holds_token_hashes_never_the_tokens(server: RunningServer):
    dump = _database_dump(server)
    for token in (server.admin_token, server.act_token):
        assert token.startswith("daf_") and len(token) > 40
        assert token not in dump
        assert hashlib.sha256(token.encode()).hexdigest() in dump
    if server.database_url is None:  # the SQLite files themselves, write-ahead log included
        for path in server.store_dir.glob("server.db*"):
            assert server.admin_token.encode() not in path.read_bytes()


ADMIN_CALLS = [
    (
        "post",
        "/v1/policies/walker/versions",
        {"content": b"PK", "headers": {"Content-Type": "application/zip"}},
    ),
    ("post", "/v1/policies/walker/activate", {"json": {"version": "1.0.0"}}),
    ("post", "/v1/policies/walker/rollback", {"json": {"reason": "x"}}),
]


@pytest.mark.parametrize("method,path,kwargs", ADMIN_CALLS, ids=["upload", "activate", "rollback"])
def test_missing_token_401_wrong_token_403_act_token_on_admin_endpoint_403(
    server: RunningServer, method: str, path: str, kwargs: dict
):
    with server.client() as client:
        call = getattr(client, method)
        missing = call(
            path, headers={"Authorization": ""}, **{k: v for k, v in kwargs.items() if k != "headers"}
        )
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        wrong = call(
            path, **{**kwargs, "headers": {**kwargs.get("headers", {}), **server.headers("daf_forged")}}
        )
        assert wrong.status_code == 403
        act = call(
            path, **{**kwargs, "headers": {**kwargs.get("headers", {}), **server.headers(server.act_token)}}
        )
        assert act.status_code == 403 and "lacks the 'admin' scope" in act.json()["detail"]


def test_reading_needs_a_valid_token_of_any_scope_and_health_needs_none(server: RunningServer):
    with server.client(server.act_token) as player:
        assert player.get("/health", headers={"Authorization": ""}).status_code == 200
        assert player.get("/openapi.json", headers={"Authorization": ""}).status_code == 200
        assert player.get("/v1/policies/walker/history", headers={"Authorization": ""}).status_code == 401
        assert player.get("/v1/policies/nobody/history").status_code == 404  # past auth: unknown policy


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)  # the CLI's store code is the server's
def test_a_revoked_token_is_refused(server: RunningServer):
    token = create_token(server.store_args, "temporary", "act")
    with server.client(token) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/v1/policies/nobody").status_code == 404  # accepted, then: no such policy
        done = daf("token", "revoke", "--name", "temporary", *server.store_args)
        assert done.returncode == 0, done.stderr
        time.sleep(PRINCIPAL_CACHE_S)  # the server reuses a token's answer at most this long
        assert client.get("/v1/policies/nobody").status_code == 403
    listed = daf("token", "list", *server.store_args)
    assert "temporary\tact\t" in listed.stdout and "revoked" in listed.stdout
    assert token not in listed.stdout


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)
def test_token_create_refuses_an_unknown_scope_and_a_duplicate_name(server: RunningServer):
    unknown = daf("token", "create", "--name", "eve", "--scope", "root", *server.store_args)
    assert unknown.returncode == 2 and "scope" in unknown.stderr and "root" in unknown.stderr
    duplicate = daf("token", "create", "--name", "admin", "--scope", "act", *server.store_args)
    assert duplicate.returncode == 2 and "exists already" in duplicate.stderr


def test_tokens_the_server_did_not_issue_are_checked_by_introspection(
    server: RunningServer, introspection: IntrospectionServer, test_bundles
):
    server.upload_ok("outsider", test_bundles.lstm, token="ext-admin-token")
    with server.client("ext-admin-token") as carol:
        activated = carol.post("/v1/policies/outsider/activate", json={"version": "1.0.0", "reason": "sso"})
        assert activated.status_code == 200
        (upload, activation) = carol.get("/v1/policies/outsider/history").json()
    assert upload["actor"] == activation["actor"] == "carol"  # the introspected username
    with server.client("ext-act-token") as dave:
        session = dave.post("/v1/policies/outsider/sessions", json={})
        assert session.status_code == 201
        assert dave.post("/v1/policies/outsider/activate", json={"version": "1.0.0"}).status_code == 403
        # Sessions belong to their creator: another valid token cannot drive or close them.
        with server.client(server.act_token) as player:
            assert player.delete(f"/v1/sessions/{session.json()['session_id']}").status_code == 403
        assert dave.delete(f"/v1/sessions/{session.json()['session_id']}").status_code == 204
    with server.client("ext-expired-token") as expired:
        assert expired.get("/v1/policies/outsider").status_code == 403
    assert {"ext-admin-token", "ext-act-token", "ext-expired-token"} <= set(introspection.asked)
    assert server.admin_token not in introspection.asked  # its own tokens never leave the server
