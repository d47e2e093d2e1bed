"""Evaluation throughput: the same policies, missions, episodes and seeds through the serial
``cogames.evaluate.evaluate`` call and through DAF's engine, side by side in one run.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_evaluation.py [--episodes 8] [--workers 2]

Prints episodes per second for each and the ratio DAF / cogames, and writes
bench/results/evaluation_<policies>_<episodes>.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time
from pathlib import Path

from rich.console import Console

from daf_core._internal.atomic import atomic_write_json
from daf_core._internal.threads import limit_threads
from daf_core.evaluation import evaluate_policies, resolve_policy
from daf_core.missions import load_mission


def time_cogames(policies: list[str], missions: list[str], episodes: int, seed: int) -> float:
    from cogames.evaluate import evaluate

    quiet = Console(file=io.StringIO())
    started = time.perf_counter()
    for policy in policies:
        spec = resolve_policy(policy).spec
        for mission in missions:
            evaluate(quiet, [(mission, load_mission(mission))], [spec], [1.0], episodes, 10_000, seed=seed)
    return time.perf_counter() - started


def time_daf(policies: list[str], missions: list[str], episodes: int, seed: int, workers: int) -> float:
    started = time.perf_counter()
    evaluate_policies(policies, missions, episodes, seed=seed, max_parallel_jobs=workers, show_progress=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policies", nargs="+", default=["random", "noop", "lstm"])
    parser.add_argument("--missions", nargs="+", default=["explore"])
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    limit_threads(1)

    total = len(args.policies) * len(args.missions) * args.episodes
    cogames_s = time_cogames(args.policies, args.missions, args.episodes, args.seed)
    daf_serial_s = time_daf(args.policies, args.missions, args.episodes, args.seed, 1)
    daf_parallel_s = time_daf(args.policies, args.missions, args.episodes, args.seed, args.workers)
    result = {
        "work": {**vars(args), "episodes_total": total, "cpu_count": os.cpu_count()},
        "cogames_evaluate": {"seconds": round(cogames_s, 2), "episodes_per_s": round(total / cogames_s, 2)},
        "daf_1_worker": {"seconds": round(daf_serial_s, 2), "episodes_per_s": round(total / daf_serial_s, 2)},
        f"daf_{args.workers}_workers": {
            "seconds": round(daf_parallel_s, 2),
            "episodes_per_s": round(total / daf_parallel_s, 2),
        },
        "ratio_daf_1_worker_vs_cogames": round(cogames_s / daf_serial_s, 2),
        f"ratio_daf_{args.workers}_workers_vs_cogames": round(cogames_s / daf_parallel_s, 2),
    }
    print(json.dumps(result, indent=2))
    name = f"evaluation_{'-'.join(args.policies)}_{args.episodes}.json"
    atomic_write_json(Path(__file__).parent / "results" / name, result)


if __name__ == "__main__":
    main()
