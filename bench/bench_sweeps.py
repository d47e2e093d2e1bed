"""Sweep strategies and parallel speed-up on a cheap real objective (short training on `collect`).

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_sweeps.py [--reps 3] [--trials 8] [--steps 16384]
        [--episodes 10] [--workers 2] [--workers-only | --strategies-only] [--output PATH]

1. Strategies: grid, random and bayesian (Optuna TPE), each with the same budget of trials, the same seed,
   the same training steps and evaluation episodes: the best objective reached after each trial (the
   same in every repetition: trials train single-threaded from fixed seeds) and the wall time.
2. Workers: the random sweep on 1 worker (the trials run in the launching process) and on ``--workers``
   worker processes (forks of the launcher on Linux), interleaved in each repetition.
   ``ratio_sweep_<N>_workers_vs_sweep_1_worker`` is time(1 worker) / time(N workers) per repetition.

Each sweep runs in a fresh process, timed around ``daf_launch_sweep`` (``daf_core.sweeps`` imported
before the clock; the trainer's imports, torch and PufferLib, happen inside it, on either side). The
issue's workers figure: ``--workers-only --trials 16 --steps 65536``. Writes
bench/results/sweeps_<trials>.json (``sweeps_workers_<trials>x<steps>.json`` with --workers-only).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from measure import add_reps_argument, figure, interleaved, machine, ratio

from daf_core._internal.atomic import atomic_write_json

GRID = {"learning_rate": [3e-4, 1e-3, 3e-3, 1e-2], "ent_coef": [0.0, 0.05]}
RANGES = {"learning_rate": {"low": 3e-4, "high": 1e-2, "log": True}, "ent_coef": {"low": 0.0, "high": 0.05}}

SWEEP = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from daf_core.config import DAFSweepConfig
    from daf_core.sweeps import daf_launch_sweep
    work = json.loads(sys.argv[1])
    config = DAFSweepConfig(
        name=f"{work['strategy']}_{work['workers']}w", missions=["collect"], search_space=work["space"],
        strategy=work["strategy"], num_trials=work["trials"], episodes_per_trial=work["episodes"],
        training_steps=work["steps"], seed=0, max_parallel_jobs=work["workers"], output_dir=work["out"])
    started = time.perf_counter()
    result = daf_launch_sweep(config)
    seconds = time.perf_counter() - started
    values = [t.primary_metric for t in sorted(result.trials, key=lambda t: t.trial_id) if t.success]
    best = [max(values[: k + 1]) for k in range(len(values))]
    print(json.dumps({"seconds": seconds, "trials": len(values),
                      "trials_per_minute": 60 * len(values) / seconds, "best_after_each_trial": best}))
    """
)


def run_sweep(strategy: str, workers: int, args: argparse.Namespace, scratch: str, index: int) -> dict:
    work = {
        "strategy": strategy,
        "space": GRID if strategy == "grid" else RANGES,
        "trials": args.trials,
        "steps": args.steps,
        "episodes": args.episodes,
        "workers": workers,
        "out": f"{scratch}/{index}",
    }
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(
        [sys.executable, "-c", SWEEP, json.dumps(work)], env=env, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"sweep run failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_reps_argument(parser)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--steps", type=int, default=16_384, help="training agent steps per trial")
    parser.add_argument("--episodes", type=int, default=10, help="evaluation episodes per trial")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the parallel arm")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--workers-only", action="store_true", help="only the 1-vs-N-workers comparison")
    mode.add_argument("--strategies-only", action="store_true", help="only the strategy comparison")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    result: dict = {
        "work": {
            **{key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()},
            "mission": "collect",
            "seed": 0,
            "search_space": {"grid": GRID, "random/bayesian": RANGES},
        },
        "machine": machine(),
        "reps": args.reps,
    }
    parallel = f"sweep_{args.workers}_workers"
    with tempfile.TemporaryDirectory() as scratch:
        counter = iter(range(1_000_000))
        if not args.workers_only:
            runs = interleaved(
                {
                    strategy: lambda strategy=strategy: run_sweep(strategy, 1, args, scratch, next(counter))
                    for strategy in ("grid", "random", "bayesian")
                },
                args.reps,
            )
            for strategy, strategy_runs in runs.items():
                curves = [run["best_after_each_trial"] for run in strategy_runs]
                result[strategy] = {
                    "seconds": figure(strategy_runs, "seconds"),
                    "best_after_each_trial": [round(v, 2) for v in curves[0]],
                    "same_curve_every_rep": all(curve == curves[0] for curve in curves),
                }
        if not args.strategies_only:
            runs = interleaved(
                {
                    "sweep_1_worker": lambda: run_sweep("random", 1, args, scratch, next(counter)),
                    parallel: lambda: run_sweep("random", args.workers, args, scratch, next(counter)),
                },
                args.reps,
            )
            for name, arm_runs in runs.items():
                result[name] = {
                    key: figure(arm_runs, key) for key in ("seconds", "trials_per_minute", "trials")
                }
            result[f"ratio_{parallel}_vs_sweep_1_worker"] = ratio(
                runs["sweep_1_worker"], runs[parallel], "seconds"
            )
    result["machine_after"] = machine()
    print_table(result, parallel)
    default = (
        f"sweeps_workers_{args.trials}x{args.steps}.json"
        if args.workers_only
        else f"sweeps_{args.trials}.json"
    )
    output = args.output or Path(__file__).parent / "results" / default
    atomic_write_json(output, result)
    print(f"wrote {output}")


def print_table(result: dict, parallel: str) -> None:
    def cell(summary: dict, digits: int = 1) -> str:
        return f"{summary['min']:.{digits}f} / {summary['median']:.{digits}f} / {summary['max']:.{digits}f}"

    work = result["work"]
    print(f"\n{work['trials']} trials x {work['steps']} steps, {result['reps']} reps (min / median / max)")
    print(f"load before {result['machine']['load_average']}, after {result['machine_after']['load_average']}")
    for strategy in ("grid", "random", "bayesian"):
        if strategy in result:
            entry = result[strategy]
            curve = entry["best_after_each_trial"]
            print(f"  {strategy:9s} {cell(entry['seconds'])} s, best after each trial {curve}")
    for name in ("sweep_1_worker", parallel):
        if name in result:
            print(f"  {name:16s} {cell(result[name]['seconds'])} s")
    key = f"ratio_{parallel}_vs_sweep_1_worker"
    if key in result:
        print(f"  {parallel} vs 1 worker: {cell(result[key], 2)}x")


if __name__ == "__main__":
    main()
