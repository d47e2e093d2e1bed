"""Cutting an evaluation into batches of episodes: the unit of work a worker runs.

A batch is one population (a policy in self-play, or a lineup of policies sharing the agents) on one
mission for a run of consecutive seeds, so its policies are loaded once per batch instead of once per
episode. How the episodes are cut never changes a record: every episode is seeded on its own (its seats
too), and batches that run in lockstep (networks) are cut at fixed episode boundaries.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from daf_core.evaluation.batched_rollout import EPISODES_PER_BATCH, has_network
from daf_core.evaluation.lineups import Lineup, Population, mission_populations
from daf_core.evaluation.scripted_rollout import SCRIPTED_CLASSES
from daf_core.evaluation.subjects import MissionUnderTest, PolicyUnderTest, policy_class


@dataclass(frozen=True)
class EpisodeBatch:
    """The unit of work a worker runs: one population (a policy, or a lineup), one mission, a few seeds.

    ``construction_seed`` seeds every generator while each policy is built: the evaluation's seed, the
    same for every batch, so an untrained network is the same network in every batch, worker, run and
    lineup. ``batch_networks``: networks (alone or in a lineup with scripted members) played in lockstep;
    ``fast_paths``: the scripted rollout may take a batch of ``random`` / ``noop`` (alone or in a lineup
    of the two).
    """

    population: Population
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
    lineups: Sequence[Lineup] | None = None,
) -> list[EpisodeBatch]:
    """Split each (population, mission) into batches of seeds, skipping episodes already recorded.

    The populations are the policies in self-play, or with ``lineups`` each lineup (its policies taken
    from ``policies``). Populations that run in lockstep (a network, or networks beside ``random`` /
    ``noop``) are cut at fixed episode boundaries (``EPISODES_PER_BATCH``), so the episodes that share a
    network batch never depend on the worker count; everything else is cut into enough pieces to keep
    every worker busy.
    """
    per_mission = [mission_populations(policies, mission, lineups) for mission in missions]
    # Population by population (then mission), as the self-play policies always were.
    units = [
        (populations[i], mission)
        for i in range(len(per_mission[0]))
        for mission, populations in zip(missions, per_mission, strict=True)
    ]
    pieces_per_unit = 1 if workers <= 1 else max(1, math.ceil(3 * workers / len(units)))
    batches = []
    for population, mission in units:
        batched = batch_networks and _runs_in_lockstep(population)
        todo = [k for k in range(episodes) if (population.name, mission.name, seed + k) not in skip]
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
                population,
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


def _runs_in_lockstep(population: Population) -> bool:
    """A self-play network, or a lineup of network and scripted members: its episodes can run in
    lockstep (the classes decide, before any policy is built)."""
    classes = [policy_class(policy.spec.class_path) for policy in population.policies]
    networks = [has_network(cls) for cls in classes]
    return any(networks) and all(
        net or cls in SCRIPTED_CLASSES for net, cls in zip(networks, classes, strict=True)
    )


def _consecutive_runs(indices: list[int]) -> Iterable[list[int]]:
    run: list[int] = []
    for index in indices:
        if run and index != run[-1] + 1:
            yield run
            run = []
        run.append(index)
    if run:
        yield run
