"""Per-episode records: the tidy table every DAF measurement is, and its Parquet/CSV files.

One row per episode: ``policy``, ``mission``, ``episode``, ``seed``, ``reward`` (the environment's reward
summed over agents), ``agent_rewards`` (a list, one per agent), ``agent_policies`` (a list: the policy
that controlled each agent), ``lineup`` and whatever else the evaluator recorded (``steps``, ``game/...``
and ``agent/...`` statistics). In self-play ``policy`` and ``lineup`` are the policy and every agent is
its; in a mixed episode both are the lineup's name (``"lstm:2+random:2"``), so (policy, mission, seed)
still names one episode, and :func:`agent_table` says which policy earned which reward.
Evaluation writes it, comparisons and sweeps read it. Pure pandas: reading or writing records never
imports the simulator.
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
#: The file stem of a report's records beside it: ``episodes.parquet`` and ``episodes.csv``.
RECORDS_STEM = "episodes"
#: List cells, one entry per agent: JSON in CSV files, and each entry's type restored on load.
_LIST_COLUMNS = {"agent_rewards": float, "agent_policies": str}
#: The columns of :func:`agent_table`.
AGENT_COLUMNS = ["population", "mission", "seed", "episode", "agent", "policy", "reward"]


def records_frame(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Records as a frame in (policy, mission, episode) order; an empty frame keeps the core columns."""
    if not records:
        return pd.DataFrame(columns=["policy", "mission", "episode", "seed", "reward"])
    frame = pd.DataFrame.from_records(list(records))
    return frame.sort_values(["policy", "mission", "episode"], kind="stable").reset_index(drop=True)


def agent_table(records: pd.DataFrame) -> pd.DataFrame:
    """One row per agent of every episode: ``population`` (the records' ``policy``: a policy in
    self-play, a lineup in a mixed episode), ``mission``, ``seed``, ``episode``, ``agent`` (its id),
    ``policy`` (the policy that controlled it) and ``reward`` (that agent's reward).

    A policy's reward in a mixed episode is then a group-by away, e.g. the mean per-agent reward of each
    policy in each episode: ``agent_table(r).groupby(["population", "seed", "policy"])["reward"].mean()``.
    """
    if records.empty:
        return pd.DataFrame(columns=AGENT_COLUMNS)
    missing = [c for c in ["policy", "mission", "seed", "episode", *_LIST_COLUMNS] if c not in records]
    if missing:
        raise ValueError(f"records: columns {missing} missing; agent_table reads evaluate_policies' records")
    lengths = records["agent_policies"].map(len) != records["agent_rewards"].map(len)
    if lengths.any():
        row = records[lengths].iloc[0]
        raise ValueError(
            f"records: episode ({row['policy']!r}, {row['mission']!r}, seed {row['seed']}) has "
            f"{len(row['agent_policies'])} agent_policies but {len(row['agent_rewards'])} agent_rewards"
        )
    frame = records[["policy", "mission", "seed", "episode", "agent_policies", "agent_rewards"]]
    frame = frame.rename(columns={"policy": "population"}).explode(["agent_policies", "agent_rewards"])
    frame["agent"] = frame.groupby(level=0).cumcount()
    frame = frame.rename(columns={"agent_policies": "policy", "agent_rewards": "reward"})
    frame = frame.astype({"policy": str, "reward": float})
    return frame[AGENT_COLUMNS].reset_index(drop=True)


def save_records(records: pd.DataFrame, stem: str | Path) -> list[Path]:
    """Write ``<stem>.parquet`` (exact types) and ``<stem>.csv`` (lists as JSON), each atomically."""
    stem = Path(stem)
    parquet = io.BytesIO()
    records.to_parquet(parquet, index=False)
    csv_frame = records.copy()
    for column in _LIST_COLUMNS:
        if column in csv_frame:
            csv_frame[column] = csv_frame[column].map(json.dumps)
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
        for column in _LIST_COLUMNS:
            if column in frame:
                frame[column] = frame[column].map(json.loads)
        return frame
    frame = pd.read_parquet(path)
    for column, kind in _LIST_COLUMNS.items():
        if column in frame:
            frame[column] = frame[column].map(lambda values, kind=kind: [kind(x) for x in values])
    return frame


def load_report_dir(
    output_dir: str | Path, report_file: str, kind: str
) -> tuple[dict[str, Any], pd.DataFrame | None]:
    """A saved report's JSON and, when they were written beside it, its records (``episodes.parquet``):
    what a comparison or cross-play report's loader reads. A missing report file is a FileNotFoundError
    naming ``kind`` and the path."""
    output_dir = Path(output_dir)
    path = output_dir / report_file
    if not path.is_file():
        raise FileNotFoundError(f"{kind} report not found: {path}")
    parquet = output_dir / f"{RECORDS_STEM}.parquet"
    return json.loads(path.read_text()), load_records(parquet) if parquet.exists() else None
