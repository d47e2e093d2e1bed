"""What a training run returns: ``TrainingResult``, and ``DistributedTrainingResult`` with its workers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TrainingResult:
    """One run (or, in a worker, this worker's view of it, which every rank shares)."""

    run_dir: Path
    final_checkpoint: Path
    #: Agent steps over all workers, counting those done before a resume.
    training_steps: int
    #: Seconds this invocation trained (rank 0's ``train()``, from building the trainer to the result).
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

    @classmethod
    def from_dict(cls, data: dict[str, Any], **extra: Any) -> Any:
        """The inverse of :meth:`to_dict` (other keys, such as a worker report's rank, are ignored);
        ``extra`` fills a subclass's own fields."""
        values = {f.name: data[f.name] for f in fields(TrainingResult)}
        values["run_dir"], values["final_checkpoint"] = Path(data["run_dir"]), Path(data["final_checkpoint"])
        return cls(**values, **extra)


@dataclass(frozen=True)
class DistributedTrainingResult(TrainingResult):
    """A run launched by ``daf_launch_distributed_training``: its result and each worker's report.

    A worker report (``<run_dir>/workers/rank<N>.json``) is that rank's result plus its rank and a
    checksum of its final weights; data-parallel ranks must end with identical weights.
    """

    worker_reports: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_reports(cls, reports: list[dict[str, Any]]) -> DistributedTrainingResult:
        """Rank 0's report is the run's result; every rank's report rides along."""
        return cls.from_dict(reports[0], worker_reports=reports)
