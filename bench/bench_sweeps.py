"""Sweep strategies and parallel speed-up on a cheap real objective (short training on `collect`).

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_sweeps.py [--trials 8] [--steps 16384]

1. grid, random and bayesian (Optuna TPE), each with the same budget of trials, the same seed, the same
   training steps and evaluation episodes: the best objective reached after each trial.
2. The random sweep again with 2 worker processes: wall time against the 1-worker run.
Writes bench/results/sweeps_<trials>.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from daf_core._internal.atomic import atomic_write_json
from daf_core.config import DAFSweepConfig
from daf_core.sweeps import daf_launch_sweep

GRID = {"learning_rate": [3e-4, 1e-3, 3e-3, 1e-2], "ent_coef": [0.0, 0.05]}
RANGES = {"learning_rate": {"low": 3e-4, "high": 1e-2, "log": True}, "ent_coef": {"low": 0.0, "high": 0.05}}


def run(strategy: str, trials: int, steps: int, workers: int, out: Path) -> tuple[float, list[float]]:
    config = DAFSweepConfig(
        name=f"{strategy}_{workers}w",
        missions=["collect"],
        search_space=GRID if strategy == "grid" else RANGES,
        strategy=strategy,
        num_trials=trials,
        episodes_per_trial=10,
        training_steps=steps,
        seed=0,
        max_parallel_jobs=workers,
        output_dir=out,
    )
    started = time.perf_counter()
    result = daf_launch_sweep(config)
    seconds = time.perf_counter() - started
    values = [t.primary_metric for t in sorted(result.trials, key=lambda t: t.trial_id) if t.success]
    best_so_far = [max(values[: k + 1]) for k in range(len(values))]
    return seconds, best_so_far


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--steps", type=int, default=16_384)
    args = parser.parse_args()
    result: dict = {"work": {**vars(args), "mission": "collect", "episodes_per_trial": 10, "seed": 0}}
    with tempfile.TemporaryDirectory() as scratch:
        for strategy in ("grid", "random", "bayesian"):
            seconds, best = run(strategy, args.trials, args.steps, 1, Path(scratch))
            result[strategy] = {
                "seconds": round(seconds, 1),
                "best_after_each_trial": [round(v, 2) for v in best],
            }
        parallel_seconds, _ = run("random", args.trials, args.steps, 2, Path(scratch))
    result["random_2_workers_seconds"] = round(parallel_seconds, 1)
    result["speedup_2_workers_vs_1"] = round(result["random"]["seconds"] / parallel_seconds, 2)
    print(json.dumps(result, indent=2))
    atomic_write_json(Path(__file__).parent / "results" / f"sweeps_{args.trials}.json", result)


if __name__ == "__main__":
    main()
