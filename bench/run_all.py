"""Run every benchmark in ``bench/`` in turn (what ``make bench`` runs) and print where its figures went.

    OMP_NUM_THREADS=1 .venv/bin/python bench/run_all.py [--only training sweeps] [--list]

Each script runs DAF and the raw cogames call on the same work in one run and writes its figures to
``bench/results/``; the README's Measurements section is copied from those files. The arguments below are
the ones those figures were measured with. Each script runs in its own process (they time imports and
process start-up, so they must start fresh). The whole set takes about 25 minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent

#: name -> (script, arguments): the runs behind the README's figures.
RUNS: dict[str, list[tuple[str, list[str]]]] = {
    "missions": [("bench_missions.py", ["--episodes", "10"])],
    "evaluation": [
        ("bench_evaluation.py", ["--episodes", "16"]),
        ("bench_evaluation.py", ["--episodes", "64"]),
        ("bench_evaluation.py", ["--policies", "random", "noop", "--episodes", "64"]),
    ],
    "training": [
        ("bench_training.py", ["--steps", "131072"]),
        ("bench_training.py", ["--steps", "524288"]),
    ],
    "sweeps": [("bench_sweeps.py", ["--trials", "8"]), ("bench_sweeps.py", ["--trials", "16"])],
    "sweeps_postgres": [("bench_sweeps_postgres.py", ["--trials", "48", "--steps", "4096"])],
    "learning": [("learning_check.py", [])],
    "server": [("bench_server.py", [])],
    "dagster": [("bench_dagster.py", []), ("bench_dagster.py", ["--steps", "262144"])],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=sorted(RUNS), help="run these groups only")
    parser.add_argument("--list", action="store_true", help="print the commands and exit")
    args = parser.parse_args(argv)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    failed = []
    for group in args.only or list(RUNS):
        for script, script_args in RUNS[group]:
            command = [sys.executable, str(BENCH / script), *script_args]
            print(f"$ {' '.join(command)}", flush=True)
            if args.list:
                continue
            started = time.monotonic()
            code = subprocess.call(command, env=env)
            print(f"  {group}: exit {code} after {time.monotonic() - started:.0f} s", flush=True)
            if code != 0:
                failed.append(f"{script} {' '.join(script_args)} (exit {code})")
    if failed:
        print("failed:\n  " + "\n  ".join(failed), file=sys.stderr)
        return 1
    print(f"figures are in {BENCH / 'results'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
