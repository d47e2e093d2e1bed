"""Fingerprints: short, stable digests of what makes two things the same (a policy, a mission, a run).

A fingerprint decides whether recorded episodes can be reused, whether two benchmark results answered
the same exam and which checkpoint directory a run resumes, so it must be computed one way everywhere:
the SHA-256 of the canonical JSON of a payload (keys sorted, non-JSON values by ``str``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def fingerprint(payload: Any, length: int = 16) -> str:
    """The first ``length`` hex digits of the SHA-256 of ``payload`` as canonical JSON."""
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]
