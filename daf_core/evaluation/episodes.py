"""Running a batch of episodes and turning each into a record.

Self-play neural policies run in lockstep through the batched rollout, lineups with neural members
(beside ``random`` / ``noop``) through the lineup rollout, mettagrid's ``random`` and ``noop`` (alone
or in lineups of the two) through the scripted rollout (the simulator stepped directly,
the same draws as their per-agent policies), every other policy and lineup through mettagrid's own
rollout loop (``single_episode_rollout``, the loop ``cogames.evaluate`` uses; a lineup's policy
objects go in as one :class:`SeatedPolicies`, so its agents are stepped in agent order). Either way
episode ``k`` is seeded with its own seed before it starts, and its seats follow from its seed, so a
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
from mettagrid.policy.policy import AgentPolicy, MultiAgentPolicy
from mettagrid.policy.policy_env_interface import PolicyEnvInterface
from mettagrid.runner.rollout import resolve_env_for_seed, single_episode_rollout

from daf_core._internal.seeding import seed_everything
from daf_core.evaluation.batched_rollout import run_batched_episodes
from daf_core.evaluation.lineup_rollout import run_lineup_episodes, runs_in_lockstep
from daf_core.evaluation.planning import EpisodeBatch
from daf_core.evaluation.scripted_rollout import is_scripted, run_scripted_episode, run_scripted_lineup
from daf_core.evaluation.subjects import PolicyUnderTest, policy_class

#: Per-step action budget for offline evaluation; over-budget steps become no-ops (the tournament uses 250).
DEFAULT_ACTION_TIMEOUT_MS = 10_000


@dataclass
class BatchOutcome:
    records: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


def build_policy(policy: PolicyUnderTest, batch: EpisodeBatch) -> MultiAgentPolicy:
    """Load ``policy`` with every generator seeded from ``batch.construction_seed``.

    The class is imported first, so that torch (which an untrained network draws its weights from) is
    imported before it is seeded. Each policy of a lineup is built the same way, each after its own
    seeding: the same policy is then the same network in every batch, worker, run and lineup.
    """
    policy_class(policy.spec.class_path, policy.name)
    seed_everything(batch.construction_seed)
    return initialize_or_load_policy(
        PolicyEnvInterface.from_mg_cfg(batch.mission.env_cfg), policy.spec, device_override=batch.device
    )


def run_batch(batch: EpisodeBatch, on_episode: Callable[[int], None] | None = None) -> BatchOutcome:
    """Load the policies once, then run each seed's episode; an exception stops the batch and is returned.

    Self-play neural policies, and lineups of networks beside ``random`` / ``noop``, run all the batch's
    episodes in lockstep (:mod:`~daf_core.evaluation.batched_rollout`,
    :mod:`~daf_core.evaluation.lineup_rollout`) unless ``batch.batch_networks`` is off; mettagrid's
    ``random`` and ``noop``, alone or in lineups of the two, run the scripted rollout unless
    ``batch.fast_paths`` is off; everything else runs mettagrid's per-agent rollout loop.
    """
    outcome = BatchOutcome()
    seed = batch.seeds[0]
    try:
        policies = [build_policy(policy, batch) for policy in batch.population.policies]
        if batch.batch_networks and runs_in_lockstep(policies):
            started = time.perf_counter()
            results = _run_in_lockstep(policies, batch)
            per_episode = (time.perf_counter() - started) / len(results)
            for offset, (seed, result) in enumerate(zip(batch.seeds, results, strict=True)):
                outcome.records.append(
                    episode_record(batch, batch.first_episode + offset, seed, result, per_episode)
                )
            if on_episode is not None:
                on_episode(len(results))
            return outcome
        scripted = batch.fast_paths and all(is_scripted(policy) for policy in policies)
        run_episode = _run_scripted_episode if scripted else _run_one_episode
        for offset, seed in enumerate(batch.seeds):
            started = time.perf_counter()
            result = run_episode(policies, batch, seed)
            outcome.records.append(
                episode_record(
                    batch, batch.first_episode + offset, seed, result, time.perf_counter() - started
                )
            )
            if on_episode is not None:
                on_episode(1)
    except Exception:  # noqa: BLE001 - reported to the caller with the population, mission and seed
        outcome.error = (
            f"{batch.population.label} on mission {batch.mission.name!r}, seed {seed}: "
            f"{traceback.format_exc(limit=-3)}"
        )
    return outcome


def _run_in_lockstep(policies: list[MultiAgentPolicy], batch: EpisodeBatch) -> list[Any]:
    """All the batch's episodes at once: a self-play network, or a lineup with network members."""
    env_cfg, seeds = batch.mission.env_cfg, list(batch.seeds)
    if len(policies) == 1:
        return run_batched_episodes(policies[0], env_cfg, seeds, batch.device)
    seats = [batch.population.seat_indices(seed) for seed in seeds]
    return run_lineup_episodes(policies, seats, env_cfg, seeds, batch.device)


