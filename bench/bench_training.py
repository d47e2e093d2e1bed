"""Training throughput: raw ``cogames.train.train`` against DAF's trainer on the same work, side by side.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_training.py [--mission explore] [--steps 131072]

Same mission, policy (lstm), agent steps, seed, 16 vectorised environments and minibatch 4096 for both;
each run in its own fresh process, timed around the training call (set-up included, imports excluded).
Then DAF with 2 data-parallel gloo workers (half the steps each) on the same total; that time includes
starting the worker processes (each imports torch and PufferLib). ``training_loop_sps`` is DAF's own
steady-state figure from its metrics log. Writes bench/results/training_<steps>.json.
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

from daf_core._internal.atomic import atomic_write_json

RAW_COGAMES = textwrap.dedent(
    """
    import json, signal, sys, time
    from pathlib import Path
    import torch
    from cogames.train import train
    from daf_core.missions import load_mission
    signal.signal(signal.SIGINT, signal.default_int_handler)
    mission, steps, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    cfg = load_mission(mission)
    started = time.perf_counter()
    train(cfg, "lstm", torch.device("cpu"), None, steps, out, 0, 4096, vector_num_envs=16,
          checkpoint_interval=10)
    elapsed = time.perf_counter() - started
    state = torch.load(next(out.glob("*/trainer_state.pt")), weights_only=False)
    print(json.dumps({"seconds": elapsed, "agent_steps": int(state["global_step"])}))
    """
)

DAF = textwrap.dedent(
    """
    import json, sys, time
    from daf_core.config import DAFConfig
    from daf_core.distributed_training import daf_launch_distributed_training
    import daf_core.training  # the same imports as the raw run's, before the clock starts
    mission, steps, out, workers = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    started = time.perf_counter()
    result = daf_launch_distributed_training(
        missions=[mission], num_steps=steps, num_workers=workers, seed=0, vector_num_envs=16,
        checkpoint_interval=10, device="cpu", daf_config=DAFConfig(output_dir=out), show_progress=False)
    elapsed = time.perf_counter() - started
    rows = (result.run_dir / "metrics.jsonl").read_text().splitlines()
    print(json.dumps({"seconds": elapsed, "agent_steps": result.training_steps,
                      "training_loop_sps": json.loads(rows[-1])["sps"]}))
    """
)


def run(script: str, *args: str) -> dict[str, float]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(
        [sys.executable, "-c", script, *args], env=env, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"benchmark run failed:\n{completed.stderr[-3000:]}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    result["sps"] = result["agent_steps"] / result["seconds"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mission", default="explore")
    parser.add_argument("--steps", type=int, default=131_072)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        raw = run(RAW_COGAMES, args.mission, str(args.steps), f"{scratch}/raw")
        daf = run(DAF, args.mission, str(args.steps), f"{scratch}/daf1", "1")
        daf2 = run(DAF, args.mission, str(args.steps), f"{scratch}/daf2", "2")
    result = {
        "work": {**vars(args), "policy": "lstm", "vector_num_envs": 16, "minibatch_size": 4096, "seed": 0},
        "cogames_train": raw,
        "daf_1_worker": daf,
        "daf_2_workers_gloo": daf2,
        "ratio_daf_vs_cogames_sps": round(daf["sps"] / raw["sps"], 3),
        "ratio_2_workers_vs_1_sps": round(daf2["sps"] / daf["sps"], 3),
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))
    atomic_write_json(Path(__file__).parent / "results" / f"training_{args.steps}.json", result)


if __name__ == "__main__":
    main()
