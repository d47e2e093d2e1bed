"""``python -m daf_core.sweeps --config sweep.yaml [--daf-config daf.yaml] [--worker]``: run a sweep, or one
worker of it."""

from __future__ import annotations

import argparse
import sys

from daf_core.config import DAFConfig, DAFSweepConfig
from daf_core.sweeps.launch import daf_launch_sweep
from daf_core.sweeps.results import SweepResult
from daf_core.sweeps.worker import run_as_process, run_worker_process


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a DAF hyperparameter sweep, or one worker of it.")
    parser.add_argument("--config", required=True, help="DAFSweepConfig YAML/JSON")
    parser.add_argument(
        "--daf-config",
        help="DAFConfig YAML/JSON the trials run under (logging, devices, tracking, checkpoints)",
    )
    parser.add_argument(
        "--worker",
        action="store_true",
        help="run trials of the sweep's study until it is done (start one per core, on any machine "
        "that reaches the storage)",
    )
    args = parser.parse_args(argv)
    if args.worker:
        return run_worker_process(args.config, args.daf_config)

    def launch() -> SweepResult:
        daf_config = DAFConfig.from_file(args.daf_config) if args.daf_config else None
        return daf_launch_sweep(DAFSweepConfig.from_file(args.config), daf_config)

    return run_as_process(launch, lambda result: result.print_summary())


if __name__ == "__main__":
    sys.exit(main())
