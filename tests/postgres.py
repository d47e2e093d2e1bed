"""Throwaway PostgreSQL databases on the server these tests assume at 127.0.0.1:5432 (trust
authentication, user postgres): one per use, with a random name, dropped afterwards."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import pytest

POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


def postgres_reachable() -> bool:
    try:
        socket.create_connection((POSTGRES["host"], POSTGRES["port"]), timeout=2).close()
    except OSError:
        return False
    return True


@contextmanager
def fresh_postgres_database(purpose: str) -> Iterator[str]:
    """A new database ``daf_<purpose>_test_<random>`` as a SQLAlchemy URL, dropped on exit (its
    connections closed by force); the test is skipped when no server answers."""
    if not postgres_reachable():
        pytest.skip(
            f"needs a PostgreSQL server at {POSTGRES['host']}:{POSTGRES['port']} (trust auth, user "
            f"{POSTGRES['user']}); none is reachable"
        )
    name = f"daf_{purpose}_test_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(dbname="postgres", **POSTGRES)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg2://{POSTGRES['user']}@{POSTGRES['host']}:{POSTGRES['port']}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
