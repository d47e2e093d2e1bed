"""Lineups: which policy controls which agents of a mission, the way CoGames' tournament mixes teams.

A tournament does not score a policy playing with copies of itself only: an episode's agents are split
between policies (1v3, 2v2, 3v1 on a 4-agent mission). A :class:`Lineup` says how many agents each policy
controls, either as counts (``Lineup.of({"lstm": 2, "random": 2})``) or as proportions resolved per
mission with cogames' own rule (``metta_alo.scoring.allocate_counts``, what ``cogames.evaluate`` uses), so a
proportions lineup means the same split as ``cogames eval`` gives.

Seats: in the episode of seed ``s``, the agent slots are filled in the lineup's order
(``[p for p, c in counts for _ in range(c)]``) and then shuffled with ``random.Random(s).shuffle``: seats
change from episode to episode (as cogames shuffles them), yet are fixed by the counts and the seed alone,
so any worker of any run gives an episode the same seats. The shuffle uses its own generator: the
generators the policies sample from are untouched by it.

A :class:`Population` is what one episode is played by: a lineup resolved against the policies evaluated
and a mission's agent count, or (self-play) one policy controlling every agent.
"""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from metta_alo.scoring import allocate_counts

from daf_core._internal.fingerprints import fingerprint
from daf_core.evaluation.subjects import MissionUnderTest, PolicyUnderTest


@dataclass(frozen=True)
class Lineup:
    """How many agents each policy controls: ``counts`` (policy name, agent count) or, for a lineup made
    by :meth:`from_proportions`, ``weights`` (policy name, weight) resolved per mission by :meth:`counts_for`.

    ``name`` labels the episodes' records (their ``policy`` and ``lineup`` columns); by default
    ``"lstm:2+random:2"``, in the given order.
    """

    counts: tuple[tuple[str, int], ...] = ()
    name: str = ""
    weights: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise ValueError(f"lineup: name must be a string, got {self.name!r}")
        # Pairs given as lists (from JSON or YAML) become tuples: a Lineup is hashable and compares by value.
        object.__setattr__(self, "counts", tuple(tuple(entry) for entry in self.counts))
        object.__setattr__(self, "weights", tuple(tuple(entry) for entry in self.weights))
        if bool(self.counts) == bool(self.weights):
            raise ValueError(
                f"lineup: give either counts or weights (proportions), got counts={self.counts!r}, "
                f"weights={self.weights!r}"
            )
        entries = self.counts or self.weights
        label = self.name or repr(dict(entries))
        names = [policy for policy, _ in entries]
        for policy in names:
            if not isinstance(policy, str) or not policy:
                raise ValueError(f"lineup {label}: policy names must be non-empty strings, got {policy!r}")
        repeated = sorted({p for p in names if names.count(p) > 1})
        if repeated:
            raise ValueError(f"lineup {label}: each policy once, repeated: {repeated}")
        for policy, count in self.counts:
            if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 1:
                hint = " (proportions: use Lineup.from_proportions)" if isinstance(count, float) else ""
                raise ValueError(
                    f"lineup {label}: counts: agent count of {policy!r} must be a positive integer, "
                    f"got {count!r}{hint}"
                )
        for policy, weight in self.weights:
            if (
                isinstance(weight, bool)
                or not isinstance(weight, numbers.Real)
                or not (math.isfinite(weight) and weight > 0)
            ):
                raise ValueError(
                    f"lineup {label}: weights: proportion of {policy!r} must be a positive number, "
                    f"got {weight!r}"
                )
        object.__setattr__(self, "counts", tuple((policy, int(count)) for policy, count in self.counts))
        object.__setattr__(self, "weights", tuple((policy, float(weight)) for policy, weight in self.weights))
        if not self.name:
            object.__setattr__(self, "name", "+".join(f"{p}:{v:g}" for p, v in self.counts or self.weights))

    @classmethod
    def of(cls, counts: Mapping[str, int], name: str | None = None) -> Lineup:
        """``Lineup.of({"lstm": 2, "random": 2})``: policy name -> agent count, seats in this order."""
        if not isinstance(counts, Mapping):
            raise ValueError(f"lineup: expected a {{policy: agent count}} mapping, got {counts!r}")
        return cls(counts=tuple(counts.items()), name=name or "")

    @classmethod
    def from_proportions(cls, weights: Mapping[str, float], name: str | None = None) -> Lineup:
        """``Lineup.from_proportions({"lstm": 0.25, "random": 0.75})``: shares of a mission's agents,
        turned into counts per mission as ``cogames.evaluate`` does (:meth:`counts_for`)."""
        if not isinstance(weights, Mapping):
            raise ValueError(f"lineup: expected a {{policy: proportion}} mapping, got {weights!r}")
        return cls(weights=tuple(weights.items()), name=name or "")

    @property
    def policies(self) -> tuple[str, ...]:
        """The policy names, in the lineup's order."""
        return tuple(policy for policy, _ in self.counts or self.weights)

    def counts_for(self, num_agents: int, mission: str | None = None) -> tuple[tuple[str, int], ...]:
        """The agent count of each policy on a mission of ``num_agents`` agents.

        Counts must add up to ``num_agents``; proportions are allocated with cogames' rule and every
        policy must get at least one agent (a policy with no agent would be measured on nothing).
        """
        where = f"lineup {self.name!r} on mission {mission!r}" if mission else f"lineup {self.name!r}"
        if self.counts:
            total = sum(count for _, count in self.counts)
            if total != num_agents:
                raise ValueError(
                    f"{where}: the counts give {total} agents, the mission has {num_agents} agents"
                )
            return self.counts
        allocated = allocate_counts(num_agents, [weight for _, weight in self.weights])
        empty = [policy for (policy, _), count in zip(self.weights, allocated, strict=True) if count == 0]
        if empty:
            raise ValueError(
                f"{where}: proportions {dict(self.weights)} give {empty} 0 of the mission's {num_agents} "
                f"agents (counts {allocated}); every policy of a lineup needs at least one agent"
            )
        return tuple((policy, count) for policy, count in zip(self.policies, allocated, strict=True))

    def fingerprint(self, pool: Mapping[str, PolicyUnderTest]) -> str:
        """Changes when the counts or weights, or any of its policies' fingerprints, change."""
        return fingerprint(
            [
                "lineup",
                list(self.counts),
                list(self.weights),
                [(p, pool[p].fingerprint()) for p in self.policies],
            ]
        )


