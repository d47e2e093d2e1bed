"""One policy's scores on one mission described: n, mean, spread, IQM, each estimate with its interval."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from daf_core.stats._validation import as_sample, check_method, check_n_resamples, check_unit_interval
from daf_core.stats.descriptive import iqm_statistic
from daf_core.stats.intervals import CIMethod, iqm_interval, mean_interval


@dataclass(frozen=True)
class Summary:
    """Descriptive statistics of one sample: the mean with its t interval, the IQM with its bootstrap one."""

    n: int
    mean: float
    std: float  # ddof=1; 0.0 when n == 1
    median: float
    iqm: float
    min: float
    max: float
    ci_low: float
    ci_high: float
    iqm_ci_low: float
    iqm_ci_high: float
    confidence: float
    ci_method: str  # the mean's interval: "student_t", or "none" for a point interval
    iqm_ci_method: str  # "percentile" | "bca" | "student_t" (n < 4: the IQM is the mean) | "none"
    note: str = ""


def summarize(
    values: ArrayLike,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    method: CIMethod = "percentile",
) -> Summary:
    """Describe one policy's per-episode scores on one mission.

    The mean's interval is Student's t (:func:`~daf_core.stats.intervals.mean_interval`); the IQM's is a
    seeded bootstrap, percentile by default or BCa with ``method="bca"``
    (:func:`~daf_core.stats.intervals.iqm_interval`; ``n_resamples`` and ``seed`` are its). Their
    measured levels are in :mod:`daf_core.stats.intervals`: the t interval holds 95% on normal scores
    at any n but gives about 88% on exponential scores at n = 5; the IQM's bootstrap about 90% at n = 5.
    Special cases, each explained in ``note``:

    * n == 1: std 0.0 and both intervals [x, x] - "single sample, no interval".
    * all values equal: both intervals are the point, every resample is the same data.

    Raises ValueError if ``values`` is empty or holds NaN/inf (how many is in the message).
    """
    confidence = check_unit_interval("confidence", confidence)
    n_resamples = check_n_resamples(n_resamples)
    method = check_method(method)
    x = as_sample(values, "values")
    mean = mean_interval(x, confidence=confidence)
    iqm = iqm_interval(x, confidence=confidence, n_resamples=n_resamples, seed=seed, method=method)
    return Summary(
        n=int(x.size),
        mean=mean.point,
        std=float(x.std(ddof=1)) if x.size > 1 else 0.0,
        median=float(np.median(x)),
        iqm=float(iqm_statistic(x)),
        min=float(x.min()),
        max=float(x.max()),
        ci_low=mean.low,
        ci_high=mean.high,
        iqm_ci_low=iqm.low,
        iqm_ci_high=iqm.high,
        confidence=confidence,
        ci_method=mean.method,
        iqm_ci_method=iqm.method,
        note="; ".join(dict.fromkeys(n for n in (mean.note, iqm.note) if n)),
    )
