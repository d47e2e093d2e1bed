"""Sequential comparisons: episodes in rounds until every comparison of the report is decided.

``stop_when="decided"`` turns a comparison into a group-sequential study (:mod:`daf_core.stats.sequential`):
rounds of ``round_episodes`` paired episodes (common random numbers: episode k of every policy on
every mission uses seed ``seed + k``) up to ``max_episodes``, and after each round every comparison of
the report's family is looked at through its repeated confidence interval (RCI). The study stops when
all of them are decided, at the last planned look otherwise.

The family is the report's: every compared pair on every mission and, with two or more missions, the
pair's aggregate over missions (per seed, the mean over missions of the paired differences, so each
mission weighs the same as in the report). All missions share their looks because the aggregate pairs
by seed across missions. Multiplicity: Bonferroni splits the report's significance level over the
family, each comparison's RCIs at ``1 - alpha / m``; so with probability about ``1 - alpha`` every RCI
of the report covers its true difference at every look, and every "better", "worse" and "equivalent"
in the report is right together (Holm's step-down, which the fixed-n reports use, has no equally simple
form under repeated looks). The fixed-n p-values of the final episodes are kept as descriptions; the
verdicts are the design's.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from daf_core import stats
from daf_core.comparison.constants import AGGREGATE_MISSION

STOP_WHEN = ("fixed", "decided")
#: Comparison key: (mission or "all", policy a, policy b).
Key = tuple[str, str, str]


@dataclass(frozen=True)
class SequentialSettings:
    """What ``stop_when="decided"`` was asked for, checked: the planned looks and the margin."""

    round_episodes: int
    max_episodes: int
    equivalence_margin: float | None

    @property
    def looks(self) -> tuple[int, ...]:
        return stats.planned_looks(self.round_episodes, self.max_episodes)


def check_stopping(
    stop_when: Any,
    max_episodes: Any,
    round_episodes: Any,
    equivalence_margin: Any,
    default_max: int,
) -> SequentialSettings | None:
    """None for ``stop_when="fixed"`` (today's fixed-n run), else the checked sequential settings.

    ``max_episodes`` defaults to ``default_max`` (the fixed-n count the caller would otherwise run), so
    a sequential run never uses more episodes than the fixed one. Settings that only mean something
    when stopping early are refused with ``stop_when="fixed"``, so none is silently ignored.
    """
    if stop_when not in STOP_WHEN:
        raise ValueError(f"stop_when: must be 'fixed' or 'decided', got {stop_when!r}")
    if stop_when == "fixed":
        for field, value in (("max_episodes", max_episodes), ("equivalence_margin", equivalence_margin)):
            if value is not None:
                raise ValueError(f"{field}: only used with stop_when='decided', got {value!r}")
        if round_episodes != 5:
            raise ValueError(f"round_episodes: only used with stop_when='decided', got {round_episodes!r}")
        return None
    maximum = default_max if max_episodes is None else max_episodes
    stats.planned_looks(round_episodes, maximum)  # refuses bad counts, naming the field
    return SequentialSettings(int(round_episodes), int(maximum), stats.check_margin(equivalence_margin))


def comparison_family(policies: Sequence[str], missions: Sequence[str], baseline: str | None) -> list[Key]:
    """The report's comparisons: each pair (every pair, or each policy vs the baseline) on each mission,
    and across missions when there are two or more - in the report's order."""
    if baseline is None:
        pairs = list(itertools.combinations(policies, 2))
    else:
        pairs = [(p, baseline) for p in policies if p != baseline]
    keys: list[Key] = []
    for a, b in pairs:
        keys.extend((m, a, b) for m in missions)
        if len(missions) >= 2:
            keys.append((AGGREGATE_MISSION, a, b))
    return keys


def family_design(
    settings: SequentialSettings, significance_level: float, family_size: int
) -> stats.SequentialDesign:
    """The design every comparison of the family runs under: the report's level split by Bonferroni."""
    return stats.group_sequential_design(settings.looks, alpha=significance_level / max(1, family_size))


def paired_differences(records: pd.DataFrame, key: Key) -> np.ndarray:
    """a - b per seed, in seed order; for the aggregate, each seed's mean over missions."""
    mission, a, b = key
    wide = records.pivot_table(index="seed", columns=["policy", "mission"], values="reward", aggfunc="first")
    missions = sorted(set(records["mission"])) if mission == AGGREGATE_MISSION else [mission]
    diffs = np.column_stack([wide[(a, m)].to_numpy() - wide[(b, m)].to_numpy() for m in missions])
    if np.isnan(diffs).any():
        raise ValueError(f"records: policies {a!r} and {b!r} did not play the same seeds on {missions}")
    return diffs.mean(axis=1)


def analyse(
    records: pd.DataFrame, family: Sequence[Key], design: stats.SequentialDesign, margin: float | None
) -> dict[Key, stats.SequentialResult]:
    """Every comparison's sequential decision from the records so far (the looks they reach)."""
    return {
        key: stats.sequential_decision(paired_differences(records, key), design, margin) for key in family
    }


def all_decided(results: Mapping[Key, stats.SequentialResult]) -> bool:
    return all(result.decided for result in results.values())


def design_metadata(
    settings: SequentialSettings,
    design: stats.SequentialDesign,
    significance_level: float,
    family: Sequence[Key],
    results: Mapping[Key, stats.SequentialResult],
    episodes_used: int,
) -> dict[str, Any]:
    """What ``report.metadata["sequential"]`` holds: the design, how it was split, where it stopped."""
    looks_taken = design.looks.index(episodes_used) + 1
    return {
        "stop_when": "decided",
        "round_episodes": settings.round_episodes,
        "max_episodes": settings.max_episodes,
        "equivalence_margin": settings.equivalence_margin,
        "design": design.to_dict(),
        "significance_level": significance_level,
        "family_size": len(family),
        "alpha_per_comparison": design.alpha,
        "multiplicity": (
            f"Bonferroni: significance level {significance_level:g} split over the {len(family)} "
            "comparison(s); each comparison's repeated confidence intervals at 1 - alpha_per_comparison"
        ),
        "looks_taken": looks_taken,
        "episodes_used": episodes_used,
        "stopped": "every comparison decided"
        if all_decided(results)
        else f"last planned look ({design.max_episodes} episodes)",
        "comparisons": [
            {"mission": m, "policy_a": a, "policy_b": b, **results[(m, a, b)].to_dict()} for m, a, b in family
        ],
    }
