"""``DAFDeploymentConfig``: where and how a trained policy is deployed, what it must pass first, and when
a deployed version counts as degraded.

The validation fields are the gate a bundle passes before it may serve (see
:mod:`daf_core.deployment.validation`); the health fields are the rules of
:func:`daf_core.deployment.daf_monitor_deployment`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from daf_core.config.base import (
    ConfigPath,
    DAFConfigBase,
    HttpUrlStr,
    NonEmptyStr,
    Number,
    PositiveInt,
    SemVerStr,
)

#: The tournament's per-action budget: a slower action becomes a no-op there.
TOURNAMENT_ACTION_BUDGET_MS = 250.0

#: The fields of the validation gate, by the same names wherever a validation is configured (the local
#: one of daf_core.deployment.validation, the policy server's ServerSettings).
VALIDATION_FIELDS = (
    "validation_missions",
    "validation_episodes",
    "validation_max_steps",
    "min_mean_reward",
    "max_action_ms",
    "validation_timeout_s",
    "validation_memory_mb",
)

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
PositiveNumber = Annotated[Number, Field(gt=0.0)]


class DAFDeploymentConfig(DAFConfigBase):
    """Where and how a trained policy is deployed, and what it must pass first."""

    policy_name: NonEmptyStr
    policy_class_path: NonEmptyStr
    weights_path: ConfigPath | None = None
    deployment_endpoint: HttpUrlStr
    authentication_server: HttpUrlStr | None = None
    validation_missions: list[NonEmptyStr] = Field(default_factory=list)
    version: SemVerStr
    enable_rollback: bool = True

    #: Where the deployment goes: a DAF policy server (``daf serve``) or cogames' tournament server.
    target: Literal["daf_server", "cogames_tournament"] = "daf_server"
    #: Show what would be sent and send nothing (the result's status is then "dry_run", never "success").
    dry_run: bool = False

    # Validation in isolation (a fresh interpreter that sees only the bundle).
    #: Episodes per validation mission.
    validation_episodes: PositiveInt = 2
    #: Caps each validation episode's length; None keeps the mission's own.
    validation_max_steps: PositiveInt | None = None
    #: The bundle fails when its mean episode reward over the validation episodes is below this.
    min_mean_reward: Number | None = None
    #: The bundle fails when its slowest action takes longer than this (the tournament's budget).
    max_action_ms: PositiveNumber = TOURNAMENT_ACTION_BUDGET_MS
    #: Wall-clock limit of the whole validation; the bundle fails when it is exceeded.
    validation_timeout_s: PositiveNumber = 600.0
    #: Address-space limit of the validating interpreter, in MiB.
    validation_memory_mb: PositiveInt = 8192

    # Health rules of daf_monitor_deployment.
    #: Degraded when the share of act requests that failed exceeds this.
    max_error_rate: Fraction = 0.01
    #: Degraded when the p99 act latency exceeds this.
    max_p99_latency_ms: PositiveNumber = TOURNAMENT_ACTION_BUDGET_MS
    #: Degraded when the active version's mean reward is below the previous version's by more than this,
    #: with confidence: the upper bound of the difference's interval is below ``-max_reward_drop``.
    max_reward_drop: Annotated[Number, Field(ge=0.0)] = 0.0
    #: Episodes each version needs before the reward rule judges it.
    min_monitor_episodes: PositiveInt = 5
    #: Confidence level of the reward-drop interval.
    monitor_confidence: Annotated[Number, Field(gt=0.5, lt=1.0)] = 0.95
