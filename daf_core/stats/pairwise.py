"""Two policies compared on one mission: the primary test, a rank test beside it, effect sizes, PoI.

The interval of the mean difference is the primary t procedure's own interval (Welch's, or the t
interval of the paired differences), so it excludes 0 exactly when that test's raw p-value is below
1 - confidence. Comparisons across missions are :mod:`daf_core.stats.across_missions`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.stats
from numpy.typing import ArrayLike

from daf_core.stats._validation import as_sample, check_unit_interval, finite_or_none, is_constant
from daf_core.stats.effect_sizes import (
    cohens_dz,
    cohens_dz_variance,
    hedges_g,
    hedges_g_variance,
    normal_interval,
    paired_win_rate,
    probability_of_improvement,
)
from daf_core.stats.t_tests import paired_t, welch_t


@dataclass(frozen=True)
class PairwiseTest:
    """One comparison of policy a against policy b (on one mission, or aggregated across missions).

    Differences are a - b. ``p_value`` is the primary test (``test_name``); the other family's test is
    reported beside it (``nonparametric_test`` / ``p_value_nonparametric``) so a reviewer can see whether
    the conclusion depends on normality. ``mean_diff_ci_*`` is the primary t procedure's interval.
    ``probability_of_improvement`` is P(a > b) + P(a = b)/2 over all pairs of episodes (the mean over
    missions for an aggregate); ``paired_win_rate`` is the fraction of matched seeds a wins (None when
    unpaired). ``p_adjusted`` and ``significant`` refer to the family the test was corrected in:
    ``compare_samples`` treats a lone comparison as a family of one (p_adjusted = p_value);
    ``apply_correction`` replaces both with Holm-adjusted values. Undefined quantities are None, never
    NaN or inf; ``note`` says why.
    """

    policy_a: str
    policy_b: str
    mission: str | None
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    mean_diff: float
    mean_diff_ci_low: float | None
    mean_diff_ci_high: float | None
    confidence: float
    paired: bool
    # "welch_t" | "paired_t" | "stratified_t", or the rank/permutation test where t is infinite
    test_name: str
    statistic: float | None
    p_value: float | None
    nonparametric_test: str  # "mann_whitney_u" | "wilcoxon_signed_rank" | "stratified_permutation"
    statistic_nonparametric: float | None
    p_value_nonparametric: float | None
    effect_size_name: str  # "hedges_g" | "cohens_dz" | "mean_hedges_g" | "mean_cohens_dz"
    effect_size: float | None
    effect_ci_low: float | None
    effect_ci_high: float | None
    probability_of_improvement: float
    paired_win_rate: float | None
    alpha: float
    p_adjusted: float | None
    significant: bool
    note: str = ""


INFERENTIAL_FIELDS = (
    "statistic",
    "p_value",
    "statistic_nonparametric",
    "p_value_nonparametric",
    "effect_size",
    "effect_ci_low",
    "effect_ci_high",
    "mean_diff_ci_low",
    "mean_diff_ci_high",
)


def finish_test(descriptive: dict, inferential: dict, alpha: float) -> PairwiseTest:
    """Assemble a PairwiseTest as a family of one, turning any NaN/inf scipy produced into None + note."""
    notes = [n for n in [inferential.pop("note", "")] if n]
    for key in INFERENTIAL_FIELDS:
        raw = inferential.get(key)
        inferential[key] = finite_or_none(raw)
        if raw is not None and inferential[key] is None:
            notes.append(f"{key} was not finite; reported as None")
    p = inferential["p_value"]
    return PairwiseTest(
        **descriptive,
        **inferential,
        alpha=alpha,
        p_adjusted=p,
        significant=p is not None and p < alpha,
        note="; ".join(notes),
    )


def too_few(test_name: str, nonparametric: str, effect_name: str, why: str) -> dict:
    """The inferential fields of a comparison with too little data for any test."""
    return dict(
        test_name=test_name,
        statistic=None,
        p_value=None,
        nonparametric_test=nonparametric,
        statistic_nonparametric=None,
        p_value_nonparametric=None,
        effect_size_name=effect_name,
        effect_size=None,
        effect_ci_low=None,
        effect_ci_high=None,
        mean_diff_ci_low=None,
        mean_diff_ci_high=None,
        note=f"too few samples: {why} needed for a test; nothing inferential computed",
    )


def compare_samples(
    a: ArrayLike,
    b: ArrayLike,
    *,
    paired: bool = False,
    names: tuple[str, str] = ("a", "b"),
    mission: str | None = None,
    alpha: float = 0.05,
    confidence: float = 0.95,
) -> PairwiseTest:
    """Compare two policies' per-episode scores: tests, effect size, PoI and a CI of the difference.

    Unpaired (independent episodes): Welch's t-test is primary - it does not assume equal variances,
    and policies rarely have them - with Welch's interval of the difference and the two-sided
    Mann-Whitney U test beside it (scipy's ``auto`` method: exact without ties for small samples, else
    normal approximation with tie correction). Effect size is Hedges' g.

    Paired (``paired=True``; a[i] and b[i] share seed i, e.g. common random numbers): the paired t-test
    is primary with the t interval of the differences, the Wilcoxon signed-rank test (zero differences
    dropped, scipy's default) beside it. Effect size is Cohen's d_z = mean(d) / sd(d): the standardized
    effect the paired t-test actually tests (t = d_z sqrt(n)), chosen over g_av because the pairing is
    part of the design here. The paired win rate is reported beside the probability of improvement.

    Both t procedures hold their level by construction on normal data (checked by simulation in
    tests/stats: a true null is rejected at alpha 0.05 in 4.3-5.6% of samples at 5, 10 and 20
    episodes), and the difference's interval covers as measured in :mod:`daf_core.stats.t_tests`.

    Effect-size CIs are the analytic normal approximations (Hedges & Olkin 1985):
    var(g) = (n_a + n_b) / (n_a n_b) + g^2 / (2 (n_a + n_b)); var(d_z) = 1/n + d_z^2 / (2n).

    Degenerate cases (rule in ``note``, nothing undefined leaks as NaN/inf):

    * fewer than 2 values in a group (pairs, when paired): no test, p-values, interval and effect None,
      significant False - "too few samples".
    * no variation at all and no difference (both samples the same constant; or every paired difference
      0): p = 1.0, statistics 0, effect 0.0 with no interval, difference interval [0, 0].
    * zero within-group variance but a difference (two different constants; or every paired difference
      the same non-zero value): the t statistic is infinite and any standardized effect is undefined
      (effect None); the difference's interval is the point. The primary test becomes the rank test
      with its *exact* permutation p-value (U: 2 / C(n_a + n_b, n_a); signed rank: 2 / 2^n), which is
      the honest answer to "could this separation arise by chance with so few episodes?".

    Raises ValueError for paired samples of different lengths, empty/NaN input, or bad alpha/confidence.
    """
    alpha = check_unit_interval("alpha", alpha)
    confidence = check_unit_interval("confidence", confidence)
    if len(names) != 2:
        raise ValueError(f"names must be a pair of policy names, got {names!r}")
    xa, xb = as_sample(a, "a"), as_sample(b, "b")
    if paired and xa.size != xb.size:
        raise ValueError(
            f"paired comparison needs equal lengths (episodes matched by seed), "
            f"got len(a)={xa.size}, len(b)={xb.size}"
        )
    descriptive = dict(
        policy_a=str(names[0]),
        policy_b=str(names[1]),
        mission=mission,
        n_a=int(xa.size),
        n_b=int(xb.size),
        mean_a=float(xa.mean()),
        mean_b=float(xb.mean()),
        mean_diff=float(xa.mean() - xb.mean()),
        confidence=confidence,
        paired=paired,
        probability_of_improvement=probability_of_improvement(xa, xb),
        paired_win_rate=paired_win_rate(xa, xb) if paired else None,
    )
    inferential = _paired_fields(xa, xb, confidence) if paired else _unpaired_fields(xa, xb, confidence)
    return finish_test(descriptive, inferential, alpha)


def _unpaired_fields(xa: np.ndarray, xb: np.ndarray, confidence: float) -> dict:
    na, nb = xa.size, xb.size
    if na < 2 or nb < 2:
        return too_few("welch_t", "mann_whitney_u", "hedges_g", "at least 2 episodes per policy")
    out: dict = dict(nonparametric_test="mann_whitney_u", effect_size_name="hedges_g")
    if is_constant(xa) and is_constant(xb):
        diff = float(xa[0] - xb[0])
        out.update(mean_diff_ci_low=diff, mean_diff_ci_high=diff, effect_ci_low=None, effect_ci_high=None)
        if diff == 0.0:
            out.update(
                test_name="welch_t",
                statistic=0.0,
                p_value=1.0,
                statistic_nonparametric=na * nb / 2,
                p_value_nonparametric=1.0,
                effect_size=0.0,
                note="both samples are the same constant: no difference and no variance; "
                "p = 1.0, effect 0 (0/0 taken as no effect), no effect interval",
            )
            return out
        mwu = scipy.stats.mannwhitneyu(xa, xb, method="exact")
        out.update(
            test_name="mann_whitney_u",
            statistic=mwu.statistic,
            p_value=mwu.pvalue,
            statistic_nonparametric=mwu.statistic,
            p_value_nonparametric=mwu.pvalue,
            effect_size=None,
            note="zero within-group variance with different constants: t is infinite and the "
            "standardized effect undefined; p-value from the exact Mann-Whitney permutation test, "
            "the difference's interval is the point",
        )
        return out
    with warnings.catch_warnings():
        if is_constant(xa) or is_constant(xb):
            # scipy flags an exactly constant group as "precision loss"; its variance is exactly 0, and
            # Welch's t is well defined as long as the other group varies.
            warnings.filterwarnings("ignore", message="Precision loss", category=RuntimeWarning)
        t = welch_t(xa, xb, confidence)
    mwu = scipy.stats.mannwhitneyu(xa, xb, alternative="two-sided")
    g = hedges_g(xa, xb)
    ci = (None, None) if g is None else normal_interval(g, hedges_g_variance(g, na, nb), confidence)
    out.update(
        test_name="welch_t",
        statistic=t.statistic,
        p_value=t.p_value,
        mean_diff_ci_low=t.low,
        mean_diff_ci_high=t.high,
        statistic_nonparametric=mwu.statistic,
        p_value_nonparametric=mwu.pvalue,
        effect_size=g,
        effect_ci_low=ci[0],
        effect_ci_high=ci[1],
    )
    return out


def _paired_fields(xa: np.ndarray, xb: np.ndarray, confidence: float) -> dict:
    n = xa.size
    if n < 2:
        return too_few("paired_t", "wilcoxon_signed_rank", "cohens_dz", "at least 2 pairs")
    d = xa - xb
    out: dict = dict(nonparametric_test="wilcoxon_signed_rank", effect_size_name="cohens_dz")
    if is_constant(d):
        diff = float(d[0])
        out.update(mean_diff_ci_low=diff, mean_diff_ci_high=diff, effect_ci_low=None, effect_ci_high=None)
        if diff == 0.0:
            out.update(
                test_name="paired_t",
                statistic=0.0,
                p_value=1.0,
                statistic_nonparametric=0.0,
                p_value_nonparametric=1.0,
                effect_size=0.0,
                note="all paired differences are zero: p = 1.0 for both tests, effect 0, no effect interval",
            )
            return out
        w = scipy.stats.wilcoxon(d, method="exact")
        out.update(
            test_name="wilcoxon_signed_rank",
            statistic=w.statistic,
            p_value=w.pvalue,
            statistic_nonparametric=w.statistic,
            p_value_nonparametric=w.pvalue,
            effect_size=None,
            note="every paired difference is the same non-zero value: paired t is infinite and d_z "
            "undefined; p-value from the exact Wilcoxon signed-rank test, the difference's interval is "
            "the point",
        )
        return out
    t = paired_t(xa, xb, confidence)
    with warnings.catch_warnings():
        # scipy warns when it must switch from exact to normal approximation (zeros/ties); that is
        # the documented behaviour we accept, not a problem for the caller.
        warnings.simplefilter("ignore", UserWarning)
        w = scipy.stats.wilcoxon(d)
    dz = cohens_dz(xa, xb)
    ci = (None, None) if dz is None else normal_interval(dz, cohens_dz_variance(dz, n), confidence)
    out.update(
        test_name="paired_t",
        statistic=t.statistic,
        p_value=t.p_value,
        mean_diff_ci_low=t.low,
        mean_diff_ci_high=t.high,
        statistic_nonparametric=w.statistic,
        p_value_nonparametric=w.pvalue,
        effect_size=dz,
        effect_ci_low=ci[0],
        effect_ci_high=ci[1],
    )
    return out
