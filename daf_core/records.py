"""Per-episode records: the tidy table every DAF measurement is, and its Parquet/CSV files.

One row per episode: ``policy``, ``mission``, ``episode``, ``seed``, ``reward`` (the environment's reward
summed over agents), ``agent_rewards`` (a list, one per agent) and whatever else the evaluator recorded
(``steps``, ``game/...`` and ``agent/...`` statistics). Evaluation writes it, comparisons and sweeps read
it. Pure pandas: reading or writing records never imports the simulator.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from daf_core._internal.atomic import atomic_write_bytes

#: The columns that identify an episode: the same policy, mission and seed is the same episode.
RECORD_KEY = ["policy", "mission", "seed"]
_LIST_COLUMN = "agent_rewards"


def records_frame(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Records as a frame in (policy, mission, episode) order; an empty frame keeps the core columns."""
    if not records:
        return pd.DataFrame(columns=["policy", "mission", "episode", "seed", "reward"])
    frame = pd.DataFrame.from_records(list(records))
    return frame.sort_values(["policy", "mission", "episode"], kind="stable").reset_index(drop=True)


def save_records(records: pd.DataFrame, stem: str | Path) -> list[Path]:
    """Write ``<stem>.parquet`` (exact types) and ``<stem>.csv`` (lists as JSON), each atomically."""
    stem = Path(stem)
    parquet = io.BytesIO()
    records.to_parquet(parquet, index=False)
    csv_frame = records.copy()
    if _LIST_COLUMN in csv_frame:
        csv_frame[_LIST_COLUMN] = csv_frame[_LIST_COLUMN].map(json.dumps)
    return [
        atomic_write_bytes(stem.with_suffix(".parquet"), parquet.getvalue()),
        atomic_write_bytes(stem.with_suffix(".csv"), csv_frame.to_csv(index=False).encode()),
    ]


def load_records(path: str | Path) -> pd.DataFrame:
    """Read records written by :func:`save_records` (``.parquet`` or ``.csv``), lists as Python lists."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"records file not found: {path}")
    if path.suffix == ".csv":
        frame = pd.read_csv(path)
        if _LIST_COLUMN in frame:
            frame[_LIST_COLUMN] = frame[_LIST_COLUMN].map(json.loads)
        return frame
    frame = pd.read_parquet(path)
    if _LIST_COLUMN in frame:
        frame[_LIST_COLUMN] = frame[_LIST_COLUMN].map(lambda v: [float(x) for x in v])
    return frame
