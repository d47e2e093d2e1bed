"""Sequential comparisons: a group-sequential design whose decisions stay valid however often you look.

Running episodes in rounds and stopping once a comparison is clear saves episodes, but re-testing a
fixed-n interval after every round inflates its error: four looks at a 95% t interval reject a true
null 13% of the time, not 5% (tests/stats/test_sequential.py). This module keeps the level with a
*group-sequential design* (Jennison & Turnbull 2000, "Group Sequential Methods with Applications to
Clinical Trials"):

* The looks are planned: after ``round_episodes``, ``2 round_episodes``, ... up to ``max_episodes``
  paired episodes (:func:`planned_looks`); look k sits at information fraction ``t_k = n_k / n_K``.
* The level is spent over the looks by the Lan-DeMets O'Brien-Fleming-type function (Lan & DeMets
  1983), per side ``2 - 2 Phi(z_{1 - alpha/4} / sqrt(t))`` (gsDesign's ``sfLDOF`` at one-sided
  ``alpha/2``, symmetric two-sided boundaries): almost nothing at the first looks, nearly the whole
  level at the last, so the last look is close to the fixed-n test (the maximum sample costs a few
  percent over a fixed-n design of the same power) while a clear difference still stops early.
* Boundaries ``c_k`` solve P(first crossing of ``|Z| >= c`` at look k) = spending increment under the
  Brownian-motion law of the z statistics (``corr(Z_j, Z_k) = sqrt(t_j / t_k)``), by the recursive
  numerical integration of Armitage, McPherson & Rowe (1969) on a Simpson grid
  (:func:`spending_boundaries`; the tests check them against the published values).
* The variance is unknown and n small, so each look uses Student's t at the look's *nominal* level
  ``alpha_k = 2 (1 - Phi(c_k))`` (Jennison & Turnbull section 3.8, the "significance level
  approach"): the repeated confidence interval (RCI) at look k is
  ``mean(d) +- t_{n_k - 1, 1 - alpha_k / 2} s / sqrt(n_k)`` over the paired differences so far. Over
  several looks of 5-40 episodes this rejects slightly more than the z design (5.2-5.3% for 5%), so
  the spending function runs at a ``spending_alpha`` a little below ``alpha``, calibrated to ``alpha``
  on normal differences (:func:`group_sequential_design`). The RCIs then cover the true mean
  difference at *every* look simultaneously with probability about ``1 - alpha`` - whatever stopping
  rule is applied to them - which is what makes the decisions valid under optional stopping.
  Measured (rounds of 5, up to 20 and 40 episodes, 20 000 simulated comparisons each): false
  "better/worse" 4.7-5.3% for normal, 3.7-4.3% for lognormal and 5.0-5.1% for sparse binary rewards
  of two policies that play alike. Not covered: paired differences that are themselves strongly
  skewed (one policy's reward exponential, the other's constant with the same mean): 9.7-10.5%,
  where the fixed-n paired t test also loses level (6.8-8.1%).

Decisions at a look, first match wins, and a decided comparison stays decided (its look, episode count
and RCI are frozen there): ``"better"`` when the RCI is above 0, ``"worse"`` when below, ``"equivalent"``
when a ``margin`` is given and the RCI lies strictly inside ``(-margin, margin)``; ``"pending"`` while
looks remain, ``"undecided"`` after the last planned look. Equivalence read off the same RCIs is a
test at ``alpha / 2`` per side (conservative, never more).

A zero-variance look (every paired difference the same value ``c``, common with deterministic
policies and sparse rewards) has no t interval. Its rule is the exact sign-flip test, the
distribution-free test of a symmetric difference: shifting every difference by any ``delta != c``
leaves n differences of one sign, p = ``2^(1 - n)``. So the look's confidence set is the point ``c``
when ``2^(1 - n) <= alpha_k`` (the look decides as that point says) and unbounded otherwise (the look
decides nothing; its RCI is reported as None). With rounds of 5 this never decides at the first look
(1/16), and decides for a constant gain once the look's nominal level allows it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.optimize
import scipy.stats
from numpy.typing import ArrayLike

from daf_core.stats._validation import check_unit_interval

Decision = Literal["better", "worse", "equivalent", "pending", "undecided"]
DECISIONS: tuple[str, ...] = ("better", "worse", "equivalent", "pending", "undecided")
SPENDING = "lan_demets_obrien_fleming"
#: Differences whose spread is below this (relative to their size) count as constant: the same number
#: up to floating-point rounding of the rewards (the promotion gate uses the same tolerance).
CONSTANT_RTOL = 1e-9
#: Simpson grid points per unit of the Brownian motion's standard deviation in the recursion.
_GRID_PER_SD = 50


# --------------------------------------------------------------------------------------------------
# The design
# --------------------------------------------------------------------------------------------------


def planned_looks(round_episodes: int, max_episodes: int) -> tuple[int, ...]:
    """Cumulative episode counts of the looks: every ``round_episodes`` up to ``max_episodes``, which is
    always the last look (a shorter last round when it is not a multiple)."""
    r = _check_int("round_episodes", round_episodes, 2)
    n = _check_int("max_episodes", max_episodes, 2)
    if n < r:
        raise ValueError(f"max_episodes: must be >= round_episodes ({r}), got {n}")
    looks = list(range(r, n + 1, r))
    if looks[-1] != n:
        looks.append(n)
    return tuple(looks)


def obrien_fleming_spending(fraction: ArrayLike, alpha: float) -> np.ndarray:
    """Two-sided level spent by information fraction t: ``2 (2 - 2 Phi(z_{1 - alpha/4} / sqrt(t)))``,
    i.e. each side spends Lan-DeMets' O'Brien-Fleming-type function at ``alpha / 2``; ``alpha`` at t = 1."""
    t = np.asarray(fraction, dtype=float)
    z = scipy.stats.norm.isf(alpha / 4)
    return 4.0 * scipy.stats.norm.sf(z / np.sqrt(t))


def spending_boundaries(fractions: ArrayLike, alpha: float) -> np.ndarray:
    """Two-sided z boundaries ``c_k`` of the O'Brien-Fleming-type spending design at these information
    fractions (increasing, the last 1): under H0, P(|Z_k| >= c_k first at look k) = the spending
    increment, computed by recursive numerical integration over the Brownian motion S(t) = Z sqrt(t)."""
    t = np.asarray(fractions, dtype=float)
    if t.ndim != 1 or t.size == 0 or np.any(np.diff(t) <= 0) or t[0] <= 0 or not math.isclose(t[-1], 1.0):
        raise ValueError(f"fractions: must increase strictly in (0, 1] and end at 1, got {t.tolist()}")
    alpha = check_unit_interval("alpha", alpha)
    spent = obrien_fleming_spending(t, alpha)
    increments = np.diff(spent, prepend=0.0)
    bounds = [float(scipy.stats.norm.isf(increments[0] / 2))]
    # The sub-density of S(t_1) on its continuation region, on a Simpson grid.
    x, w = _simpson_grid(bounds[0] * math.sqrt(t[0]), math.sqrt(t[0]))
    density = scipy.stats.norm.pdf(x, scale=math.sqrt(t[0]))
    for k in range(1, t.size):
        sd = math.sqrt(t[k] - t[k - 1])
        mass = density * w
        c = scipy.optimize.brentq(
            _crossing, 1e-6, 40.0, args=(x, mass, math.sqrt(t[k]), sd, increments[k]), xtol=1e-10
        )
        bounds.append(float(c))
        new_x, new_w = _simpson_grid(c * math.sqrt(t[k]), sd)
        kernel = scipy.stats.norm.pdf((new_x[:, None] - x[None, :]) / sd) / sd
        density, x, w = kernel @ mass, new_x, new_w
    return np.asarray(bounds)


def _crossing(c: float, x: np.ndarray, mass: np.ndarray, root_t: float, sd: float, target: float) -> float:
    """P(no crossing before, |S(t_k)| >= c sqrt(t_k)) minus the level this look may spend."""
    b = c * root_t
    beyond = scipy.stats.norm.sf((b - x) / sd) + scipy.stats.norm.cdf((-b - x) / sd)
    return float(mass @ beyond) - target


def _simpson_grid(half_width: float, sd: float) -> tuple[np.ndarray, np.ndarray]:
    """Points and Simpson weights on [-half_width, half_width], fine relative to the step's sd."""
    intervals = max(2, int(math.ceil(2 * half_width / sd * _GRID_PER_SD / 2)) * 2)
    x = np.linspace(-half_width, half_width, intervals + 1)
    w = np.ones(intervals + 1)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return x, w * (x[1] - x[0]) / 3.0


