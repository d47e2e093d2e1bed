"""``PipelineResult`` and ``StageResult``: what a pipeline did, stage by stage, and its JSON file.

A pipeline is "success" only when every stage it was asked to run completed; "failed" when none did;
"partial" otherwise. A stage is "success", "failed" (``error`` says why) or "skipped" (``reason`` says
why: a stage it depends on did not complete, or the pipeline stopped at a failure). Times are seconds
after the pipeline started, so two stages' ``started_s``/``finished_s`` show whether they overlapped.

In memory a stage keeps the object its step returned (a training result, a ComparisonReport, a
SweepResult, a DeploymentResult...) as ``output``; the file keeps its JSON ``summary``, so a result
loaded back from its file has the summaries in ``outputs``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from daf_core._internal.atomic import atomic_write_json

StageStatus = Literal["success", "failed", "skipped"]
PipelineStatus = Literal["success", "failed", "partial"]

#: The file a pipeline's result is saved to, in the pipeline's folder.
RESULT_FILE = "pipeline_result.json"


def json_ready(value: Any) -> Any:
    """``value`` as strict JSON data: paths and other objects as text, NaN and infinities as None
    (a summary is read, never computed on), so a summary is the same in memory and in its file."""
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if type(value).__module__ == "numpy" and hasattr(value, "item"):  # a NumPy scalar
        return json_ready(value.item())
    if isinstance(value, Mapping):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    return str(value)


@dataclass
class StageResult:
    """One stage: how it ended, when it ran (seconds after the pipeline started), and what it made."""

    name: str
    status: StageStatus
    seconds: float = 0.0
    started_s: float | None = None
    finished_s: float | None = None
    #: Why a failed stage failed (the exception's type and message).
    error: str | None = None
    #: Why a skipped stage did not run.
    reason: str | None = None
    #: JSON-ready facts about the output (paths, scores, a one-line ``headline``).
    summary: dict[str, Any] = field(default_factory=dict)
    #: The object the stage's step returned; not saved (the summary is).
    output: Any = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "output"}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StageResult:
        known = {f.name for f in dataclasses.fields(cls)} - {"output"}
        return cls(**{key: value for key, value in data.items() if key in known})


@dataclass
class PipelineResult:
    """The outcome of a pipeline run (the reference's ``PipelineResult``), one :class:`StageResult` per
    requested stage in the order they were listed."""

    pipeline_name: str
    stages: list[StageResult]
    total_time_seconds: float
    started_at: str | None = None
    #: The pipeline's folder (where this result is saved), when it has one.
    output_dir: str | None = None
    #: The DAFPipelineConfig that ran, as saved data.
    config: dict[str, Any] | None = None

    @property
    def status(self) -> PipelineStatus:
        """ "success" when every stage completed, "failed" when none did, else "partial"."""
        completed = len(self.stages_completed)
        if completed == len(self.stages):
            return "success"
        return "failed" if completed == 0 else "partial"

    def is_success(self) -> bool:
        """True only when every requested stage completed."""
        return bool(self.stages) and self.status == "success"

    @property
    def stages_completed(self) -> list[str]:
        return [stage.name for stage in self.stages if stage.status == "success"]

    @property
    def stages_failed(self) -> list[str]:
        return [stage.name for stage in self.stages if stage.status == "failed"]

    @property
    def stages_skipped(self) -> list[str]:
        return [stage.name for stage in self.stages if stage.status == "skipped"]

    @property
    def errors(self) -> list[str]:
        """One line per failed stage: ``"<stage>: <error>"``."""
        return [f"{stage.name}: {stage.error}" for stage in self.stages if stage.status == "failed"]

    @property
    def outputs(self) -> dict[str, Any]:
        """Each completed stage's output object (its summary when loaded from a file)."""
        return {
            stage.name: stage.output if stage.output is not None else stage.summary
            for stage in self.stages
            if stage.status == "success"
        }

    @property
    def stage_times(self) -> dict[str, float]:
        """Seconds each stage ran (0 for a skipped one)."""
        return {stage.name: stage.seconds for stage in self.stages}

    def stage(self, name: str) -> StageResult:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(f"stage {name!r} was not part of pipeline {self.pipeline_name!r}")

    # -- files --------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipeline_name": self.pipeline_name,
            "status": self.status,
            "stages_completed": self.stages_completed,
            "stages_failed": self.stages_failed,
            "stages_skipped": self.stages_skipped,
            "errors": self.errors,
            "total_time_seconds": self.total_time_seconds,
            "started_at": self.started_at,
            "output_dir": self.output_dir,
            "stages": [stage.to_dict() for stage in self.stages],
            "config": self.config,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PipelineResult:
        """The inverse of :meth:`to_dict` (status and the stage lists follow from the stages)."""
        return cls(
            pipeline_name=data["pipeline_name"],
            stages=[StageResult.from_dict(stage) for stage in data["stages"]],
            total_time_seconds=data["total_time_seconds"],
            started_at=data.get("started_at"),
            output_dir=data.get("output_dir"),
            config=data.get("config"),
        )

    def save_json(self, path: str | Path) -> Path:
        """Write atomically, so a reader polling the file while the pipeline runs never sees half of it."""
        return atomic_write_json(Path(path), self.to_dict())

    @classmethod
    def load_json(cls, path: str | Path) -> PipelineResult:
        """Load a saved result: the file itself or the pipeline folder holding ``pipeline_result.json``."""
        path = Path(path)
        if path.is_dir():
            path = path / RESULT_FILE
        if not path.is_file():
            raise FileNotFoundError(f"pipeline result file not found: {path}")
        return cls.from_dict(json.loads(path.read_text()))
