"""``TrainingResult``: what a training run (or this worker's share of it) returns."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingResult:
    run_dir: Path
    final_checkpoint: Path
    #: Agent steps over all workers, counting those done before a resume.
    training_steps: int
    wall_time_seconds: float
    num_workers: int
    resumed_from_step: int
    epochs: int

    def training_rate(self) -> float:
        """Agent steps per second of this invocation (steps trained before a resume are excluded)."""
        trained_now = self.training_steps - self.resumed_from_step
        return trained_now / self.wall_time_seconds if self.wall_time_seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "run_dir": str(self.run_dir), "final_checkpoint": str(self.final_checkpoint)}
