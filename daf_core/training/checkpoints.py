"""The checkpoint layout of a training run, shared with cogames, and how to write and find it safely.

A run directory ``<checkpoint_dir>/<run_name>/`` holds what ``cogames.train`` writes, so cogames tools
and ``policy_spec_from_uri`` load DAF checkpoints unchanged:

    model_000010.pt       the network's state_dict after epoch 10 (one file per checkpoint)
    trainer_state.pt      optimizer, scheduler, RNG states, global_step, epoch, and which model file
    policy_spec.json      class path + latest model file (a cogames submission spec)

plus DAF's own ``config.yaml`` (the run's full config), ``metrics.jsonl`` (one row per epoch) and
``system.jsonl`` (CPU/memory/GPU samples).

Crash safety: every file is written to a temporary name and renamed. The model file is written first
and ``trainer_state.pt`` second, so the state always names a model file that is complete; old model
files are pruned only after the new state is in place. Resuming reads ``trainer_state.pt`` alone.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daf_core._internal.atomic import atomic_write_bytes, atomic_write_text

# The file names live in a module without torch (a Dagster sensor lists them); re-exported here.
from daf_core._internal.checkpoint_files import (  # noqa: F401
    MODEL_PATTERN,
    model_epoch,
    model_filename,
    model_files,
)

logger = logging.getLogger(__name__)

TRAINER_STATE = "trainer_state.pt"
POLICY_SPEC = "policy_spec.json"
METRICS = "metrics.jsonl"


def torch_save_atomic(obj: Any, path: Path) -> Path:
    import torch  # noqa: PLC0415

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def write_checkpoint(
    run_dir: Path, epoch: int, model_state: dict[str, Any], trainer_state: dict[str, Any]
) -> Path:
    """Model file, then the trainer state that names it: the state never points at a partial file."""
    model_path = torch_save_atomic(model_state, Path(run_dir) / model_filename(epoch))
    torch_save_atomic(
        {**trainer_state, "model_name": model_path.name, "update": epoch}, Path(run_dir) / TRAINER_STATE
    )
    return model_path


def prune_checkpoints(run_dir: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` model files, never the one the trainer state names."""
    current = read_trainer_state(run_dir, map_location="cpu")
    protected = current.get("model_name") if current else None
    removed = []
    for path in model_files(run_dir)[:-keep] if keep > 0 else []:
        if path.name != protected:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def read_trainer_state(run_dir: Path, map_location: str = "cpu") -> dict[str, Any] | None:
    """The trainer state if it exists and its model file is present; else None (nothing to resume)."""
    import torch  # noqa: PLC0415

    state_path = Path(run_dir) / TRAINER_STATE
    if not state_path.exists():
        return None
    state = torch.load(state_path, map_location=map_location, weights_only=False)
    model_name = state.get("model_name")
    if not model_name or not (Path(run_dir) / model_name).exists():
        logger.warning("%s names %s, which is missing: not resuming from it", state_path, model_name)
        return None
    return state


def write_policy_spec(run_dir: Path, class_path: str, model_name: str, policy_env_interface: Any) -> Path:
    """cogames' ``policy_spec.json`` pointing at ``model_name`` (so the directory is a loadable bundle)."""
    from mettagrid.policy.submission import SubmissionPolicySpec  # noqa: PLC0415

    spec = SubmissionPolicySpec(
        class_path=class_path, data_path=model_name, policy_env_interface=policy_env_interface
    )
    return atomic_write_text(Path(run_dir) / POLICY_SPEC, spec.model_dump_json(indent=2))


@dataclass(frozen=True)
class TrainingStatus:
    run_dir: Path
    epoch: int
    global_step: int
    latest_checkpoint: Path | None
    checkpoints: list[Path]
    complete: bool
    last_metrics: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir),
            "epoch": self.epoch,
            "global_step": self.global_step,
            "latest_checkpoint": str(self.latest_checkpoint) if self.latest_checkpoint else None,
            "checkpoints": [str(p) for p in self.checkpoints],
            "complete": self.complete,
            "last_metrics": self.last_metrics,
        }


def read_status(run_dir: Path) -> TrainingStatus:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"training run directory not found: {run_dir}")
    state = read_trainer_state(run_dir) or {}
    last_metrics = None
    metrics_path = run_dir / METRICS
    if metrics_path.exists():
        lines = [line for line in metrics_path.read_text().splitlines() if line.strip()]
        last_metrics = json.loads(lines[-1]) if lines else None
    return TrainingStatus(
        run_dir=run_dir,
        epoch=int(state.get("update", 0)),
        global_step=int(state.get("agent_steps", state.get("global_step", 0))),
        latest_checkpoint=run_dir / state["model_name"] if state else None,
        checkpoints=model_files(run_dir),
        complete=bool(state.get("complete", False)),
        last_metrics=last_metrics,
    )
