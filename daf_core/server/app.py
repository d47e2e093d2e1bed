"""``create_app(settings)``: the policy server's HTTP API on FastAPI.

Admins upload bundles (each a new immutable version, checked and validated on arrival), activate
versions and roll back; players open sessions bound to the active version and send observations to
``act``; anyone with a token reads versions, history and metrics, and downloads a stored version's
bundle (its bytes as uploaded, with their recorded SHA-256 in a header). See the README's "Policy server"
section for the endpoints; ``/openapi.json`` and ``/docs`` describe them in full.

Hostile input never reaches the store: an upload streams into a temporary directory under
``<store_dir>/incoming`` (at most ``max_upload_bytes``, 413 beyond) that is removed when the request
ends, and only a bundle that passed every check is copied into the bundle directory and recorded.
Request bodies of the other endpoints are capped too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import importlib.metadata
import json
import logging
import math
import secrets
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import Body, Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from daf_core.config.base import SemVerStr
from daf_core.deployment.archive_safety import ArchiveLimits, UnsafeArchiveError, check_archive
from daf_core.deployment.client import BUNDLE_SHA256_HEADER
from daf_core.deployment.manifest import verify_bundle
from daf_core.server.auth import Authenticator, Principal, require
from daf_core.server.metrics import ServerMetrics
from daf_core.server.policies import PolicyCache, PolicyLoadError, allowed_classes, load_policy
from daf_core.server.settings import ServerSettings
from daf_core.server.store import READY, REJECTED, ROLLBACK, ConflictError, Store, UnknownError, VersionRecord

logger = logging.getLogger(__name__)

#: Bodies of the JSON endpoints (an act request for 24 agents of 200 tokens is about 20 KB).
MAX_JSON_BODY_BYTES = 1 << 20
#: Chunk size of an upload's stream to its temporary file.
_UPLOAD_CHUNK = 1 << 16
_UPLOAD_TYPES = ("application/zip", "application/octet-stream")
_UPLOAD_PATH_SUFFIX = "/versions"
_semver = TypeAdapter(SemVerStr)
#: Validation episodes are seeded, so a bundle's report depends only on its bytes and the settings.
VALIDATION_SEED = 0

PolicyName = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", max_length=128)]


# -- request and response bodies ----------------------------------------------------------------------


class VersionOut(BaseModel):
    policy_name: str
    version: str
    sha256: str
    state: str
    validation: dict[str, Any]
    manifest: dict[str, Any]
    created_at: str


class PolicyOut(BaseModel):
    policy_name: str
    active_version: str | None
    versions: list[VersionOut]


class ActivateIn(BaseModel):
    version: str = Field(min_length=1, max_length=128)
    reason: str = Field(default="", max_length=2000)


class RollbackIn(BaseModel):
    #: None: the version that was active before the current one.
    to_version: str | None = Field(default=None, min_length=1, max_length=128)
    reason: str = Field(default="", max_length=2000)


class ActivationOut(BaseModel):
    policy_name: str
    active_version: str
    previous_version: str | None
    event_id: int


class EventOut(BaseModel):
    event_id: int
    at: str
    action: str
    version: str
    previous_version: str | None
    reason: str
    actor: str


class SessionIn(BaseModel):
    #: Seeds the session's action sampling (the same seed and observations give the same actions).
    seed: int | None = Field(default=None, ge=0, lt=2**63)


class SessionOut(BaseModel):
    session_id: str
    version: str
    seed: int
    policy_env_interface: dict[str, Any]


class ActIn(BaseModel):
    #: Base64 of a C-contiguous uint8 array of ``shape``: mettagrid's observation tokens.
    observations: str = Field(max_length=MAX_JSON_BODY_BYTES)
    shape: list[int] = Field(min_length=3, max_length=3)
    #: The agent of each row; None means rows 0..n-1.
    agent_ids: list[int] | None = None


class ActOut(BaseModel):
    actions: list[int]
    version: str
    latency_ms: float


class EpisodeIn(BaseModel):
    reward: float
    steps: int | None = Field(default=None, ge=0)


# -- request size limits ------------------------------------------------------------------------------


class BodySizeLimit:
    """Refuse a request body past its limit while it streams: never read an unbounded body.

    A declared ``Content-Length`` over the limit is answered 413 before a byte is read; a body sent
    without one (chunked) is counted as it arrives and the request fails with 413 at the first byte
    past the limit. Uploads get ``max_upload_bytes``, every other endpoint ``MAX_JSON_BODY_BYTES``.
    """

    def __init__(self, app: ASGIApp, max_upload_bytes: int):
        self.app = app
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = scope["method"] == "POST" and scope["path"].endswith(_UPLOAD_PATH_SUFFIX)
        limit = self.max_upload_bytes if upload else MAX_JSON_BODY_BYTES
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            response = JSONResponse(
                {"detail": f"request body of {declared.decode(errors='replace')} bytes is over {limit}"},
                status_code=413,
            )
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise StarletteHTTPException(413, f"request body exceeds {limit} bytes")
            return message

        await self.app(scope, limited_receive, send)


# -- uploads ------------------------------------------------------------------------------------------


class _KeyedLocks:
    """One lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    def hold(self, key: str) -> _Held:
        return _Held(self, key)

    def _acquire(self, key: str) -> None:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        lock.acquire()

    def _release(self, key: str) -> None:
        with self._guard:
            lock, users = self._locks[key]
            lock.release()
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


