"""Statistics for policy comparison: bootstrap CIs, tests, effect sizes, multiple-comparison correction.

Why this module looks the way it does (after rliable, Agarwal et al. 2021, "Deep RL at the Edge of the
Statistical Precipice"):

* Few episodes per mission is the norm, so every point estimate comes with an interval, and robust
  aggregates (IQM) sit beside the mean.
* scipy.stats does the arithmetic (``bootstrap``, ``ttest_ind``, ``ttest_rel``, ``mannwhitneyu``,
  ``wilcoxon``, ``trim_mean``); this module only chooses, guards and documents.
* Degenerate inputs (one episode, constant rewards, identical policies) are common in RL evaluation -
  a sparse-reward mission often scores 0 for every episode. They get an explicit, documented rule and a
  ``note``; NaN and inf never appear in a result, ``None`` means "undefined", so
  ``json.dumps(dataclasses.asdict(result))`` is always valid strict JSON.
* Results are small frozen dataclasses of plain Python floats/ints/strings.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import scipy.stats
from numpy.typing import ArrayLike

logger = logging.getLogger(__name__)

__all__ = [
    "Interval",
    "PairwiseTest",
    "Summary",
    "apply_correction",
    "cohens_d",
    "compare_samples",
    "hedges_g",
    "holm_bonferroni",
    "iqm",
    "probability_of_improvement",
    "stratified_bootstrap_ci",
    "summarize",
]

CIMethod = Literal["percentile", "bca"]
AggregateStatistic = Literal["mean", "iqm"]


# --------------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------------


def _check_unit_interval(name: str, value: float) -> float:
    """alpha and confidence are probabilities strictly inside (0, 1); anything else is a caller bug."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")
    if not (0.0 < float(value) < 1.0):
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    return float(value)


def _check_n_resamples(n_resamples: int) -> int:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int | np.integer) or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    return int(n_resamples)


def _check_method(method: str) -> str:
    if method not in ("percentile", "bca"):
        raise ValueError(f"method must be 'percentile' or 'bca', got {method!r}")
    return method


