"""Fixtures of the sweep tests: a throwaway PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.postgres import fresh_postgres_database


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh database on the PostgreSQL server these tests assume, dropped afterwards."""
    with fresh_postgres_database("sweep") as url:
        yield url