@dataclass
class _Held:
    locks: _KeyedLocks
    key: str

    def __enter__(self) -> None:
        self.locks._acquire(self.key)

    def __exit__(self, *exc: object) -> None:
        self.locks._release(self.key)


class Uploader:
    """Checks an uploaded bundle in the contract's order and records it as a version."""

    def __init__(self, settings: ServerSettings, store: Store):
        self.settings = settings
        self.store = store
        self.limits = ArchiveLimits(
            max_entries=settings.max_archive_entries,
            max_uncompressed_bytes=settings.max_uncompressed_bytes,
            max_ratio=settings.max_compression_ratio,
        )
        # The settings a validation ran with, as its report records them: a bundle with the same bytes
        # and the same settings has the same report (validation is seeded), so re-uploads reuse a pass.
        self.validation_settings = json.loads(
            json.dumps({**settings.validation_kwargs(), "seed": VALIDATION_SEED})
        )
        self._by_digest = _KeyedLocks()

    def accept(
        self, policy_name: str, bundle: Path, sha256: str, version: str | None, actor: str, reason: str
    ) -> VersionRecord:
        try:
            check_archive(bundle, self.limits)
        except UnsafeArchiveError as err:
            raise HTTPException(400, str(err)) from None
        try:
            manifest = verify_bundle(bundle, limits=self.limits)
        except (ValueError, FileNotFoundError) as err:
            raise HTTPException(400, f"manifest: {err}") from None
        try:
            load_policy(bundle, tuple(self.settings.allowed_class_paths))
        except PolicyLoadError as err:
            raise HTTPException(400, str(err)) from None
        version = version if version is not None else manifest.version
        try:
            version = _semver.validate_python(version)
        except ValidationError:
            raise HTTPException(400, f"version: {version!r} is not a semantic version") from None
        if self.store.version(policy_name, version) is not None:
            raise ConflictError(f"policy {policy_name!r} already has version {version!r}")
        with self._by_digest.hold(sha256):
            validation = self._validation(bundle, sha256)
            manifest_json = manifest.model_dump(mode="json")
            if not validation["passed"]:
                record = self.store.add_version(
                    policy_name=policy_name,
                    version=version,
                    sha256=sha256,
                    state=REJECTED,
                    validation=validation,
                    manifest=manifest_json,
                    bundle_file=None,
                    actor=actor,
                    reason="; ".join(validation["reasons"]) or "validation failed",
                )
                raise HTTPException(
                    422,
                    {
                        "message": f"validation failed: {'; '.join(validation['reasons'])}",
                        "reasons": validation["reasons"],
                        "version": record.to_dict(),
                    },
                )
            return self._keep(policy_name, version, bundle, sha256, validation, manifest_json, actor, reason)

    def _validation(self, bundle: Path, sha256: str) -> dict[str, Any]:
        for earlier in self.store.validations_of(sha256):
            # Only a pass is reused: a failure may have been the machine's (a timeout under load).
            if earlier.state == READY and earlier.validation.get("settings") == self.validation_settings:
                logger.info(
                    "bundle %s was validated as %s %s; reusing its report",
                    sha256[:12],
                    earlier.policy_name,
                    earlier.version,
                )
                reused = {key: value for key, value in earlier.validation.items() if key != "reused_from"}
                return {**reused, "reused_from": f"{earlier.policy_name}:{earlier.version}"}
        from daf_core.deployment.validation import validate_bundle  # noqa: PLC0415 - runs a subprocess

        report = validate_bundle(
            bundle, **self.settings.validation_kwargs(), seed=VALIDATION_SEED, limits=self.limits
        )
        return report.to_dict()

    def _keep(
        self,
        policy_name: str,
        version: str,
        bundle: Path,
        sha256: str,
        validation: dict[str, Any],
        manifest: dict[str, Any],
        actor: str,
        reason: str,
    ) -> VersionRecord:
        """Copy the bundle into the store (a unique name, renamed into place), then record the version."""
        relative = f"{policy_name}/{version}-{uuid.uuid4().hex[:12]}.zip"
        target = self.settings.bundle_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.tmp")
        shutil.copyfile(bundle, staging)
        staging.replace(target)
        try:
            return self.store.add_version(
                policy_name=policy_name,
                version=version,
                sha256=sha256,
                state=READY,
                validation=validation,
                manifest=manifest,
                bundle_file=relative,
                actor=actor,
                reason=reason or "upload",
            )
        except BaseException:
            target.unlink(missing_ok=True)
            if not any(target.parent.iterdir()):
                target.parent.rmdir()
            raise


