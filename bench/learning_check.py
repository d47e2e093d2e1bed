"""Does DAF's trainer learn? Train lstm on a built-in mission, then compare it by DAF's own statistics.

    OMP_NUM_THREADS=1 .venv/bin/python bench/learning_check.py [--mission collect] [--steps 300000]

The untrained network is the exact initial weights the training started from (saved first and passed
as ``initial_weights_path``). All three policies play the same evaluation seeds, which are disjoint from
the training maps. Writes the comparison report to bench/results/learning_<mission>/ and a summary
to bench/results/learning_<mission>.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from measure import machine
from mettagrid.policy.loader import initialize_or_load_policy
from mettagrid.policy.policy import PolicySpec
from mettagrid.policy.policy_env_interface import PolicyEnvInterface

from daf_core._internal.atomic import atomic_write_json
from daf_core.comparison import daf_compare_policies
from daf_core.config import DAFConfig, DAFTrainingConfig
from daf_core.missions import load_mission
from daf_core.training import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mission", default="collect")
    parser.add_argument("--steps", type=int, default=299_008)  # 146 epochs of 2048: <= 300k
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--output-dir", default="daf_output/learning_check")
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    out = Path(args.output_dir)
    results = args.results

    torch.manual_seed(0)
    interface = PolicyEnvInterface.from_mg_cfg(load_mission(args.mission))
    untrained = out / "untrained.pt"
    untrained.parent.mkdir(parents=True, exist_ok=True)
    initialize_or_load_policy(interface, PolicySpec(class_path="lstm")).save_policy_data(str(untrained))

    config = DAFTrainingConfig(
        missions=[args.mission],
        num_steps=args.steps,
        initial_weights_path=untrained,
        device="cpu",
        checkpoint_dir=out / "checkpoints",
    )
    started = time.perf_counter()
    trained = train(config, DAFConfig(output_dir=out))
    train_seconds = time.perf_counter() - started

    report = daf_compare_policies(
        {
            "trained": trained.run_dir,
            "untrained": f"class=lstm,data={untrained.resolve()}",
            "random": "random",
        },
        [args.mission],
        episodes_per_mission=args.episodes,
        seed=0,
        name=f"learning_{args.mission}",
        output_dir=results / f"learning_{args.mission}",
    )
    report.print_summary()
    summary = {
        "machine": machine(),
        "mission": args.mission,
        "agent_steps": trained.training_steps,
        "train_seconds": round(train_seconds, 1),
        "episodes": args.episodes,
        "mean_reward": {
            p: round(report.summary_statistics[p][args.mission]["mean"], 3) for p in report.policies
        },
        "comparisons": [c.summary_string() for c in report.comparisons if c.mission == args.mission],
    }
    print(json.dumps(summary, indent=2))
    atomic_write_json(results / f"learning_{args.mission}.json", summary)


if __name__ == "__main__":
    main()
