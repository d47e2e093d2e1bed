"""Is the deployed version healthy? The config's health rules applied to the server's metrics.

:func:`assess_health` is a pure function over the JSON of ``GET /v1/policies/{name}/metrics``, so each
rule can be checked on constructed metrics; :func:`daf_monitor_deployment` fetches the metrics and
applies it. The rules (fields of :class:`~daf_core.config.DAFDeploymentConfig`):

* ``max_error_rate`` - degraded when the share of the active version's act requests that failed exceeds it;
* ``max_p99_latency_ms`` - degraded when the active version's p99 act latency exceeds it;
* ``max_reward_drop`` with ``monitor_confidence`` - degraded when the active version's mean episode reward
  is below the previous version's by more than ``max_reward_drop`` *with confidence*: the one-sided
  upper confidence bound (Welch's t, level ``monitor_confidence``) of mean(active) - mean(previous) is
  below ``-max_reward_drop``. One-sided because only a drop triggers a rollback: when the versions are
  equally good the rule fires in about ``1 - monitor_confidence`` of checks or less (simulated with normal
  rewards, 1500 checks each: 0.088 at 0.9 and 0.039 at 0.95 with 5 episodes per version, 0.093 and 0.047
  with 20; less for a positive ``max_reward_drop``);
* ``min_monitor_episodes`` - the reward rule judges only when both versions have this many reported episodes.

The verdict: ``degraded`` when any rule that could be judged fails; ``insufficient_data`` when none failed
but some rule lacked the data to judge (no requests yet, too few episodes); ``healthy`` when every rule
that applies was judged and passed. The reward rule does not apply when there is no previous version.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from daf_core.config import DAFDeploymentConfig
from daf_core.deployment.client import DEFAULT_TIMEOUT_S, PolicyServerClient

logger = logging.getLogger(__name__)

HEALTH_FIELDS = (
    "max_error_rate",
    "max_p99_latency_ms",
    "max_reward_drop",
    "min_monitor_episodes",
    "monitor_confidence",
)


@dataclass(frozen=True)
class HealthRules:
    """The health rules of a :class:`DAFDeploymentConfig`; the defaults are the config's."""

    max_error_rate: float
    max_p99_latency_ms: float
    max_reward_drop: float
    min_monitor_episodes: int
    monitor_confidence: float

    def __post_init__(self) -> None:
        if self.min_monitor_episodes < 2:
            raise ValueError(
                f"min_monitor_episodes: the reward-drop interval needs at least 2 episodes per version "
                f"(a variance), got {self.min_monitor_episodes}"
            )

    @classmethod
    def from_config(cls, config: DAFDeploymentConfig | None) -> HealthRules:
        if config is None:
            fields = DAFDeploymentConfig.model_fields
            return cls(**{name: fields[name].default for name in HEALTH_FIELDS})
        return cls(**{name: getattr(config, name) for name in HEALTH_FIELDS})


def reward_drop_bound(active: np.ndarray, previous: np.ndarray, confidence: float) -> float:
    """The one-sided upper ``confidence`` bound of mean(active) - mean(previous) (Welch's t interval).

    When both samples are constant the difference is known exactly and is its own bound (the t interval
    would be 0/0).
    """
    diff = float(np.mean(active) - np.mean(previous))
    if np.ptp(active) == 0 and np.ptp(previous) == 0:
        return diff
    import scipy.stats  # noqa: PLC0415 - 1-2 s; the face (imported by every server start) stays light

    result = scipy.stats.ttest_ind(active, previous, equal_var=False, alternative="less")
    return float(result.confidence_interval(confidence_level=confidence).high)


def _check(status: str, value: Any, limit: Any, reason: str | None = None) -> dict[str, Any]:
    return {"status": status, "value": value, "limit": limit, "reason": reason}


