"""What the tracking tests share: one SQLite MLflow store (creating one costs seconds), readers of
TensorBoard event files, MLflow runs and metrics.jsonl, and the series a run's rows should give."""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

Series = dict[str, list[tuple[int, float]]]


@pytest.fixture(scope="session")
def mlflow_sqlite_uri(tmp_path_factory) -> str:
    """A SQLite tracking store for the session; each test keeps to its own experiment."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(autouse=True)
def restore_daf_logging() -> Iterator[None]:
    """train() and sweeps configure the ``daf_core`` logger from their DAFConfig; put it back after."""
    daf_logger = logging.getLogger("daf_core")
    level, handlers = daf_logger.level, list(daf_logger.handlers)
    yield
    for handler in list(daf_logger.handlers):
        if handler not in handlers:
            daf_logger.removeHandler(handler)
            handler.close()
    daf_logger.setLevel(level)


def metrics_rows(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]


def expected_series(rows: list[dict[str, Any]]) -> Series:
    """Every number of the rows (not agent_steps, their step), by name: (agent_steps, value) in order."""
    series: Series = defaultdict(list)
    for row in rows:
        for key, value in row.items():
            if key != "agent_steps" and isinstance(value, int | float) and math.isfinite(value):
                series[key].append((row["agent_steps"], float(value)))
    return dict(series)


def as_float32(series: Series) -> Series:
    """TensorBoard stores scalars as float32."""
    return {
        key: [(step, float(np.float32(value))) for step, value in points] for key, points in series.items()
    }


def tensorboard_series(log_dir: Path) -> Series:
    """What TensorBoard shows for a run directory (restart purges applied), read with its own loader."""
    from tensorboard.backend.event_processing import event_accumulator

    accumulator = event_accumulator.EventAccumulator(
        str(log_dir), size_guidance={event_accumulator.SCALARS: 0}
    )
    accumulator.Reload()
    return {
        tag: [(event.step, event.value) for event in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()[event_accumulator.SCALARS]
    }


def event_file_steps(path: Path) -> list[int]:
    """The steps of the scalar events in one event file, in the order written."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    return [event.step for event in EventFileLoader(str(path)).Load() if event.HasField("summary")]


def mlflow_series(client: Any, run_id: str) -> Series:
    """Every metric's history in an MLflow run, as (step, value) by step."""
    run = client.get_run(run_id)
    return {
        key: sorted((metric.step, metric.value) for metric in client.get_metric_history(run_id, key))
        for key in run.data.metrics
    }


def mlflow_runs(client: Any, experiment: str, filter_string: str = "") -> list[Any]:
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no MLflow experiment {experiment!r}"
    return client.search_runs([found.experiment_id], filter_string=filter_string)