def seat_assignment(counts: Sequence[tuple[str, int]], seed: int) -> list[str]:
    """The policy name of each agent (agent-id order) in the episode of ``seed``: slots in the lineup's
    order, shuffled by ``random.Random(seed)`` (a generator of its own, so no policy's draws change)."""
    seats = [policy for policy, count in counts for _ in range(count)]
    random.Random(seed).shuffle(seats)
    return seats


@dataclass(frozen=True)
class Population:
    """The policies that play one mission's episodes: ``members`` (policy, agent count) and the ``name``
    their records carry. ``is_lineup`` is False for self-play (one policy controlling every agent)."""

    name: str
    members: tuple[tuple[PolicyUnderTest, int], ...]
    is_lineup: bool

    @property
    def policies(self) -> tuple[PolicyUnderTest, ...]:
        return tuple(policy for policy, _ in self.members)

    @property
    def label(self) -> str:
        """How errors name it: ``policy 'lstm'`` or ``lineup 'lstm:2+random:2'``."""
        return f"{'lineup' if self.is_lineup else 'policy'} {self.name!r}"

    def seats(self, seed: int) -> list[str]:
        """The policy name of each agent in the episode of ``seed`` (see :func:`seat_assignment`)."""
        return seat_assignment([(policy.name, count) for policy, count in self.members], seed)

    def seat_indices(self, seed: int) -> list[int]:
        """:meth:`seats` as indices into :attr:`policies` (the form mettagrid's rollout takes)."""
        names = [policy.name for policy in self.policies]
        return [names.index(name) for name in self.seats(seed)]


def as_lineups(lineups: Any, pool: Sequence[PolicyUnderTest]) -> list[Lineup]:
    """``Lineup`` objects or ``{policy: count}`` mappings, checked against the evaluated policies: every
    policy a lineup names must be one of them, and lineup names must be unique."""
    if isinstance(lineups, Lineup | Mapping) or not isinstance(lineups, Sequence) or not lineups:
        raise ValueError(
            f"lineups: expected a non-empty list of Lineup or {{policy: count}} mappings, got {lineups!r}"
        )
    resolved = [lineup if isinstance(lineup, Lineup) else Lineup.of(lineup) for lineup in lineups]
    known = [policy.name for policy in pool]
    for lineup in resolved:
        unknown = [p for p in lineup.policies if p not in known]
        if unknown:
            raise ValueError(
                f"lineup {lineup.name!r}: policies {unknown} are not among the policies evaluated {known}"
            )
    names = [lineup.name for lineup in resolved]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"lineups: lineup names must be unique, repeated: {repeated}")
    return resolved


def mission_populations(
    pool: Sequence[PolicyUnderTest], mission: MissionUnderTest, lineups: Sequence[Lineup] | None
) -> list[Population]:
    """Who plays ``mission``'s episodes: each lineup with its counts on this mission, or (no lineups)
    each policy in self-play. A lineup whose counts do not fit the mission is refused here, before any
    episode runs."""
    num_agents = mission.env_cfg.game.num_agents
    if lineups is None:
        return [Population(policy.name, ((policy, num_agents),), is_lineup=False) for policy in pool]
    by_name = {policy.name: policy for policy in pool}
    return [
        Population(
            lineup.name,
            tuple((by_name[p], count) for p, count in lineup.counts_for(num_agents, mission.name)),
            is_lineup=True,
        )
        for lineup in lineups
    ]
