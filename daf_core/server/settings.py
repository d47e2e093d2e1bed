"""``ServerSettings``: everything ``daf serve`` is told, in one validated model.

The command line (:mod:`daf_core.cli`) builds it from flags; tests build it the same way through the
command. Like every DAF config it refuses unknown keys and raises ``ValueError`` naming the field and the
value, so a typo in a flag's value never starts a server that does something else than asked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

from daf_core.config.base import (
    ConfigPath,
    DAFConfigBase,
    HttpUrlStr,
    Integer,
    NonEmptyStr,
    Number,
    PositiveInt,
)
from daf_core.config.deployment import TOURNAMENT_ACTION_BUDGET_MS, VALIDATION_FIELDS, DAFDeploymentConfig

MiB = 1 << 20

#: The policies a server loads by default: mettagrid's own classes, whose code ships with mettagrid.
DEFAULT_ALLOWED_CLASS_PATHS = (
    "mettagrid.policy.lstm.LSTMPolicy",
    "mettagrid.policy.stateless.StatelessPolicy",
    "mettagrid.policy.random_agent.RandomMultiAgentPolicy",
    "mettagrid.policy.noop.NoopPolicy",
)

_DATABASE_SCHEMES = ("sqlite", "postgresql")


def _database_url(value: str) -> str:
    """Only the two stores the server is tested against; ``postgres://`` is a common slip for them."""
    scheme = urlsplit(value).scheme.split("+", 1)[0]
    if scheme not in _DATABASE_SCHEMES:
        raise ValueError(
            "expected a SQLAlchemy URL starting with sqlite:/// or postgresql:// "
            "(e.g. 'postgresql+psycopg2://user@host:5432/db')"
        )
    return value


def _class_path(value: str) -> str:
    """A full ``module.Class`` path: an allowlist of shorthands would depend on what is registered."""
    module, _, name = value.rpartition(".")
    if not module or not name.isidentifier() or not all(part.isidentifier() for part in module.split(".")):
        raise ValueError("expected a full class path 'package.module.Class'")
    return value


DatabaseUrl = Annotated[str, AfterValidator(_database_url)]
ClassPath = Annotated[str, AfterValidator(_class_path)]
Port = Annotated[Integer, Field(ge=0, le=65535)]
PositiveNumber = Annotated[Number, Field(gt=0.0)]


#: The settings a server takes from a DAFDeploymentConfig, under the same names in both.
DEPLOYMENT_CONFIG_FIELDS = ("authentication_server", *VALIDATION_FIELDS)


class ServerSettings(DAFConfigBase):
    """How a policy server stores, checks and serves bundles."""

    #: Bundles live in ``<store_dir>/bundles``; the default SQLite database is ``<store_dir>/server.db``.
    store_dir: ConfigPath = Path("daf_output/server")
    #: SQLAlchemy URL of the version store; None means the SQLite file in ``store_dir``.
    database_url: DatabaseUrl | None = None
    host: NonEmptyStr = "127.0.0.1"
    #: 0 lets the operating system choose a free port (the chosen one is logged).
    port: Port = 8765
    #: The only policy classes the server will build; code shipped inside a bundle is never imported.
    allowed_class_paths: list[ClassPath] = Field(default_factory=lambda: list(DEFAULT_ALLOWED_CLASS_PATHS))
    #: Larger uploads are refused with 413 while streaming, before they are stored anywhere.
    max_upload_bytes: PositiveInt = 64 * MiB
    #: Zip entries a bundle may hold (bombs by entry count).
    max_archive_entries: PositiveInt = 256
    #: Total uncompressed size of a bundle's entries (bombs by size).
    max_uncompressed_bytes: PositiveInt = 512 * MiB
    #: Largest uncompressed/compressed ratio of any entry (bombs by ratio).
    max_compression_ratio: PositiveNumber = 200.0
    #: RFC 7662 token introspection endpoint asked about bearer tokens this server does not know.
    authentication_server: HttpUrlStr | None = None
    #: Play sessions held at once; creating one more is refused with 429 until one is closed.
    max_sessions: PositiveInt = 256

    # Validation of every upload, in a fresh interpreter (see daf_core.deployment.validation).
    validation_missions: list[NonEmptyStr] = Field(default_factory=lambda: ["tiny_walk"], min_length=1)
    validation_episodes: PositiveInt = 2
    validation_max_steps: PositiveInt | None = None
    min_mean_reward: Number | None = None
    max_action_ms: PositiveNumber = TOURNAMENT_ACTION_BUDGET_MS
    validation_timeout_s: PositiveNumber = 600.0
    validation_memory_mb: PositiveInt = 8192

    @classmethod
    def from_deployment_config(cls, config: DAFDeploymentConfig, **fields: object) -> ServerSettings:
        """The server a deployment config describes: its ``authentication_server``, and the validation
        gate its bundles pass before they leave (so an upload meets the same gate on arrival). ``fields``
        (the command line's flags) win; an empty ``validation_missions`` keeps the server's default."""
        taken = {name: getattr(config, name) for name in DEPLOYMENT_CONFIG_FIELDS}
        if not config.validation_missions:
            del taken["validation_missions"]
        return cls(**{**taken, **fields})

    @property
    def bundle_dir(self) -> Path:
        return self.store_dir / "bundles"

    @property
    def incoming_dir(self) -> Path:
        """Where uploads stream while they are checked; each request's directory goes when it ends."""
        return self.store_dir / "incoming"

    @property
    def resolved_database_url(self) -> str:
        """The URL the store connects to: the given one, or the SQLite file inside ``store_dir``."""
        if self.database_url is not None:
            return self.database_url
        return f"sqlite:///{(self.store_dir / 'server.db').resolve()}"

    def validation_kwargs(self) -> dict[str, object]:
        """Keyword arguments of ``validate_bundle`` for this server's validation settings."""
        return {
            "missions": list(self.validation_missions),
            "episodes": self.validation_episodes,
            "max_steps": self.validation_max_steps,
            "min_mean_reward": self.min_mean_reward,
            "max_action_ms": self.max_action_ms,
            "timeout_s": self.validation_timeout_s,
            "memory_mb": self.validation_memory_mb,
        }
