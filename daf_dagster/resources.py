"""The resources DAF's assets run on, chosen per deployment in one place (:func:`resources_for`).

Where results go never depends on the working directory a run starts in: ``dagster job execute`` from
the repository, the webserver started elsewhere and a run container all write to the same roots, from
the environment (``DAF_OUTPUT_ROOT``, ``DAF_CHECKPOINT_ROOT``) or, unset, ``<repository>/daf_output``.
A relative path in any of them is taken from the repository root.

The policy server's endpoint and token come from ``DAF_POLICY_SERVER_URL`` and
``DAF_POLICY_SERVER_TOKEN``, read when a client is made: the token is never part of the run config
the UI shows, and one given in Python is left out of the resource's repr.
"""

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import dagster as dg
from pydantic import Field

from daf_core.config import DAFConfig, DAFDeploymentConfig

if TYPE_CHECKING:
    from daf_core.deployment import HealthRules, PolicyServerClient

logger = logging.getLogger(__name__)

#: The repository this package sits in: the anchor of every relative path.
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT_DIR = "daf_output"
OUTPUT_ROOT_ENV = "DAF_OUTPUT_ROOT"
CHECKPOINT_ROOT_ENV = "DAF_CHECKPOINT_ROOT"
CONFIG_ENV = "DAF_CONFIG"
DEPLOYMENT_ENV = "DAF_DEPLOYMENT"
POLICY_SERVER_URL_ENV = "DAF_POLICY_SERVER_URL"
POLICY_SERVER_TOKEN_ENV = "DAF_POLICY_SERVER_TOKEN"
POLICY_NAME_ENV = "DAF_POLICY_NAME"
SWEEP_STORAGE_ENV = "DAF_SWEEP_STORAGE"
DEFAULT_POLICY_SERVER_URL = "http://127.0.0.1:8000"
DEFAULT_POLICY_NAME = "daf_policy"
#: Where the docker deployment's ``daf_output`` volume is mounted (docker/docker-compose.yaml).
DOCKER_OUTPUT_ROOT = "/opt/daf/daf_output"
TRAINING_RUN_PREFIX = "training_run:"
_DEPLOYMENT_DEFAULTS = DAFDeploymentConfig.model_fields
Deployment = Literal["local", "docker"]
DEPLOYMENTS: tuple[Deployment, ...] = ("local", "docker")


def absolute(path: str | Path) -> Path:
    """``path`` with ``~`` expanded, made absolute against the repository root (never the cwd)."""
    expanded = Path(path).expanduser()
    return expanded if expanded.is_absolute() else REPO_ROOT / expanded


def default_output_root() -> Path:
    """``$DAF_OUTPUT_ROOT``, else ``<repository>/daf_output``."""
    return absolute(os.environ.get(OUTPUT_ROOT_ENV) or DEFAULT_OUTPUT_DIR)


def _under(root: Path, parts: tuple[str, ...], field: str) -> Path:
    """``root/parts...``, refusing parts that would leave ``root``; its parent directories created."""
    for part in parts:
        if not part or Path(part).is_absolute() or ".." in Path(part).parts:
            raise ValueError(f"{field}: {part!r} is not a relative path inside {root}")
    path = root.joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


class DAFResource(dg.ConfigurableResource):
    """DAF's global settings (:class:`DAFConfig`) and the two roots every result lives under."""

    output_root: str | None = Field(
        default=None,
        description=f"Results root; None: ${OUTPUT_ROOT_ENV}, else <repository>/{DEFAULT_OUTPUT_DIR}.",
    )
    checkpoint_root: str | None = Field(
        default=None,
        description=f"Training runs root; None: ${CHECKPOINT_ROOT_ENV}, else <output_root>/checkpoints.",
    )
    config_path: str | None = Field(
        default=None,
        description=f"A DAFConfig YAML/JSON file; None: ${CONFIG_ENV} if set, else DAFConfig's defaults.",
    )
    sweep_storage: str | None = Field(
        default=None,
        description=f"Optuna database URL of sweeps whose config names none (a shared PostgreSQL lets "
        f"workers on several machines share a study); None: ${SWEEP_STORAGE_ENV}, else each sweep's "
        "own SQLite file.",
    )

    def output_dir(self) -> Path:
        """The absolute results root."""
        return absolute(self.output_root) if self.output_root else default_output_root()

    def checkpoint_dir(self) -> Path:
        """The absolute root of training runs (one directory per run name)."""
        if self.checkpoint_root:
            return absolute(self.checkpoint_root)
        from_env = os.environ.get(CHECKPOINT_ROOT_ENV)
        return absolute(from_env) if from_env else self.output_dir() / "checkpoints"

    def sweep_storage_url(self) -> str | None:
        """The shared sweep storage: the field, else ``$DAF_SWEEP_STORAGE``; None: per-sweep SQLite."""
        return self.sweep_storage or os.environ.get(SWEEP_STORAGE_ENV) or None

    def daf_config(self) -> DAFConfig:
        """The configured DAFConfig, its output and checkpoint directories replaced by the two roots."""
        path = self.config_path or os.environ.get(CONFIG_ENV)
        config = DAFConfig.from_file(absolute(path)) if path else DAFConfig()
        return config.model_copy(
            update={"output_dir": self.output_dir(), "checkpoint_dir": self.checkpoint_dir()}
        )

    def output_path(self, *parts: str) -> Path:
        """An absolute path under the results root (its parent directories created)."""
        return _under(self.output_dir(), parts, "output_path")

    def checkpoint_path(self, *parts: str) -> Path:
        """An absolute path under the training runs root (its parent directories created)."""
        return _under(self.checkpoint_dir(), parts, "checkpoint_path")

    def resolve_policy(self, ref: str) -> str:
        """``training_run:<name>`` -> that run's directory; any other policy reference as it is.

        A training run that does not exist is a FileNotFoundError naming the run, not a policy that
        fails to load later.
        """
        if not ref.startswith(TRAINING_RUN_PREFIX):
            return ref
        name = ref.removeprefix(TRAINING_RUN_PREFIX)
        run_dir = self.checkpoint_path(name)
        if not run_dir.is_dir():
            raise FileNotFoundError(
                f"policy {ref!r}: no training run {name!r} in {self.checkpoint_dir()} "
                f"(materialize training_checkpoints partition {name!r} first)"
            )
        return str(run_dir)


