"""The experiments log: one line per training run, sweep or comparison, listable from daf_core.

``DAFConfig.track_experiments`` appends a record (what ran, its config, its result, where its files
are) to ``<output_dir>/experiments.jsonl``. Appending a single line is atomic enough for concurrent
writers on one machine (each record is one ``write`` of well under the pipe buffer size), and a
crashed writer leaves at most one unparseable last line, which :func:`list_experiments` skips.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pandas as pd

logger = logging.getLogger(__name__)

EXPERIMENTS_FILE = "experiments.jsonl"


def record_experiment(
    output_dir: str | Path,
    kind: str,
    name: str,
    config: dict[str, Any],
    result: dict[str, Any],
    paths: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Append one experiment to ``<output_dir>/experiments.jsonl`` and return the record."""
    record = {
        "id": uuid.uuid4().hex[:12],
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "kind": kind,
        "name": name,
        "config": config,
        "result": result,
        "paths": paths or {},
    }
    path = Path(output_dir) / EXPERIMENTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, default=str, allow_nan=False) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    return record


def list_experiments(output_dir: str | Path, kind: str | None = None) -> pd.DataFrame:
    """Every recorded experiment (optionally of one kind), oldest first, config/result as dict columns."""
    path = Path(output_dir) / EXPERIMENTS_FILE
    columns = ["id", "time", "kind", "name", "config", "result", "paths"]
    if not path.exists():
        return pd.DataFrame(columns=columns)
    records = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            logger.warning("%s line %d is not JSON (an interrupted write?); skipped", path, number)
    frame = pd.DataFrame.from_records(records, columns=columns)
    return frame if kind is None else frame[frame["kind"] == kind].reset_index(drop=True)
