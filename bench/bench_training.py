"""Training throughput: raw ``cogames.train.train`` against DAF's trainer on the same work, side by side.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_training.py [--reps 3] [--mission explore]
        [--steps 131072] [--device cpu|cuda] [--parallel-workers auto] [--output PATH]

Three arms, interleaved in each repetition (bench/measure.py rotates their order): ``cogames_train``
(``cogames.train.train``), ``daf_1_worker`` and ``daf_all_cores`` (``daf_launch_distributed_training``
with ``--parallel-workers`` data-parallel ranks; ``auto``, the default, is one per CPU core, or per GPU on
CUDA; gloo on CPU, NCCL on CUDA). The same mission, policy (lstm), agent steps, seed, 16 vectorised
environments and minibatch 4096 for all; each run in its own fresh process, timed around the one
training call: everything that call does is in the time (DAF's rank start-up and every set-up, and
torch's lazy imports such as the optimizer's ``torch._dynamo``), the imports before it are not (both
sides import their trainer first). ``sps`` is agent steps / seconds; ``training_loop_sps`` is DAF's
steady-state figure from its metrics log and ``outside_loop_seconds`` is the call's time outside rank
0's training loop (rank start-up, set-up, final checkpoint). Ratios are per repetition, >1 = DAF
faster (its SPS over the other's; the step counts differ only by rounding to whole epochs). Writes
bench/results/training_<steps>.json unless --output says otherwise.
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
    steps = int(steps)
    workers = workers if workers == "auto" else int(workers)
    started = time.perf_counter()
    result = daf_launch_distributed_training(
        missions=[mission], num_steps=steps, num_workers=workers, seed=0, vector_num_envs=16,
        checkpoint_interval=10, device=device, daf_config=DAFConfig(output_dir=out, max_parallel_jobs=64),
        show_progress=False)
    elapsed = time.perf_counter() - started
    rows = (result.run_dir / "metrics.jsonl").read_text().splitlines()
    print(json.dumps({"seconds": elapsed, "agent_steps": result.training_steps,
                      "training_loop_sps": json.loads(rows[-1])["sps"], "workers": result.num_workers,
                      "outside_loop_seconds": elapsed - result.wall_time_seconds}))
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
    add_reps_argument(parser)
    parser.add_argument("--mission", default="explore")
    parser.add_argument("--steps", type=int, default=131_072)
    parser.add_argument("--device", default="cpu", help="cpu or cuda, for every arm")
    parser.add_argument(
        "--parallel-workers", default="auto", help="ranks of the daf_all_cores arm: a number or auto (cores)"
    )
    parser.add_argument("--output", type=Path, default=None, help="default results/training_<steps>.json")
    args = parser.parse_args()
    common = (args.mission, str(args.steps))
    before = machine()
    with tempfile.TemporaryDirectory() as scratch:
        counter = iter(range(1_000_000))

        def arm(script: str, *extra: str) -> dict[str, float]:
            return run(script, *common, f"{scratch}/{next(counter)}", *extra)

        runs = interleaved(
            {
                "cogames_train": lambda: arm(RAW_COGAMES, args.device),
                "daf_1_worker": lambda: arm(DAF, "1", args.device),
                "daf_all_cores": lambda: arm(DAF, str(args.parallel_workers), args.device),
            },
            args.reps,
        )
    result: dict = {
        "work": {
            **{key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()},
            **{"policy": "lstm", "vector_num_envs": 16, "minibatch_size": 4096, "seed": 0},
            "backend": "nccl" if args.device.startswith("cuda") else "gloo",
        },
        "machine": before,
        "machine_after": machine(),
        "reps": args.reps,
    }
    for name, arm_runs in runs.items():
        result[name] = {key: figure(arm_runs, key) for key in arm_runs[0] if key != "workers"}
        if "workers" in arm_runs[0]:
            result[name]["workers"] = arm_runs[0]["workers"]
    pairs = [
        ("daf_1_worker", "cogames_train"),
        ("daf_all_cores", "cogames_train"),
        ("daf_all_cores", "daf_1_worker"),
    ]
    for a, b in pairs:
        result[f"ratio_{a}_vs_{b}"] = ratio(runs[a], runs[b], "sps")
    print_table(result, pairs)
    output = args.output or Path(__file__).parent / "results" / f"training_{args.steps}.json"
    atomic_write_json(output, result)
    print(f"wrote {output}")


def print_table(result: dict, pairs: list[tuple[str, str]]) -> None:
    def cell(summary: dict, digits: int = 1) -> str:
        return f"{summary['min']:.{digits}f} / {summary['median']:.{digits}f} / {summary['max']:.{digits}f}"

    print(f"\n{result['work']['steps']} agent steps, {result['reps']} reps (min / median / max)")
    print(f"load before {result['machine']['load_average']}, after {result['machine_after']['load_average']}")
    for name in ("cogames_train", "daf_1_worker", "daf_all_cores"):
        arm = result[name]
        outside = arm.get("outside_loop_seconds")
        extra = f", outside loop {cell(outside)} s" if outside else ""
        print(f"  {name:14s} {cell(arm['seconds'])} s, {cell(arm['sps'], 0)} SPS{extra}")
    for a, b in pairs:
        print(f"  {a} vs {b}: {cell(result[f'ratio_{a}_vs_{b}'], 2)}x")


if __name__ == "__main__":
    main()
