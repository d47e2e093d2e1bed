"""Which values of a results row a tracker can plot: the finite numbers, by name.

TensorBoard and MLflow both take one float per name and step. A row of ``metrics.jsonl`` also holds the
run's missions (a list) and ``null`` where a loss was not finite; those have no point to draw, so every
tracker drops them the same way, here.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any


def scalar_values(row: Mapping[str, Any], exclude: tuple[str, ...] = ()) -> dict[str, float]:
    """The row's finite real numbers (booleans are not numbers here) as floats, minus ``exclude``."""
    return {
        key: float(value)
        for key, value in row.items()
        if key not in exclude
        and isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    }
