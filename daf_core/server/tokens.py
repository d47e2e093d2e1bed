"""Bearer tokens: made once, shown once, stored only as a hash.

A token is 32 random bytes (``secrets.token_urlsafe``), so a plain SHA-256 of it is as hard to invert
as guessing the token itself; a slow password hash would only slow every request down. The database
therefore holds nothing that lets anyone who reads it act as a token's holder.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from daf_core.server.store import Store, TokenRecord

#: What a token may do: ``admin`` uploads, activates and rolls back (and may play); ``act`` plays.
SCOPES = ("admin", "act")
#: Every token starts with this, so a leaked one is recognisable (e.g. by secret scanners).
TOKEN_PREFIX = "daf_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_scopes(scopes: list[str] | tuple[str, ...]) -> list[str]:
    """The scopes, deduplicated in canonical order; ValueError naming an unknown one."""
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown or not scopes:
        raise ValueError(f"scope: expected one or more of {list(SCOPES)}, got {list(scopes)!r}")
    return [scope for scope in SCOPES if scope in scopes]


def create_token(store: Store, name: str, scopes: list[str] | tuple[str, ...]) -> tuple[str, TokenRecord]:
    """A new token and its record; the token itself is returned here and never again."""
    if not _NAME.match(name):
        raise ValueError(f"name: expected letters, digits and ._@- (at most 128), got {name!r}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = store.add_token(name, hash_token(token), check_scopes(scopes))
    return token, record


def token_record(store: Store, token: str) -> TokenRecord | None:
    """The record of a valid token; None when it is unknown or revoked."""
    record = store.token_by_hash(hash_token(token))
    return None if record is None or record.revoked else record
