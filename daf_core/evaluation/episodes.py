"""Running a batch of episodes and turning each into a record.

Neural policies run in lockstep through the batched rollout, mettagrid's ``random`` and ``noop`` through
the scripted rollout (the simulator stepped directly, the same draws as their per-agent policies), every
other policy through mettagrid's own rollout loop (``single_episode_rollout``, the loop
``cogames.evaluate`` uses). Either way episode ``k`` is seeded with its own seed before it starts, so a
record never depends on which batch or worker ran it.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from mettagrid.policy.loader import initialize_or_load_policy
from mettagrid.policy.policy import MultiAgentPolicy
from mettagrid.policy.policy_env_interface import PolicyEnvInterface
from mettagrid.runner.rollout import resolve_env_for_seed, single_episode_rollout

from daf_core._internal.seeding import seed_everything
from daf_core.evaluation.batched_rollout import batchable_network, run_batched_episodes
from daf_core.evaluation.planning import EpisodeBatch
from daf_core.evaluation.scripted_rollout import is_scripted, run_scripted_episode
from daf_core.evaluation.subjects import policy_class

#: Per-step action budget for offline evaluation; over-budget steps become no-ops (the tournament uses 250).
DEFAULT_ACTION_TIMEOUT_MS = 10_000


@dataclass
class BatchOutcome:
    records: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


def build_policy(batch: EpisodeBatch) -> MultiAgentPolicy:
    """Load the batch's policy with every generator seeded from ``batch.construction_seed``.

    The class is imported first, so that torch (which an untrained network draws its weights from) is
    imported before it is seeded: the same arm is then the same network in every batch and worker.
    """
    policy_class(batch.policy.spec.class_path, batch.policy.name)
    seed_everything(batch.construction_seed)
    return initialize_or_load_policy(
        PolicyEnvInterface.from_mg_cfg(batch.mission.env_cfg), batch.policy.spec, device_override=batch.device
    )


def run_batch(batch: EpisodeBatch, on_episode: Callable[[int], None] | None = None) -> BatchOutcome:
    """Load the policy once, then run each seed's episode; an exception stops the batch and is returned.

    Neural policies run all the batch's episodes in lockstep (:mod:`~daf_core.evaluation.batched_rollout`)
    unless ``batch.batch_networks`` is off; mettagrid's ``random`` and ``noop`` run the scripted rollout
    unless ``batch.fast_paths`` is off; everything else runs mettagrid's per-agent rollout loop.
    """
    outcome = BatchOutcome()
    seed = batch.seeds[0]
    try:
        env_cfg = batch.mission.env_cfg
        policy = build_policy(batch)
        if batch.batch_networks and batchable_network(policy) is not None:
            started = time.perf_counter()
            results = run_batched_episodes(policy, env_cfg, list(batch.seeds), batch.device)
            per_episode = (time.perf_counter() - started) / len(results)
            for offset, (seed, result) in enumerate(zip(batch.seeds, results, strict=True)):
                outcome.records.append(
                    episode_record(batch, batch.first_episode + offset, seed, result, per_episode)
                )
            if on_episode is not None:
                on_episode(len(results))
            return outcome
        run_episode = _run_scripted_episode if batch.fast_paths and is_scripted(policy) else _run_one_episode
        for offset, seed in enumerate(batch.seeds):
            started = time.perf_counter()
            result = run_episode(policy, batch, seed)
            outcome.records.append(
                episode_record(
                    batch, batch.first_episode + offset, seed, result, time.perf_counter() - started
                )
            )
            if on_episode is not None:
                on_episode(1)
    except Exception:  # noqa: BLE001 - reported to the caller with the policy, mission and seed
        outcome.error = (
            f"policy {batch.policy.name!r} on mission {batch.mission.name!r}, seed {seed}: "
            f"{traceback.format_exc(limit=-3)}"
        )
    return outcome


def _run_one_episode(policy: Any, batch: EpisodeBatch, seed: int) -> Any:
    """mettagrid's own rollout loop (the one ``cogames.evaluate`` runs), with every generator seeded."""
    seed_everything(seed)
    env_cfg = batch.mission.env_cfg
    result, _ = single_episode_rollout(
        [policy],
        [0] * env_cfg.game.num_agents,
        resolve_env_for_seed(env_cfg, seed),
        seed=seed,
        max_action_time_ms=batch.action_timeout_ms,
        render_mode="none",
        autostart=False,
        capture_replay=False,
        policy_names=[batch.policy.name],
    )
    return result


def _run_scripted_episode(policy: Any, batch: EpisodeBatch, seed: int) -> Any:
    """:func:`_run_one_episode` for mettagrid's ``random`` / ``noop``, without per-agent objects."""
    seed_everything(seed)
    return run_scripted_episode(policy, batch.mission.env_cfg, seed)


def episode_record(
    batch: EpisodeBatch, episode: int, seed: int, result: Any, wall_time_s: float
) -> dict[str, Any]:
    """One row of the records (see :mod:`daf_core.records`) from mettagrid's episode result."""
    agent_rewards = [float(r) for r in result.rewards]
    record: dict[str, Any] = {
        "policy": batch.policy.name,
        "mission": batch.mission.name,
        "episode": episode,
        "seed": seed,
        "reward": float(sum(agent_rewards)),
        "reward_per_agent": float(np.mean(agent_rewards)) if agent_rewards else 0.0,
        "agent_rewards": agent_rewards,
        "num_agents": len(agent_rewards),
        "steps": int(result.steps),
        "max_steps": int(batch.mission.env_cfg.game.max_steps),
        "action_timeouts": int(sum(result.action_timeouts)),
        "wall_time_s": wall_time_s,
    }
    for key, value in sorted((result.stats.get("game") or {}).items()):
        record[f"game/{key}"] = float(value)
    agent_stats: dict[str, list[float]] = {}
    for stats in result.stats.get("agent") or []:
        for key, value in stats.items():
            agent_stats.setdefault(key, []).append(float(value))
    for key, values in sorted(agent_stats.items()):
        # An agent without a stat never incremented it: it counts as 0 in the per-agent mean.
        record[f"agent/{key}"] = float(sum(values) / len(agent_rewards)) if agent_rewards else 0.0
    return record
