"""SQLAlchemy URLs as users write them: the one psql takes works unchanged."""

from __future__ import annotations

import importlib.util


def with_installed_driver(url: str) -> str:
    """``postgresql://`` means psycopg 3 to SQLAlchemy 2.1, but DAF installs psycopg2 (dagster-postgres's
    driver: it stores events with a statement psycopg 3 cannot send), so name the driver that is there."""
    scheme, sep, rest = url.partition("://")
    if scheme in ("postgresql", "postgres") and importlib.util.find_spec("psycopg") is None:
        if importlib.util.find_spec("psycopg2") is not None:
            return f"postgresql+psycopg2{sep}{rest}"
    return url
