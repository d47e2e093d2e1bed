"""Effect sizes of policy a against policy b: standardized differences and the probability of improvement.

* :func:`hedges_g` (independent episodes) and :func:`cohens_dz` (episodes paired by seed), each with the
  analytic normal-approximation variance of Hedges & Olkin (1985) for its interval.
* :func:`probability_of_improvement`: P(X_a > X_b) + P(X_a = X_b) / 2 over every pair of episodes -
  rliable's definition, whether or not the episodes are paired.
* :func:`paired_win_rate`: the fraction of matched seeds where a beats b (ties half) - a different
  quantity with its own name, reported beside the probability of improvement for paired data.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.stats
from numpy.typing import ArrayLike
from scipy.special import gammaln

from daf_core.stats._validation import as_sample, finite_or_none


def cohens_d(a: ArrayLike, b: ArrayLike) -> float | None:
    """Cohen's d = (mean_a - mean_b) / pooled SD, pooled SD with n_a + n_b - 2 degrees of freedom.

    Returns None where it is undefined: fewer than 3 values in total (no degrees of freedom), or zero
    pooled SD with different means (an infinite standardized effect). Zero pooled SD with equal means
    returns 0.0: there is no difference to standardize.
    """
    xa, xb = as_sample(a, "a"), as_sample(b, "b")
    na, nb = xa.size, xb.size
    diff = float(xa.mean() - xb.mean())
    df = na + nb - 2
    if df < 1:
        return None
    ss = (na - 1) * (xa.var(ddof=1) if na > 1 else 0.0) + (nb - 1) * (xb.var(ddof=1) if nb > 1 else 0.0)
    pooled_sd = math.sqrt(ss / df)
    if pooled_sd == 0.0:
        return 0.0 if diff == 0.0 else None
    return finite_or_none(diff / pooled_sd)


def _hedges_j(df: int) -> float:
    """Exact small-sample bias correction J(df) = Gamma(df/2) / (sqrt(df/2) Gamma((df-1)/2)), df >= 2.

    Hedges & Olkin (1985); the familiar 1 - 3/(4 df - 1) is its approximation.
    """
    return float(math.exp(gammaln(df / 2) - gammaln((df - 1) / 2)) / math.sqrt(df / 2))


def hedges_g(a: ArrayLike, b: ArrayLike) -> float | None:
    """Hedges' g = J(n_a + n_b - 2) * Cohen's d: Cohen's d without its small-sample upward bias.

    With 5-10 episodes per policy d overstates the effect by 5-10 %; g removes that, which is why it is
    the unpaired effect size DAF reports. J is the exact gamma-function form.

    None where it is undefined: where Cohen's d is (see :func:`cohens_d`), and at one degree of freedom
    (n_a + n_b = 3), where J(1) = 0 would report any difference, however large, as an effect of 0.0.
    """
    d = cohens_d(a, b)
    df = np.asarray(a).size + np.asarray(b).size - 2
    if d is None or df < 2:
        return None
    return float(_hedges_j(df) * d)


def hedges_g_variance(g: float, n_a: int, n_b: int) -> float:
    """Large-sample variance of g: (n_a + n_b) / (n_a n_b) + g^2 / (2 (n_a + n_b))."""
    return (n_a + n_b) / (n_a * n_b) + g**2 / (2 * (n_a + n_b))


def cohens_dz(a: ArrayLike, b: ArrayLike) -> float | None:
    """Cohen's d_z = mean(d) / sd(d) of the paired differences d = a - b.

    The standardized effect the paired t-test tests (t = d_z sqrt(n)). None with fewer than 2 pairs or
    when every difference is the same non-zero value (infinite); 0.0 when every difference is 0.
    """
    xa, xb = as_sample(a, "a"), as_sample(b, "b")
    if xa.size != xb.size:
        raise ValueError(f"paired samples must have equal length, got len(a)={xa.size}, len(b)={xb.size}")
    d = xa - xb
    if d.size < 2:
        return None
    sd = float(d.std(ddof=1))
    if sd == 0.0:
        return 0.0 if d[0] == 0.0 else None
    return finite_or_none(d.mean() / sd)


def cohens_dz_variance(dz: float, n: int) -> float:
    """Large-sample variance of d_z: 1/n + d_z^2 / (2n)."""
    return 1 / n + dz**2 / (2 * n)


def normal_interval(estimate: float, variance: float, confidence: float) -> tuple[float, float]:
    """estimate +- z_{(1+c)/2} sqrt(variance): the analytic interval of a standardized effect."""
    z = float(scipy.stats.norm.ppf(0.5 + confidence / 2))
    half = z * math.sqrt(variance)
    return estimate - half, estimate + half


def probability_of_improvement(a: ArrayLike, b: ArrayLike) -> float:
    """P(X_a > X_b) + 0.5 P(X_a = X_b) over all n_a * n_b pairs of episodes (rliable's definition).

    Equal to the Mann-Whitney U statistic of a divided by n_a * n_b (the AUC), computed from scipy's
    mid-ranks so that ties count one half. It is a property of the two score distributions, so it is the
    same whether or not the episodes share seeds; for matched seeds see :func:`paired_win_rate`.
    """
    xa, xb = as_sample(a, "a"), as_sample(b, "b")
    ranks = scipy.stats.rankdata(np.concatenate([xa, xb]))
    u_a = ranks[: xa.size].sum() - xa.size * (xa.size + 1) / 2
    return float(u_a / (xa.size * xb.size))


def paired_win_rate(a: ArrayLike, b: ArrayLike) -> float:
    """The fraction of matched pairs (same seed) where a scores more than b, ties counted half."""
    xa, xb = as_sample(a, "a"), as_sample(b, "b")
    if xa.size != xb.size:
        raise ValueError(f"paired samples must have equal length, got len(a)={xa.size}, len(b)={xb.size}")
    d = xa - xb
    return float(np.mean(d > 0) + 0.5 * np.mean(d == 0))
