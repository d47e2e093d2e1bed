"""Fixtures of the sweep tests: a throwaway PostgreSQL database, and DAF's logging put back after a test."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.postgres import fresh_postgres_database


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh database on the PostgreSQL server these tests assume, dropped afterwards."""
    with fresh_postgres_database("sweep") as url:
        yield url


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
