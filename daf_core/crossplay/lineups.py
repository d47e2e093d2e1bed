"""The lineups a cross-play study plays: a round robin over a pool, and the scenarios of value over
replacement. Plain ``{policy: agent count}`` mappings, the form ``evaluate_policies(lineups=...)`` takes,
so building them needs neither the simulator nor the evaluation package.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from daf_core.crossplay.splits import Split


def round_robin_lineups(pool: Sequence[str], splits: Sequence[Split]) -> list[dict[str, int]]:
    """Every policy in self-play, and every unordered pair of policies in every split, both ways.

    A split is the row policy's view: cell (a, b) at 1v3 is a with 1 agent beside 3 of b's, cell (b, a)
    at 1v3 is the mirror lineup. One episode ``{a: 1, b: 3}`` serves a's 1v3 and b's 3v1 at once, so
    the pair is played in the union of the splits and their mirrors (the default 1v3, 2v2, 3v1 is its
    own mirror: three lineups per pair). Self-play (``{a: n}``) fills the diagonal on the same seeds.
    """
    sizes = {s.num_agents for s in splits}
    if len(sizes) != 1:
        raise ValueError(f"splits: one round robin needs one agent count, got {[s.name for s in splits]}")
    (n,) = sizes
    counts = sorted(
        {c for s in splits if s.others for c in ((s.candidate, s.others), (s.others, s.candidate))}
    )
    lineups: list[dict[str, int]] = [{policy: n} for policy in pool]
    for a, b in itertools.combinations(pool, 2):
        lineups.extend({a: k, b: m} for k, m in counts)
    return lineups


def replacement_lineups(candidate: str, replacement: str, splits: Sequence[Split]) -> list[dict[str, int]]:
    """cogames pickup's scenarios: the candidate with k agents beside the replacement in every split,
    and the replacement alone (the baseline every split is measured against)."""
    if candidate == replacement:
        raise ValueError(f"replacement: must be named apart from the candidate, both are {candidate!r}")
    sizes = {s.num_agents for s in splits}
    if len(sizes) != 1:
        raise ValueError(
            f"splits: one set of scenarios needs one agent count, got {[s.name for s in splits]}"
        )
    (n,) = sizes
    lineups = [
        {candidate: s.candidate, replacement: s.others} if s.others else {candidate: n} for s in splits
    ]
    return [*lineups, {replacement: n}]
