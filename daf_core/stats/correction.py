"""Multiple-comparison correction: Holm's step-down procedure over one family of tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TypeVar

from daf_core.stats._validation import check_unit_interval
from daf_core.stats.pairwise import PairwiseTest

Test = TypeVar("Test", bound=PairwiseTest)


def holm_bonferroni(
    p_values: Sequence[float | None], alpha: float = 0.05
) -> tuple[list[float | None], list[bool]]:
    """Holm's step-down correction: family-wise error <= alpha over all given tests, any dependence.

    Chosen over Bonferroni (uniformly more powerful, same guarantee) and over Benjamini-Hochberg
    (``scipy.stats.false_discovery_control``), which controls the false discovery rate - a weaker
    promise than a reviewer reading "significant" expects. tests/stats checks by simulation that a
    report-shaped family (every pair of four equal policies on two missions, 12 dependent tests) has a
    family-wise error of at most 5% after Holm (measured 3.2%; 34% uncorrected).

    Sort the m defined p-values ascending p_(1) <= ... <= p_(m); adjusted p_(i) =
    max_{j <= i} min(1, (m - j + 1) p_(j)) (the running max keeps adjusted values monotone in the raw
    ones). Reject where adjusted < alpha (strict, the same rule as ``PairwiseTest.significant``).
    None (a test that could not be run) is not counted in m and passes through as (None, False).
    """
    alpha = check_unit_interval("alpha", alpha)
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


def apply_correction(tests: Sequence[Test], alpha: float = 0.05) -> list[Test]:
    """Holm-correct the primary p-values of all given tests as one family (all pairs x missions).

    Returns new tests of the same class with ``p_adjusted``, ``significant`` (p_adjusted < alpha) and
    ``alpha`` filled; tests without a p-value stay (None, False). Pass every comparison you will look
    at - correcting per mission or per pair would understate the family and the error rate.
    """
    alpha = check_unit_interval("alpha", alpha)
    adjusted, reject = holm_bonferroni([t.p_value for t in tests], alpha=alpha)
    return [
        dataclasses.replace(t, p_adjusted=p_adj, significant=rej, alpha=alpha)
        for t, p_adj, rej in zip(tests, adjusted, reject, strict=True)
    ]