@dataclass(frozen=True)
class SequentialDesign:
    """A group-sequential design: where the looks are and what each one may reject at.

    ``looks``: cumulative paired episodes per look; ``alpha``: the two-sided level of one comparison
    over all its looks; ``spending_alpha``: the level the spending function was run at so that the t
    looks together hold ``alpha`` (see :func:`group_sequential_design`); ``boundaries``: the z
    boundaries; ``nominal_levels``: the two-sided level of each look's t interval
    (``2 (1 - Phi(c_k))``); ``spent``: the cumulative level spent (``spending_alpha`` at the last look).
    """

    looks: tuple[int, ...]
    alpha: float
    spending_alpha: float
    boundaries: tuple[float, ...]
    nominal_levels: tuple[float, ...]
    spent: tuple[float, ...]
    spending: str = SPENDING

    @property
    def max_episodes(self) -> int:
        return self.looks[-1]

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def group_sequential_design(looks: tuple[int, ...] | list[int], alpha: float = 0.05) -> SequentialDesign:
    """The O'Brien-Fleming-type spending design at these looks (e.g. ``planned_looks(5, 20)``).

    Student's t at each look's nominal level is exact at one look, but over several looks of few
    episodes it rejects a little more than the z design it was converted from (measured 5.2-5.3%
    instead of 5% at looks every 5 up to 20 or 40: the variance estimates of the looks share their
    episodes). So the spending function is run at ``spending_alpha`` slightly below ``alpha``, found
    by bisection so that the t looks reject exactly ``alpha`` of normal null differences (the t
    statistic is pivotal there: the answer depends on the looks and alpha only). The level is
    measured on common random numbers (fixed seed, about 4 million normal draws), so a design is
    deterministic, and cached per (looks, alpha).
    """
    alpha = check_unit_interval("alpha", alpha)
    looks = tuple(int(n) for n in looks)
    if not looks or looks[0] < 2 or any(b <= a for a, b in zip(looks, looks[1:], strict=False)):
        raise ValueError(f"looks: must be increasing episode counts, the first >= 2, got {list(looks)}")
    return _design(looks, alpha)


