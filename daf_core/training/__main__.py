"""``python -m daf_core.training --config run.yaml``: one training run, or one rank of a torchrun."""

from __future__ import annotations

import argparse
import json
import sys

import torch.distributed as dist

from daf_core.config import DAFConfig, DAFTrainingConfig
from daf_core.training.process_group import WorkerContext
from daf_core.training.trainer import train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train one DAF run (torchrun-compatible).")
    parser.add_argument("--config", required=True, help="DAFTrainingConfig YAML/JSON")
    parser.add_argument("--daf-config", help="optional DAFConfig YAML/JSON")
    args = parser.parse_args(argv)
    config = DAFTrainingConfig.from_file(args.config)
    daf_config = DAFConfig.from_file(args.daf_config) if args.daf_config else None
    try:
        result = train(config, daf_config)
    except ValueError as err:  # a setting this process cannot run, e.g. num_workers without torchrun
        print(f"daf_core.training: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("training interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if WorkerContext.from_env().is_main:
        print(json.dumps(result.to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
