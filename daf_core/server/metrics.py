"""Per-version health: act requests, errors, latency and episode rewards, for people and for monitors.

Two views of the same counts. ``/metrics`` is Prometheus' text exposition (prometheus-client, one
registry per app so several apps in one process never mix counts); ``/v1/policies/{name}/metrics`` is
JSON with latency percentiles, which ``daf_monitor_deployment`` reads. Request counts and latencies are
this process's (they restart at zero); episode rewards come from the database, so they survive restarts.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

#: Latest act latencies kept per version for the JSON percentiles.
LATENCY_WINDOW = 10_000
#: Histogram buckets of act latency, in seconds (the tournament's budget is 0.25 s).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
#: Histogram buckets of reported episode rewards.
REWARD_BUCKETS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0)


@dataclass
class _VersionCounts:
    requests: int = 0
    errors: int = 0
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))


class ServerMetrics:
    """Counts of one server process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ("policy", "version")
        self._requests = Counter(
            "daf_act_requests", "Act requests answered or failed", labels, registry=self.registry
        )
        self._errors = Counter(
            "daf_act_errors", "Act requests that returned no actions", labels, registry=self.registry
        )
        self._latency = Histogram(
            "daf_act_latency_seconds",
            "Server-side time of an act request",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._rewards = Histogram(
            "daf_episode_reward",
            "Episode rewards reported by clients",
            labels,
            buckets=REWARD_BUCKETS,
            registry=self.registry,
        )
        self._sessions = Counter(
            "daf_sessions_created", "Play sessions created", labels, registry=self.registry
        )
        self._counts: dict[tuple[str, str], _VersionCounts] = {}
        self._lock = threading.Lock()

    def _version(self, policy: str, version: str) -> _VersionCounts:
        with self._lock:
            return self._counts.setdefault((policy, version), _VersionCounts())

    def session_created(self, policy: str, version: str) -> None:
        self._sessions.labels(policy, version).inc()

    def act(self, policy: str, version: str, seconds: float, ok: bool) -> None:
        """One act request: its latency counts whether it succeeded or not."""
        counts = self._version(policy, version)
        with self._lock:
            counts.requests += 1
            counts.errors += 0 if ok else 1
            counts.latencies_ms.append(seconds * 1000.0)
        self._requests.labels(policy, version).inc()
        self._latency.labels(policy, version).observe(seconds)
        if not ok:
            self._errors.labels(policy, version).inc()

    def episode(self, policy: str, version: str, reward: float) -> None:
        self._rewards.labels(policy, version).observe(reward)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def version_summary(self, policy: str, version: str, rewards: list[float]) -> dict[str, object]:
        """The JSON metrics of one version; percentiles are None before its first request."""
        counts = self._version(policy, version)
        with self._lock:
            requests, errors = counts.requests, counts.errors
            latencies = np.array(counts.latencies_ms, dtype=float)
        if latencies.size:
            p50, p95, p99 = (float(v) for v in np.percentile(latencies, [50, 95, 99]))
        else:
            p50 = p95 = p99 = None
        return {
            "requests": requests,
            "errors": errors,
            "error_rate": errors / requests if requests else 0.0,
            "latency_ms": {"p50": p50, "p95": p95, "p99": p99},
            "episodes": len(rewards),
            "episode_rewards": rewards,
            "reward_mean": float(np.mean(rewards)) if rewards else None,
        }
