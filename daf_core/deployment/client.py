"""A client for DAF's policy server (``daf serve``): one method per endpoint of its HTTP API.

Every failure comes back as one exception, :class:`PolicyServerError`, carrying the HTTP status and the
server's own reason (FastAPI's ``detail``), or no status and the URL when the server could not be
reached at all - so callers (deploy, monitor, rollback, the remote policy) can turn any failure into a
result that says what went wrong without knowing httpx.

One ``httpx.Client`` is kept per instance, so consecutive calls reuse the TCP connection: an act
request then costs one round trip on an open socket, which is what an episode driven through the server
needs (one request per step).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np

logger = logging.getLogger(__name__)

#: Seconds an ordinary request may take (an act call takes milliseconds; this bounds a hung server).
DEFAULT_TIMEOUT_S = 30.0
#: Seconds an upload may take: the server validates a bundle in a fresh interpreter before it answers.
DEFAULT_UPLOAD_TIMEOUT_S = 900.0
#: The response header of a bundle download: the SHA-256 the server recorded when the bundle arrived.
BUNDLE_SHA256_HEADER = "X-DAF-Bundle-SHA256"
#: Bytes read per chunk of a bundle download (streamed to disk, never held whole in memory).
_DOWNLOAD_CHUNK = 1 << 16


class PolicyServerError(RuntimeError):
    """A request to the policy server failed: ``status_code`` is None when no answer came back."""

    def __init__(self, message: str, *, url: str, status_code: int | None = None, detail: Any = None):
        super().__init__(message)
        self.url = url
        self.status_code = status_code
        self.detail = detail


class PolicyServerClient:
    """Calls the policy server at ``endpoint`` (``http://host:port``) with a bearer token.

    ``auth_token`` is sent as ``Authorization: Bearer <token>``; the server answers 401 without one and
    403 for a wrong token or a token without the scope (``admin`` to upload/activate/roll back, ``act``
    to play). Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        endpoint: str,
        auth_token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        upload_timeout: float = DEFAULT_UPLOAD_TIMEOUT_S,
    ):
        if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
            raise ValueError(f"endpoint: expected an http(s) URL, got {endpoint!r}")
        if timeout <= 0 or upload_timeout <= 0:
            raise ValueError(f"timeout/upload_timeout: must be positive, got {timeout!r}/{upload_timeout!r}")
        self.endpoint = endpoint.rstrip("/")
        self._upload_timeout = upload_timeout
        headers = {"Authorization": f"Bearer {auth_token}"} if auth_token else {}
        self._http = httpx.Client(base_url=self.endpoint, headers=headers, timeout=timeout)

    def __enter__(self) -> PolicyServerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # The transport: every call goes through here, so every failure has the same shape.
    def _request(self, method: str, path: str, *, expect_json: bool = True, **kwargs: Any) -> Any:
        url = f"{self.endpoint}{path}"
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as err:
            raise PolicyServerError(f"{method} {url}: no answer in time ({err})", url=url) from err
        except httpx.TransportError as err:
            raise PolicyServerError(f"{method} {url}: cannot reach the server ({err})", url=url) from err
        _raise_for_error(method, url, response)
        if not expect_json:
            return response.text
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    # Service-wide.
    def health(self) -> dict[str, Any]:
        """``{"status": "ok", "policies": {name: active_version | None}}``; no token needed."""
        return self._request("GET", "/health")

    def prometheus_metrics(self) -> str:
        """The Prometheus text exposition of ``/metrics``."""
        return self._request("GET", "/metrics", expect_json=False)

    # Versions (admin to write; any valid token to read).
    def upload_version(self, policy_name: str, bundle_path: str | Path, version: str | None = None) -> dict:
        """Upload a bundle as a new immutable version; the server validates it before answering (201).

        ``version`` defaults to the bundle manifest's. A bundle that fails validation answers 422 with
        the reasons; it is recorded as a rejected version.
        """
        data = Path(bundle_path).read_bytes()
        return self._request(
            "POST",
            f"/v1/policies/{policy_name}/versions",
            params={"version": version} if version else None,
            content=data,
            headers={"Content-Type": "application/zip"},
            timeout=self._upload_timeout,
        )

    def download_bundle(self, policy_name: str, version: str, dest_dir: str | Path) -> Path:
        """Download a stored version's bundle to ``dest_dir/<policy_name>-<version>.zip``; its path.

        The body streams into a temporary file beside the target while its SHA-256 is computed; only
        when that digest equals the one the server recorded at upload (the ``X-DAF-Bundle-SHA256``
        header) is the file renamed into place, so the path returned always holds exactly the bytes
        the server validated and serves. A mismatch (a damaged store, a proxy rewriting the body)
        raises :class:`PolicyServerError` naming both digests and leaves no file behind.
        """
        dest_dir = Path(dest_dir)
        dest_dir.mkdir(parents=True, exist_ok=True)
        target = dest_dir / f"{policy_name}-{version}.zip"
        partial = dest_dir / f".{target.name}.{uuid.uuid4().hex[:12]}.part"
        path = f"/v1/policies/{policy_name}/versions/{version}/bundle"
        url = f"{self.endpoint}{path}"
        try:
            with self._http.stream("GET", path) as response:
                if response.is_error:
                    response.read()
                _raise_for_error("GET", url, response)
                recorded = response.headers.get(BUNDLE_SHA256_HEADER)
                if not recorded:
                    raise PolicyServerError(
                        f"GET {url}: the answer has no {BUNDLE_SHA256_HEADER} header to check the bundle by",
                        url=url,
                        status_code=response.status_code,
                    )
                digest = hashlib.sha256()
                with open(partial, "wb") as sink:
                    for chunk in response.iter_bytes(_DOWNLOAD_CHUNK):
                        digest.update(chunk)
                        sink.write(chunk)
                    sink.flush()
                    os.fsync(sink.fileno())
            received = digest.hexdigest()
            if received != recorded:
                raise PolicyServerError(
                    f"GET {url}: the bundle received has SHA-256 {received}, the server recorded "
                    f"{recorded} for {policy_name} {version}",
                    url=url,
                    status_code=response.status_code,
                    detail={"recorded_sha256": recorded, "received_sha256": received},
                )
            partial.replace(target)
        except httpx.TimeoutException as err:
            raise PolicyServerError(f"GET {url}: no answer in time ({err})", url=url) from err
        except httpx.TransportError as err:
            raise PolicyServerError(f"GET {url}: cannot reach the server ({err})", url=url) from err
        finally:
            partial.unlink(missing_ok=True)
        logger.info("Downloaded %s %s (%s) to %s", policy_name, version, recorded[:12], target)
        return target

    def list_versions(self, policy_name: str) -> list[dict]:
        return self._request("GET", f"/v1/policies/{policy_name}/versions")

    def get_policy(self, policy_name: str) -> dict:
        """``{"policy_name", "active_version", "versions": [...]}``."""
        return self._request("GET", f"/v1/policies/{policy_name}")

    def activate(self, policy_name: str, version: str, reason: str = "") -> dict:
        """Make ``version`` the one served; ``{"active_version", "previous_version", "event_id", ...}``."""
        return self._request(
            "POST", f"/v1/policies/{policy_name}/activate", json={"version": version, "reason": reason}
        )

    def rollback(self, policy_name: str, to_version: str | None = None, reason: str = "") -> dict:
        """Serve ``to_version``, or (None) the version that was active before the current one."""
        return self._request(
            "POST", f"/v1/policies/{policy_name}/rollback", json={"to_version": to_version, "reason": reason}
        )

    def history(self, policy_name: str) -> list[dict]:
        """The append-only events (upload/reject/activate/rollback), oldest first."""
        return self._request("GET", f"/v1/policies/{policy_name}/history")

    def metrics(self, policy_name: str) -> dict:
        """Per-version requests, errors, latency percentiles and reported episode rewards."""
        return self._request("GET", f"/v1/policies/{policy_name}/metrics")

    # Playing (act scope).
    def create_session(self, policy_name: str, seed: int | None = None) -> dict:
        """A session bound to the version active now: ``{"session_id", "version", "seed",
        "policy_env_interface"}``. ``seed`` seeds the server's action sampling (default: a random one)."""
        body = {} if seed is None else {"seed": int(seed)}
        return self._request("POST", f"/v1/policies/{policy_name}/sessions", json=body)

    def act(self, session_id: str, observations: np.ndarray, agent_ids: list[int] | None = None) -> dict:
        """Actions for a batch of agents' observations ``(agents, tokens, 3)`` uint8, in mettagrid's token
        format; ``{"actions": [int], "version", "latency_ms"}``. The server keeps each agent's recurrent
        state for the session, keyed by ``agent_ids`` (default ``0..agents-1``)."""
        array = np.ascontiguousarray(observations, dtype=np.uint8)
        if array.ndim != 3 or array.shape[-1] != 3:
            raise ValueError(f"observations: expected shape (agents, tokens, 3), got {array.shape}")
        body = {
            "observations": base64.b64encode(array.tobytes()).decode("ascii"),
            "shape": list(array.shape),
            "agent_ids": None if agent_ids is None else [int(a) for a in agent_ids],
        }
        return self._request("POST", f"/v1/sessions/{session_id}/act", json=body)

    def report_episode(self, session_id: str, reward: float, steps: int | None = None) -> dict:
        """Record an episode's reward for the session's version; the agents' state starts over."""
        return self._request(
            "POST", f"/v1/sessions/{session_id}/episode", json={"reward": float(reward), "steps": steps}
        )

    def close_session(self, session_id: str) -> None:
        self._request("DELETE", f"/v1/sessions/{session_id}")


