"""Twenty deploys and rollbacks started at the same instant leave one consistent history.

Each round starts 10 uploads, 5 activations and 5 rollbacks behind a barrier, so they reach the server
together; three rounds. Afterwards every activation's ``previous_version`` is the version the activation
before it made active, the active version is the last one's, and every upload that was answered 201 is
a version, once. Against SQLite (one writer at a time) and PostgreSQL (row locks).
"""

from __future__ import annotations

import random
import threading

import httpx

from tests.server.running_server import RunningServer

ROUNDS = 3
UPLOADS, ACTIVATIONS, ROLLBACKS = 10, 5, 5


def _race(
    server: RunningServer, bundle: bytes, round_: int, known: list[str]
) -> list[tuple[str, httpx.Response]]:
    rng = random.Random(round_)
    jobs = [("upload", f"4.{round_}.{k}") for k in range(UPLOADS)]
    jobs += [("activate", rng.choice(known)) for _ in range(ACTIVATIONS)]
    jobs += [("rollback", None) for _ in range(ROLLBACKS)]
    rng.shuffle(jobs)
    barrier = threading.Barrier(len(jobs))
    results: list[tuple[str, httpx.Response] | None] = [None] * len(jobs)
    limits = httpx.Limits(max_connections=len(jobs), max_keepalive_connections=len(jobs))

    with httpx.Client(base_url=server.url, headers=server.headers(), timeout=120, limits=limits) as client:

        def run(index: int, kind: str, version: str | None) -> None:
            barrier.wait(timeout=60)
            if kind == "upload":
                response = client.post(
                    "/v1/policies/racer/versions",
                    params={"version": version},
                    content=bundle,
                    headers={"Content-Type": "application/zip"},
                )
            elif kind == "activate":
                response = client.post(
                    "/v1/policies/racer/activate", json={"version": version, "reason": f"round {round_}"}
                )
            else:
                response = client.post("/v1/policies/racer/rollback", json={"reason": f"round {round_}"})
            results[index] = (kind, response)

        threads = [threading.Thread(target=run, args=(i, *job)) for i, job in enumerate(jobs)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
    assert all(result is not None for result in results)
    return results  # type: ignore[return-value]


def test_concurrent_uploads_activations_and_rollbacks_leave_one_consistent_history(
    server: RunningServer, test_bundles
):
    bundle = test_bundles.lstm.read_bytes()
    for version in ("3.0.0", "3.0.1"):
        server.upload_ok("racer", bundle, version=version)
    with server.client() as admin:
        admin.post("/v1/policies/racer/activate", json={"version": "3.0.0", "reason": "start"})
        admin.post("/v1/policies/racer/activate", json={"version": "3.0.1", "reason": "start"})
    known = ["3.0.0", "3.0.1"]
    uploaded = set(known)

    for round_ in range(ROUNDS):
        results = _race(server, bundle, round_, known)
        statuses = sorted({(kind, response.status_code) for kind, response in results})
        assert statuses == [("activate", 200), ("rollback", 200), ("upload", 201)], [
            (kind, response.text) for kind, response in results if response.status_code >= 300
        ]
        uploaded |= {response.json()["version"] for kind, response in results if kind == "upload"}
        known = sorted(uploaded)

    with server.client() as admin:
        history = admin.get("/v1/policies/racer/history").json()
        versions = [v["version"] for v in admin.get("/v1/policies/racer/versions").json()]
        active = admin.get("/v1/policies/racer").json()["active_version"]
    activations = [event for event in history if event["action"] in ("activate", "rollback")]
    assert len(activations) == 2 + ROUNDS * (ACTIVATIONS + ROLLBACKS)
    for before, event in zip(activations, activations[1:], strict=False):
        assert event["previous_version"] == before["version"], (before, event)
    assert active == activations[-1]["version"]
    assert sorted(versions) == sorted(uploaded) and len(versions) == len(set(versions))
    assert len([e for e in history if e["action"] == "upload"]) == len(uploaded) == 2 + ROUNDS * UPLOADS
