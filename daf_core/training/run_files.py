"""A run's directory: its name, and what DAF writes there besides checkpoints (metrics rows)."""

from __future__ import annotations

import json
import logging
import math
import re
import time
from pathlib import Path
from typing import Any

from daf_core._internal.atomic import atomic_write_text
from daf_core._internal.fingerprints import fingerprint
from daf_core.config import DAFTrainingConfig
from daf_core.missions import is_mission_file
from daf_core.training import checkpoints

logger = logging.getLogger(__name__)


#: What a run folder's name may hold: cogames' policy specs split on ',' and '=' and refuse a ':'.
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]+")


#: Settings that do not change what a run computes: where it is kept, and how its environments are
#: stepped (every vector backend trains the same weights), so a run resumes whatever they are.
NOT_IN_RUN_NAME = frozenset(
    {"checkpoint_dir", "run_name", "max_checkpoints_to_keep", "vector_backend", "vector_num_workers"}
)


def default_run_name(config: DAFTrainingConfig) -> str:
    """Deterministic from everything that shapes the run, so rerunning the same config resumes it.

    Readable parts (policy, missions, seed) and a digest of the whole config, which keeps two configs
    apart even where their readable parts look alike (``game:a`` and ``game-a``).
    """
    identity = config.model_dump(mode="json", exclude=NOT_IN_RUN_NAME)
    digest = fingerprint(identity, length=10)
    policy = _name_part(config.policy_class_path.rsplit(".", 1)[-1].lower())
    missions = "+".join(_mission_name_part(m) for m in config.missions)
    return f"{policy}-{missions}-seed{config.seed}-{digest}"


def _mission_name_part(mission: str) -> str:
    """A mission file by its stem; a catalog name whole (``cogsguard:tutorial.miner`` keeps ``.miner``)."""
    return _name_part(Path(mission).stem if is_mission_file(mission) else mission)


def _name_part(text: str) -> str:
    """``text`` with every run of other characters than letters, digits, ``.``, ``_``, ``-`` made ``-``."""
    return _UNSAFE_IN_NAME.sub("-", text).strip("-.") or "x"


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
        """One row per epoch, appended before that epoch's checkpoint is written."""
        if self.is_main:
            with open(self.run_dir / checkpoints.METRICS, "a") as handle:
                handle.write(json.dumps(row, allow_nan=False) + "\n")

    def metrics_rows(self) -> list[dict[str, Any]]:
        """The rows written so far (after :meth:`keep_metrics_through`, each a whole line); [] off rank 0."""
        path = self.run_dir / checkpoints.METRICS
        if not self.is_main or not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def keep_metrics_through(self, epoch: int) -> None:
        """Drop the rows of epochs after ``epoch``, the checkpoint a resume starts from.

        A row is written before its epoch's checkpoint, so a run stopped between the two, or between
        two checkpoints, left rows for epochs it is about to train again (and perhaps a last line cut
        short): without this they would appear twice.
        """
        path = self.run_dir / checkpoints.METRICS
        if not self.is_main or not path.exists():
            return
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        kept = [line for line in lines if _row_epoch(line) <= epoch]
        if len(kept) < len(lines):
            atomic_write_text(path, "".join(line + "\n" for line in kept))
            logger.info("%s: dropped %d row(s) after epoch %d", path, len(lines) - len(kept), epoch)


def _row_epoch(line: str) -> float:
    """A row's epoch; a line cut short by a kill has none and sorts after every epoch."""
    try:
        return int(json.loads(line)["epoch"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        return math.inf


def _clean(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def metrics_row(trainer: Any, missions: list[str], started: float, steps_at_start: int) -> dict[str, Any]:
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