@functools.lru_cache(maxsize=128)
def _design(looks: tuple[int, ...], alpha: float) -> SequentialDesign:
    fractions = np.asarray(looks, dtype=float) / looks[-1]
    spending_alpha = _t_calibrated_alpha(looks, alpha)
    bounds = spending_boundaries(fractions, spending_alpha)
    return SequentialDesign(
        looks=looks,
        alpha=alpha,
        spending_alpha=spending_alpha,
        boundaries=tuple(float(c) for c in bounds),
        nominal_levels=tuple(float(2 * scipy.stats.norm.sf(c)) for c in bounds),
        spent=tuple(float(s) for s in obrien_fleming_spending(fractions, spending_alpha)),
    )


#: Normal draws behind one calibration (simulated comparisons x episodes), and their fixed seed.
_CALIBRATION_DRAWS = 4_000_000
_CALIBRATION_SEED = 15


def _t_calibrated_alpha(looks: tuple[int, ...], alpha: float) -> float:
    """The spending level at which the t looks reject ``alpha`` of normal null differences overall."""
    if len(looks) == 1:
        return alpha  # one look: the t interval is exact
    n = np.asarray(looks)
    sims = max(20_000, _CALIBRATION_DRAWS // int(n[-1]))
    d = np.random.default_rng(_CALIBRATION_SEED).standard_normal((sims, int(n[-1])))
    x = [d[:, :k] for k in looks]
    t = np.column_stack([np.abs(v.mean(axis=1)) / np.sqrt(v.var(axis=1, ddof=1) / v.shape[1]) for v in x])
    fractions = n / n[-1]

    def excess(level: float) -> float:
        nominal = 2 * scipy.stats.norm.sf(spending_boundaries(fractions, level))
        critical = scipy.stats.t.isf(nominal / 2, n - 1)
        return float(np.mean((t >= critical).any(axis=1))) - alpha

    if excess(alpha) <= 0:
        return alpha
    return float(scipy.optimize.brentq(excess, alpha / 4, alpha, xtol=alpha * 1e-4))


# --------------------------------------------------------------------------------------------------
# Decisions
# --------------------------------------------------------------------------------------------------

_CODES = {name: i for i, name in enumerate(DECISIONS)}


@dataclass(frozen=True)
class SequentialArrays:
    """Decisions for many comparisons at once (one row of differences each), as numpy arrays.

    ``decision``: index into :data:`DECISIONS`; ``look``: 1-based look that decided (0 if none);
    ``episodes``: paired episodes used (the decisive look's, else the last analysed look's);
    ``mean``, ``low``, ``high``: the mean difference and RCI there (``low``/``high`` infinite when that
    look's confidence set is unbounded, see the module docstring).
    """

    decision: np.ndarray
    look: np.ndarray
    episodes: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray


def sequential_decisions(
    differences: ArrayLike, design: SequentialDesign, margin: float | None = None
) -> SequentialArrays:
    """Analyse every planned look that the data reach, for each row of paired differences (a - b).

    ``differences`` has shape ``(comparisons, episodes)`` (a 1-D array is one comparison), episodes in
    seed order; the looks at ``n_k <= episodes`` are analysed in order and each row's first decisive
    look is kept. Vectorised: tests simulate tens of thousands of comparisons through this function.
    """
    d = np.asarray(differences, dtype=float)
    if d.ndim == 1:
        d = d[None, :]
    if d.ndim != 2 or not np.all(np.isfinite(d)):
        raise ValueError(
            f"differences: must be a finite 2-D array (comparisons, episodes), got shape {d.shape}"
        )
    margin = check_margin(margin)
    rows, available = d.shape
    if available > design.max_episodes:
        raise ValueError(
            f"differences: {available} episodes per comparison, more than the design's last look "
            f"({design.max_episodes})"
        )
    decision = np.full(rows, _CODES["pending"])
    look = np.zeros(rows, dtype=int)
    episodes = np.zeros(rows, dtype=int)
    mean, low, high = (np.full(rows, np.nan) for _ in range(3))
    open_ = np.ones(rows, dtype=bool)
    for k, (n, level) in enumerate(zip(design.looks, design.nominal_levels, strict=True)):
        if n > available:
            break
        x = d[:, :n]
        m = x.mean(axis=1)
        constant = np.ptp(x, axis=1) <= CONSTANT_RTOL * np.maximum(1.0, np.max(np.abs(x), axis=1))
        var = x.var(axis=1, ddof=1)
        half = scipy.stats.t.isf(level / 2, n - 1) * np.sqrt(var / n)
        point_ok = 2.0 ** (1 - n) <= level
        half = np.where(constant, 0.0 if point_ok else np.inf, half)
        lo, hi = m - half, m + half
        verdict = np.full(rows, _CODES["pending"])
        if margin is not None:
            verdict[(lo > -margin) & (hi < margin)] = _CODES["equivalent"]
        verdict[lo > 0] = _CODES["better"]
        verdict[hi < 0] = _CODES["worse"]
        update = open_.copy()  # open rows take this look's numbers; decided rows keep theirs
        mean[update], low[update], high[update], episodes[update] = m[update], lo[update], hi[update], n
        newly = open_ & (verdict != _CODES["pending"])
        decision[newly], look[newly] = verdict[newly], k + 1
        open_ &= ~newly
    if available == design.max_episodes:
        decision[open_] = _CODES["undecided"]
    return SequentialArrays(decision, look, episodes, mean, low, high)


@dataclass(frozen=True)
class SequentialResult:
    """One comparison's sequential analysis, in plain JSON-ready values.

    ``decision``: better / worse / equivalent / pending (looks remain) / undecided (none left);
    ``look``: the deciding look (1-based, None if none); ``looks``: looks analysed for it (up to the
    deciding one); ``episodes``: paired episodes behind ``mean_diff`` and the RCI; ``rci_low`` /
    ``rci_high``: the repeated confidence interval at level ``1 - alpha`` (None when unbounded: a
    zero-variance look too small for the sign-flip rule); ``alpha``: this comparison's level;
    ``margin``: the equivalence margin or None; ``note``: how a degenerate look was read.
    """

    decision: str
    look: int | None
    looks: int
    episodes: int
    mean_diff: float
    rci_low: float | None
    rci_high: float | None
    alpha: float
    margin: float | None
    note: str = ""

    @property
    def decided(self) -> bool:
        return self.decision in ("better", "worse", "equivalent")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def sequential_decision(
    differences: ArrayLike, design: SequentialDesign, margin: float | None = None
) -> SequentialResult:
    """One comparison's decision from its paired differences so far (seed order): see the module."""
    d = np.asarray(differences, dtype=float).ravel()
    if d.size < design.looks[0]:
        raise ValueError(
            f"differences: {d.size} paired episode(s), fewer than the first look ({design.looks[0]})"
        )
    out = sequential_decisions(d, design, margin)
    low, high = float(out.low[0]), float(out.high[0])
    n = int(out.episodes[0])
    note = ""
    if math.isinf(high):
        note = (
            f"every one of the {n} paired differences is {float(out.mean[0]):+.4g}: no variance, and the "
            f"sign-flip p = 2^(1-{n}) is above the look's level "
            f"{design.nominal_levels[design.looks.index(n)]:.3g}, so the interval is unbounded"
        )
    elif low == high:
        note = (
            f"every one of the {n} paired differences is {low:+.4g}: the exact sign-flip test's "
            "confidence set is that point"
        )
    look = int(out.look[0])
    return SequentialResult(
        decision=DECISIONS[int(out.decision[0])],
        look=look or None,
        looks=look or design.looks.index(n) + 1,
        episodes=n,
        mean_diff=float(out.mean[0]),
        rci_low=None if math.isinf(low) else low,
        rci_high=None if math.isinf(high) else high,
        alpha=design.alpha,
        margin=check_margin(margin),
        note=note,
    )


def check_margin(margin: Any) -> float | None:
    """An equivalence margin: None, or a finite number > 0 on the reward's scale."""
    if margin is None:
        return None
    if (
        isinstance(margin, bool)
        or not isinstance(margin, numbers.Real)
        or not math.isfinite(float(margin))
        or float(margin) <= 0
    ):
        raise ValueError(f"equivalence_margin: must be a finite number > 0 or None, got {margin!r}")
    return float(margin)


def _check_int(field: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{field}: must be an integer >= {minimum}, got {value!r}")
    return int(value)
