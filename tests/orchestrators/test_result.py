"""PipelineResult: success only when every stage completed, and a JSON file that loads back equal."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from daf_core.orchestrators import PipelineResult, StageResult
from daf_core.orchestrators.result import json_ready


def result_of(*statuses: str) -> PipelineResult:
    stages = [StageResult(f"stage{i}", status, seconds=float(i)) for i, status in enumerate(statuses)]
    return PipelineResult("p", stages, total_time_seconds=1.0)


@pytest.mark.parametrize(
    ("statuses", "status"),
    [
        (("success", "success"), "success"),
        (("success", "failed"), "partial"),
        (("success", "skipped"), "partial"),
        (("failed", "skipped"), "failed"),
    ],
)
def test_a_pipeline_succeeds_only_when_every_stage_completed(statuses: tuple[str, ...], status: str) -> None:
    result = result_of(*statuses)
    assert result.status == status
    assert result.is_success() is (status == "success")


def test_the_stage_lists_errors_and_times_say_what_happened() -> None:
    result = PipelineResult(
        "p",
        [
            StageResult("train", "success", seconds=2.5, summary={"headline": "ok"}, output="the object"),
            StageResult("evaluate", "failed", seconds=0.5, error="ValueError: bad"),
            StageResult("compare", "skipped", reason="needs 'evaluate', which failed"),
        ],
        total_time_seconds=3.0,
    )
    assert result.stages_completed == ["train"]
    assert result.stages_failed == ["evaluate"]
    assert result.stages_skipped == ["compare"]
    assert result.errors == ["evaluate: ValueError: bad"]
    assert result.outputs == {"train": "the object"}
    assert result.stage_times == {"train": 2.5, "evaluate": 0.5, "compare": 0.0}
    with pytest.raises(KeyError, match="deploy"):
        result.stage("deploy")


def test_the_json_file_loads_back_equal_with_summaries_for_outputs(tmp_path: Path) -> None:
    result = PipelineResult(
        "p",
        [
            StageResult("train", "success", 1.0, 0.0, 1.0, summary={"steps": 2048}, output=object()),
            StageResult("evaluate", "skipped", reason="stopped"),
        ],
        total_time_seconds=1.5,
        started_at="2024-01-01T00:00:00+00:00",
        output_dir=str(tmp_path),
        config={"name": "p"},
    )
    path = result.save_json(tmp_path / "pipeline_result.json")
    loaded = PipelineResult.load_json(tmp_path)  # the folder or the file
    assert loaded == result == PipelineResult.load_json(path)
    assert loaded.to_dict() == result.to_dict()
    assert loaded.outputs == {"train": {"steps": 2048}}
    with pytest.raises(FileNotFoundError, match="nowhere"):
        PipelineResult.load_json(tmp_path / "nowhere")


def test_summaries_are_strict_json() -> None:
    assert json_ready({"a": np.float64(1.5), "b": np.int64(2), "c": math.nan, "d": Path("/x"), 3: (1,)}) == {
        "a": 1.5,
        "b": 2,
        "c": None,
        "d": "/x",
        "3": [1],
    }