class PolicyServerResource(dg.ConfigurableResource):
    """A client of a DAF policy server (``daf serve``); the token is never logged or shown."""

    endpoint: str | None = Field(
        default=None,
        description=f"Server URL; None: ${POLICY_SERVER_URL_ENV}, else {DEFAULT_POLICY_SERVER_URL}.",
    )
    token: str | None = Field(
        default=None,
        repr=False,
        description=f"Bearer token; None: ${POLICY_SERVER_TOKEN_ENV} (set it as an env var, never inline).",
    )
    policy: str | None = Field(
        default=None,
        description=f"The served policy that promotion deploys to and the automation watches; None: "
        f"${POLICY_NAME_ENV}, else {DEFAULT_POLICY_NAME}.",
    )
    # The health rules the deployment health sensor judges the served version by (daf_monitor_deployment),
    # with DAFDeploymentConfig's defaults and bounds.
    max_error_rate: float = Field(
        default=_DEPLOYMENT_DEFAULTS["max_error_rate"].default,
        ge=0.0,
        le=1.0,
        description="Degraded when the share of the served version's act requests that failed exceeds it.",
    )
    max_p99_latency_ms: float = Field(
        default=_DEPLOYMENT_DEFAULTS["max_p99_latency_ms"].default,
        gt=0.0,
        description="Degraded when the served version's p99 act latency exceeds it.",
    )
    max_reward_drop: float = Field(
        default=_DEPLOYMENT_DEFAULTS["max_reward_drop"].default,
        ge=0.0,
        description="Degraded when the mean episode reward is below the previous version's by more than "
        "this, with confidence monitor_confidence.",
    )
    min_monitor_episodes: int = Field(
        default=_DEPLOYMENT_DEFAULTS["min_monitor_episodes"].default,
        ge=2,
        description="Episodes each version needs before the reward rule judges it.",
    )
    monitor_confidence: float = Field(
        default=_DEPLOYMENT_DEFAULTS["monitor_confidence"].default,
        gt=0.5,
        lt=1.0,
        description="Confidence level of the reward-drop interval.",
    )

    def server_url(self) -> str:
        return self.endpoint or os.environ.get(POLICY_SERVER_URL_ENV) or DEFAULT_POLICY_SERVER_URL

    def policy_name(self) -> str:
        return self.policy or os.environ.get(POLICY_NAME_ENV) or DEFAULT_POLICY_NAME

    def auth_token(self) -> str | None:
        """The bearer token: the field, else ``$DAF_POLICY_SERVER_TOKEN``, read only when a call needs it."""
        return self.token or os.environ.get(POLICY_SERVER_TOKEN_ENV)

    def client(self) -> "PolicyServerClient":
        """A new client (use it as a context manager)."""
        from daf_core.deployment import PolicyServerClient  # noqa: PLC0415 - httpx, only when used

        return PolicyServerClient(self.server_url(), self.auth_token())

    def health_rules(self) -> "HealthRules":
        """The resource's health rules, as ``daf_monitor_deployment`` takes them."""
        from daf_core.deployment import HealthRules  # noqa: PLC0415 - numpy, only when used

        return HealthRules(
            max_error_rate=self.max_error_rate,
            max_p99_latency_ms=self.max_p99_latency_ms,
            max_reward_drop=self.max_reward_drop,
            min_monitor_episodes=self.min_monitor_episodes,
            monitor_confidence=self.monitor_confidence,
        )


def resources_for(deployment: str | None = None) -> dict[str, dg.ConfigurableResource]:
    """The resources of one deployment: ``local`` (default; ``$DAF_DEPLOYMENT`` overrides) or ``docker``.

    Keys: ``daf``, ``policy_server``, ``parquet_io_manager``. ``docker`` writes to the compose file's
    ``daf_output`` volume; ``local`` to the environment's roots or the repository's ``daf_output``.
    """
    from daf_dagster.io_managers import ParquetIOManager  # noqa: PLC0415 - io_managers imports this module

    name = deployment or os.environ.get(DEPLOYMENT_ENV) or "local"
    if name not in DEPLOYMENTS:
        raise ValueError(f"deployment: expected one of {', '.join(DEPLOYMENTS)}, got {name!r}")
    output_root = DOCKER_OUTPUT_ROOT if name == "docker" else None
    return {
        "daf": DAFResource(output_root=output_root),
        "policy_server": PolicyServerResource(),
        "parquet_io_manager": ParquetIOManager(
            base_dir=str(Path(output_root) / "dagster_io") if output_root else None
        ),
    }
