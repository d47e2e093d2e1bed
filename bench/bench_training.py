"""Training throughput: raw ``cogames.train.train`` against DAF's trainer on the same work, side by side.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_training.py [--mission explore] [--steps 131072]
        [--device cpu|cuda] [--parallel-workers 2] [--output bench/results/training_<steps>.json]

Same mission, policy (lstm), agent steps, seed, 16 vectorised environments and minibatch 4096 for both;
each run in its own fresh process, timed around the training call (set-up included, imports excluded).
Then DAF with ``--parallel-workers`` data-parallel workers (gloo on CPU, NCCL on CUDA: one GPU each;
0 or 1 skips it) sharing the same total; that time includes starting the worker processes (each imports
torch and PufferLib). ``training_loop_sps`` is DAF's own
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
    mission, steps, out, device = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
    cfg = load_mission(mission)
    started = time.perf_counter()
    train(cfg, "lstm", torch.device(device), None, steps, out, 0, 4096, vector_num_envs=16,
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
    mission, steps, out, workers, device = sys.argv[1:]
    steps, workers = int(steps), int(workers)
    started = time.perf_counter()
    result = daf_launch_distributed_training(
        missions=[mission], num_steps=steps, num_workers=workers, seed=0, vector_num_envs=16,
        checkpoint_interval=10, device=device, daf_config=DAFConfig(output_dir=out), show_progress=False)
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
    parser.add_argument("--device", default="cpu", help="cpu or cuda, for both trainers")
    parser.add_argument("--parallel-workers", type=int, default=2, help="DAF's parallel run; <2: none")
    parser.add_argument("--output", type=Path, default=None, help="default results/training_<steps>.json")
    args = parser.parse_args()
    common = (args.mission, str(args.steps))
    with tempfile.TemporaryDirectory() as scratch:
        raw = run(RAW_COGAMES, *common, f"{scratch}/raw", args.device)
        daf = run(DAF, *common, f"{scratch}/daf1", "1", args.device)
        parallel = (
            run(DAF, *common, f"{scratch}/dafn", str(args.parallel_workers), args.device)
            if args.parallel_workers > 1
            else None
        )
    backend = "nccl" if args.device.startswith("cuda") else "gloo"
    result = {
        "work": {
            **{key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()},
            **{"policy": "lstm", "vector_num_envs": 16, "minibatch_size": 4096, "seed": 0},
        },
        "cogames_train": raw,
        "daf_1_worker": daf,
        "ratio_daf_vs_cogames_sps": round(daf["sps"] / raw["sps"], 3),
        "cpu_count": os.cpu_count(),
    }
    if parallel is not None:
        result[f"daf_{args.parallel_workers}_workers_{backend}"] = parallel
        result[f"ratio_{args.parallel_workers}_workers_vs_1_sps"] = round(parallel["sps"] / daf["sps"], 3)
    print(json.dumps(result, indent=2))
    output = args.output or Path(__file__).parent / "results" / f"training_{args.steps}.json"
    atomic_write_json(output, result)


if __name__ == "__main__":
    main()
