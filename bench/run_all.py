"""Run every benchmark in ``bench/`` (what ``make bench`` runs), then rewrite the README's tables.

    OMP_NUM_THREADS=1 .venv/bin/python bench/run_all.py [--mode full|quick] [--only training sweeps] [--list]
        [--jobs N]

``full`` runs the work behind the README's figures (each figure the median of 3 repetitions; about 50
minutes on a 2-core machine), writes ``bench/results/`` and then rewrites the README's measurement tables
from those files (``bench/readme_tables.py``). ``quick`` runs every script on tiny work with one
repetition, side by side (``--jobs``, one per core), writes ``bench/results/quick/`` and prints the
tables rendered from there;
it checks the scripts run, its figures mean nothing and the README is left alone. Each script runs in its
own process: they time imports and process start-up, so they must start fresh.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import readme_tables

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
QUICK = RESULTS / "quick"

#: group -> the runs behind the README's figures: (script, arguments). Each writes its default file.
FULL: dict[str, list[tuple[str, list[str]]]] = {
    "missions": [("bench_missions.py", ["--episodes", "10"])],
    "evaluation": [("bench_evaluation.py", [])],
    "training": [
        ("bench_training.py", ["--steps", "131072"]),
        ("bench_training.py", ["--steps", "524288"]),
    ],
    "sweeps": [
        ("bench_sweeps.py", ["--workers-only", "--trials", "16", "--steps", "65536"]),
        ("bench_sweeps.py", ["--strategies-only", "--trials", "8", "--steps", "16384"]),
    ],
    "sweeps_postgres": [("bench_sweeps_postgres.py", ["--trials", "32", "--steps", "4096"])],
    "learning": [("learning_check.py", [])],
    "server": [("bench_server.py", [])],
    "dagster": [("bench_dagster.py", [])],
    "imports": [("bench_imports.py", [])],
    "profile": [("profile_phases.py", [])],
    "sequential": [("bench_sequential.py", [])],
}

#: The same scripts on tiny work, one repetition, into bench/results/quick/ (file names as in full mode).
QUICK_RUNS: dict[str, list[tuple[str, list[str]]]] = {
    "missions": [
        (
            "bench_missions.py",
            ["--episodes", "2", "--missions", "tiny_walk", "--output", f"{QUICK}/missions.json"],
        )
    ],
    "evaluation": [("bench_evaluation.py", ["--episodes", "1", "--reps", "1", "--results", str(QUICK)])],
    "training": [
        (
            "bench_training.py",
            ["--steps", "8192", "--reps", "1", "--output", f"{QUICK}/training_8192.json"],
        ),
    ],
    "sweeps": [
        (
            "bench_sweeps.py",
            ["--workers-only", "--trials", "2", "--steps", "2048", "--episodes", "2", "--reps", "1"]
            + ["--output", f"{QUICK}/sweeps_workers_2x2048.json"],
        ),
        (
            "bench_sweeps.py",
            ["--strategies-only", "--trials", "2", "--steps", "2048", "--episodes", "2", "--reps", "1"]
            + ["--output", f"{QUICK}/sweeps_8.json"],
        ),
    ],
    "sweeps_postgres": [
        (
            "bench_sweeps_postgres.py",
            [
                "--trials",
                "4",
                "--steps",
                "1024",
                "--workers",
                "2",
                "--reps",
                "1",
                "--output",
                f"{QUICK}/sweeps_postgres.json",
            ],
        )
    ],
    "learning": [
        (
            "learning_check.py",
            [
                "--steps",
                "4096",
                "--episodes",
                "2",
                "--results",
                str(QUICK),
                "--output-dir",
                f"{QUICK}/learning_check",
            ],
        )
    ],
    "server": [
        (
            "bench_server.py",
            ["--requests", "40", "--clients", "1", "4", "--reps", "1", "--output", f"{QUICK}/server.json"],
        )
    ],
    "dagster": [
        ("bench_dagster.py", ["--steps", "4096", "--reps", "1", "--output", f"{QUICK}/dagster_65536.json"])
    ],
    "imports": [("bench_imports.py", ["--reps", "1", "--output", f"{QUICK}/imports.json"])],
    "profile": [
        ("profile_phases.py", ["--steps", "4096", "--episodes", "1", "--output", f"{QUICK}/profile.json"])
    ],
    "sequential": [
        (
            "bench_sequential.py",
            ["--simulations", "2000", "--real-max-episodes", "10", "--output", f"{QUICK}/sequential.json"],
        )
    ],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["full", "quick"], default="full")
    parser.add_argument("--only", nargs="+", choices=sorted(FULL), help="run these groups only")
    parser.add_argument("--list", action="store_true", help="print the commands and exit")
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="scripts at once (quick mode only; default: one per core); full mode runs one at a time, "
        "since each script times its work and a neighbour would slow it",
    )
    args = parser.parse_args(argv)
    runs = FULL if args.mode == "full" else QUICK_RUNS
    results = RESULTS if args.mode == "full" else QUICK
    if args.mode == "full" and args.jobs not in (None, 1):
        parser.error(
            f"--jobs: full mode runs one script at a time (its figures are timings), got {args.jobs}"
        )
    jobs = 1 if args.mode == "full" else args.jobs or os.cpu_count() or 1
    if jobs < 1:
        parser.error(f"--jobs: must be at least 1, got {jobs}")
    commands = [
        (group, script, script_args)
        for group in args.only or list(runs)
        for script, script_args in runs[group]
    ]
    for _, script, script_args in commands:
        print(f"$ {' '.join([sys.executable, str(BENCH / script), *script_args])}", flush=True)
    if args.list:
        return 0
    results.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        codes = list(pool.map(lambda run: _run(*run, env=env, quiet=jobs > 1), commands))
    failed = [
        f"{script} {' '.join(script_args)} (exit {code})"
        for (_, script, script_args), code in zip(commands, codes, strict=True)
        if code != 0
    ]
    if failed:
        print("failed (the README was not rewritten):\n  " + "\n  ".join(failed), file=sys.stderr)
        return 1
    if args.mode == "full":
        return readme_tables.main([])
    for name, render in readme_tables.RENDERERS.items():
        try:
            print(f"{name}:\n{render(results)}")
        except FileNotFoundError as missing:  # a group left out by --only
            print(f"{name}: {missing}")
    return 0


def _run(group: str, script: str, script_args: list[str], *, env: dict[str, str], quiet: bool) -> int:
    """One script in a fresh process; with several at once their output is kept and printed on failure."""
    started = time.monotonic()
    command = [sys.executable, str(BENCH / script), *script_args]
    if quiet:
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stdout[-3000:] + done.stderr[-5000:], flush=True)
        code = done.returncode
    else:
        code = subprocess.call(command, env=env)
    print(f"  {group} ({script}): exit {code} after {time.monotonic() - started:.0f} s", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
