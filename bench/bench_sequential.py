"""Episodes a sequential comparison uses, against a fixed-n design of equal power.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_sequential.py [--simulations 20000] [--max-episodes 40]
        [--real-max-episodes 20] [--no-real] [--output F]

The design is planned for a *close* difference (0.5 SD of the paired differences): looks every 5
episodes up to ``--max-episodes`` (40: about 85% power there), O'Brien-Fleming-type spending at
alpha 0.05 (:mod:`daf_core.stats.sequential`). The fixed-n design of equal power is the smallest n
whose paired t test (two-sided 0.05) has at least the sequential design's power at that planned
difference (exact, from the noncentral t). Both designs then meet a *clear* difference (1.5 SD), the
planned *close* one, and none (the level). Episodes used, power and the false-positive rate come from
``--simulations`` simulated comparisons run through :func:`daf_core.stats.sequential_decisions` (the
code path real comparisons run). The real arm runs ``random`` against ``noop`` on tiny_walk with
``daf_compare_policies(stop_when="decided")`` and with the fixed count, timed. Writes
bench/results/sequential.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import scipy.stats
from measure import machine

from daf_core._internal.atomic import atomic_write_json
from daf_core.stats import DECISIONS, group_sequential_design, planned_looks, sequential_decisions

ALPHA = 0.05
ROUND = 5
CLOSE, CLEAR = 0.5, 1.5  # true mean paired difference, in SDs of the paired differences


def fixed_power(n: int, effect: float) -> float:
    """Exact power of the two-sided paired t test at ALPHA with n pairs (noncentral t)."""
    df, crit = n - 1, scipy.stats.t.isf(ALPHA / 2, n - 1)
    ncp = effect * np.sqrt(n)
    power = float(scipy.stats.nct.sf(crit, df, ncp) + scipy.stats.nct.cdf(-crit, df, ncp))
    # scipy's noncentral t returns NaN far in its tail; there the normal approximation is exact enough.
    return power if np.isfinite(power) else float(scipy.stats.norm.sf(crit - ncp))


def equal_power_n(power: float, effect: float, limit: int = 1000) -> int:
    """The smallest fixed n whose paired t test has at least ``power`` at ``effect``."""
    return next(n for n in range(2, limit) if fixed_power(n, effect) >= power)


def simulate(design, effect: float, simulations: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    out = sequential_decisions(rng.normal(effect, 1.0, (simulations, design.max_episodes)), design)
    decision = np.asarray(DECISIONS)[out.decision]
    return {
        "better": float(np.mean(decision == "better")),
        "worse": float(np.mean(decision == "worse")),
        "episodes_mean": float(out.episodes.mean()),
        "episodes_median": float(np.median(out.episodes)),
        "episodes_max": int(out.episodes.max()),
    }


def real_arm(max_episodes: int) -> dict[str, object]:
    """random vs noop on tiny_walk: sequential (rounds of 5) and fixed, each timed from cold output
    after one untimed warm-up comparison (imports and the simulator's first build paid by neither)."""
    from daf_core.comparison import daf_compare_policies  # noqa: PLC0415 - the simulator

    common = {"policies": ["random", "noop"], "missions": ["tiny_walk"], "show_progress": False}
    daf_compare_policies(**common, episodes_per_mission=2)
    started = time.perf_counter()
    sequential = daf_compare_policies(**common, stop_when="decided", max_episodes=max_episodes)
    sequential_seconds = time.perf_counter() - started
    started = time.perf_counter()
    fixed = daf_compare_policies(**common, episodes_per_mission=max_episodes)
    fixed_seconds = time.perf_counter() - started
    [seq], [fix] = sequential.comparisons, fixed.comparisons
    return {
        "mission": "tiny_walk",
        "policies": ["random", "noop"],
        "max_episodes": max_episodes,
        "episodes_used": sequential.metadata["sequential"]["episodes_used"],
        "decision": seq.sequential["decision"],
        "rci": [seq.sequential["rci_low"], seq.sequential["rci_high"]],
        "fixed_significant": fix.is_significant,
        "sequential_seconds": round(sequential_seconds, 2),
        "fixed_seconds": round(fixed_seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulations", type=int, default=20_000)
    parser.add_argument("--max-episodes", type=int, default=40)
    parser.add_argument("--real-max-episodes", type=int, default=20)
    parser.add_argument("--no-real", action="store_true", help="skip the real-episode arm")
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "sequential.json")
    args = parser.parse_args()
    before = machine()
    design = group_sequential_design(planned_looks(ROUND, args.max_episodes), ALPHA)
    close = simulate(design, CLOSE, args.simulations, seed=1)
    n_fixed = equal_power_n(close["better"], CLOSE)
    scenarios = {}
    for name, effect, seed in (("clear", CLEAR, 2), ("close", CLOSE, 1), ("null", 0.0, 3)):
        sim = close if name == "close" else simulate(design, effect, args.simulations, seed)
        scenarios[name] = {
            "effect_sd": effect,
            "sequential": sim,
            "fixed_n": n_fixed,
            "fixed_power": round(fixed_power(n_fixed, effect), 4) if effect else ALPHA,
            "fewer_episodes": round(1 - sim["episodes_mean"] / n_fixed, 3),
            "fixed_at_max_power": round(fixed_power(design.max_episodes, effect), 4) if effect else ALPHA,
        }
    result = {
        "work": {
            "alpha": ALPHA,
            "round_episodes": ROUND,
            "max_episodes": args.max_episodes,
            "simulations": args.simulations,
            "planned_effect_sd": CLOSE,
            "paired_differences": "normal, SD 1",
        },
        "machine": before,
        "design": design.to_dict(),
        "fixed_equal_power": {"n": n_fixed, "power_at_planned": round(fixed_power(n_fixed, CLOSE), 4)},
        "scenarios": scenarios,
        "real": None if args.no_real else real_arm(args.real_max_episodes),
        "machine_after": machine(),
        "goal": "at least 40% fewer episodes than the equal-power fixed design on the clear difference; "
        "never more than max_episodes",
    }
    print(json.dumps(result, indent=2))
    atomic_write_json(args.output, result)


if __name__ == "__main__":
    main()
