"""Cutting an evaluation into batches of episodes: the unit of work a worker runs.

A batch is one policy on one mission for a run of consecutive seeds, so the policy is loaded once per
batch instead of once per episode. How the episodes are cut never changes a record: every episode is
seeded on its own, and neural policies are cut at fixed episode boundaries.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from daf_core.evaluation.batched_rollout import EPISODES_PER_BATCH, has_network
from daf_core.evaluation.subjects import MissionUnderTest, PolicyUnderTest, policy_class


@dataclass(frozen=True)
class EpisodeBatch:
    """The unit of work a worker runs: one policy, one mission, a few seeds.

    ``construction_seed`` seeds every generator while the policy is built: the evaluation's seed, the same
    for every batch, so an untrained network is the same network in every batch, worker and run.
    """

    policy: PolicyUnderTest
    mission: MissionUnderTest
    seeds: tuple[int, ...]
    first_episode: int
    action_timeout_ms: int
    device: str
    construction_seed: int
    batch_networks: bool = True
    fast_paths: bool = True


def plan_batches(
    policies: Sequence[PolicyUnderTest],
    missions: Sequence[MissionUnderTest],
    episodes: int,
    seed: int,
    workers: int,
    action_timeout_ms: int,
    device: str,
    batch_networks: bool = True,
    skip: frozenset[tuple[str, str, int]] = frozenset(),
) -> list[EpisodeBatch]:
    """Split each (policy, mission) into batches of seeds, skipping episodes already recorded.

    Neural policies are cut at fixed episode boundaries (``EPISODES_PER_BATCH``), so the episodes that
    share a network batch never depend on the worker count; other policies are cut into enough pieces
    to keep every worker busy.
    """
    pieces_per_unit = 1 if workers <= 1 else max(1, math.ceil(3 * workers / (len(policies) * len(missions))))
    batches = []
    for policy in policies:
        batched = batch_networks and has_network(policy_class(policy.spec.class_path))
        for mission in missions:
            todo = [k for k in range(episodes) if (policy.name, mission.name, seed + k) not in skip]
            if batched:
                groups = [
                    [k for k in todo if k // EPISODES_PER_BATCH == g]
                    for g in range(math.ceil(episodes / EPISODES_PER_BATCH))
                ]
            else:
                size = max(1, math.ceil(len(todo) / pieces_per_unit))
                groups = [todo[start : start + size] for start in range(0, len(todo), size)]
            batches.extend(
                EpisodeBatch(
                    policy,
                    mission,
                    seeds=tuple(seed + k for k in run),
                    first_episode=run[0],
                    action_timeout_ms=action_timeout_ms,
                    device=device,
                    construction_seed=seed,
                    batch_networks=batched,
                    fast_paths=batch_networks,
                )
                for group in groups
                for run in _consecutive_runs(group)
            )
    return batches


def _consecutive_runs(indices: list[int]) -> Iterable[list[int]]:
    run: list[int] = []
    for index in indices:
        if run and index != run[-1] + 1:
            yield run
            run = []
        run.append(index)
    if run:
        yield run