async def _receive_upload(request: Request, path: Path) -> str:
    """Stream the body into ``path`` (the size limit is :class:`BodySizeLimit`'s); its SHA-256."""
    digest = hashlib.sha256()
    with open(path, "wb") as sink:
        async for chunk in request.stream():
            digest.update(chunk)
            sink.write(chunk)
    return digest.hexdigest()


# -- sessions -----------------------------------------------------------------------------------------


@dataclass
class PlaySession:
    session_id: str
    policy_name: str
    version: str
    owner: str
    player: Any
    lock: threading.Lock = field(default_factory=threading.Lock)


class SessionTable:
    """The sessions of this process (a replica behind a load balancer needs sticky sessions)."""

    def __init__(self, max_sessions: int):
        self.max_sessions = max_sessions
        self._sessions: dict[str, PlaySession] = {}
        self._lock = threading.Lock()

    def add(self, session: PlaySession) -> None:
        with self._lock:
            if len(self._sessions) >= self.max_sessions:
                raise HTTPException(
                    429, f"max_sessions={self.max_sessions} sessions are open; close one first"
                )
            self._sessions[session.session_id] = session

    def get(self, session_id: str, principal: Principal) -> PlaySession:
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None:
            raise HTTPException(404, f"no session {session_id!r}")
        if session.owner != principal.name:
            raise HTTPException(403, f"session {session_id!r} belongs to another token")
        return session

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def remove(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)


