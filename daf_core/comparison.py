"""Policy comparison: run policies on missions on the same seeds and compare them; ablations.

Every ``daf_*`` function here evaluates through :func:`~daf_core.evaluation.evaluate_policies` (episode k
of every policy uses seed ``seed + k``: common random numbers, so comparisons are paired), builds a
:class:`~daf_core.comparison_report.ComparisonReport` from the records, compares, and saves it when given
an ``output_dir``. What the report holds, how its statistics are chosen, and the files it writes are
described in :mod:`daf_core.comparison_report`; versioned benchmark suites are in :mod:`daf_core.benchmarks`.

This module is the comparison API users import (the reference's ``daf.comparison``): it re-exports the
report classes and the benchmark suites, the latter lazily because :mod:`daf_core.benchmarks` runs its
suites through :func:`run_comparison` here.
"""

from __future__ import annotations

import importlib.metadata
import logging
import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mettagrid.config.mettagrid_config import MettaGridConfig
from mettagrid.policy.policy import PolicySpec

from daf_core.comparison_report import (
    AGGREGATE_MISSION,
    REWARD_DEFINITION,
    ComparisonReport,
    PolicyComparisonResult,
    check_name,
    check_significance_level,
)
from daf_core.config import DAFComparisonConfig
from daf_core.evaluation import (
    MissionUnderTest,
    PolicyUnderTest,
    evaluate_policies,
    resolve_mission,
    resolve_policy,
)

if TYPE_CHECKING:
    from daf_core.benchmarks import BENCHMARK_SUITES, BenchmarkSuite, daf_benchmark_suite

logger = logging.getLogger(__name__)

__all__ = [
    "BENCHMARK_SUITES",
    "AGGREGATE_MISSION",
    "BenchmarkSuite",
    "ComparisonReport",
    "PolicyComparisonResult",
    "ablation_variant",
    "daf_benchmark_suite",
    "daf_compare_from_config",
    "daf_compare_policies",
    "daf_policy_ablation",
]

PolicyInput = str | Path | PolicySpec | PolicyUnderTest
MissionInput = str | Path | tuple[str, MettaGridConfig] | MissionUnderTest


# --------------------------------------------------------------------------------------------------
# Running comparisons
# --------------------------------------------------------------------------------------------------


def _as_list(value: Any, singles: tuple[type, ...]) -> Any:
    """A single policy or mission where a list was expected becomes a list of one."""
    return [value] if isinstance(value, singles) else value


def resolve_policies(policies: Any, arg: str) -> list[PolicyUnderTest]:
    """Policies in any form ``resolve_policy`` takes (one, a list, or ``{name: policy}``), uniquely named;
    ``arg`` names the argument in errors."""
    policies = _as_list(policies, (str, Path, PolicySpec, PolicyUnderTest))
    if isinstance(policies, Mapping):
        named = [(str(name), p) for name, p in policies.items()]
    elif isinstance(policies, Sequence):
        named = [(None, p) for p in policies]
    else:
        raise ValueError(f"{arg}: expected a list or a {{name: policy}} mapping, got {policies!r}")
    if not named:
        raise ValueError(f"{arg}: no policies given, got {policies!r}")
    resolved = [resolve_policy(p, name) for name, p in named]
    names = [p.name for p in resolved]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(
            f"{arg}: policy names must be unique, repeated: {repeated}; "
            "pass a {name: policy} mapping to name them"
        )
    return resolved


