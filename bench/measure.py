"""What every bench script records beside its figures: repetitions summarised, and the machine's load.

One run of a 30-second benchmark on a shared 2-core machine moves by 10-20% with the background load, so
each figure is the median of several repetitions of the same work, run in one process of ``bench/`` and
interleaved (DAF and the raw cogames call alternate inside each repetition, and swap order between
repetitions, so a slow minute of the machine lands on both sides). The results file keeps every
repetition, the min/median/max, and the load average before and after, so a reader can tell a quiet
run from a noisy one.
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
from collections.abc import Callable, Sequence
from typing import Any

#: Repetitions per figure unless a script is told otherwise (the issue's minimum).
DEFAULT_REPS = 3


def machine() -> dict[str, Any]:
    """The machine a run was measured on, and its load average (1, 5, 15 min) right now."""
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "date": datetime.date.today().isoformat(),
    }


def summarise(values: Sequence[float], digits: int = 3) -> dict[str, Any]:
    """min/median/max of one figure's repetitions, with the repetitions themselves."""
    if not values:
        raise ValueError("summarise: no repetitions")
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "runs": [round(v, digits) for v in values],
    }


def interleaved(
    arms: dict[str, Callable[[], dict[str, float]]], reps: int
) -> dict[str, list[dict[str, float]]]:
    """Run each arm once per repetition, the order rotated every repetition; each arm's results in order.

    Each arm returns a dict of numbers (seconds, steps, ...); rotating the order means no arm always runs
    first (on a cold cache) or always last (after the others warmed the machine).
    """
    if reps < 1:
        raise ValueError(f"reps: must be >= 1, got {reps}")
    names = list(arms)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for rep in range(reps):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for name in order:
            results[name].append(arms[name]())
            print(f"  rep {rep + 1}/{reps} {name}: {results[name][-1]}", flush=True)
    return results


def figure(runs: list[dict[str, float]], key: str, digits: int = 3) -> dict[str, Any]:
    """Summarise one number (``key``) over an arm's repetitions."""
    return summarise([run[key] for run in runs], digits)


def ratio(numerator: list[dict[str, float]], denominator: list[dict[str, float]], key: str) -> dict[str, Any]:
    """Per-repetition ratio of ``key`` (the two arms ran side by side in each repetition), summarised."""
    return summarise([a[key] / b[key] for a, b in zip(numerator, denominator, strict=True)])


def add_reps_argument(parser: Any) -> None:
    parser.add_argument(
        "--reps", type=int, default=DEFAULT_REPS, help=f"repetitions per figure (default {DEFAULT_REPS})"
    )
