"""Two ``daf serve`` processes over one PostgreSQL database and one bundle directory, as replicas behind a
load balancer (one given the database by ``--database-url``, the other by ``DAF_SERVER_DATABASE_URL``).
Started together on a fresh database, they serve the same active version whichever is asked, a version
uploaded through one plays on the other, and deploys and rollbacks sent to both at the same instant (a
barrier) leave one history, each activation's ``previous_version`` the version the one before it
activated. The same version uploaded through both at once is one version (201 and 409).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from daf_core.cli import DATABASE_URL_ENV
from daf_core.server.store import Store
from tests.postgres import fresh_postgres_database
from tests.server.running_server import FAST_VALIDATION, RunningServer, create_token

pytestmark = pytest.mark.slow

POLICY = "replicated"
ROUNDS = 2
#: Per round and per replica: activations of known versions and rollbacks, all released together.
ACTIVATIONS, ROLLBACKS = 4, 3


def _together(calls: list) -> list:
    """Run the calls in threads released by one barrier; their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait(timeout=60)
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert all(result is not None for result in results)
    return results


def _post(client: httpx.Client, action: str, body: dict) -> tuple[str, httpx.Response]:
    return action, client.post(f"/v1/policies/{POLICY}/{action}", json=body)


@pytest.fixture
def replicas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[RunningServer]]:
    with fresh_postgres_database("replicas") as url:
        store_dir = tmp_path / "store"  # the shared volume: bundles uploaded through either replica
        # The first is given the database by flag; the second by DAF_SERVER_DATABASE_URL, as the URL psql
        # takes (no driver named). The first's flag wins over the variable.
        monkeypatch.setenv(DATABASE_URL_ENV, url.replace("postgresql+psycopg2://", "postgresql://", 1))
        servers = [
            RunningServer(
                store_dir=store_dir,
                database_url=database_url,
                extra_args=FAST_VALIDATION,
                admin_token="",
                act_token="",
                log_path=tmp_path / f"replica_{name}.log",
            )
            for name, database_url in (("a", url), ("b", None))
        ]
        try:
            # Both create the store's tables on the fresh database at once.
            _together([lambda s=s: s.start() or True for s in servers])
            store_args = servers[0].store_args
            admin, act = create_token(store_args, "admin", "admin"), create_token(store_args, "player", "act")
            for server in servers:
                server.admin_token, server.act_token = admin, act
            yield servers
        finally:
            for server in servers:
                server.stop()


def test_stores_opened_together_on_a_fresh_database_all_open(tmp_path):
    with fresh_postgres_database("replicas") as url:
        stores = _together([lambda: Store(url) for _ in range(6)])
        try:
            assert all(store.policies() == {} for store in stores)
        finally:
            for store in stores:
                store.close()


def test_two_servers_over_one_database_serve_one_active_version_and_one_history(replicas, test_bundles):
    a, b = replicas
    bundle = test_bundles.lstm.read_bytes()
    a.upload_ok(POLICY, bundle, version="1.0.0")
    b.upload_ok(POLICY, bundle, version="1.0.1")  # the same bytes: b reuses a's validation from the store

    # The same new version through both at once: one version, the other upload refused.
    contested = _together([lambda s=s: s.upload(POLICY, bundle, version="1.1.0") for s in (a, b)])
    assert sorted(r.status_code for r in contested) == [201, 409], [r.text for r in contested]

    clients = [
        httpx.Client(
            base_url=s.url, headers=s.headers(), timeout=120, limits=httpx.Limits(max_connections=16)
        )
        for s in (a, b)
    ]
    try:
        first = clients[0].post(f"/v1/policies/{POLICY}/activate", json={"version": "1.0.0", "reason": "a"})
        assert first.status_code == 200, first.text
        second = clients[1].post(f"/v1/policies/{POLICY}/activate", json={"version": "1.1.0", "reason": "b"})
        assert second.json()["previous_version"] == "1.0.0"  # b sees what a activated
        known = ["1.0.0", "1.0.1", "1.1.0"]

        for round_ in range(ROUNDS):
            rng = random.Random(round_)
            calls = []
            for client in clients:
                for _ in range(ACTIVATIONS):
                    body = {"version": rng.choice(known), "reason": f"round {round_}"}
                    calls.append(lambda c=client, body=body: _post(c, "activate", body))
                for _ in range(ROLLBACKS):
                    calls.append(lambda c=client, r=round_: _post(c, "rollback", {"reason": f"round {r}"}))
            rng.shuffle(calls)
            results = _together(calls)
            assert {(kind, r.status_code) for kind, r in results} == {("activate", 200), ("rollback", 200)}, [
                r.text for _, r in results if r.status_code != 200
            ]

        views = [
            {
                path: client.get(f"/v1/policies/{POLICY}{path}").json()
                for path in ("", "/history", "/versions")
            }
            for client in clients
        ]
    finally:
        for client in clients:
            client.close()

    assert views[0] == views[1]  # one store: both replicas tell the same
    active, history = views[0][""]["active_version"], views[0]["/history"]
    activations = [event for event in history if event["action"] in ("activate", "rollback")]
    assert len(activations) == 2 + ROUNDS * 2 * (ACTIVATIONS + ROLLBACKS)
    for before, event in zip(activations, activations[1:], strict=False):
        assert event["previous_version"] == before["version"], (before, event)
    assert active == activations[-1]["version"]
    assert sorted(v["version"] for v in views[0]["/versions"]) == known
    assert [e["version"] for e in history if e["action"] == "upload"] == ["1.0.0", "1.0.1", "1.1.0"]

    # Both play the active version, from the bundle whichever replica stored it.
    for server in (a, b):
        with server.client(server.act_token) as player:
            session = player.post(f"/v1/policies/{POLICY}/sessions", json={"seed": 1})
            assert session.status_code == 201, session.text
            assert session.json()["version"] == active
            assert player.delete(f"/v1/sessions/{session.json()['session_id']}").status_code == 204
