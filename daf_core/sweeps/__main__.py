"""``python -m daf_core.sweeps --config sweep.yaml [--worker]``: run a sweep, or one worker of it."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daf_core.config import DAFSweepConfig
from daf_core.sweeps.launch import daf_launch_sweep
from daf_core.sweeps.worker import run_sweep_worker

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a DAF hyperparameter sweep, or one worker of it.")
    parser.add_argument("--config", required=True, help="DAFSweepConfig YAML/JSON")
    parser.add_argument(
        "--worker",
        action="store_true",
        help="run trials of the sweep's study until it is done (start one per core, on any machine "
        "that reaches the storage)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)  # a stopped worker requeues its trial
    config = DAFSweepConfig.from_file(args.config)
    try:
        if args.worker:
            config = config.model_copy(update={"output_dir": Path(config.output_dir).absolute()})
            result = run_sweep_worker(config)
            print(json.dumps(result.status(), indent=2, default=str))
            return 0
        result = daf_launch_sweep(config)
    except KeyboardInterrupt:
        print("sweep interrupted; rerun the same command to continue it", file=sys.stderr)
        return 130
    except (RuntimeError, ValueError, FileNotFoundError) as err:
        print(f"sweep failed: {err}", file=sys.stderr)
        return 1
    result.print_summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())