def resolve_missions(missions: Any) -> list[MissionUnderTest]:
    """Missions in any form ``resolve_mission`` takes (one or a list), uniquely and validly named."""
    missions = _as_list(missions, (str, Path, MissionUnderTest))
    if isinstance(missions, tuple) and len(missions) == 2 and isinstance(missions[1], MettaGridConfig):
        missions = [missions]
    if not isinstance(missions, Sequence) or not missions:
        raise ValueError(f"missions: expected a non-empty list of missions, got {missions!r}")
    resolved = [resolve_mission(m) for m in missions]
    names = [m.name for m in resolved]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"missions: mission names must be unique, repeated: {repeated}")
    for name in names:
        check_name("mission", name)
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
) -> ComparisonReport:
    """Evaluate (common random numbers), build the report, compare, save: the shared body of every daf_*."""
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
) -> ComparisonReport:
    """Run every policy on every mission on the same seeds and compare them pairwise.

    ``policies``: shorthands (``random``), class paths, ``class=...,data=...`` strings, checkpoint
    directories, ``PolicySpec`` objects, or a ``{name: policy}`` mapping to choose report names.
    ``missions``: catalog names, mission files, or ``(name, MettaGridConfig)`` pairs as cogames takes them.
    Episode k of every policy uses seed ``seed + k``, so comparisons are paired. With ``output_dir`` the
    report and raw records are saved there, and a rerun reuses episodes already recorded.
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
    )


def daf_compare_from_config(
    config: DAFComparisonConfig, *, max_parallel_jobs: int = 1, show_progress: bool = True
) -> ComparisonReport:
    """Run a :class:`DAFComparisonConfig`; with ``save_raw_results`` files go to ``output_dir/name``.

    HTML reports belong to the visualization module, which DAF does not have yet: with
    ``generate_html_report`` set, a warning says that no HTML was written.
    """
    output_dir = Path(config.output_dir) / config.name if config.save_raw_results else None
    report = daf_compare_policies(
        config.policies,
        config.missions,
        config.episodes_per_mission,
        seed=config.seed,
        max_parallel_jobs=max_parallel_jobs,
        significance_level=config.significance_level,
        output_dir=output_dir,
        name=config.name,
        show_progress=show_progress,
    )
    if config.generate_html_report:
        logger.warning("generate_html_report: no HTML written (DAF has no visualization module yet)")
    return report


ABLATION_OVERRIDE_KEYS = ("init_kwargs", "data_path")


def ablation_variant(base: PolicyUnderTest, name: str, variant: Any) -> PolicyUnderTest:
    """One ablation variant: a full policy (any form ``resolve_policy`` takes), or overrides of the base.

    Overrides are a mapping with ``init_kwargs`` (merged over the base's init kwargs) and/or
    ``data_path`` (another checkpoint; None drops the weights, i.e. an untrained network).
    """
    if not isinstance(variant, Mapping):
        return resolve_policy(variant, name)
    unknown = sorted(set(variant) - set(ABLATION_OVERRIDE_KEYS))
    if unknown or not variant:
        raise ValueError(
            f"variants[{name!r}]: overrides may set {list(ABLATION_OVERRIDE_KEYS)}, got {dict(variant)!r}"
        )
    update: dict[str, Any] = {}
    if "init_kwargs" in variant:
        if not isinstance(variant["init_kwargs"], Mapping):
            raise ValueError(
                f"variants[{name!r}]: init_kwargs must be a mapping, got {variant['init_kwargs']!r}"
            )
        update["init_kwargs"] = {**base.spec.init_kwargs, **variant["init_kwargs"]}
    if "data_path" in variant:
        update["data_path"] = None if variant["data_path"] is None else str(variant["data_path"])
    return resolve_policy(base.spec.model_copy(update=update), name)


def daf_policy_ablation(
    base_policy: PolicyInput,
    variants: Mapping[str, PolicyInput | Mapping[str, Any]],
    missions: Sequence[MissionInput],
    episodes_per_mission: int = 5,
    *,
    base_name: str | None = None,
    seed: int = 0,
    max_parallel_jobs: int = 1,
    significance_level: float = 0.05,
    output_dir: str | Path | None = None,
    name: str = "ablation",
    show_progress: bool = True,
) -> ComparisonReport:
    """Evaluate the full policy and each variant on the same seeds; compare each variant to the full one.

    A variant is a policy with something changed: ``{"init_kwargs": {...}}`` or ``{"data_path": ...}``
    overrides of the base spec (a knob turned, another checkpoint), or any full policy - e.g. the same
    class with a component switched off, or ``noop`` as "every component off". Comparisons are variant vs
    base only (difference = variant - base), Holm-corrected across all variants and missions.
    """
    base = resolve_policy(base_policy, base_name)
    if not isinstance(variants, Mapping) or not variants:
        raise ValueError(
            f"variants: expected a non-empty {{variant_name: policy or overrides}} mapping, got {variants!r}"
        )
    if base.name in variants:
        raise ValueError(
            f"variants: variant name {base.name!r} is the base policy's name; rename the variant"
        )
    resolved = [base] + [ablation_variant(base, str(n), v) for n, v in variants.items()]
    for variant in resolved[1:]:
        if variant.fingerprint() == base.fingerprint():
            logger.warning("Ablation variant %r is identical to the base policy %r", variant.name, base.name)
    return run_comparison(
        "ablation",
        name,
        resolved,
        resolve_missions(missions),
        check_episodes(episodes_per_mission),
        seed=seed,
        max_parallel_jobs=max_parallel_jobs,
        significance_level=significance_level,
        output_dir=output_dir,
        show_progress=show_progress,
        baseline=base.name,
        extra_metadata={
            "variants": {n: v if isinstance(v, Mapping) else str(v) for n, v in variants.items()}
        },
    )


# --------------------------------------------------------------------------------------------------
# Benchmark suites (re-exported)
# --------------------------------------------------------------------------------------------------

_BENCHMARK_NAMES = ("BENCHMARK_SUITES", "BenchmarkSuite", "daf_benchmark_suite", "get_benchmark_suite")


def __getattr__(name: str) -> Any:
    """Re-export the benchmark suites on first use: :mod:`daf_core.benchmarks` imports this module (its
    suites run through :func:`run_comparison`), so importing it here at load time would be a cycle."""
    if name in _BENCHMARK_NAMES:
        from daf_core import benchmarks  # noqa: PLC0415 - imports this module; see the docstring

        return getattr(benchmarks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