def assess_health(metrics: Mapping[str, Any], rules: HealthRules) -> dict[str, Any]:
    """The verdict on the active version from the server's metrics JSON (see the module docstring).

    Returns ``{"status", "reasons", "active_version", "previous_version", "checks": {rule: {...}},
    "reward_drop": {...} | None, "metrics": metrics}``; every number is a plain float (JSON-safe).
    """
    active = metrics.get("active_version")
    previous = metrics.get("previous_version")
    versions = metrics.get("versions") or {}
    result: dict[str, Any] = {
        "active_version": active,
        "previous_version": previous,
        "rules": asdict(rules),
        "metrics": dict(metrics),
        "reward_drop": None,
    }
    if active is None:
        return result | {"status": "insufficient_data", "reasons": ["no version is active"], "checks": {}}
    served = versions.get(active) or {}
    checks: dict[str, dict[str, Any]] = {}

    # Errors and latency: the active version's act requests in this server process.
    requests = int(served.get("requests") or 0)
    if requests == 0:
        checks["error_rate"] = _check("insufficient_data", None, rules.max_error_rate, "no act requests yet")
        checks["p99_latency_ms"] = _check(
            "insufficient_data", None, rules.max_p99_latency_ms, "no act requests yet"
        )
    else:
        errors = int(served.get("errors") or 0)
        rate = float(served.get("error_rate", errors / requests))
        failed = rate > rules.max_error_rate
        checks["error_rate"] = _check(
            "fail" if failed else "pass",
            rate,
            rules.max_error_rate,
            f"error rate {rate:.4f} ({errors}/{requests}) exceeds max_error_rate {rules.max_error_rate}"
            if failed
            else None,
        )
        p99 = (served.get("latency_ms") or {}).get("p99")
        if p99 is None:
            checks["p99_latency_ms"] = _check(
                "insufficient_data", None, rules.max_p99_latency_ms, "no latency recorded"
            )
        else:
            slow = float(p99) > rules.max_p99_latency_ms
            checks["p99_latency_ms"] = _check(
                "fail" if slow else "pass",
                float(p99),
                rules.max_p99_latency_ms,
                f"p99 act latency {float(p99):.1f} ms exceeds max_p99_latency_ms {rules.max_p99_latency_ms}"
                if slow
                else None,
            )

    # Reward: the active version against the previous one, from the episodes clients reported.
    if previous is None:
        checks["reward_drop"] = _check(
            "not_applicable", None, rules.max_reward_drop, "no previous version to compare with"
        )
    else:
        now = np.asarray((served.get("episode_rewards") or []), dtype=float)
        before = np.asarray(((versions.get(previous) or {}).get("episode_rewards") or []), dtype=float)
        if min(len(now), len(before)) < rules.min_monitor_episodes:
            checks["reward_drop"] = _check(
                "insufficient_data",
                None,
                rules.max_reward_drop,
                f"{len(now)} episodes of {active} and {len(before)} of {previous} reported; "
                f"min_monitor_episodes is {rules.min_monitor_episodes}",
            )
        else:
            diff = float(now.mean() - before.mean())
            high = reward_drop_bound(now, before, rules.monitor_confidence)
            dropped = high < -rules.max_reward_drop
            result["reward_drop"] = {
                "diff": diff,
                "ci": {"low": None, "high": high, "confidence": rules.monitor_confidence, "sided": "upper"},
                "n_active": len(now),
                "n_previous": len(before),
                "mean_active": float(now.mean()),
                "mean_previous": float(before.mean()),
            }
            checks["reward_drop"] = _check(
                "fail" if dropped else "pass",
                diff,
                rules.max_reward_drop,
                f"mean reward of {active} is {diff:+.4g} against {previous}; its upper "
                f"{rules.monitor_confidence:.0%} bound {high:+.4g} is below -max_reward_drop "
                f"({-rules.max_reward_drop:+.4g})"
                if dropped
                else None,
            )

    failed = [c["reason"] for c in checks.values() if c["status"] == "fail"]
    lacking = [c["reason"] for c in checks.values() if c["status"] == "insufficient_data"]
    status = "degraded" if failed else "insufficient_data" if lacking else "healthy"
    return result | {"status": status, "reasons": failed or lacking, "checks": checks}


def daf_monitor_deployment(
    deployment_id: str,
    endpoint: str,
    auth_token: str | None = None,
    *,
    config: DAFDeploymentConfig | HealthRules | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> dict[str, Any]:
    """Fetch the deployed policy's metrics from the server and judge them by the config's health rules
    (a :class:`DAFDeploymentConfig`'s, the rules themselves, or None: the defaults).

    ``deployment_id`` is the policy name on the server (what :func:`daf_deploy_policy` returns). The
    dict is :func:`assess_health`'s. A server that cannot be read raises
    :class:`~daf_core.deployment.client.PolicyServerError` (a ``RuntimeError``): no answer is never
    reported as a verdict.
    """
    rules = config if isinstance(config, HealthRules) else HealthRules.from_config(config)
    with PolicyServerClient(endpoint, auth_token, timeout=timeout) as client:
        metrics = client.metrics(deployment_id)
    verdict = assess_health(metrics, rules)
    logger.info("Deployment %r version %s: %s", deployment_id, verdict["active_version"], verdict["status"])
    return verdict


__all__ = ["HealthRules", "assess_health", "daf_monitor_deployment", "reward_drop_bound"]
