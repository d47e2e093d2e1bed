"""Running comparisons: evaluate policies on the same seeds, build the report, compare, save.

Every ``daf_*`` comparison evaluates through :func:`~daf_core.evaluation.evaluate_policies` (episode k of
every policy uses seed ``seed + k``: common random numbers, so comparisons are paired), builds a
:class:`~daf_core.comparison.report.ComparisonReport` from the records, compares, and saves it when given
an ``output_dir``. The evaluation engine (and with it the simulator) is imported when a comparison runs,
so reading and analysing saved reports never loads mettagrid.
"""

from __future__ import annotations

import importlib.metadata
import logging
import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from daf_core.comparison.report import (
    REWARD_DEFINITION,
    ComparisonReport,
    check_name,
    check_significance_level,
)
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
) -> ComparisonReport:
    """Evaluate (common random numbers), build the report, compare, save: the shared body of every daf_*.

    With ``daf_config``, the per policy x mission means and IQMs (with their intervals) also go to
    TensorBoard and MLflow as it says (:func:`daf_core.tracking.log_comparison`).
    """
    from daf_core.evaluation import evaluate_policies  # noqa: PLC0415 - see the module docstring

    significance_level = check_significance_level(significance_level)
    records = evaluate_policies(
        policies,
        missions,
        episodes_per_mission,
        seed=seed,
        max_parallel_jobs=max_parallel_jobs,
        output_dir=output_dir,
        show_progress=show_progress,
    )
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
) -> ComparisonReport:
    """Run every policy on every mission on the same seeds and compare them pairwise.

    ``policies``: shorthands (``random``), class paths, ``class=...,data=...`` strings, checkpoint
    directories, ``PolicySpec`` objects, or a ``{name: policy}`` mapping to choose report names.
    ``missions``: catalog names, mission files, or ``(name, MettaGridConfig)`` pairs as cogames takes them.
    Episode k of every policy uses seed ``seed + k``, so comparisons are paired. With ``output_dir`` the
    report and raw records are saved there, and a rerun reuses episodes already recorded. With
    ``daf_config``, the per policy x mission summary also goes to TensorBoard and MLflow as it says.
    Raises ``EvaluationError`` (a RuntimeError) if episodes fail; finished ones are saved first.
    """
    resolved = resolve_policies(policies, "policies")
    if len(resolved) < 2:
        raise ValueError(f"policies: need at least two policies to compare, got {[p.name for p in resolved]}")
    return run_comparison(
        "comparison",
        name,
        resolved,
        resolve_missions(missions),
        check_episodes(episodes_per_mission),
        seed=seed,
        max_parallel_jobs=max_parallel_jobs,
        significance_level=significance_level,
        output_dir=output_dir,
        show_progress=show_progress,
        daf_config=daf_config,
    )