def _decode_observations(
    body: ActIn, num_agents: int, observation_shape: tuple[int, ...]
) -> tuple[np.ndarray, list[int]]:
    """The observation array and its agents; ValueError naming the field otherwise."""
    rows, tokens, token_dim = body.shape
    if rows < 1 or (tokens, token_dim) != tuple(observation_shape):
        raise ValueError(
            f"shape: expected [agents, {observation_shape[0]}, {observation_shape[1]}] with agents >= 1, "
            f"got {body.shape}"
        )
    agent_ids = list(range(rows)) if body.agent_ids is None else body.agent_ids
    if (
        len(agent_ids) != rows
        or len(set(agent_ids)) != rows
        or not all(0 <= a < num_agents for a in agent_ids)
    ):
        raise ValueError(
            f"agent_ids: expected {rows} distinct ids in [0, {num_agents}), got {body.agent_ids}"
        )
    try:
        raw = base64.b64decode(body.observations, validate=True)
    except (binascii.Error, ValueError) as err:
        raise ValueError(f"observations: not base64 ({err})") from None
    if len(raw) != rows * tokens * token_dim:
        raise ValueError(
            f"observations: {len(raw)} bytes, expected {rows * tokens * token_dim} for shape {body.shape}"
        )
    return np.frombuffer(raw, dtype=np.uint8).reshape(rows, tokens, token_dim), agent_ids


# -- the app ------------------------------------------------------------------------------------------


def _daf_version() -> str:
    try:
        return importlib.metadata.version("daf")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def _check_validation_missions(missions: list[str]) -> None:
    """A misspelt validation mission would reject every upload; refuse it at start-up instead."""
    from daf_core.missions import load_mission  # noqa: PLC0415 - loads mettagrid, as the app does anyway

    for mission in missions:
        try:
            load_mission(mission)
        except (ValueError, FileNotFoundError) as err:
            raise ValueError(f"validation_missions: {err}") from None


