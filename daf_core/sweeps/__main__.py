"""``python -m daf_core.sweeps --config sweep.yaml [--daf-config daf.yaml] [--worker]``: run a sweep, or one
worker of it."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from daf_core.config import DAFConfig, DAFSweepConfig
from daf_core.sweeps.launch import daf_launch_sweep
from daf_core.sweeps.worker import run_sweep_worker

_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


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
    daf_config = DAFConfig.from_file(args.daf_config) if args.daf_config else None
    _log_to_stderr()

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)  # a stopped worker requeues its trial
    config = DAFSweepConfig.from_file(args.config)
    try:
        if args.worker:
            config = config.model_copy(update={"output_dir": Path(config.output_dir).absolute()})
            result = run_sweep_worker(config, daf_config=daf_config)
            print(json.dumps(result.status(), indent=2, default=str))
            return 0
        result = daf_launch_sweep(config, daf_config)
    except KeyboardInterrupt:
        print("sweep interrupted; rerun the same command to continue it", file=sys.stderr)
        return 130
    except (RuntimeError, ValueError, FileNotFoundError) as err:
        print(f"sweep failed: {err}", file=sys.stderr)
        return 1
    result.print_summary()
    return 0


def _log_to_stderr() -> None:
    """DAF's progress lines on stderr (a worker's log file). The handler goes on DAF's own logger, so
    ``configure_logging`` (the launcher and the worker loop apply the DAFConfig) adds no second one."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    daf_logger = logging.getLogger("daf_core")
    daf_logger.addHandler(handler)
    daf_logger.setLevel(logging.INFO)


if __name__ == "__main__":
    sys.exit(main())
