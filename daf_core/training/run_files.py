"""A run's directory: its name, and what DAF writes there besides checkpoints (metrics rows)."""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

from daf_core._internal.fingerprints import fingerprint
from daf_core.config import DAFTrainingConfig
from daf_core.training import checkpoints

logger = logging.getLogger(__name__)


def default_run_name(config: DAFTrainingConfig) -> str:
    """Deterministic from everything that shapes the run, so rerunning the same config resumes it."""
    identity = config.model_dump(
        mode="json", exclude={"checkpoint_dir", "run_name", "max_checkpoints_to_keep"}
    )
    digest = fingerprint(identity, length=10)
    policy = config.policy_class_path.rsplit(".", 1)[-1].lower()
    return f"{policy}-{'+'.join(Path(m).stem for m in config.missions)}-seed{config.seed}-{digest}"



class RunFiles:
    """The run directory and what DAF writes there besides checkpoints; also PuffeRL's ``logger``."""

    def __init__(self, run_dir: Path, class_path: str, policy_env_interface: Any, keep: int, is_main: bool):
        self.run_dir = run_dir
        self.run_id = run_dir.name
        self.class_path = class_path
        self.policy_env_interface = policy_env_interface
        self.keep = keep
        self.is_main = is_main

    def log(self, logs: dict[str, Any], step: int) -> None:
        """PuffeRL's logger hook; DAF writes its own per-epoch rows in :meth:`append_metrics`."""

    def close(self, model_path: str) -> None:
        """PuffeRL's logger hook."""

    def append_metrics(self, row: dict[str, Any]) -> None:
        if self.is_main:
            with open(self.run_dir / checkpoints.METRICS, "a") as handle:
                handle.write(json.dumps(row, allow_nan=False) + "\n")


def _clean(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def metrics_row(
    trainer: Any, missions: list[str], started: float, steps_at_start: int
) -> dict[str, Any]:
    world = trainer.context.world_size
    elapsed = max(time.time() - started, 1e-9)
    row: dict[str, Any] = {
        "epoch": trainer.completed_epoch,
        "agent_steps": trainer.completed_step * world,
        "sps": (trainer.completed_step - steps_at_start) * world / elapsed,
        "learning_rate": trainer.optimizer.param_groups[0]["lr"],
        "wall_time_s": elapsed,
    }
    row.update({f"losses/{key}": _clean(value) for key, value in trainer.losses.items()})
    row.update(
        {
            f"env/{key}": _clean(value)
            for key, value in trainer.epoch_stats.items()
            if not key.startswith("per_agent/")
        }
    )
    row["missions"] = missions
    return row