def create_app(settings: ServerSettings) -> FastAPI:
    """The server for ``settings``: opens (or creates) the store and imports the allowed classes now."""
    settings.bundle_dir.mkdir(parents=True, exist_ok=True)
    settings.incoming_dir.mkdir(parents=True, exist_ok=True)
    allowed = tuple(settings.allowed_class_paths)
    allowed_classes(allowed)  # here, in the main thread, and a bad allowlist fails the start
    _check_validation_missions(settings.validation_missions)
    store = Store(settings.resolved_database_url)
    authenticator = Authenticator(store, settings.authentication_server)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        authenticator.close()
        store.close()

    app = FastAPI(
        title="DAF policy server",
        version=_daf_version(),
        description="Versioned, validated policy bundles over HTTP: upload, activate, roll back, play.",
        lifespan=lifespan,
    )
    app.add_middleware(BodySizeLimit, max_upload_bytes=settings.max_upload_bytes)
    app.state.settings = settings
    app.state.store = store
    app.state.authenticator = authenticator
    metrics = app.state.metrics = ServerMetrics()
    cache = PolicyCache(allowed)
    sessions = SessionTable(settings.max_sessions)
    uploader = Uploader(settings, store)

    @app.exception_handler(UnknownError)
    async def _unknown(_request: Request, err: UnknownError) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=404)

    @app.exception_handler(ConflictError)
    async def _conflict(_request: Request, err: ConflictError) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=409)

    def known_policy(policy_name: str) -> None:
        if not store.has_policy(policy_name):
            raise UnknownError(f"policy {policy_name!r} is not known to this server")

    admin = Depends(require("admin"))
    act = Depends(require("act"))
    read = Depends(require("read"))

    @app.get("/health", tags=["health"])
    def health() -> dict[str, Any]:
        """Liveness, each policy's active version and the number of open play sessions."""
        return {"status": "ok", "policies": store.policies(), "sessions": len(sessions)}

    @app.get("/metrics", tags=["health"], response_class=Response)
    def prometheus_metrics() -> Response:
        """Prometheus text exposition: act requests, errors, latency and episode rewards per version."""
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.post(
        "/v1/policies/{policy_name}/versions",
        status_code=201,
        response_model=VersionOut,
        tags=["versions"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
        responses={400: {}, 409: {}, 413: {}, 415: {}, 422: {}},
    )
    async def upload_version(
        policy_name: PolicyName,
        request: Request,
        version: Annotated[
            str | None, Query(max_length=128, description="defaults to the manifest's")
        ] = None,
        reason: Annotated[str, Query(max_length=2000)] = "",
        principal: Principal = admin,
    ) -> JSONResponse:
        """Upload a bundle (the raw zip as the body): a new immutable version, validated on arrival."""
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in _UPLOAD_TYPES:
            raise HTTPException(
                415, f"Content-Type: expected application/zip, got {content_type or 'none'!r}"
            )
        with tempfile.TemporaryDirectory(prefix="upload-", dir=settings.incoming_dir) as incoming:
            bundle = Path(incoming) / "bundle.zip"
            sha256 = await _receive_upload(request, bundle)
            record = await run_in_threadpool(
                uploader.accept, policy_name, bundle, sha256, version, principal.name, reason
            )
        logger.info("%s uploaded %s %s (%s)", principal.name, policy_name, record.version, sha256[:12])
        return JSONResponse(record.to_dict(), status_code=201)

    @app.get("/v1/policies/{policy_name}/versions", response_model=list[VersionOut], tags=["versions"])
    def list_versions(policy_name: PolicyName, _principal: Principal = read) -> list[dict[str, Any]]:
        known_policy(policy_name)
        return [record.to_dict() for record in store.versions(policy_name)]

    @app.get("/v1/policies/{policy_name}", response_model=PolicyOut, tags=["versions"])
    def get_policy(policy_name: PolicyName, _principal: Principal = read) -> dict[str, Any]:
        known_policy(policy_name)
        return {
            "policy_name": policy_name,
            "active_version": store.active(policy_name),
            "versions": [record.to_dict() for record in store.versions(policy_name)],
        }

    @app.get(
        "/v1/policies/{policy_name}/versions/{version}/bundle",
        response_class=FileResponse,
        tags=["versions"],
        responses={
            200: {
                "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
                "headers": {BUNDLE_SHA256_HEADER: {"schema": {"type": "string"}}},
            },
            404: {},
        },
    )
    def download_bundle(
        policy_name: PolicyName,
        version: Annotated[str, PathParam(max_length=128)],
        _principal: Principal = read,
    ) -> FileResponse:
        """The version's bundle, the zip's bytes as they were uploaded, and their recorded SHA-256 in
        the ``X-DAF-Bundle-SHA256`` header, so a client can check what it received (automation
        benchmarks the served version against a candidate from exactly these bytes)."""
        known_policy(policy_name)
        record = store.version(policy_name, version)
        if record is None:
            raise UnknownError(f"policy {policy_name!r} has no version {version!r}")
        if record.bundle_file is None:
            raise UnknownError(
                f"{policy_name} {version} was {record.state}: the bundle of a version that failed "
                "validation is not kept"
            )
        path = settings.bundle_dir / record.bundle_file
        if not path.is_file():
            # The store and the bundle directory disagree (a bundle deleted by hand): the server's fault.
            logger.error("%s %s: bundle file %s is missing", policy_name, version, path)
            raise HTTPException(500, f"{policy_name} {version}: the stored bundle file is missing")
        return FileResponse(
            path,
            media_type="application/zip",
            filename=f"{policy_name}-{version}.zip",
            headers={BUNDLE_SHA256_HEADER: record.sha256},
        )

    def activation(policy_name: str, event: Any) -> dict[str, Any]:
        return {
            "policy_name": policy_name,
            "active_version": event.version,
            "previous_version": event.previous_version,
            "event_id": event.event_id,
        }

    @app.post("/v1/policies/{policy_name}/activate", response_model=ActivationOut, tags=["versions"])
    def activate(policy_name: PolicyName, body: ActivateIn, principal: Principal = admin) -> dict[str, Any]:
        """Make a ready version the one new sessions play (atomically, with a history event)."""
        event = store.activate(policy_name, body.version, actor=principal.name, reason=body.reason)
        return activation(policy_name, event)

    @app.post("/v1/policies/{policy_name}/rollback", response_model=ActivationOut, tags=["versions"])
    def rollback(policy_name: PolicyName, body: RollbackIn, principal: Principal = admin) -> dict[str, Any]:
        """Activate ``to_version``, or (null) the version that was active before the current one."""
        event = store.activate(
            policy_name, body.to_version, actor=principal.name, reason=body.reason, action=ROLLBACK
        )
        return activation(policy_name, event)

    @app.get("/v1/policies/{policy_name}/history", response_model=list[EventOut], tags=["versions"])
    def history(policy_name: PolicyName, _principal: Principal = read) -> list[dict[str, Any]]:
        """Every upload, rejection, activation and rollback, oldest first, with reason and actor."""
        known_policy(policy_name)
        return [event.to_dict() for event in store.history(policy_name)]

    @app.get("/v1/policies/{policy_name}/metrics", tags=["health"])
    def policy_metrics(policy_name: PolicyName, _principal: Principal = read) -> dict[str, Any]:
        """Per version: act requests, errors, latency percentiles (this process) and episode rewards."""
        known_policy(policy_name)
        rewards = store.episode_rewards(policy_name)
        return {
            "policy_name": policy_name,
            "active_version": store.active(policy_name),
            "previous_version": store.previous_active(policy_name),
            "versions": {
                record.version: metrics.version_summary(
                    policy_name, record.version, rewards.get(record.version, [])
                )
                for record in store.versions(policy_name)
                if record.state == READY
            },
        }

    @app.post(
        "/v1/policies/{policy_name}/sessions", status_code=201, response_model=SessionOut, tags=["play"]
    )
    def create_session(
        policy_name: PolicyName, body: Annotated[SessionIn | None, Body()] = None, principal: Principal = act
    ) -> dict[str, Any]:
        """A play session bound to the version active now; its agents' recurrent state lives here."""
        known_policy(policy_name)
        version = store.active(policy_name)
        if version is None:
            raise ConflictError(f"policy {policy_name!r} has no active version")
        record = store.version(policy_name, version)
        loaded = cache.get(policy_name, version, settings.bundle_dir / record.bundle_file)
        seed = body.seed if body is not None and body.seed is not None else secrets.randbits(63)
        session = PlaySession(uuid.uuid4().hex, policy_name, version, principal.name, loaded.new_player(seed))
        sessions.add(session)
        metrics.session_created(policy_name, version)
        return {
            "session_id": session.session_id,
            "version": version,
            "seed": seed,
            "policy_env_interface": loaded.env_interface.model_dump(mode="json"),
        }

    @app.post("/v1/sessions/{session_id}/act", response_model=ActOut, tags=["play"])
    async def act_endpoint(session_id: str, body: ActIn, principal: Principal = act) -> dict[str, Any]:
        """Actions for a batch of agents' observations; each agent's recurrent state carries over."""
        session = sessions.get(session_id, principal)
        started = time.perf_counter()
        ok = False
        try:
            with session.lock:
                player = session.player
                try:
                    observations, agent_ids = _decode_observations(
                        body, player.num_agents, player.observation_shape
                    )
                    actions = player.act(observations, agent_ids)
                except ValueError as err:
                    raise HTTPException(400, str(err)) from None
            ok = True
        finally:
            seconds = time.perf_counter() - started
            metrics.act(session.policy_name, session.version, seconds, ok)
        return {"actions": actions, "version": session.version, "latency_ms": seconds * 1000.0}

    @app.post("/v1/sessions/{session_id}/episode", tags=["play"])
    def report_episode(session_id: str, body: EpisodeIn, principal: Principal = act) -> dict[str, bool]:
        """The episode's reward counts for the session's version; its agents start the next one afresh."""
        if not math.isfinite(body.reward):
            raise HTTPException(400, f"reward: expected a finite number, got {body.reward}")
        session = sessions.get(session_id, principal)
        store.add_episode(session.policy_name, session.version, session_id, body.reward, body.steps)
        metrics.episode(session.policy_name, session.version, body.reward)
        with session.lock:
            session.player.reset()
        return {"recorded": True}

    @app.delete("/v1/sessions/{session_id}", status_code=204, tags=["play"])
    def close_session(session_id: str, principal: Principal = act) -> Response:
        sessions.get(session_id, principal)
        sessions.remove(session_id)
        return Response(status_code=204)

    return app


__all__ = ["MAX_JSON_BODY_BYTES", "create_app"]
