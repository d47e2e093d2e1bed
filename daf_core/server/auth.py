"""Who is asking, and may they: bearer tokens to scopes, as FastAPI dependencies.

A missing token is 401 (the client has not said who it is); a token that is unknown, revoked or lacks
the scope is 403 (it said, and the answer is no). Tokens this server did not issue are asked about at
``authentication_server`` by RFC 7662 token introspection, so an organisation's own token service can
stand in for ``daf token create``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from daf_core.server.store import Store
from daf_core.server.tokens import SCOPES, hash_token, token_record

logger = logging.getLogger(__name__)

#: Seconds to wait for the introspection endpoint before the request fails with 503.
INTROSPECTION_TIMEOUT_S = 10.0
#: Seconds a token's answer (from the store or the introspection service) is reused without asking
#: again, so a revoked token stops working within this time. Clients call the act endpoint once per game
#: step, and the store lookup was the largest cost of a request after the network's forward pass.
PRINCIPAL_CACHE_S = 1.0
#: Tokens remembered at once; past this the memory is cleared (a burst of distinct bad tokens can't grow it).
PRINCIPAL_CACHE_SIZE = 4096

_bearer = HTTPBearer(auto_error=False, description="A token from `daf token create` (or the auth server)")


@dataclass(frozen=True)
class Principal:
    """The holder of a valid token: ``name`` is recorded as the actor of what they change."""

    name: str
    scopes: frozenset[str]

    def may(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes  # admin implies act


class Authenticator:
    """Maps a bearer token to a :class:`Principal`: this server's tokens first, then introspection."""

    def __init__(self, store: Store, authentication_server: str | None):
        self._store = store
        self._introspection_url = authentication_server
        self._client = httpx.Client(timeout=INTROSPECTION_TIMEOUT_S) if authentication_server else None
        self._recent: dict[str, tuple[float, Principal | None]] = {}  # token hash -> (when, answer)
        self._recent_lock = threading.Lock()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def principal(self, token: str) -> Principal | None:
        """The token's holder, or None; answers are reused for :data:`PRINCIPAL_CACHE_S` seconds."""
        key = hash_token(token)
        now = time.monotonic()
        with self._recent_lock:
            recent = self._recent.get(key)
        if recent is not None and now - recent[0] < PRINCIPAL_CACHE_S:
            return recent[1]
        answer = self._ask(token)
        with self._recent_lock:
            if len(self._recent) >= PRINCIPAL_CACHE_SIZE:
                self._recent.clear()
            self._recent[key] = (now, answer)
        return answer

    def _ask(self, token: str) -> Principal | None:
        record = token_record(self._store, token)
        if record is not None:
            return Principal(record.name, frozenset(record.scopes))
        if self._client is None:
            return None
        return self._introspect(token)

    def _introspect(self, token: str) -> Principal | None:
        """RFC 7662: POST ``token=...``; an ``active`` reply carries space-separated ``scope``."""
        try:
            reply = self._client.post(
                self._introspection_url, data={"token": token, "token_type_hint": "access_token"}
            )
            reply.raise_for_status()
            body = reply.json()
        except (httpx.HTTPError, ValueError) as err:
            logger.warning("token introspection at %s failed: %s", self._introspection_url, err)
            raise HTTPException(503, f"the authentication server could not check the token ({err})") from None
        if not isinstance(body, dict) or body.get("active") is not True:
            return None
        scopes = frozenset(str(body.get("scope", "")).split()) & frozenset(SCOPES)
        name = body.get("username") or body.get("sub") or body.get("client_id") or "introspected-token"
        return Principal(f"{name}", scopes)


def require(scope: str) -> Callable[..., Principal]:
    """A dependency that admits holders of ``scope`` (``"read"``: any valid token)."""

    async def dependency(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Principal:
        if credentials is None or not credentials.credentials:
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        principal = request.app.state.authenticator.principal(credentials.credentials)
        if principal is None:
            raise HTTPException(403, "invalid or revoked token")
        if scope != "read" and not principal.may(scope):
            raise HTTPException(403, f"token {principal.name!r} lacks the {scope!r} scope")
        return principal

    return dependency