def _as_sample(values: ArrayLike, name: str) -> np.ndarray:
    """A 1-D float array with at least one finite value and no NaN/inf.

    NaN is rejected, not dropped: a NaN reward means a broken episode, and silently averaging over the
    rest would hide it.
    """
    x = np.asarray(values, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{name} is empty; at least one value is needed")
    n_nan = int(np.isnan(x).sum())
    if n_nan:
        raise ValueError(f"{name} contains {n_nan} NaN value(s) out of {x.size}")
    n_inf = int(np.isinf(x).sum())
    if n_inf:
        raise ValueError(f"{name} contains {n_inf} infinite value(s) out of {x.size}")
    return x


def _is_constant(x: np.ndarray) -> bool:
    return bool(np.ptp(x) == 0.0)


def _finite_or_none(value: float | None) -> float | None:
    """Plain float, or None where scipy produced NaN/inf (never leak those into a report)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# --------------------------------------------------------------------------------------------------
# Point statistics
# --------------------------------------------------------------------------------------------------


def iqm(x: ArrayLike) -> float:
    """Interquartile mean: the mean of the middle 50% of the values.

    rliable's recommended aggregate: robust to the outlier episodes RL produces (unlike the mean) yet
    uses half the data (unlike the median), so its CIs are tight. Computed as
    ``scipy.stats.trim_mean(x, 0.25)``, which removes ``floor(n / 4)`` values from each end with no
    fractional weighting - so for n < 4 it equals the plain mean, and for 1..8 it is mean(3..6) = 4.5.
    """
    return float(scipy.stats.trim_mean(_as_sample(x, "x"), 0.25))


def cohens_d(a: ArrayLike, b: ArrayLike) -> float | None:
    """Cohen's d = (mean_a - mean_b) / pooled SD, pooled SD with n_a + n_b - 2 degrees of freedom.

    Returns None where it is undefined: fewer than 3 values in total (no degrees of freedom), or zero
    pooled SD with different means (an infinite standardized effect). Zero pooled SD with equal means
    returns 0.0: there is no difference to standardize.
    """
    xa, xb = _as_sample(a, "a"), _as_sample(b, "b")
    na, nb = xa.size, xb.size
    diff = float(xa.mean() - xb.mean())
    df = na + nb - 2
    if df < 1:
        return None
    ss = (na - 1) * (xa.var(ddof=1) if na > 1 else 0.0) + (nb - 1) * (xb.var(ddof=1) if nb > 1 else 0.0)
    pooled_sd = math.sqrt(ss / df)
    if pooled_sd == 0.0:
        return 0.0 if diff == 0.0 else None
    return _finite_or_none(diff / pooled_sd)


def _hedges_j(df: int) -> float:
    """Exact small-sample bias correction J(df) = Gamma(df/2) / (sqrt(df/2) Gamma((df-1)/2)).

    Hedges & Olkin (1985); the familiar 1 - 3/(4 df - 1) is its approximation. J(1) = 0.
    """
    if df <= 1:
        return 0.0
    from scipy.special import gammaln

    return float(math.exp(gammaln(df / 2) - gammaln((df - 1) / 2)) / math.sqrt(df / 2))


def hedges_g(a: ArrayLike, b: ArrayLike) -> float | None:
    """Hedges' g = J(n_a + n_b - 2) * Cohen's d: Cohen's d without its small-sample upward bias.

    With 5-10 episodes per policy d overstates the effect by 5-10 %; g removes that, which is why it is
    the unpaired effect size DAF reports. J is the exact gamma-function form (see ``_hedges_j``).
    None where Cohen's d is undefined (see ``cohens_d``).
    """
    d = cohens_d(a, b)
    if d is None:
        return None
    na, nb = np.asarray(a).size, np.asarray(b).size
    return float(_hedges_j(na + nb - 2) * d)


def probability_of_improvement(a: ArrayLike, b: ArrayLike, paired: bool = False) -> float:
    """P(X_a > X_b) + 0.5 P(X_a = X_b): how often policy a beats policy b, ties counted half.

    Unpaired, this is the Mann-Whitney U statistic of a divided by n_a * n_b (the AUC, rliable's
    "probability of improvement"): every episode of a against every episode of b, computed from
    scipy's mid-ranks so ties count one half. Paired (episodes matched by seed), it is the fraction of
    pairs where a beats b plus half the tied pairs - comparing a's seed-3 episode to b's seed-7 episode
    would throw away the pairing that makes the comparison sharp.
    """
    xa, xb = _as_sample(a, "a"), _as_sample(b, "b")
    if paired:
        if xa.size != xb.size:
            raise ValueError(f"paired samples must have equal length, got len(a)={xa.size}, len(b)={xb.size}")
        d = xa - xb
        return float(np.mean(d > 0) + 0.5 * np.mean(d == 0))
    # U_a from mid-ranks of the pooled sample (ties get the average rank, i.e. count one half).
    ranks = scipy.stats.rankdata(np.concatenate([xa, xb]))
    u_a = ranks[: xa.size].sum() - xa.size * (xa.size + 1) / 2
    return float(u_a / (xa.size * xb.size))


# --------------------------------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------------------------------


def _bootstrap_ci(
    samples: Sequence[np.ndarray],
    statistic: Callable[..., np.ndarray],
    *,
    confidence: float,
    n_resamples: int,
    seed: int,
    method: str,
) -> tuple[float, float, str]:
    """Independent (stratified) bootstrap CI of ``statistic(*samples, axis=-1)`` via scipy.stats.bootstrap.

    scipy resamples each sample independently, which is exactly the stratified bootstrap. Constant
    samples (including single values) are held fixed instead of resampled: resampling them cannot
    change them, and scipy refuses samples of size 1. If every sample is constant the statistic is
    the same in every resample and the interval is the point. A BCa interval that scipy cannot compute
    (degenerate jackknife) falls back to the percentile interval, said in the returned note.
    """
    point = float(statistic(*samples, axis=-1))
    varying = [i for i, s in enumerate(samples) if not _is_constant(s)]
    if not varying:
        return point, point, "zero variance in every resampled group: the interval is the point estimate"

    def wrapped(*resampled: np.ndarray, axis: int = -1) -> np.ndarray:
        batch = np.broadcast_shapes(*(r.shape[:-1] for r in resampled))
        full = list(samples)
        for i, r in zip(varying, resampled, strict=True):
            full[i] = r
        full = [np.broadcast_to(s, batch + s.shape[-1:]) for s in full]
        return statistic(*full, axis=-1)

    def run(m: str) -> tuple[float, float]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", scipy.stats.DegenerateDataWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            res = scipy.stats.bootstrap(
                tuple(samples[i] for i in varying),
                wrapped,
                n_resamples=n_resamples,
                confidence_level=confidence,
                method="BCa" if m == "bca" else "percentile",
                vectorized=True,
                rng=np.random.default_rng(seed),
            )
        return float(res.confidence_interval.low), float(res.confidence_interval.high)

    note = ""
    low, high = run(method)
    if not (math.isfinite(low) and math.isfinite(high)):
        logger.debug("BCa interval undefined for these data; falling back to percentile")
        low, high = run("percentile")
        note = "BCa interval undefined for these data (degenerate jackknife); percentile interval reported"
    # Numerical safety: a percentile interval always brackets a value the data can produce; keep order.
    low, high = min(low, high), max(low, high)
    return low, high, note


@dataclass(frozen=True)
class Summary:
    """Descriptive statistics of one sample with a bootstrap CI of its mean."""

    n: int
    mean: float
    std: float  # ddof=1; 0.0 when n == 1
    median: float
    iqm: float
    min: float
    max: float
    ci_low: float
    ci_high: float
    confidence: float
    ci_method: str
    note: str = ""


def summarize(
    values: ArrayLike,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    method: CIMethod = "percentile",
) -> Summary:
    """Describe one policy's per-episode scores, with a seeded bootstrap CI of the mean.

    The CI is the percentile bootstrap by default (rliable's default; BCa via ``method="bca"`` corrects
    bias and skew but needs a non-degenerate jackknife and falls back to percentile when it has none).
    Note that with very few episodes any bootstrap CI is too narrow - it cannot see variation the
    sample never showed. Special cases, each explained in ``note``:

    * n == 1: std 0.0 and CI [x, x] - "single sample, no interval".
    * all values equal: CI [mean, mean], every resample has the same mean.

    Raises ValueError if ``values`` is empty or holds NaN/inf (how many is in the message).
    """
    confidence = _check_unit_interval("confidence", confidence)
    n_resamples = _check_n_resamples(n_resamples)
    method = _check_method(method)
    x = _as_sample(values, "values")
    n = int(x.size)
    mean = float(x.mean())
    common = dict(
        n=n,
        mean=mean,
        std=float(x.std(ddof=1)) if n > 1 else 0.0,
        median=float(np.median(x)),
        iqm=float(scipy.stats.trim_mean(x, 0.25)),
        min=float(x.min()),
        max=float(x.max()),
        confidence=confidence,
        ci_method=method,
    )
    if n == 1:
        return Summary(**common, ci_low=mean, ci_high=mean, note="single sample, no interval")
    if _is_constant(x):
        note = "zero variance: every bootstrap resample has the same mean, so the interval is [mean, mean]"
        return Summary(**common, ci_low=mean, ci_high=mean, note=note)
    low, high, note = _bootstrap_ci(
        [x], np.mean, confidence=confidence, n_resamples=n_resamples, seed=seed, method=method
    )
    if note:
        common["ci_method"] = "percentile"
    return Summary(**common, ci_low=low, ci_high=high, note=note)


class Interval(NamedTuple):
    """(point, low, high); unpacks like a plain tuple."""

    point: float
    low: float
    high: float


def _mean_of_means(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(np.stack([np.mean(s, axis=axis) for s in samples], axis=0), axis=0)


def _pooled_iqm(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
    return scipy.stats.trim_mean(np.concatenate(samples, axis=axis), 0.25, axis=axis)


def stratified_bootstrap_ci(
    groups: Mapping[str, ArrayLike],
    statistic: AggregateStatistic = "mean",
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    method: CIMethod = "percentile",
) -> Interval:
    """Aggregate score across missions with a stratified bootstrap CI (rliable's aggregate estimates).

    ``groups`` maps mission name -> that mission's per-episode scores for one policy. Each mission is
    a stratum: a resample draws episodes with replacement *within* each mission, independently, so
    every resample keeps every mission and its episode count - missions are the fixed design, episodes
    the noise (scipy.stats.bootstrap resamples multiple samples exactly this way).

    * ``"mean"``: the mean of per-mission means. Every mission weighs the same whatever its episode
      count (rliable's aggregate mean, where tasks are columns of the score matrix).
    * ``"iqm"``: the IQM of all scores pooled across missions (rliable's aggregate IQM: trim_mean over
      the whole runs x tasks matrix). With unequal episode counts a mission weighs by its episodes.

    Scores are used as given: if missions have very different scales (one scores 0-1, another 0-100),
    the large-scale mission dominates both statistics - normalize per mission first if that is not
    wanted. Returns ``Interval(point, low, high)``.
    """
    confidence = _check_unit_interval("confidence", confidence)
    n_resamples = _check_n_resamples(n_resamples)
    method = _check_method(method)
    if statistic not in ("mean", "iqm"):
        raise ValueError(f"statistic must be 'mean' or 'iqm', got {statistic!r}")
    if not groups:
        raise ValueError("groups is empty; at least one mission with scores is needed")
    samples = [_as_sample(v, f"groups[{k!r}]") for k, v in groups.items()]
    fn = _mean_of_means if statistic == "mean" else _pooled_iqm
    low, high, _ = _bootstrap_ci(
        samples, fn, confidence=confidence, n_resamples=n_resamples, seed=seed, method=method
    )
    point = float(fn(*samples, axis=-1))
    return Interval(point, low, high)


# --------------------------------------------------------------------------------------------------
# Pairwise tests
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairwiseTest:
    """One comparison of policy a against policy b (optionally on one mission).

    Differences are a - b. ``p_value`` is the primary test (``test_name``); the other family's test is
    reported beside it (``nonparametric_test`` / ``p_value_nonparametric``) so a reviewer can see whether
    the conclusion depends on normality. ``p_adjusted`` and ``significant`` refer to the family the test
    was corrected in: ``compare_samples`` treats a lone comparison as a family of one
    (p_adjusted = p_value); ``apply_correction`` replaces both with Holm-adjusted values.
    Undefined quantities are None, never NaN or inf; ``note`` says why.
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
    test_name: str  # "welch_t" | "paired_t" | "mann_whitney_u" | "wilcoxon_signed_rank"
    statistic: float | None
    p_value: float | None
    nonparametric_test: str  # "mann_whitney_u" | "wilcoxon_signed_rank"
    statistic_nonparametric: float | None
    p_value_nonparametric: float | None
    effect_size_name: str  # "hedges_g" | "cohens_dz"
    effect_size: float | None
    effect_ci_low: float | None
    effect_ci_high: float | None
    probability_of_improvement: float
    alpha: float
    p_adjusted: float | None
    significant: bool
    note: str = ""


def _normal_ci(estimate: float, variance: float, confidence: float) -> tuple[float, float]:
    z = float(scipy.stats.norm.ppf(0.5 + confidence / 2))
    half = z * math.sqrt(variance)
    return estimate - half, estimate + half


def compare_samples(
    a: ArrayLike,
    b: ArrayLike,
    *,
    paired: bool = False,
    names: tuple[str, str] = ("a", "b"),
    mission: str | None = None,
    alpha: float = 0.05,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> PairwiseTest:
    """Compare two policies' per-episode scores: tests, effect size, PoI and a CI of the difference.

    Unpaired (independent episodes): Welch's t-test is primary - it does not assume equal variances,
    and policies rarely have them - with the two-sided Mann-Whitney U test beside it (scipy's ``auto``
    method: exact without ties for small samples, else normal approximation with tie correction).
    Effect size is Hedges' g.

    Paired (``paired=True``; a[i] and b[i] share seed i, e.g. common random numbers): the paired t-test
    is primary, the Wilcoxon signed-rank test (zero differences dropped, scipy's default) beside it.
    Effect size is Cohen's d_z = mean(d) / sd(d): the standardized effect the paired t-test actually
    tests (t = d_z sqrt(n)), chosen over g_av because the pairing is part of the design here.

    Effect-size CIs are the analytic normal approximations (Hedges & Olkin 1985):
    var(g) = (n_a + n_b) / (n_a n_b) + g^2 / (2 (n_a + n_b)); var(d_z) = 1/n + d_z^2 / (2n). They are
    deterministic and cheap; a bootstrap of a standardized effect over 5-10 episodes is not better.
    The CI of the raw mean difference is a seeded percentile bootstrap (pairs resampled together when
    paired, each policy independently otherwise).

    Degenerate cases (rule in ``note``, nothing undefined leaks as NaN/inf):

    * fewer than 2 values in a group (pairs, when paired): no test, p-values and effect None,
      significant False - "too few samples".
    * no variation at all and no difference (both samples the same constant; or every paired difference
      0): p = 1.0, statistics 0, effect 0.0 with no interval.
    * zero within-group variance but a difference (two different constants; or every paired difference
      the same non-zero value): the t statistic is infinite and any standardized effect is undefined
      (effect None). The primary test becomes the rank test with its *exact* permutation p-value
      (U: 2 / C(n_a + n_b, n_a); signed rank: 2 / 2^n), which is the honest answer to "could this
      separation arise by chance with so few episodes?".

    Raises ValueError for paired samples of different lengths, empty/NaN input, or bad alpha/confidence.
    """
    alpha = _check_unit_interval("alpha", alpha)
    confidence = _check_unit_interval("confidence", confidence)
    n_resamples = _check_n_resamples(n_resamples)
    if len(names) != 2:
        raise ValueError(f"names must be a pair of policy names, got {names!r}")
    xa, xb = _as_sample(a, "a"), _as_sample(b, "b")
    if paired and xa.size != xb.size:
        raise ValueError(
            f"paired comparison needs equal lengths (episodes matched by seed), "
            f"got len(a)={xa.size}, len(b)={xb.size}"
        )
    common = dict(
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
        probability_of_improvement=probability_of_improvement(xa, xb, paired=paired),
        alpha=alpha,
    )
    boot = dict(confidence=confidence, n_resamples=n_resamples, seed=seed)
    fields = (
        _paired_fields(xa, xb, confidence, boot) if paired else _unpaired_fields(xa, xb, confidence, boot)
    )
    # Never let scipy's NaN/inf escape, whatever path produced the numbers.
    notes = [n for n in [fields.pop("note", "")] if n]
    for key in (
        "statistic",
        "p_value",
        "statistic_nonparametric",
        "p_value_nonparametric",
        "effect_size",
        "effect_ci_low",
        "effect_ci_high",
        "mean_diff_ci_low",
        "mean_diff_ci_high",
    ):
        raw = fields.get(key)
        fields[key] = _finite_or_none(raw)
        if raw is not None and fields[key] is None:
            notes.append(f"{key} was not finite; reported as None")
    p = fields["p_value"]
    return PairwiseTest(
        **common,
        **fields,
        p_adjusted=p,
        significant=p is not None and p < alpha,
        note="; ".join(notes),
    )


def _too_few(test_name: str, nonparametric: str, effect_name: str, minimum: str) -> dict:
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
        note=f"too few samples: {minimum} needed for a test; nothing inferential computed",
    )


def _diff_of_means(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def _unpaired_fields(xa: np.ndarray, xb: np.ndarray, confidence: float, boot: dict) -> dict:
    na, nb = xa.size, xb.size
    if na < 2 or nb < 2:
        return _too_few("welch_t", "mann_whitney_u", "hedges_g", "at least 2 episodes per policy")
    low, high, _ = _bootstrap_ci([xa, xb], _diff_of_means, method="percentile", **boot)
    out: dict = dict(mean_diff_ci_low=low, mean_diff_ci_high=high, effect_size_name="hedges_g")
    out["nonparametric_test"] = "mann_whitney_u"
    if _is_constant(xa) and _is_constant(xb):
        if xa[0] == xb[0]:
            out.update(
                test_name="welch_t",
                statistic=0.0,
                p_value=1.0,
                statistic_nonparametric=na * nb / 2,
                p_value_nonparametric=1.0,
                effect_size=0.0,
                effect_ci_low=None,
                effect_ci_high=None,
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
            effect_ci_low=None,
            effect_ci_high=None,
            note="zero within-group variance with different constants: t is infinite and the "
            "standardized effect undefined; p-value from the exact Mann-Whitney permutation test",
        )
        return out
    with warnings.catch_warnings():
        if _is_constant(xa) or _is_constant(xb):
            # scipy flags an exactly constant group as "precision loss"; its variance is exactly 0, and
            # Welch's t is well defined as long as the other group varies.
            warnings.filterwarnings("ignore", message="Precision loss", category=RuntimeWarning)
        t = scipy.stats.ttest_ind(xa, xb, equal_var=False)
    mwu = scipy.stats.mannwhitneyu(xa, xb, alternative="two-sided")
    g = hedges_g(xa, xb)
    ci = (None, None)
    if g is not None:
        ci = _normal_ci(g, (na + nb) / (na * nb) + g**2 / (2 * (na + nb)), confidence)
    out.update(
        test_name="welch_t",
        statistic=t.statistic,
        p_value=t.pvalue,
        statistic_nonparametric=mwu.statistic,
        p_value_nonparametric=mwu.pvalue,
        effect_size=g,
        effect_ci_low=ci[0],
        effect_ci_high=ci[1],
    )
    return out


def _paired_fields(xa: np.ndarray, xb: np.ndarray, confidence: float, boot: dict) -> dict:
    n = xa.size
    if n < 2:
        return _too_few("paired_t", "wilcoxon_signed_rank", "cohens_dz", "at least 2 pairs")
    d = xa - xb
    low, high, _ = _bootstrap_ci([d], np.mean, method="percentile", **boot)
    out: dict = dict(mean_diff_ci_low=low, mean_diff_ci_high=high, effect_size_name="cohens_dz")
    out["nonparametric_test"] = "wilcoxon_signed_rank"
    if _is_constant(d):
        if d[0] == 0.0:
            out.update(
                test_name="paired_t",
                statistic=0.0,
                p_value=1.0,
                statistic_nonparametric=0.0,
                p_value_nonparametric=1.0,
                effect_size=0.0,
                effect_ci_low=None,
                effect_ci_high=None,
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
            effect_ci_low=None,
            effect_ci_high=None,
            note="every paired difference is the same non-zero value: paired t is infinite and d_z "
            "undefined; p-value from the exact Wilcoxon signed-rank test",
        )
        return out
    t = scipy.stats.ttest_rel(xa, xb)
    with warnings.catch_warnings():
        # scipy warns when it must switch from exact to normal approximation (zeros/ties); that is
        # the documented behaviour we accept, not a problem for the caller.
        warnings.simplefilter("ignore", UserWarning)
        w = scipy.stats.wilcoxon(d)
    dz = float(d.mean() / d.std(ddof=1))
    ci = _normal_ci(dz, 1 / n + dz**2 / (2 * n), confidence)
    out.update(
        test_name="paired_t",
        statistic=t.statistic,
        p_value=t.pvalue,
        statistic_nonparametric=w.statistic,
        p_value_nonparametric=w.pvalue,
        effect_size=dz,
        effect_ci_low=ci[0],
        effect_ci_high=ci[1],
    )
    return out


# --------------------------------------------------------------------------------------------------
# Multiple comparisons
# --------------------------------------------------------------------------------------------------


def holm_bonferroni(
    p_values: Sequence[float | None], alpha: float = 0.05
) -> tuple[list[float | None], list[bool]]:
    """Holm's step-down correction: family-wise error <= alpha over all given tests, any dependence.

    Chosen over Bonferroni (uniformly more powerful, same guarantee) and over Benjamini-Hochberg
    (``scipy.stats.false_discovery_control``), which controls the false discovery rate - a weaker
    promise than a reviewer reading "significant" expects.

    Sort the m defined p-values ascending p_(1) <= ... <= p_(m); adjusted p_(i) =
    max_{j <= i} min(1, (m - j + 1) p_(j)) (the running max keeps adjusted values monotone in the raw
    ones). Reject where adjusted < alpha (strict, the same rule as ``PairwiseTest.significant``).
    None (a test that could not be run) is not counted in m and passes through as (None, False).
    """
    alpha = _check_unit_interval("alpha", alpha)
    defined: list[tuple[int, float]] = []
    for i, p in enumerate(p_values):
        if p is None:
            continue
        p = float(p)
        if not (0.0 <= p <= 1.0):  # also catches NaN
            raise ValueError(f"p_values[{i}] must be in [0, 1] or None, got {p!r}")
        defined.append((i, p))
    adjusted: list[float | None] = [None] * len(p_values)
    reject = [False] * len(p_values)
    m = len(defined)
    running = 0.0
    for rank, (i, p) in enumerate(sorted(defined, key=lambda ip: ip[1])):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
        reject[i] = running < alpha
    return adjusted, reject


def apply_correction(tests: Sequence[PairwiseTest], alpha: float = 0.05) -> list[PairwiseTest]:
    """Holm-correct the primary p-values of all given tests as one family (all pairs x missions).

    Returns new PairwiseTest objects with ``p_adjusted`` and ``significant`` (p_adjusted < alpha) and
    ``alpha`` filled; tests without a p-value stay (None, False). Pass every comparison you will look
    at - correcting per mission or per pair would understate the family and the error rate.
    """
    alpha = _check_unit_interval("alpha", alpha)
    adjusted, reject = holm_bonferroni([t.p_value for t in tests], alpha=alpha)
    return [
        dataclasses.replace(t, p_adjusted=p_adj, significant=rej, alpha=alpha)
        for t, p_adj, rej in zip(tests, adjusted, reject, strict=True)
    ]
