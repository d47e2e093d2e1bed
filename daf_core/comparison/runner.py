"""Running comparisons: evaluate policies on the same seeds, build the report, compare, save.

Every ``daf_*`` comparison evaluates through :func:`~daf_core.evaluation.evaluate_policies` (episode k of
every policy uses seed ``seed + k``: common random numbers, so comparisons are paired), builds a
:class:`~daf_core.comparison.report.ComparisonReport` from the records, compares, and saves it when given
an ``output_dir``. The evaluation engine (and with it the simulator) is imported when a comparison runs,
so reading and analysing saved reports never loads mettagrid.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import numbers
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from daf_core.comparison import sequential
from daf_core.comparison.report import (
    REWARD_DEFINITION,
    ComparisonReport,
    check_name,
    check_significance_level,
)
from daf_core.comparison.sequential import SequentialSettings, check_stopping
from daf_core.config import DAFConfig
from daf_core.tracking import log_comparison

if TYPE_CHECKING:
    from mettagrid.config.mettagrid_config import MettaGridConfig
    from mettagrid.policy.policy import PolicySpec

    from daf_core.evaluation import MissionUnderTest, PolicyUnderTest

logger = logging.getLogger(__name__)

PolicyInput: TypeAlias = "str | Path | PolicySpec | PolicyUnderTest"
MissionInput: TypeAlias = "str | Path | tuple[str, MettaGridConfig] | MissionUnderTest"


# --------------------------------------------------------------------------------------------------
# Running comparisons
# --------------------------------------------------------------------------------------------------


def resolve_policies(policies: Any, arg: str) -> list[PolicyUnderTest]:
    """Policies in any form the evaluation takes (one, a list, or ``{name: policy}``), uniquely named."""
    from daf_core.evaluation import resolve_policies as resolve  # noqa: PLC0415 - see the module docstring

    return resolve(policies, arg)


def resolve_missions(missions: Any) -> list[MissionUnderTest]:
    """Missions in any form the evaluation takes (one or a list), uniquely named, none named like the
    aggregate across missions."""
    from daf_core.evaluation import resolve_missions as resolve  # noqa: PLC0415 - see the module docstring

    resolved = resolve(missions)
    for mission in resolved:
        check_name("mission", mission.name)
    return resolved


def check_episodes(value: Any) -> int:
    """An episode count must be a positive integer (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"episodes_per_mission: must be a positive integer, got {value!r}")
    return int(value)


def package_versions() -> dict[str, str | None]:
    """Installed daf, cogames and mettagrid versions (None if absent): what a result depends on."""
    out: dict[str, str | None] = {}
    for package in ("daf", "cogames", "mettagrid"):
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            out[package] = None
    return out


def _policy_metadata(policy: PolicyUnderTest) -> dict[str, Any]:
    spec = policy.spec
    return {
        "class_path": spec.class_path,
        "data_path": spec.data_path,
        "init_kwargs": dict(spec.init_kwargs),
        "fingerprint": policy.fingerprint(),
    }


