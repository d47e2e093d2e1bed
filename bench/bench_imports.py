"""Import time of the Dagster definitions: what every webserver reload, daemon tick and run start pays.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_imports.py [--reps 3] [--output F]

Each import is timed in a fresh interpreter (``python -X importtime`` would slow it down, so the clock is
the process's own, around the import statement): ``dagster`` alone, ``daf_dagster.definitions`` (every
asset, check, job, sensor and schedule, the goal is under 3 s), and, for scale, what the definitions
keep out of their import (``torch`` and ``cogames.train``). Also records whether the definitions' import
pulled torch or cogames in (it must not). Writes bench/results/imports.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from measure import add_reps_argument, figure, interleaved, machine

from daf_core._internal.atomic import atomic_write_json

TIMED = (
    "import json, sys, time; started = time.perf_counter(); import {module}; "
    "print(json.dumps({{'seconds': time.perf_counter() - started, "
    "'torch_loaded': float('torch' in sys.modules), 'cogames_loaded': float('cogames' in sys.modules)}}))"
)
MODULES = {
    "dagster": "dagster",
    "definitions": "daf_dagster.definitions",
    "torch": "torch",
    "cogames_train": "cogames.train",
}


def timed_import(module: str):
    def run() -> dict[str, float]:
        done = subprocess.run(
            [sys.executable, "-c", TIMED.format(module=module)], capture_output=True, text=True, check=True
        )
        return json.loads(done.stdout.strip().splitlines()[-1])

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_reps_argument(parser)
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "imports.json")
    args = parser.parse_args()
    before = machine()
    runs = interleaved({name: timed_import(module) for name, module in MODULES.items()}, args.reps)
    result = {
        "work": {"modules": MODULES},
        "machine": before,
        "machine_after": machine(),
        "reps": args.reps,
        **{name: {"seconds": figure(arm, "seconds")} for name, arm in runs.items()},
        "definitions_pull_in": {
            "torch": any(run["torch_loaded"] for run in runs["definitions"]),
            "cogames": any(run["cogames_loaded"] for run in runs["definitions"]),
        },
        "goal_seconds": 3.0,
    }
    print(json.dumps(result, indent=2))
    atomic_write_json(args.output, result)


if __name__ == "__main__":
    main()
