"""The policy server behind ``daf serve``: a deployment endpoint that stores, checks and plays bundles.

``create_app(ServerSettings(...))`` is the FastAPI app; :mod:`~daf_core.server.store` its database
(SQLite file or PostgreSQL), :mod:`~daf_core.server.tokens` and :mod:`~daf_core.server.auth` who may do
what, :mod:`~daf_core.server.policies` how a stored bundle becomes a playing policy without running the
bundle's code, :mod:`~daf_core.server.metrics` what ``/metrics`` reports.

Importing this package loads neither torch nor mettagrid, nor the web framework: ``create_app`` is
imported on first use, so ``daf token create`` starts in a fraction of a second. The app imports its
allowed policy classes when it is created.
"""

from typing import Any

from daf_core.server.settings import DEFAULT_ALLOWED_CLASS_PATHS, ServerSettings
from daf_core.server.store import Store
from daf_core.server.tokens import SCOPES, create_token, hash_token

__all__ = [
    "DEFAULT_ALLOWED_CLASS_PATHS",
    "SCOPES",
    "ServerSettings",
    "Store",
    "create_app",
    "create_token",
    "hash_token",
]


def __getattr__(name: str) -> Any:
    """``create_app`` on first use (PEP 562): FastAPI and the deployment package load only then."""
    if name == "create_app":
        from daf_core.server.app import create_app  # noqa: PLC0415

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
