"""The version store: policies, immutable versions, the append-only history, tokens and episode reports.

Everything a restart must not lose is here, in one SQLAlchemy database: a SQLite file by default,
PostgreSQL when several server processes share one store. Bundles themselves are files in the server's
bundle directory; a version row names its file, so replicas over one database share that directory too.

Why activation is safe under concurrency: an activation or rollback reads the active version, appends
its event and moves the ``active`` row in one transaction that first takes the policy's lock (``SELECT
... FOR UPDATE`` on the policy row in PostgreSQL; SQLite's single writer, taken at ``BEGIN IMMEDIATE``).
So every event's ``previous_version`` is the version the event before it activated, and the active
version is always the last event's: one consistent history, however many requests race.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from daf_core._internal.database_urls import with_installed_driver

logger = logging.getLogger(__name__)

#: Version states: a ready version may be activated; a rejected one failed its checks and never can.
READY, REJECTED = "ready", "rejected"
#: History actions. ``upload``/``reject`` record arrivals; ``activate``/``rollback`` move the active version.
UPLOAD, REJECT, ACTIVATE, ROLLBACK = "upload", "reject", "activate", "rollback"
ACTIVATIONS = (ACTIVATE, ROLLBACK)

#: How long a SQLite writer waits for the lock before giving up (seconds).
_SQLITE_BUSY_TIMEOUT_S = 60


class StoreError(Exception):
    """Base of the store's refusals; the app turns each into an HTTP status."""


class UnknownError(StoreError, LookupError):
    """No such policy, version or token (404)."""


class ConflictError(StoreError, ValueError):
    """The request contradicts the store: a duplicate, a rejected version, nothing to roll back to (409)."""


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every moment stored here is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class _Base(DeclarativeBase):
    pass


