"""Dagster's overhead on the main job: ``quickstart_job`` through ``dagster job execute`` beside the same
pipeline called directly in Python, side by side, repeated (median of 3 by default).

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_dagster.py [--steps 65536] [--reps 3] [--output F]

Both read ``configs/dagster/quickstart_job.yaml`` and do the same work with the same settings: the
environment check, training ``lstm`` on ``collect`` (run ``quickstart``), its training curves, the
trained policy, ``random`` and the untrained network on the held-out seeds, the comparison report
(report.json, records, HTML, leaderboard, figures), the bundle and its isolated validation. Each starts
as a fresh process with a fresh output root (and, for Dagster, a fresh SQLite DAGSTER_HOME), so both pay
their imports; the direct run calls daf_core's public functions the assets call. ``--steps`` overrides
the training steps of both (the shipped config's value by default).

``ratio`` = Dagster wall time / direct wall time of the same repetition (goal <= 1.15). The machine's
load varies, so the two runs alternate (the order swaps every repetition) and both wall times are kept. Writes
bench/results/dagster_<steps>.json (atomically) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from measure import add_reps_argument, figure, interleaved, machine, summarise
from measure import ratio as ratio_of
from rich.console import Console
from rich.table import Table

from daf_core._internal.atomic import atomic_write_json

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "dagster" / "quickstart_job.yaml"
RESULTS = Path(__file__).parent / "results"
TRAINED = "training_run:quickstart"


def run_config(steps: int | None) -> dict:
    config = yaml.safe_load(CONFIG.read_text())
    if steps is not None:
        config["ops"]["quickstart_policy"]["config"]["num_steps"] = steps
    return config


def direct(config: dict, root: Path) -> dict:
    """The quickstart's work as plain daf_core calls (what each asset calls, in the job's order)."""
    from daf_core.comparison import ComparisonReport  # noqa: PLC0415 - timed: imports are part of the work
    from daf_core.config import DAFConfig, DAFTrainingConfig  # noqa: PLC0415
    from daf_core.deployment import daf_package_policy, validate_bundle  # noqa: PLC0415
    from daf_core.distributed_training import daf_launch_distributed_training  # noqa: PLC0415
    from daf_core.environment_checks import daf_check_environment  # noqa: PLC0415
    from daf_core.evaluation import evaluate_policies  # noqa: PLC0415
    from daf_core.visualization import (  # noqa: PLC0415
        daf_export_comparison_html,
        daf_generate_leaderboard,
        daf_plot_policy_comparison,
        daf_plot_training_curves,
    )

    ops = {name: op["config"] for name, op in config["ops"].items()}
    checkpoints = root / "checkpoints"
    daf_config = DAFConfig(output_dir=root, checkpoint_dir=checkpoints)
    environment = ops["environment_report"]
    health = daf_check_environment(
        missions=environment["missions"],
        checkpoint_dir=checkpoints,
        min_available_gb=environment["min_available_gb"],
    )
    if not health.is_healthy():
        raise RuntimeError(health.summary())

    training = DAFTrainingConfig(
        **ops["quickstart_policy"], run_name="quickstart", checkpoint_dir=checkpoints
    )
    trained = daf_launch_distributed_training(
        training_config=training, daf_config=daf_config, show_progress=False
    )
    daf_plot_training_curves(trained.run_dir, root / "training" / "quickstart" / "plots")

    episodes = ops["quickstart_episodes"]
    records = evaluate_policies(
        [str(trained.run_dir) if ref == TRAINED else ref for ref in episodes["policies"]],
        episodes["missions"],
        episodes["episodes_per_mission"],
        seed=episodes["seed"],
        max_parallel_jobs=episodes["max_parallel_jobs"],
        output_dir=root / "evaluations",
        show_progress=False,
    )
    report_config = ops["quickstart_report"]
    report = ComparisonReport.from_records(
        records,
        name=report_config["name"],
        significance_level=report_config["significance_level"],
        seed=episodes["seed"],
    )
    folder = root / "comparisons" / report_config["name"]
    report.save(folder)
    daf_export_comparison_html(report, folder / "report.html", aggregate=report_config["aggregate"])
    leaderboard = daf_generate_leaderboard(report, folder / "leaderboard.md", report_config["aggregate"])
    daf_plot_policy_comparison(report, folder / "figures")

    package = ops["quickstart_package"]
    missions = package["validation_missions"]
    packaged = daf_package_policy(
        package["policy_class_path"],
        str(trained.run_dir),
        policy_name=package["policy_name"],
        version=package["version"],
        output_dir=root / "packages",
        mission=package["mission"] or missions[0],
    )
    validation = validate_bundle(
        packaged.package_path,
        missions=missions,
        episodes=package["validation_episodes"],
        max_steps=package["validation_max_steps"],
        min_mean_reward=package["min_mean_reward"],
        max_action_ms=package["max_action_ms"],
        timeout_s=package["validation_timeout_s"],
        memory_mb=package["validation_memory_mb"],
        seed=package["seed"],
    )
    if not validation.passed:
        raise RuntimeError(validation.summary())
    return {"training_steps": trained.training_steps, "leaderboard": leaderboard}


def training_seconds(root: Path) -> float:
    """The training loop's own wall time in a finished run under ``root`` (the last metrics row's)."""
    (metrics,) = root.glob("checkpoints/*/metrics.jsonl")
    return float(json.loads(metrics.read_text().splitlines()[-1])["wall_time_s"])


def time_direct(config: dict, root: Path) -> float:
    """``direct`` in a fresh interpreter, as ``dagster job execute`` is one."""
    config_path = root.parent / "direct_config.json"
    config_path.write_text(json.dumps(config))
    code = (
        "import json, sys; from pathlib import Path; sys.path.insert(0, sys.argv[3]); "
        "import bench_dagster as b; "
        "print(json.dumps(b.direct(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))))"
    )
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", code, str(config_path), str(root), str(Path(__file__).parent)],
        cwd=REPO,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def time_dagster(config: dict, root: Path) -> float:
    """``dagster job execute -j quickstart_job`` on a fresh SQLite instance, outputs under ``root``."""
    home = root.parent / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    config_path = root.parent / "run_config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    dagster = str(Path(sys.executable).with_name("dagster"))
    command = [dagster, "job", "execute", "-m", "daf_dagster.definitions"]
    env = {**os.environ, "DAGSTER_HOME": str(home), "DAF_OUTPUT_ROOT": str(root), "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    proc = subprocess.run(
        [*command, "-j", "quickstart_job", "-c", str(config_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"dagster job execute failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the shipped one)")
    add_reps_argument(parser)
    parser.add_argument("--output", type=Path, default=None, help="default results/dagster_<steps>.json")
    args = parser.parse_args(argv)
    config = run_config(args.steps)
    steps = config["ops"]["quickstart_policy"]["config"]["num_steps"]
    before = machine()
    with tempfile.TemporaryDirectory(prefix="daf-bench-dagster-") as tmp:
        fresh = iter(range(10_000))

        def arm(runner):
            def timed() -> dict[str, float]:
                root = Path(tmp) / str(next(fresh)) / "daf_output"
                root.parent.mkdir()
                seconds = runner(config, root)
                training = training_seconds(root)
                return {"seconds": seconds, "training_s": training, "outside_training_s": seconds - training}

            return timed

        runs = interleaved({"direct": arm(time_direct), "dagster": arm(time_dagster)}, args.reps)
    ratio = ratio_of(runs["dagster"], runs["direct"], "seconds")
    result = {
        "work": {"training_steps": steps, "job": "quickstart_job", "config": str(CONFIG.relative_to(REPO))},
        "machine": before,
        "machine_after": machine(),
        "reps": args.reps,
        "direct": {"seconds": figure(runs["direct"], "seconds", 2)},
        "dagster": {"seconds": figure(runs["dagster"], "seconds", 2)},
        "overhead_s": summarise(
            [d["seconds"] - p["seconds"] for d, p in zip(runs["dagster"], runs["direct"], strict=True)], 2
        ),
        # The training loop is the same code in both arms, yet its speed varies by a quarter from run to
        # run on this machine; Dagster's own cost is what the arms spend outside it.
        "training_s": {arm: figure(runs[arm], "training_s", 2) for arm in ("direct", "dagster")},
        "overhead_outside_training_s": summarise(
            [
                d["outside_training_s"] - p["outside_training_s"]
                for d, p in zip(runs["dagster"], runs["direct"], strict=True)
            ],
            2,
        ),
        "ratio_dagster_vs_direct": ratio,
        "goal_ratio": 1.15,
    }
    path = atomic_write_json(args.output or RESULTS / f"dagster_{steps}.json", result)
    table = Table(title=f"quickstart_job ({steps} steps): dagster job execute vs the same daf_core calls")
    for column in ("", "min", "median", "max"):
        table.add_column(column, justify="right")
    for label, values in (
        ("direct (s)", result["direct"]["seconds"]),
        ("dagster (s)", result["dagster"]["seconds"]),
        ("training loop, direct (s)", result["training_s"]["direct"]),
        ("training loop, dagster (s)", result["training_s"]["dagster"]),
        ("overhead outside training (s)", result["overhead_outside_training_s"]),
        ("ratio", ratio),
    ):
        table.add_row(label, *(f"{values[key]:.2f}" for key in ("min", "median", "max")))
    Console().print(table)
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
