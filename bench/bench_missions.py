"""Figures for the mission table: episode time and reward of random, noop and an untrained lstm.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_missions.py [--episodes 10]

Runs every built-in mission through DAF's evaluation engine with mettagrid's per-agent rollout loop
(``batch_networks=False``, the loop cogames.evaluate uses, so the times are what a cogames user sees),
one worker. Writes bench/results/missions.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from measure import machine

from daf_core._internal.atomic import atomic_write_json
from daf_core.evaluation import evaluate_policies
from daf_core.missions import BUILTIN_MISSIONS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--missions", nargs="+", default=list(BUILTIN_MISSIONS))
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "missions.json")
    args = parser.parse_args()
    figures = {}
    for mission in args.missions:
        records = evaluate_policies(
            ["random", "noop", "lstm"],
            [mission],
            args.episodes,
            seed=0,
            show_progress=False,
            batch_networks=False,
        )
        figures[mission] = {
            policy: {
                "mean_reward": round(float(group["reward"].mean()), 3),
                "std_reward": round(float(group["reward"].std(ddof=1)), 3),
                "seconds_per_episode": round(float(group["wall_time_s"].mean()), 3),
            }
            for policy, group in records.groupby("policy")
        }
    result = {"machine": machine(), "episodes": args.episodes, "seed": 0, "missions": figures}
    print(json.dumps(result, indent=2))
    atomic_write_json(args.output, result)


if __name__ == "__main__":
    main()