class _Policy(_Base):
    __tablename__ = "policies"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class _Version(_Base):
    __tablename__ = "versions"
    __table_args__ = (UniqueConstraint("policy_name", "version", name="uq_versions_policy_version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    policy_name: Mapped[str] = mapped_column(ForeignKey("policies.name"), index=True)
    version: Mapped[str] = mapped_column(String(128))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(16))
    validation: Mapped[dict[str, Any]] = mapped_column(JSON)
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON)
    bundle_file: Mapped[str | None] = mapped_column(String(512), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class _Event(_Base):
    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    policy_name: Mapped[str] = mapped_column(ForeignKey("policies.name"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    version: Mapped[str] = mapped_column(String(128))
    previous_version: Mapped[str | None] = mapped_column(String(128), nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(256))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class _Active(_Base):
    __tablename__ = "active"
    policy_name: Mapped[str] = mapped_column(ForeignKey("policies.name"), primary_key=True)
    version: Mapped[str] = mapped_column(String(128))
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))


class _Token(_Base):
    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class _EpisodeReport(_Base):
    __tablename__ = "episode_reports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    policy_name: Mapped[str] = mapped_column(ForeignKey("policies.name"), index=True)
    version: Mapped[str] = mapped_column(String(128))
    session_id: Mapped[str] = mapped_column(String(64))
    reward: Mapped[float] = mapped_column(Float)
    steps: Mapped[int | None] = mapped_column(Integer, nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


@dataclass(frozen=True)
class VersionRecord:
    policy_name: str
    version: str
    sha256: str
    state: str
    validation: dict[str, Any]
    manifest: dict[str, Any]
    bundle_file: str | None
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """The API's VersionOut (the bundle's file name is the server's business, not the client's)."""
        return {
            "policy_name": self.policy_name,
            "version": self.version,
            "sha256": self.sha256,
            "state": self.state,
            "validation": self.validation,
            "manifest": self.manifest,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class EventRecord:
    event_id: int
    at: datetime
    action: str
    version: str
    previous_version: str | None
    reason: str
    actor: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "at": self.at.isoformat(),
            "action": self.action,
            "version": self.version,
            "previous_version": self.previous_version,
            "reason": self.reason,
            "actor": self.actor,
        }


@dataclass(frozen=True)
class TokenRecord:
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked: bool


def _version_record(row: _Version) -> VersionRecord:
    return VersionRecord(
        policy_name=row.policy_name,
        version=row.version,
        sha256=row.sha256,
        state=row.state,
        validation=row.validation,
        manifest=row.manifest,
        bundle_file=row.bundle_file,
        created_at=_utc(row.created_at),
    )


def _event_record(row: _Event) -> EventRecord:
    return EventRecord(
        event_id=row.id,
        at=_utc(row.at),
        action=row.action,
        version=row.version,
        previous_version=row.previous_version,
        reason=row.reason,
        actor=row.actor,
    )


def _token_record(row: _Token) -> TokenRecord:
    return TokenRecord(
        name=row.name, scopes=tuple(row.scopes.split()), created_at=_utc(row.created_at), revoked=row.revoked
    )


def make_engine(url: str, *, write: bool = True) -> Engine:
    """An engine for ``url``; SQLite files get WAL, a busy timeout and, for writing, locking transactions.

    Every SQLite write transaction starts with ``BEGIN IMMEDIATE``: it takes the database's write lock
    up front, so two activations cannot both read the same active version and then both write
    (pysqlite's default deferred BEGIN would let them, and one would fail late with "database is
    locked"). Read transactions (``write=False``) begin deferred: in WAL mode they read a consistent
    snapshot without waiting for writers, so checking a token never queues behind an upload.
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
        )

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_S * 1000}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    return create_engine(with_installed_driver(url), pool_pre_ping=True, pool_size=10, max_overflow=20)


#: The PostgreSQL advisory lock held while the tables are created (any constant; "DAF" in ASCII).
_SCHEMA_LOCK_KEY = 0x444146


def _create_tables(engine: Engine) -> None:
    """Create the missing tables in one transaction. On PostgreSQL it first takes an advisory lock:
    replicas starting together on an empty database would otherwise all see no table and all
    ``CREATE TABLE``, and all but one fail. (SQLite's write transaction, ``BEGIN IMMEDIATE``, already
    serialises them.)"""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
        _Base.metadata.create_all(connection)


class Store:
    """The server's database. Thread-safe: each call runs in its own transaction."""

    def __init__(self, url: str):
        self.url = url
        self._engine = make_engine(url)
        # PostgreSQL's reads never block on writers; SQLite's need a deferred BEGIN (see make_engine).
        self._read_engine = make_engine(url, write=False) if url.startswith("sqlite") else self._engine
        _create_tables(self._engine)
        self._writer = sessionmaker(self._engine, expire_on_commit=False)
        self._reader = sessionmaker(self._read_engine, expire_on_commit=False)

    def close(self) -> None:
        self._engine.dispose()
        self._read_engine.dispose()

    @contextmanager
    def _transaction(self, *, write: bool = False) -> Iterator[Session]:
        with (self._writer if write else self._reader).begin() as session:
            yield session

    def _insert_policy(self, session: Session, name: str) -> None:
        """Create the policy row unless it exists; concurrent first uploads must not collide."""
        insert = postgresql_insert if self._engine.dialect.name == "postgresql" else sqlite_insert
        session.execute(
            insert(_Policy)
            .values(name=name, created_at=_now())
            .on_conflict_do_nothing(index_elements=["name"])
        )

    def _lock_policy(self, session: Session, name: str) -> None:
        """Serialise activations of one policy (see the module docstring); 404 for an unknown policy."""
        found = session.execute(select(_Policy.name).where(_Policy.name == name).with_for_update()).first()
        if found is None:
            raise UnknownError(f"policy {name!r} is not known to this server")

    # -- policies and versions ------------------------------------------------------------------

    def policies(self) -> dict[str, str | None]:
        """Every policy and its active version (None before the first activation)."""
        with self._transaction() as session:
            rows = session.execute(
                select(_Policy.name, _Active.version)
                .outerjoin(_Active, _Active.policy_name == _Policy.name)
                .order_by(_Policy.name)
            ).all()
        return {name: version for name, version in rows}

    def has_policy(self, name: str) -> bool:
        with self._transaction() as session:
            return session.get(_Policy, name) is not None

    def version(self, policy_name: str, version: str) -> VersionRecord | None:
        with self._transaction() as session:
            row = session.execute(
                select(_Version).where(_Version.policy_name == policy_name, _Version.version == version)
            ).scalar_one_or_none()
            return None if row is None else _version_record(row)

    def versions(self, policy_name: str) -> list[VersionRecord]:
        """The policy's versions, oldest first."""
        with self._transaction() as session:
            rows = session.execute(
                select(_Version).where(_Version.policy_name == policy_name).order_by(_Version.id)
            ).scalars()
            return [_version_record(row) for row in rows]

    def validations_of(self, sha256: str) -> list[VersionRecord]:
        """Versions (of any policy) whose bundle has this digest: their validation may be reused."""
        with self._transaction() as session:
            rows = session.execute(select(_Version).where(_Version.sha256 == sha256).order_by(_Version.id))
            return [_version_record(row) for row in rows.scalars()]

    def add_version(
        self,
        *,
        policy_name: str,
        version: str,
        sha256: str,
        state: str,
        validation: dict[str, Any],
        manifest: dict[str, Any],
        bundle_file: str | None,
        actor: str,
        reason: str,
    ) -> VersionRecord:
        """Record a new immutable version and its ``upload`` (ready) or ``reject`` (rejected) event."""
        if state not in (READY, REJECTED):
            raise ValueError(f"state: expected {READY!r} or {REJECTED!r}, got {state!r}")
        try:
            with self._transaction(write=True) as session:
                self._insert_policy(session, policy_name)
                row = _Version(
                    policy_name=policy_name,
                    version=version,
                    sha256=sha256,
                    state=state,
                    validation=validation,
                    manifest=manifest,
                    bundle_file=bundle_file,
                    created_at=_now(),
                )
                session.add(row)
                session.flush()
                session.add(
                    _Event(
                        policy_name=policy_name,
                        action=UPLOAD if state == READY else REJECT,
                        version=version,
                        previous_version=None,
                        reason=reason,
                        actor=actor,
                        at=_now(),
                    )
                )
                record = _version_record(row)
        except IntegrityError:
            if self.version(policy_name, version) is not None:
                raise ConflictError(f"policy {policy_name!r} already has version {version!r}") from None
            raise
        return record

    # -- activation ------------------------------------------------------------------------------

    def active(self, policy_name: str) -> str | None:
        with self._transaction() as session:
            row = session.get(_Active, policy_name)
            return None if row is None else row.version

    def previous_active(self, policy_name: str) -> str | None:
        """The version that was active before the current one: the current activation's previous_version."""
        with self._transaction() as session:
            row = session.get(_Active, policy_name)
            if row is None:
                return None
            return session.get(_Event, row.event_id).previous_version

    def activate(
        self, policy_name: str, version: str | None, *, actor: str, reason: str, action: str = ACTIVATE
    ) -> EventRecord:
        """Make ``version`` active and append the event, atomically; ``version=None`` with
        ``action="rollback"`` means the version that was active before the current one."""
        if action not in ACTIVATIONS:
            raise ValueError(f"action: expected one of {ACTIVATIONS}, got {action!r}")
        with self._transaction(write=True) as session:
            self._lock_policy(session, policy_name)
            active = session.get(_Active, policy_name)
            current = None if active is None else active.version
            if version is None:
                if action != ROLLBACK:
                    raise ValueError("version: only a rollback may leave the version to the history")
                previous = None if active is None else session.get(_Event, active.event_id).previous_version
                if previous is None:
                    raise ConflictError(
                        f"policy {policy_name!r}: no version was active before {current!r} to roll back to"
                        if current is not None
                        else f"policy {policy_name!r} has never been activated, nothing to roll back to"
                    )
                version = previous
            target = session.execute(
                select(_Version).where(_Version.policy_name == policy_name, _Version.version == version)
            ).scalar_one_or_none()
            if target is None:
                raise UnknownError(f"policy {policy_name!r} has no version {version!r}")
            if target.state != READY:
                raise ConflictError(
                    f"policy {policy_name!r} version {version!r} is {target.state} and cannot be activated"
                )
            row = _Event(
                policy_name=policy_name,
                action=action,
                version=version,
                previous_version=current,
                reason=reason,
                actor=actor,
                at=_now(),
            )
            session.add(row)
            session.flush()
            if active is None:
                session.add(_Active(policy_name=policy_name, version=version, event_id=row.id))
            else:
                active.version, active.event_id = version, row.id
            record = _event_record(row)
        logger.info("%s %s: %s -> %s by %s (%s)", action, policy_name, current, version, actor, reason)
        return record

    def history(self, policy_name: str) -> list[EventRecord]:
        """Every event of the policy, oldest first."""
        with self._transaction() as session:
            rows = session.execute(
                select(_Event).where(_Event.policy_name == policy_name).order_by(_Event.id)
            ).scalars()
            return [_event_record(row) for row in rows]

    # -- tokens ------------------------------------------------------------------------------------

    def add_token(self, name: str, token_hash: str, scopes: list[str]) -> TokenRecord:
        try:
            with self._transaction(write=True) as session:
                row = _Token(name=name, token_hash=token_hash, scopes=" ".join(scopes), created_at=_now())
                session.add(row)
                session.flush()
                return _token_record(row)
        except IntegrityError:
            raise ConflictError(f"a token named {name!r} exists already") from None

    def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        with self._transaction() as session:
            row = session.execute(select(_Token).where(_Token.token_hash == token_hash)).scalar_one_or_none()
            return None if row is None else _token_record(row)

    def revoke_token(self, name: str) -> TokenRecord:
        with self._transaction(write=True) as session:
            row = session.execute(select(_Token).where(_Token.name == name)).scalar_one_or_none()
            if row is None:
                raise UnknownError(f"no token named {name!r}")
            row.revoked = True
            return _token_record(row)

    def tokens(self) -> list[TokenRecord]:
        with self._transaction() as session:
            return [
                _token_record(row) for row in session.execute(select(_Token).order_by(_Token.id)).scalars()
            ]

    # -- episode reports -----------------------------------------------------------------------------

    def add_episode(
        self, policy_name: str, version: str, session_id: str, reward: float, steps: int | None
    ) -> None:
        with self._transaction(write=True) as session:
            session.add(
                _EpisodeReport(
                    policy_name=policy_name,
                    version=version,
                    session_id=session_id,
                    reward=reward,
                    steps=steps,
                    at=_now(),
                )
            )

    def episode_rewards(self, policy_name: str) -> dict[str, list[float]]:
        """Reported episode rewards per version, in the order they were reported."""
        with self._transaction() as session:
            rows = session.execute(
                select(_EpisodeReport.version, _EpisodeReport.reward)
                .where(_EpisodeReport.policy_name == policy_name)
                .order_by(_EpisodeReport.id)
            ).all()
        rewards: dict[str, list[float]] = {}
        for version, reward in rows:
            rewards.setdefault(version, []).append(float(reward))
        return rewards
