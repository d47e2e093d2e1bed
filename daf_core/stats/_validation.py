"""Argument checks shared by the statistics modules: bad input is refused here, with the name and value.

Private to :mod:`daf_core.stats`; every public function checks its arguments through these so the
messages read the same everywhere.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

BOOTSTRAP_METHODS = ("percentile", "bca")


def check_unit_interval(name: str, value: float) -> float:
    """alpha and confidence are probabilities strictly inside (0, 1); anything else is a caller bug."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")
    if not (0.0 < float(value) < 1.0):
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    return float(value)


def check_n_resamples(n_resamples: int) -> int:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int | np.integer) or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    return int(n_resamples)


def check_method(method: str) -> str:
    if method not in BOOTSTRAP_METHODS:
        raise ValueError(f"method must be 'percentile' or 'bca', got {method!r}")
    return method


def as_sample(values: ArrayLike, name: str) -> np.ndarray:
    """A 1-D float array with at least one value and no NaN/inf.

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


def is_constant(x: np.ndarray) -> bool:
    """True when every value along the last axis (of every row) is the same."""
    return bool(np.all(np.ptp(x, axis=-1) == 0.0))


def finite_or_none(value: float | None) -> float | None:
    """Plain float, or None where scipy produced NaN/inf (never leak those into a report)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
