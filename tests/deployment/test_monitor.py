"""The health rules of ``daf_monitor_deployment``, each checked by its effect on constructed metrics.

The metrics are shaped as ``GET /v1/policies/{name}/metrics`` answers; the monitor against a real server
is in test_end_to_end.py.
"""

import json

import numpy as np
import pytest

from daf_core.config import DAFDeploymentConfig
from daf_core.deployment.monitor import HealthRules, assess_health


def rules(**fields) -> HealthRules:
    config = DAFDeploymentConfig(
        policy_name="walker",
        policy_class_path="lstm",
        deployment_endpoint="http://127.0.0.1:8000",
        version="0.1.0",
        **fields,
    )
    return HealthRules.from_config(config)


def version(requests=1000, errors=0, p99=20.0, rewards=()):
    rewards = [float(r) for r in rewards]
    return {
        "requests": requests,
        "errors": errors,
        "error_rate": errors / requests if requests else 0.0,
        "latency_ms": {"p50": p99 / 4, "p95": p99 / 2, "p99": p99} if requests else {},
        "episodes": len(rewards),
        "episode_rewards": rewards,
        "reward_mean": float(np.mean(rewards)) if rewards else None,
    }


def metrics(active=None, previous=None):
    versions = {}
    if previous is not None:
        versions["0.1.0"] = previous
    if active is not None:
        versions["0.2.0"] = active
    return {
        "policy_name": "walker",
        "active_version": "0.2.0" if active is not None else None,
        "previous_version": "0.1.0" if previous is not None else None,
        "versions": versions,
    }


GOOD = [1.0, 1.1, 0.9, 1.05, 0.95, 1.0, 1.02, 0.98]
WORSE = [0.5, 0.6, 0.4, 0.55, 0.45, 0.5, 0.52, 0.48]


def test_a_version_that_passes_every_rule_is_healthy_and_the_verdict_is_json():
    verdict = assess_health(metrics(version(rewards=GOOD), version(rewards=GOOD)), rules())
    assert verdict["status"] == "healthy"
    assert verdict["reasons"] == []
    assert {c["status"] for c in verdict["checks"].values()} == {"pass"}
    assert verdict["reward_drop"]["n_active"] == verdict["reward_drop"]["n_previous"] == len(GOOD)
    json.dumps(verdict, allow_nan=False)


def test_max_error_rate_degrades_a_version_whose_requests_fail_more_often():
    failing = metrics(version(requests=100, errors=3))
    verdict = assess_health(failing, rules(max_error_rate=0.01))
    assert verdict["status"] == "degraded"
    assert "error rate 0.0300 (3/100) exceeds max_error_rate 0.01" in verdict["reasons"][0]
    assert assess_health(failing, rules(max_error_rate=0.05))["status"] == "healthy"


def test_max_p99_latency_ms_degrades_a_slow_version():
    slow = metrics(version(p99=300.0))
    verdict = assess_health(slow, rules(max_p99_latency_ms=250))
    assert verdict["status"] == "degraded"
    assert "p99 act latency 300.0 ms exceeds max_p99_latency_ms 250" in verdict["reasons"][0]
    assert assess_health(slow, rules(max_p99_latency_ms=400))["status"] == "healthy"


def test_a_clear_reward_drop_against_the_previous_version_degrades():
    verdict = assess_health(metrics(version(rewards=WORSE), version(rewards=GOOD)), rules())
    assert verdict["status"] == "degraded"
    drop = verdict["reward_drop"]
    assert drop["diff"] == pytest.approx(np.mean(WORSE) - np.mean(GOOD))
    assert drop["ci"]["high"] < 0
    assert "mean reward of 0.2.0" in verdict["reasons"][0]


def test_max_reward_drop_tolerates_a_drop_smaller_than_it():
    drop_of_half = metrics(version(rewards=WORSE), version(rewards=GOOD))
    assert assess_health(drop_of_half, rules(max_reward_drop=0.3))["status"] == "degraded"
    assert assess_health(drop_of_half, rules(max_reward_drop=0.8))["status"] == "healthy"


def test_monitor_confidence_decides_whether_a_borderline_drop_counts():
    rng = np.random.default_rng(3)
    before = 1.0 + rng.normal(0, 0.5, 12)
    after = before - 0.35 + rng.normal(0, 0.1, 12)
    borderline = metrics(version(rewards=after), version(rewards=before))
    loose = assess_health(borderline, rules(monitor_confidence=0.8))
    strict = assess_health(borderline, rules(monitor_confidence=0.999))
    assert loose["status"] == "degraded"
    assert strict["status"] == "healthy"
    assert strict["reward_drop"]["ci"]["high"] > loose["reward_drop"]["ci"]["high"]


def test_min_monitor_episodes_holds_the_reward_rule_until_both_versions_have_enough():
    few = metrics(version(rewards=WORSE[:4]), version(rewards=GOOD))
    waiting = assess_health(few, rules(min_monitor_episodes=5))
    assert waiting["status"] == "insufficient_data"
    assert "4 episodes of 0.2.0 and 8 of 0.1.0" in waiting["reasons"][0]
    assert assess_health(few, rules(min_monitor_episodes=3))["status"] == "degraded"


def test_a_reward_drop_interval_needs_two_episodes_per_version():
    with pytest.raises(ValueError, match="min_monitor_episodes.*got 1"):
        rules(min_monitor_episodes=1)


def test_a_failing_rule_wins_over_missing_data():
    verdict = assess_health(
        metrics(version(requests=10, errors=5, rewards=[1.0]), version(rewards=GOOD)), rules()
    )
    assert verdict["status"] == "degraded"
    assert verdict["checks"]["reward_drop"]["status"] == "insufficient_data"


def test_a_first_version_is_judged_without_a_reward_comparison():
    verdict = assess_health(metrics(version(rewards=[1.0])), rules())
    assert verdict["status"] == "healthy"
    assert verdict["checks"]["reward_drop"]["status"] == "not_applicable"


def test_no_requests_or_no_active_version_is_insufficient_data_never_healthy():
    assert assess_health(metrics(version(requests=0)), rules())["status"] == "insufficient_data"
    assert assess_health(metrics(), rules())["status"] == "insufficient_data"


def test_constant_rewards_are_compared_exactly():
    zeros, ones = [0.0] * 6, [1.0] * 6
    assert (
        assess_health(metrics(version(rewards=zeros), version(rewards=ones)), rules())["status"] == "degraded"
    )
    assert (
        assess_health(metrics(version(rewards=ones), version(rewards=ones)), rules())["status"] == "healthy"
    )


@pytest.mark.parametrize(("confidence", "episodes"), [(0.9, 5), (0.95, 20)])
def test_equal_versions_are_flagged_at_most_one_minus_confidence_of_the_time(confidence, episodes):
    """A true null (both versions draw rewards from the same distribution) trips the one-sided reward rule
    in about 1 - monitor_confidence of checks, and not much less: the rule is neither trigger-happy nor
    blind."""
    rng = np.random.default_rng(episodes)
    health = rules(monitor_confidence=confidence, min_monitor_episodes=episodes)
    repetitions = 1500
    flagged = 0
    for _ in range(repetitions):
        a, b = rng.normal(1.0, 0.3, (2, episodes))
        flagged += (
            assess_health(metrics(version(rewards=a), version(rewards=b)), health)["status"] == "degraded"
        )
    rate = flagged / repetitions
    alpha = 1 - confidence
    margin = 3 * np.sqrt(alpha * confidence / repetitions)
    assert alpha - margin < rate < alpha + margin