def _run_one_episode(policies: list[MultiAgentPolicy], batch: EpisodeBatch, seed: int) -> Any:
    """mettagrid's own rollout loop (the one ``cogames.evaluate`` runs), with every generator seeded;
    agent ``i`` is played by the policy its seat names (see :meth:`Population.seats`)."""
    seed_everything(seed)
    env_cfg = batch.mission.env_cfg
    if len(policies) == 1:
        policy = policies[0]
    else:
        policy = SeatedPolicies(policies, batch.population.seat_indices(seed))
    result, _ = single_episode_rollout(
        [policy],
        [0] * env_cfg.game.num_agents,
        resolve_env_for_seed(env_cfg, seed),
        seed=seed,
        max_action_time_ms=batch.action_timeout_ms,
        render_mode="none",
        autostart=False,
        capture_replay=False,
        policy_names=[batch.population.name],
    )
    return result


class SeatedPolicies(MultiAgentPolicy):
    """A lineup's policy objects as the one policy mettagrid's rollout is given: agent ``i`` is played by
    ``members[seats[i]]``.

    Why one policy and not ``single_episode_rollout(members, seats, ...)``: given several policies, that
    rollout steps each one's agents in a thread of its own (its policy groups), so members that sample
    from the shared global generators (``random``, torch) would draw in thread-scheduling order and an
    episode would no longer follow from its seed. As one policy, the agents are stepped one after another
    in agent order, as in self-play: two copies of a policy in a lineup play exactly as that policy alone.
    Checked against mettagrid 0.26.21.
    """

    def __init__(self, members: list[MultiAgentPolicy], seats: list[int]):
        super().__init__(members[0].policy_env_info)
        self._members, self._seats = members, seats
        # The rollout raises the step budget to what its policies need: here, what the members need.
        self.minimum_action_timeout_ms = max(member.minimum_action_timeout_ms for member in members)

    def configure_action_timeout_ms(self, action_timeout_ms: int) -> None:
        super().configure_action_timeout_ms(action_timeout_ms)
        for member in self._members:
            member.configure_action_timeout_ms(action_timeout_ms)

    def agent_policy(self, agent_id: int) -> AgentPolicy:
        return self._members[self._seats[agent_id]].agent_policy(agent_id)


def _run_scripted_episode(policies: list[MultiAgentPolicy], batch: EpisodeBatch, seed: int) -> Any:
    """:func:`_run_one_episode` for mettagrid's ``random`` / ``noop`` (alone or in a lineup of the two),
    without per-agent objects."""
    seed_everything(seed)
    if len(policies) == 1:
        return run_scripted_episode(policies[0], batch.mission.env_cfg, seed)
    seated = [policies[index] for index in batch.population.seat_indices(seed)]
    return run_scripted_lineup(seated, batch.mission.env_cfg, seed)


def episode_record(
    batch: EpisodeBatch, episode: int, seed: int, result: Any, wall_time_s: float
) -> dict[str, Any]:
    """One row of the records (see :mod:`daf_core.records`) from mettagrid's episode result."""
    agent_rewards = [float(r) for r in result.rewards]
    record: dict[str, Any] = {
        "policy": batch.population.name,
        "lineup": batch.population.name,
        "mission": batch.mission.name,
        "episode": episode,
        "seed": seed,
        "reward": float(sum(agent_rewards)),
        "reward_per_agent": float(np.mean(agent_rewards)) if agent_rewards else 0.0,
        "agent_rewards": agent_rewards,
        "agent_policies": batch.population.seats(seed),
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
