"""Fixtures of the server tests: throwaway PostgreSQL databases, test bundles, an introspection service,
and one real ``daf serve`` per database (SQLite file, PostgreSQL) shared by the server test modules.

Each test module works on policies of its own names, so sharing a server costs no independence and
saves a server start (several seconds) per module.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from daf_core.config import DAFDeploymentConfig
from tests.postgres import fresh_postgres_database
from tests.server import bundles
from tests.server.introspection import IntrospectionServer
from tests.server.running_server import RunningServer, start_server

MiB = 1 << 20
#: Limits of the shared servers, small enough for the hostile-input tests to cross cheaply.
MAX_UPLOAD_BYTES = 2 * MiB
MAX_UNCOMPRESSED_BYTES = 16 * MiB
MAX_SESSIONS = 6


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test module (127.0.0.1:5432, user postgres, trust auth)."""
    with fresh_postgres_database("server") as url:
        yield url


@dataclass(frozen=True)
class Bundles:
    """Bundles made by ``daf_package_policy``: a walking LSTM and a policy that only emits no-ops."""

    lstm: Path
    lstm_weights: Path
    noop: Path
    root: Path


@pytest.fixture(scope="session")
def test_bundles(tmp_path_factory: pytest.TempPathFactory) -> Bundles:
    root = tmp_path_factory.mktemp("bundles")
    weights = bundles.lstm_weights(root / "walker.pt")
    return Bundles(
        lstm=bundles.package(root, "lstm", weights, policy_name="walker", version="1.0.0"),
        lstm_weights=weights,
        noop=bundles.package(root, "noop", policy_name="idler", version="1.0.0"),
        root=root,
    )


@pytest.fixture(scope="session")
def introspection() -> Iterator[IntrospectionServer]:
    service = IntrospectionServer()
    yield service
    service.close()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    introspection: IntrospectionServer,
) -> Iterator[RunningServer]:
    """``daf serve`` over a SQLite file in its store directory, or over a fresh PostgreSQL database.

    Its introspection service comes from a deployment config (``daf serve --config``), as a team's
    ``DAFDeploymentConfig.authentication_server`` would give it.
    """
    root = tmp_path_factory.mktemp(f"server-{request.param}")
    deployment = DAFDeploymentConfig(
        policy_name="shared",
        policy_class_path="lstm",
        deployment_endpoint="http://127.0.0.1:8765",
        version="1.0.0",
        authentication_server=introspection.url,
    )
    deployment.to_yaml(root / "deployment.yaml")
    with fresh_postgres_database("server") if request.param == "postgresql" else _no_url() as database_url:
        running = start_server(
            root,
            database_url=database_url,
            extra_args=(
                "--config", str(root / "deployment.yaml"),
                "--max-upload-bytes", str(MAX_UPLOAD_BYTES),
                "--max-uncompressed-bytes", str(MAX_UNCOMPRESSED_BYTES),
                "--max-sessions", str(MAX_SESSIONS),
            ),
        )  # fmt: skip
        try:
            yield running
        finally:
            running.stop()


@contextmanager
def _no_url() -> Iterator[None]:
    yield None
