"""Splits: how a mission's agents are divided between a candidate policy and the others ("1v3").

The CoGames tournament scores a policy with its agents mixed into teams with other policies: on a
4-agent mission, 1 of its agents beside 3 others, 2 beside 2, and 3 beside 1. A split ``"kvm"`` is k
candidate agents and m others; the default for an ``n``-agent mission is every ``k v n-k`` for
``k = 1 .. n-1`` (on 4 agents exactly the tournament's 1v3, 2v2, 3v1). ``"nv0"`` (the candidate alone,
self-play) is a valid split too: cogames' pickup scores it in its value over replacement.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_SPLIT = re.compile(r"^\s*(\d+)\s*v\s*(\d+)\s*$")


@dataclass(frozen=True, order=True)
class Split:
    """``candidate`` agents of the policy under study beside ``others`` agents of other policies."""

    candidate: int
    others: int

    @property
    def num_agents(self) -> int:
        return self.candidate + self.others

    @property
    def name(self) -> str:
        return f"{self.candidate}v{self.others}"

    def __str__(self) -> str:
        return self.name


def parse_split(text: str | Split) -> Split:
    """``"1v3"`` -> ``Split(1, 3)``; the candidate needs at least one agent, the others may have none."""
    if isinstance(text, Split):
        return text
    match = _SPLIT.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"splits: expected a split like '1v3' (candidate agents 'v' other agents), got {text!r}"
        )
    split = Split(int(match[1]), int(match[2]))
    if split.candidate < 1:
        raise ValueError(f"splits: {text!r} gives the candidate no agent; it would be measured on nothing")
    return split


def default_splits(num_agents: int) -> list[Split]:
    """``k v n-k`` for ``k = 1 .. n-1``: on 4 agents the tournament's 1v3, 2v2, 3v1. One agent has no
    split (nothing to mix), which is refused here."""
    if isinstance(num_agents, bool) or not isinstance(num_agents, int) or num_agents < 2:
        raise ValueError(f"num_agents: a mixed team needs at least 2 agents, got {num_agents!r}")
    return [Split(k, num_agents - k) for k in range(1, num_agents)]


def resolve_splits(
    splits: Sequence[str | Split] | None, num_agents: int, mission: str, *, allow_self_play: bool
) -> list[Split]:
    """The splits to play on a mission of ``num_agents`` agents: the defaults when ``splits`` is None,
    else the given ones, each checked against the mission's agent count (an error names split, mission
    and both numbers). ``allow_self_play=False`` refuses ``"nv0"`` (a cross-play matrix has self-play on
    its diagonal already)."""
    if splits is None:
        return default_splits(num_agents)
    if isinstance(splits, str | Split) or not isinstance(splits, Sequence) or not splits:
        raise ValueError(f"splits: expected a non-empty list of splits like ['1v3', '2v2'], got {splits!r}")
    resolved = [parse_split(s) for s in splits]
    for split in resolved:
        if split.num_agents != num_agents:
            raise ValueError(
                f"splits: {split.name!r} has {split.num_agents} agents, mission {mission!r} has {num_agents}"
            )
        if split.others == 0 and not allow_self_play:
            raise ValueError(f"splits: {split.name!r} has no other agents, so nothing is crossed")
    repeated = sorted({s.name for s in resolved if resolved.count(s) > 1})
    if repeated:
        raise ValueError(f"splits: each split once, repeated: {repeated}")
    return resolved
