"""Running cross-play studies: play the lineups with ``evaluate_policies`` and analyse the episodes.

:func:`daf_cross_play` plays a round robin over a pool (every pair in every split, and self-play);
:func:`daf_value_over_replacement` plays cogames pickup's scenarios for one candidate. Both check every
argument before any episode runs, play each mission's lineups on seeds ``seed .. seed + episodes - 1``
(the same maps for every lineup: the pairing the intervals rely on) and return a
:class:`~daf_core.crossplay.CrossPlayReport`.

Missions of different agent counts cannot share a lineup (a 1v3 needs 4 agents), so missions are played
in groups of equal agent count, each with its own splits. The evaluation engine (and with it the
simulator) is imported when a study runs, not when this package is imported, so reports can be read and
printed without mettagrid.

Files under ``output_dir``: the report (:mod:`~daf_core.crossplay.report`: ``cross_play.json``,
``episodes.parquet``/``.csv``) and, per agent count, the evaluator's own files in
``evaluation/<n>_agents/`` (an interrupted study rerun with the same arguments resumes its episodes).
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from daf_core.crossplay.lineups import replacement_lineups, round_robin_lineups
from daf_core.crossplay.report import CrossPlayReport
from daf_core.crossplay.splits import Split, resolve_splits

if TYPE_CHECKING:
    from daf_core.evaluation import MissionUnderTest, PolicyUnderTest

logger = logging.getLogger(__name__)

#: The replacement of :func:`daf_value_over_replacement` when none is given (see its docstring).
DEFAULT_REPLACEMENT = "random"


def daf_cross_play(
    policies: Sequence[Any] | Mapping[str, Any],
    missions: Sequence[Any],
    episodes: int = 5,
    *,
    splits: Sequence[str | Split] | None = None,
    replacement: str | None = None,
    seed: int = 0,
    max_parallel_jobs: int = 1,
    output_dir: str | Path | None = None,
    confidence: float = 0.95,
    show_progress: bool = True,
    n_resamples: int = 1000,
) -> CrossPlayReport:
    """Play every pair of ``policies`` together in every split, and each alone, on every mission.

    ``splits`` are the row policy's agents against its partner's (``"1v3"``); by default every
    ``k v n-k`` of each mission's ``n`` agents (the tournament's 1v3, 2v2, 3v1 on 4 agents), and given
    splits must fit every mission. The report holds the cross-play matrix per mission and ``"all"``,
    Bradley-Terry ratings with rank intervals (``n_resamples`` bootstrap resamples seeded by ``seed``),
    and, with ``replacement`` (the name of one of the policies), every other policy's value over that
    replacement: the round robin already plays each candidate's ``k`` agents beside ``n - k`` of the
    replacement's and the replacement alone, so VOR costs no extra episode (for the ``nv0`` scenario
    or a replacement outside the pool, see :func:`daf_value_over_replacement`).
    """
    settings = _check_settings(
        episodes, seed, max_parallel_jobs, output_dir, confidence, show_progress, n_resamples
    )
    pool, mission_list = _resolve(policies, missions)
    if len(pool) < 2:
        raise ValueError(f"policies: cross-play needs at least 2 policies, got {[p.name for p in pool]}")
    names = [p.name for p in pool]
    if replacement is not None and replacement not in names:
        raise ValueError(f"replacement: {replacement!r} is not one of the policies {names}")
    plan = _plan(mission_list, splits, lambda s: round_robin_lineups(names, s), allow_self_play=False)
    records = _play(pool, plan, episodes, settings)
    report = CrossPlayReport.from_records(
        records,
        policies=names,
        splits=_split_names(plan),
        episodes=episodes,
        seed=seed,
        confidence=confidence,
        n_resamples=n_resamples,
        replacement={p: replacement for p in names if p != replacement} if replacement else None,
    )
    if output_dir is not None:
        report.save(output_dir)
    return report


def daf_value_over_replacement(
    candidate: Any,
    missions: Sequence[Any],
    episodes: int = 5,
    *,
    replacement: Any = DEFAULT_REPLACEMENT,
    splits: Sequence[str | Split] | None = None,
    seed: int = 0,
    max_parallel_jobs: int = 1,
    output_dir: str | Path | None = None,
    confidence: float = 0.95,
    show_progress: bool = True,
    n_resamples: int = 1000,
) -> CrossPlayReport:
    """The candidate's value over replacement, as cogames pickup defines it, with paired intervals.

    Each mission is played with the candidate's ``k`` agents beside ``n - k`` of ``replacement``'s for
    every split (default: the tournament's ``k v n-k``, ``k = 1 .. n-1``; ``"nv0"``, the candidate
    alone, may be added as pickup does), and with the replacement alone, the baseline.

    Why ``"random"`` by default: VOR measures what a teammate is worth over a stand-in, and the stand-in
    should be one every user has, that needs no training, and whose level is fixed and known - the
    pool of cogames' own example (``cogames pickup -p greedy --pool random``). ``noop`` would flatter
    every candidate (it never acts); a trained policy would make VOR depend on which checkpoint the user
    happens to have. cogames' pickup
    takes a pool of replacements; here one policy (any policy form evaluate_policies takes) is the
    replacement, so the baseline is a single, named lineup. A replacement with the candidate's name
    (VOR against itself) is renamed ``"<name> (replacement)"`` so the two are told apart.
    """
    settings = _check_settings(
        episodes, seed, max_parallel_jobs, output_dir, confidence, show_progress, n_resamples
    )
    from daf_core.evaluation import resolve_policy  # noqa: PLC0415 - see the module docstring

    if isinstance(candidate, Sequence | Mapping) and not isinstance(candidate, str):
        raise ValueError(f"candidate: expected one policy, got {candidate!r}")
    if isinstance(replacement, Sequence | Mapping) and not isinstance(replacement, str):
        raise ValueError(f"replacement: expected one policy, got {replacement!r}")
    subject = resolve_policy(candidate)
    baseline = resolve_policy(replacement)
    if baseline.name == subject.name:
        baseline = resolve_policy(baseline, f"{baseline.name} (replacement)")
    pool, mission_list = _resolve([subject, baseline], missions)
    plan = _plan(
        mission_list,
        splits,
        lambda s: replacement_lineups(subject.name, baseline.name, s),
        allow_self_play=True,
    )
    records = _play(pool, plan, episodes, settings)
    report = CrossPlayReport.from_records(
        records,
        policies=[subject.name, baseline.name],
        splits=_split_names(plan),
        episodes=episodes,
        seed=seed,
        confidence=confidence,
        n_resamples=n_resamples,
        replacement={subject.name: baseline.name},
    )
    if output_dir is not None:
        report.save(output_dir)
    return report


# --------------------------------------------------------------------------------------------------
# The parts
# --------------------------------------------------------------------------------------------------


def _check_settings(
    episodes: Any,
    seed: Any,
    max_parallel_jobs: Any,
    output_dir: Any,
    confidence: Any,
    show_progress: Any,
    n_resamples: Any,
) -> dict[str, Any]:
    """Every setting checked before anything runs; errors name the field and the value."""
    _check_integer("episodes", episodes, 1)
    _check_integer("seed", seed, 0)
    _check_integer("max_parallel_jobs", max_parallel_jobs, 1)
    _check_integer("n_resamples", n_resamples, 1)
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, numbers.Real)
        or not (math.isfinite(float(confidence)) and 0.0 < float(confidence) < 1.0)
    ):
        raise ValueError(f"confidence: must be a number in (0, 1), got {confidence!r}")
    if not isinstance(show_progress, bool):
        raise ValueError(f"show_progress: must be True or False, got {show_progress!r}")
    if output_dir is not None and not isinstance(output_dir, str | Path):
        raise ValueError(f"output_dir: expected a path or None, got {output_dir!r}")
    if output_dir is not None and Path(output_dir).exists() and not Path(output_dir).is_dir():
        raise ValueError(f"output_dir: {str(output_dir)!r} exists and is not a directory")
    return {
        "seed": seed,
        "max_parallel_jobs": max_parallel_jobs,
        "output_dir": None if output_dir is None else Path(output_dir),
        "show_progress": show_progress,
    }


def _check_integer(field: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{field}: must be an integer >= {minimum}, got {value!r}")


def _resolve(policies: Any, missions: Any) -> tuple[list[PolicyUnderTest], list[MissionUnderTest]]:
    from daf_core.evaluation import resolve_missions, resolve_policies  # noqa: PLC0415 - see the module docstring

    return resolve_policies(policies), resolve_missions(missions)


def _plan(
    missions: Sequence[MissionUnderTest],
    splits: Sequence[str | Split] | None,
    lineups_for: Any,
    *,
    allow_self_play: bool,
) -> dict[int, tuple[list[MissionUnderTest], list[Split], list[dict[str, int]]]]:
    """Missions grouped by agent count, with each group's splits (checked on every mission) and lineups."""
    plan: dict[int, tuple[list[MissionUnderTest], list[Split], list[dict[str, int]]]] = {}
    for mission in missions:
        n = mission.env_cfg.game.num_agents
        if n < 2:
            raise ValueError(f"missions: {mission.name!r} has {n} agent; cross-play needs at least 2")
        group_splits = resolve_splits(splits, n, mission.name, allow_self_play=allow_self_play)
        if n in plan:
            plan[n][0].append(mission)
        else:
            plan[n] = ([mission], group_splits, lineups_for(group_splits))
    return plan


def _play(
    pool: Sequence[PolicyUnderTest],
    plan: Mapping[int, tuple[list[MissionUnderTest], list[Split], list[dict[str, int]]]],
    episodes: int,
    settings: Mapping[str, Any],
) -> pd.DataFrame:
    from daf_core.evaluation import evaluate_policies  # noqa: PLC0415 - see the module docstring

    frames = []
    for n, (missions, _, lineups) in plan.items():
        logger.info("Cross-play on %s (%d agents): %d lineups x %d episodes", [m.name for m in missions], n,
                    len(lineups), episodes)  # fmt: skip
        output_dir = settings["output_dir"]
        frames.append(
            evaluate_policies(
                pool,
                missions,
                episodes,
                lineups=lineups,
                seed=settings["seed"],
                max_parallel_jobs=settings["max_parallel_jobs"],
                output_dir=None if output_dir is None else output_dir / "evaluation" / f"{n}_agents",
                show_progress=settings["show_progress"],
            )
        )
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _split_names(plan: Mapping[int, tuple[Any, list[Split], Any]]) -> list[str]:
    return list(dict.fromkeys(s.name for _, group_splits, _ in plan.values() for s in group_splits))