def fetch_active_bundle(
    endpoint: str, auth_token: str | None, policy_name: str, dest_dir: str | Path
) -> tuple[str, Path] | None:
    """The version ``policy_name`` serves now and its bundle, downloaded (checked) into ``dest_dir``.

    None when the server has no active version of the policy (it was never deployed, or every version
    was rejected): the caller decides what "nothing deployed" means (promotion deploys the candidate
    first, a benchmark leaves the deployed policy out). The active version is read from ``/health``, which
    lists every policy's, so "unknown policy" is told apart from any failure; every failure raises
    :class:`PolicyServerError`. ``auth_token`` needs the ``read`` scope (any token has it).
    """
    with PolicyServerClient(endpoint, auth_token) as client:
        active = client.health().get("policies", {}).get(policy_name)
        if active is None:
            return None
        return active, client.download_bundle(policy_name, active, dest_dir)


def _raise_for_error(method: str, url: str, response: httpx.Response) -> None:
    """A :class:`PolicyServerError` with the status and the server's reason for an error answer."""
    if response.is_error:
        detail = _detail(response)
        raise PolicyServerError(
            f"{method} {url}: HTTP {response.status_code}: {_detail_text(detail)}",
            url=url,
            status_code=response.status_code,
            detail=detail,
        )


def _detail(response: httpx.Response) -> Any:
    """FastAPI's ``{"detail": ...}`` when the body is JSON, else the text of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text
    return body.get("detail", body) if isinstance(body, dict) else body


def _detail_text(detail: Any) -> str:
    """A one-line reason: validation reasons joined, FastAPI's field errors as ``loc: msg``."""
    if isinstance(detail, dict) and isinstance(detail.get("reasons"), list):
        return "; ".join(str(r) for r in detail["reasons"]) or str(detail)
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict) and "msg" in item:
                parts.append(f"{'.'.join(str(p) for p in item.get('loc', []))}: {item['msg']}")
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(detail)
