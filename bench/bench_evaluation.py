"""Evaluation throughput: the same policies, missions, episodes and seeds through ``cogames.evaluate``
and through DAF's engine with 1 and with N workers, interleaved in one run.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_evaluation.py \\
        [--missions explore explore_large] [--policies random noop lstm] [--episodes 16] [--workers 2] \\
        [--reps 3] [--results bench/results | --output PATH]

What is timed, per mission and repetition, each arm on the same seeds ``seed .. seed + episodes - 1``:

* ``cogames_evaluate``: one ``cogames.evaluate.evaluate`` call per policy (its serial per-agent loop; it
  loads the policy for every episode, as it always does). Policy specs are resolved before the clock starts.
* ``daf_1_worker`` / ``daf_<N>_workers``: one ``evaluate_policies(policies, [mission], episodes)`` call,
  everything included: resolving policies, planning, starting the worker processes, collecting records.

Before the first repetition every arm runs once on one episode of ``tiny_walk`` (imports, policy
discovery and lazy set-up are not timed).
The arms alternate within each repetition, their order rotated every repetition (``bench/measure.py``).
Ratios are per repetition, ``cogames seconds / DAF seconds`` (>1: DAF faster), then min/median/max.
The results file (``--output``, else ``<--results>/evaluation.json``) holds under ``missions``, per
mission, every arm's seconds and episodes/s and the ratios, with the machine's load average before and after.
The README's figures: the defaults (about 6-10 minutes on the 2-core machine). A check that it runs:
``--episodes 1 --reps 1`` (about 30 s; with ``--missions explore`` about 6-12 s).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import add_reps_argument, figure, interleaved, machine, ratio  # noqa: E402

from daf_core._internal.atomic import atomic_write_json  # noqa: E402
from daf_core._internal.threads import limit_threads  # noqa: E402


def cogames_arm(
    policies: list[str], mission: str, episodes: int, seed: int
) -> Callable[[], dict[str, float]]:
    from cogames.evaluate import evaluate  # noqa: PLC0415
    from rich.console import Console  # noqa: PLC0415

    from daf_core.evaluation import resolve_policy  # noqa: PLC0415
    from daf_core.missions import load_mission  # noqa: PLC0415

    specs = [resolve_policy(policy).spec for policy in policies]
    env_cfg = load_mission(mission)

    def run() -> dict[str, float]:
        quiet = Console(file=io.StringIO())
        started = time.perf_counter()
        for spec in specs:
            evaluate(quiet, [(mission, env_cfg)], [spec], [1.0], episodes, 10_000, seed=seed)
        return _timed(started, len(policies) * episodes)

    return run


def daf_arm(
    policies: list[str], mission: str, episodes: int, seed: int, workers: int
) -> Callable[[], dict[str, float]]:
    from daf_core.evaluation import evaluate_policies  # noqa: PLC0415

    def run() -> dict[str, float]:
        started = time.perf_counter()
        evaluate_policies(
            policies, [mission], episodes, seed=seed, max_parallel_jobs=workers, show_progress=False
        )
        return _timed(started, len(policies) * episodes)

    return run


def _timed(started: float, episodes: int) -> dict[str, float]:
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "episodes_per_s": episodes / seconds}


def arms(args: argparse.Namespace, mission: str, episodes: int) -> dict[str, Callable[[], dict[str, float]]]:
    return {
        "cogames_evaluate": cogames_arm(args.policies, mission, episodes, args.seed),
        "daf_1_worker": daf_arm(args.policies, mission, episodes, args.seed, 1),
        f"daf_{args.workers}_workers": daf_arm(args.policies, mission, episodes, args.seed, args.workers),
    }


def measure_mission(args: argparse.Namespace, mission: str) -> dict[str, Any]:
    parallel = f"daf_{args.workers}_workers"
    print(f"{mission}: {len(args.policies)} policies x {args.episodes} episodes, {args.reps} repetitions")
    runs = interleaved(arms(args, mission, args.episodes), args.reps)
    result: dict[str, Any] = {
        name: {key: figure(arm_runs, key) for key in ("seconds", "episodes_per_s")}
        for name, arm_runs in runs.items()
    }
    for name in ("daf_1_worker", parallel):
        result[f"ratio_{name}_vs_cogames"] = ratio(runs["cogames_evaluate"], runs[name], "seconds")
    return result


def print_table(results: dict[str, dict[str, Any]]) -> None:
    print(f"\n{'mission':<14} {'figure':<34} {'min':>8} {'median':>8} {'max':>8}")
    for mission, result in results.items():
        for name, value in result.items():
            summary = value if name.startswith("ratio_") else value["seconds"]
            label = name if name.startswith("ratio_") else f"{name} seconds"
            low, mid, high = (summary[k] for k in ("min", "median", "max"))
            print(f"{mission:<14} {label:<34} {low:>8.2f} {mid:>8.2f} {high:>8.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policies", nargs="+", default=["random", "noop", "lstm"])
    parser.add_argument("--missions", nargs="+", default=["explore", "explore_large"])
    parser.add_argument("--episodes", type=int, default=16, help="episodes per policy and mission")
    parser.add_argument("--workers", type=int, default=2, help="workers of the parallel DAF arm")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "results", help="folder")
    parser.add_argument("--output", type=Path, default=None, help="default: <results>/evaluation.json")
    add_reps_argument(parser)
    args = parser.parse_args(argv)
    limit_threads(1)
    output = args.output or args.results / "evaluation.json"

    before = machine()
    for warm_up in arms(args, "tiny_walk", 1).values():  # imports, policy discovery, first calls: not timed
        warm_up()
    results = {mission: measure_mission(args, mission) for mission in args.missions}
    record = {
        "work": {
            **{k: v for k, v in vars(args).items() if k not in ("results", "output")},
            "episodes_total_per_mission": len(args.policies) * args.episodes,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        },
        "machine": before,
        "machine_after": machine(),
        "reps": args.reps,
        "missions": results,
    }
    print_table(results)
    print(f"load average before {before['load_average']}, after {record['machine_after']['load_average']}")
    atomic_write_json(output, record)
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
