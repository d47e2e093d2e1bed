"""Benchmark suites: named, versioned sets of missions, episode count and seed - fixed exams for policies.

A suite's fingerprint hashes its whole definition (every mission's full ``MettaGridConfig`` and the
mettagrid version included), and :func:`daf_benchmark_suite` records it in the report's metadata, so
``report.comparable_with(other)`` can tell whether two results answered the same exam. Suites run through
:func:`daf_core.comparison.runner.run_comparison`, like every other comparison.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daf_core._internal.fingerprints import fingerprint
from daf_core.comparison.report import ComparisonReport
from daf_core.comparison.runner import (
    PolicyInput,
    check_episodes,
    check_stopping,
    package_versions,
    resolve_missions,
    resolve_policies,
    run_comparison,
)

if TYPE_CHECKING:
    from mettagrid.config.mettagrid_config import MettaGridConfig


@dataclass(frozen=True)
class BenchmarkSuite:
    """A named, versioned set of missions, episode count and seed: a fixed exam for policies.

    ``version`` is bumped by hand when the suite is changed on purpose. ``fingerprint()`` is what decides
    whether two results are comparable: it hashes the name, version, seed, episode count, the mettagrid
    version and every mission's full ``MettaGridConfig``, so it also catches changes nobody versioned
    (a built-in mission's definition edited, a simulator upgrade).
    """

    name: str
    version: str
    missions: tuple[str, ...]
    episodes_per_mission: int
    seed: int = 0
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "missions", tuple(str(m) for m in self.missions))
        if not self.missions:
            raise ValueError(f"missions: suite {self.name!r} needs at least one mission")
        check_episodes(self.episodes_per_mission)

    def env_configs(self) -> list[tuple[str, MettaGridConfig]]:
        """The suite's missions, resolved through the mission catalog (fresh configs each call)."""
        return [(m.name, m.env_cfg) for m in resolve_missions(list(self.missions))]

    def fingerprint(self) -> str:
        payload = {
            "name": self.name,
            "version": self.version,
            "seed": self.seed,
            "episodes_per_mission": self.episodes_per_mission,
            "mettagrid": package_versions()["mettagrid"],
            "missions": [[name, json.loads(cfg.model_dump_json())] for name, cfg in self.env_configs()],
        }
        return fingerprint(payload)

    def to_dict(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self),
            "missions": list(self.missions),
            "fingerprint": self.fingerprint(),
        }


BENCHMARK_SUITES: dict[str, BenchmarkSuite] = {
    "quick": BenchmarkSuite(
        name="quick",
        version="1",
        missions=("tiny_walk", "explore"),
        episodes_per_mission=5,
        seed=0,
        description="Smoke-test benchmark: two small missions, 5 episodes each (about a minute per policy).",
    ),
    "standard": BenchmarkSuite(
        name="standard",
        version="1",
        missions=("tiny_walk", "explore", "explore_large", "collect"),
        episodes_per_mission=20,
        seed=0,
        description="Every built-in mission, 20 episodes each: enough for paired tests to see modest gaps.",
    ),
}


def get_benchmark_suite(benchmark_name: str | BenchmarkSuite) -> BenchmarkSuite:
    if isinstance(benchmark_name, BenchmarkSuite):
        return benchmark_name
    if benchmark_name not in BENCHMARK_SUITES:
        close = difflib.get_close_matches(str(benchmark_name), BENCHMARK_SUITES, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"benchmark_name: unknown suite {benchmark_name!r}.{hint} "
            f"Known suites: {sorted(BENCHMARK_SUITES)}"
        )
    return BENCHMARK_SUITES[benchmark_name]


def daf_benchmark_suite(
    policy_specs: Sequence[PolicyInput] | Mapping[str, PolicyInput],
    benchmark_name: str | BenchmarkSuite = "standard",
    *,
    episodes_per_mission: int | None = None,
    max_parallel_jobs: int = 1,
    significance_level: float = 0.05,
    output_dir: str | Path | None = None,
    show_progress: bool = True,
    stop_when: str = "fixed",
    max_episodes: int | None = None,
    round_episodes: int = 5,
    equivalence_margin: float | None = None,
) -> ComparisonReport:
    """Run policies on a named suite (``quick``, ``standard``) or a :class:`BenchmarkSuite`.

    The report's ``metadata["suite"]`` records the suite's name, version and fingerprint; two reports
    are comparable (``report.comparable_with(other)``) only when the fingerprints match.
    ``episodes_per_mission`` overrides the suite's count - and therefore changes the fingerprint.
    One policy is fine (its scores stand on their own); with more, every pair is compared.

    ``stop_when="decided"`` runs the suite in rounds of ``round_episodes`` until every comparison is
    decided, at most ``max_episodes`` (default: the suite's episode count), exactly as
    :func:`~daf_core.comparison.daf_compare_policies` does; the suite's fingerprint stays the suite's
    (the same exam), and ``metadata["sequential"]`` says where the run stopped.
    """
    suite = get_benchmark_suite(benchmark_name)
    if episodes_per_mission is not None and episodes_per_mission != suite.episodes_per_mission:
        suite = dataclasses.replace(suite, episodes_per_mission=check_episodes(episodes_per_mission))
    settings = check_stopping(
        stop_when, max_episodes, round_episodes, equivalence_margin, suite.episodes_per_mission
    )
    suite_info = {**suite.to_dict(), "episodes_overridden": suite != get_benchmark_suite(benchmark_name)}
    return run_comparison(
        "benchmark",
        f"benchmark-{suite.name}-v{suite.version}",
        resolve_policies(policy_specs, "policy_specs"),
        resolve_missions(suite.env_configs()),
        suite.episodes_per_mission,
        seed=suite.seed,
        max_parallel_jobs=max_parallel_jobs,
        significance_level=significance_level,
        output_dir=output_dir,
        show_progress=show_progress,
        extra_metadata={"suite": suite_info},
        sequential_settings=settings,
    )