def run_comparison(
    kind: str,
    name: str,
    policies: list[PolicyUnderTest],
    missions: list[MissionUnderTest],
    episodes_per_mission: int,
    *,
    seed: int,
    max_parallel_jobs: int,
    significance_level: float,
    output_dir: str | Path | None,
    show_progress: bool,
    baseline: str | None = None,
    extra_metadata: Mapping[str, Any] | None = None,
    daf_config: DAFConfig | None = None,
    sequential_settings: SequentialSettings | None = None,
) -> ComparisonReport:
    """Evaluate (common random numbers), build the report, compare, save: the shared body of every daf_*.

    With ``sequential_settings`` (``stop_when="decided"``) the episodes run in rounds until every
    comparison is decided (:mod:`~daf_core.comparison.sequential`) and the report's verdicts are the
    design's; ``episodes_per_mission`` is then unused (the settings' ``max_episodes`` bounds the run).
    With ``daf_config``, the per policy x mission means and IQMs (with their intervals) also go to
    TensorBoard and MLflow as it says (:func:`daf_core.tracking.log_comparison`).
    """
    significance_level = check_significance_level(significance_level)
    sequential_metadata: dict[str, Any] | None = None
    if sequential_settings is None:
        records = _evaluate(
            policies, missions, episodes_per_mission, seed, max_parallel_jobs, output_dir, show_progress
        )
    else:
        records, sequential_metadata = _evaluate_in_rounds(
            sequential_settings,
            policies,
            missions,
            seed=seed,
            max_parallel_jobs=max_parallel_jobs,
            significance_level=significance_level,
            output_dir=output_dir,
            show_progress=show_progress,
            baseline=baseline,
        )
        episodes_per_mission = sequential_metadata["episodes_used"]
    # The evaluator sorts records by name; the report keeps the order the caller gave.
    rank = {
        "policy": {p.name: i for i, p in enumerate(policies)},
        "mission": {m.name: i for i, m in enumerate(missions)},
    }
    records = records.sort_values(
        ["policy", "mission", "episode"], key=lambda col: col.map(rank[col.name]) if col.name in rank else col
    ).reset_index(drop=True)
    metadata = {
        "kind": kind,
        "episodes_per_mission": episodes_per_mission,
        "reward": REWARD_DEFINITION,
        "policy_specs": {p.name: _policy_metadata(p) for p in policies},
        "mission_fingerprints": {m.name: m.fingerprint() for m in missions},
        "versions": package_versions(),
        **(extra_metadata or {}),
    }
    if sequential_metadata is not None:
        metadata["sequential"] = sequential_metadata
    report = ComparisonReport.from_records(
        records,
        name=name,
        significance_level=significance_level,
        seed=seed,
        baseline=baseline,
        metadata=metadata,
    )
    report.compute_pairwise_comparisons()
    if output_dir is not None:
        report.save(output_dir)
    for comparison in report.comparisons:
        logger.info("%s", comparison.summary_string())
    if daf_config is not None:
        log_comparison(
            daf_config,
            Path(daf_config.output_dir),
            name,
            kind=kind,
            summary=report.summary_statistics,
            params={
                "episodes_per_mission": episodes_per_mission,
                "seed": seed,
                "significance_level": significance_level,
                "missions": report.missions,
                "versions": metadata["versions"],
            },
            policy_params=metadata["policy_specs"],
        )
    return report


def _evaluate(
    policies: list[PolicyUnderTest],
    missions: list[MissionUnderTest],
    episodes: int,
    seed: int,
    max_parallel_jobs: int,
    output_dir: str | Path | None,
    show_progress: bool,
) -> Any:
    from daf_core.evaluation import evaluate_policies  # noqa: PLC0415 - see the module docstring

    return evaluate_policies(
        policies,
        missions,
        episodes,
        seed=seed,
        max_parallel_jobs=max_parallel_jobs,
        output_dir=output_dir,
        show_progress=show_progress,
    )


def _evaluate_in_rounds(
    settings: SequentialSettings,
    policies: list[PolicyUnderTest],
    missions: list[MissionUnderTest],
    *,
    seed: int,
    max_parallel_jobs: int,
    significance_level: float,
    output_dir: str | Path | None,
    show_progress: bool,
    baseline: str | None,
) -> tuple[Any, dict[str, Any]]:
    """Round after round of episodes until every comparison is decided or the last look is reached.

    Each round asks the evaluator for the cumulative episode count with the same ``output_dir`` (a
    temporary one when none was given), so recorded episodes are reused, never rerun, and a round only
    runs its new seeds. Returns the records of the last round and ``metadata["sequential"]``.
    """
    family = sequential.comparison_family([p.name for p in policies], [m.name for m in missions], baseline)
    if not family:
        raise ValueError(
            f"stop_when: 'decided' needs comparisons to decide, got one policy {[p.name for p in policies]}"
        )
    design = sequential.family_design(settings, significance_level, len(family))
    holder: contextlib.AbstractContextManager[str | Path] = (
        tempfile.TemporaryDirectory(prefix="daf-sequential-")
        if output_dir is None
        else contextlib.nullcontext(output_dir)
    )
    with holder as work_dir:
        for look, episodes in enumerate(design.looks, start=1):
            records = _evaluate(
                policies, missions, episodes, seed, max_parallel_jobs, work_dir, show_progress
            )
            results = sequential.analyse(records, family, design, settings.equivalence_margin)
            decided = sum(result.decided for result in results.values())
            logger.info(
                "Sequential look %d/%d at %d episodes: %d of %d comparison(s) decided",
                look,
                len(design.looks),
                episodes,
                decided,
                len(family),
            )
            if decided == len(family):
                break
    metadata = sequential.design_metadata(settings, design, significance_level, family, results, episodes)
    return records, metadata


