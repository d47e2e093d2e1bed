"""Statistics for policy comparison: intervals that hold their level, tests, effect sizes, correction.

Pure functions over arrays (numpy and scipy only: no mettagrid, pandas or torch), after rliable
(Agarwal et al. 2021, "Deep RL at the Edge of the Statistical Precipice"). The rooms:

* :mod:`~daf_core.stats.descriptive` - the IQM.
* :mod:`~daf_core.stats.t_tests` - t tests with the intervals that invert them (Student, paired,
  Welch, Welch-Satterthwaite), vectorised.
* :mod:`~daf_core.stats.intervals` - intervals of one policy's score: Student's t for a mean, a
  percentile bootstrap for the IQM, a Welch-Satterthwaite t for the mean over missions of per-mission
  means, a stratified bootstrap for the pooled IQM. Each one's coverage at 5, 10 and 20 episodes is
  measured by simulation in tests/stats and stated in its docstring - including where it falls short
  of 95% (skewed scores at 5 episodes).
* :mod:`~daf_core.stats.summary` - :func:`summarize`: one mission's scores described.
* :mod:`~daf_core.stats.effect_sizes` - Hedges' g, Cohen's d_z, the probability of improvement
  (P(X_a > X_b) + P(X_a = X_b)/2 over all pairs of episodes) and, separately, the paired win rate.
* :mod:`~daf_core.stats.pairwise` - :func:`compare_samples`: two policies on one mission.
* :mod:`~daf_core.stats.across_missions` - :func:`compare_across_missions`: two policies over missions,
  each mission weighing the same (means and PoI are means over missions).
* :mod:`~daf_core.stats.correction` - Holm's step-down correction of a family.
* :mod:`~daf_core.stats.sequential` - group-sequential designs (O'Brien-Fleming-type alpha spending)
  and repeated confidence intervals: decisions that stay valid when episodes run until decided.

Degenerate inputs (one episode, constant rewards, identical policies) are common in RL evaluation - a
sparse-reward mission often scores 0 for every episode. They get an explicit, documented rule and a
``note``; NaN and inf never appear in a result, ``None`` means "undefined", so
``json.dumps(dataclasses.asdict(result))`` is always valid strict JSON. Results are small frozen
dataclasses of plain Python floats/ints/strings.
"""

from daf_core.stats.across_missions import compare_across_missions
from daf_core.stats.correction import apply_correction, holm_bonferroni
from daf_core.stats.descriptive import iqm
from daf_core.stats.effect_sizes import (
    cohens_d,
    cohens_dz,
    hedges_g,
    paired_win_rate,
    probability_of_improvement,
)
from daf_core.stats.intervals import (
    Interval,
    IntervalEstimate,
    iqm_interval,
    mean_interval,
    mean_of_means_interval,
    stratified_bootstrap_ci,
)
from daf_core.stats.pairwise import PairwiseTest, compare_samples
from daf_core.stats.score_distributions import (
    PerformanceProfile,
    performance_profile,
    probability_of_improvement_interval,
)
from daf_core.stats.sequential import (
    DECISIONS,
    SequentialArrays,
    SequentialDesign,
    SequentialResult,
    check_margin,
    group_sequential_design,
    obrien_fleming_spending,
    planned_looks,
    sequential_decision,
    sequential_decisions,
    spending_boundaries,
)
from daf_core.stats.summary import Summary, summarize

__all__ = [
    "DECISIONS",
    "Interval",
    "IntervalEstimate",
    "PairwiseTest",
    "PerformanceProfile",
    "SequentialArrays",
    "SequentialDesign",
    "SequentialResult",
    "Summary",
    "apply_correction",
    "check_margin",
    "cohens_d",
    "cohens_dz",
    "compare_across_missions",
    "compare_samples",
    "group_sequential_design",
    "hedges_g",
    "holm_bonferroni",
    "iqm",
    "iqm_interval",
    "mean_interval",
    "mean_of_means_interval",
    "obrien_fleming_spending",
    "paired_win_rate",
    "performance_profile",
    "planned_looks",
    "probability_of_improvement",
    "probability_of_improvement_interval",
    "sequential_decision",
    "sequential_decisions",
    "spending_boundaries",
    "stratified_bootstrap_ci",
    "summarize",
]
