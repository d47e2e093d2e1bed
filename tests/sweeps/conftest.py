"""Fixtures of the sweep tests: a throwaway PostgreSQL database, and DAF's logging put back after a test."""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Iterator

import psycopg2
import pytest

POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


def _postgres_reachable() -> bool:
    try:
        socket.create_connection((POSTGRES["host"], POSTGRES["port"]), timeout=2).close()
    except OSError:
        return False
    return True


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh database on the PostgreSQL server these tests assume at 127.0.0.1:5432 (trust
    authentication, user postgres), dropped afterwards; the test is skipped when no server answers."""
    if not _postgres_reachable():
        pytest.skip(
            f"needs a PostgreSQL server at {POSTGRES['host']}:{POSTGRES['port']} (trust auth, user "
            f"{POSTGRES['user']}); none is reachable"
        )
    name = f"daf_sweep_test_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(dbname="postgres", **POSTGRES)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://{POSTGRES['user']}@{POSTGRES['host']}:{POSTGRES['port']}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(autouse=True)
def restore_daf_logging() -> Iterator[None]:
    """A sweep configures the ``daf_core`` logger from its DAFConfig; later tests get it back as it was."""
    daf_logger = logging.getLogger("daf_core")
    level, handlers = daf_logger.level, list(daf_logger.handlers)
    yield
    for handler in daf_logger.handlers:
        if handler not in handlers:
            daf_logger.removeHandler(handler)
            handler.close()
    daf_logger.setLevel(level)