def daf_compare_policies(
    policies: Sequence[PolicyInput] | Mapping[str, PolicyInput],
    missions: Sequence[MissionInput],
    episodes_per_mission: int = 5,
    *,
    seed: int = 0,
    max_parallel_jobs: int = 1,
    significance_level: float = 0.05,
    output_dir: str | Path | None = None,
    name: str = "comparison",
    show_progress: bool = True,
    daf_config: DAFConfig | None = None,
    stop_when: str = "fixed",
    max_episodes: int | None = None,
    round_episodes: int = 5,
    equivalence_margin: float | None = None,
    cross_play: bool = False,
    splits: Sequence[str] | None = None,
    replacement: str | None = None,
) -> ComparisonReport:
    """Run every policy on every mission on the same seeds and compare them pairwise.

    ``policies``: shorthands (``random``), class paths, ``class=...,data=...`` strings, checkpoint
    directories, ``PolicySpec`` objects, or a ``{name: policy}`` mapping to choose report names.
    ``missions``: catalog names, mission files, or ``(name, MettaGridConfig)`` pairs as cogames takes them.
    Episode k of every policy uses seed ``seed + k``, so comparisons are paired. With ``output_dir`` the
    report and raw records are saved there, and a rerun reuses episodes already recorded. With
    ``daf_config``, the per policy x mission summary also goes to TensorBoard and MLflow as it says.
    Raises ``EvaluationError`` (a RuntimeError) if episodes fail; finished ones are saved first.

    ``stop_when="decided"`` runs the episodes in rounds of ``round_episodes`` and stops as soon as every
    comparison is decided - its repeated confidence interval excludes 0 ("better"/"worse") or, with an
    ``equivalence_margin`` (on the reward's scale), lies inside +-margin ("equivalent") - and at
    ``max_episodes`` (default ``episodes_per_mission``) otherwise ("undecided"). The design keeps the
    report's significance level under the repeated looks (:mod:`daf_core.comparison.sequential`);
    the report's verdicts and ``is_significant`` are its decisions, ``metadata["sequential"]`` the
    design, the looks taken and every comparison's RCI. The default ``"fixed"`` runs
    ``episodes_per_mission`` episodes, as always.

    ``cross_play=True`` also plays the policies in mixed teams, the way the tournament scores them
    (:func:`daf_core.crossplay.daf_cross_play`: every pair in every split of ``splits``, default the
    tournament's 1v3/2v2/3v1 on 4 agents, on ``episodes_per_mission`` seeds from ``seed``):
    ``report.cross_play`` then holds the cross-play matrix, Bradley-Terry ratings with rank intervals
    and, with ``replacement`` (one of the policies' names), every other policy's value over it. Its
    episodes go to ``output_dir/cross_play``; the printed summary, the HTML report and the leaderboard
    show them. ``splits`` and ``replacement`` without ``cross_play`` are refused.
    """
    resolved = resolve_policies(policies, "policies")
    if len(resolved) < 2:
        raise ValueError(f"policies: need at least two policies to compare, got {[p.name for p in resolved]}")
    episodes = check_episodes(episodes_per_mission)
    settings = check_stopping(stop_when, max_episodes, round_episodes, equivalence_margin, episodes)
    if not isinstance(cross_play, bool):
        raise ValueError(f"cross_play: must be True or False, got {cross_play!r}")
    if not cross_play and (splits is not None or replacement is not None):
        given = "splits" if splits is not None else "replacement"
        raise ValueError(
            f"{given}: only used with cross_play=True, got {splits if splits is not None else replacement!r}"
        )
    report = run_comparison(
        "comparison",
        name,
        resolved,
        resolve_missions(missions),
        episodes,
        seed=seed,
        max_parallel_jobs=max_parallel_jobs,
        significance_level=significance_level,
        output_dir=output_dir,
        show_progress=show_progress,
        daf_config=daf_config,
        sequential_settings=settings,
    )
    if cross_play:
        from daf_core.crossplay import daf_cross_play  # noqa: PLC0415 - see the module docstring

        report.cross_play = daf_cross_play(
            resolved,
            resolve_missions(missions),
            episodes,
            splits=splits,
            replacement=replacement,
            seed=seed,
            max_parallel_jobs=max_parallel_jobs,
            output_dir=None if output_dir is None else Path(output_dir) / "cross_play",
            confidence=report.confidence,
            show_progress=show_progress,
        ).to_dict()
        if output_dir is not None:
            report.save(output_dir)
    return report
