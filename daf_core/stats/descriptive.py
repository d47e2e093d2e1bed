"""Point statistics of one sample: the interquartile mean (the mean, median and spread are numpy's)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from daf_core.stats._validation import as_sample


def iqm_statistic(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """The IQM along ``axis``, vectorised and unvalidated: the form a bootstrap calls thousands of times.

    The definition of ``scipy.stats.trim_mean(x, 0.25, axis)`` - drop ``floor(n / 4)`` values from each
    end, average the rest - computed by sorting, which for the short rows of a bootstrap (5-20 episodes)
    is several times faster than trim_mean's partitioning (the tests check the two agree).
    """
    x = np.moveaxis(np.asarray(x, dtype=float), axis, -1)
    n = x.shape[-1]
    cut = n // 4
    return np.sort(x, axis=-1)[..., cut : n - cut].mean(axis=-1)


def iqm(x: ArrayLike) -> float:
    """Interquartile mean: the mean of the middle 50% of the values.

    rliable's recommended aggregate: robust to the outlier episodes RL produces (unlike the mean) yet
    uses half the data (unlike the median), so its CIs are tight. ``floor(n / 4)`` values are removed
    from each end with no fractional weighting (as ``scipy.stats.trim_mean(x, 0.25)``) - so for n < 4
    it equals the plain mean, and for 1..8 it is mean(3..6) = 4.5.
    """
    return float(iqm_statistic(as_sample(x, "x")))
