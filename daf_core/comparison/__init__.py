"""Policy comparison: run policies on missions on the same seeds and compare them with honest statistics.

The face of the reference's ``daf.comparison``: :func:`daf_compare_policies`, :func:`daf_policy_ablation`,
:func:`daf_benchmark_suite` and the :class:`ComparisonReport` they return. Reports are data plus
statistics (:mod:`~daf_core.comparison.report`: t intervals for means and mean differences, bootstrap
intervals for IQMs, the probability of improvement over all pairs of episodes, Holm over every
comparison); one comparison is a :class:`PolicyComparisonResult` (:mod:`~daf_core.comparison.result`,
the stats result under the reference's names); the printed tables are
:mod:`~daf_core.comparison.printing`. Running the episodes behind a report is
:mod:`~daf_core.comparison.runner`'s job, so a saved report is read and re-analysed without the simulator.
"""

from daf_core.comparison.ablation import ABLATION_OVERRIDE_KEYS, ablation_variant, daf_policy_ablation
from daf_core.comparison.benchmarks import (
    BENCHMARK_SUITES,
    BenchmarkSuite,
    daf_benchmark_suite,
    get_benchmark_suite,
)
from daf_core.comparison.report import AGGREGATE_MISSION, ComparisonReport, PolicyComparisonResult
from daf_core.comparison.runner import daf_compare_policies

__all__ = [
    "ABLATION_OVERRIDE_KEYS",
    "AGGREGATE_MISSION",
    "BENCHMARK_SUITES",
    "BenchmarkSuite",
    "ComparisonReport",
    "PolicyComparisonResult",
    "ablation_variant",
    "daf_benchmark_suite",
    "daf_compare_policies",
    "daf_policy_ablation",
    "get_benchmark_suite",
]
