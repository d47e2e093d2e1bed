"""Training runs as one self-contained HTML page: every run's progress in a table, and the curves.

The same page as the comparison report (:mod:`~daf_core.visualization.html_page`). It reads the runs
under a checkpoint directory as :mod:`~daf_core.visualization.training_curves` does (one run per folder
with a ``metrics.jsonl``, a resumed run as one, a torn last line skipped) plus each run's
``config.yaml`` where the trainer wrote one; it never loads a checkpoint or trains.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from daf_core.comparison import formatting as fmt
from daf_core.visualization import html_page as hp

if TYPE_CHECKING:
    import pandas as pd

#: The config the trainer writes into each run directory (the run's full DAFTrainingConfig).
RUN_CONFIG_FILE = "config.yaml"


def daf_export_training_html(
    checkpoint_dir: str | Path, output_path: str | Path = "training_report.html", *, smoothing: float = 0.6
) -> Path:
    """Write the training report of the runs under ``checkpoint_dir`` (atomically); returns its path.

    ``smoothing`` is the curves' EMA weight (see :func:`~daf_core.visualization.training_curves.
    training_figures`). Raises ``FileNotFoundError`` when ``checkpoint_dir`` does not exist and
    ``ValueError`` when no run under it has a complete metrics row; nothing is written then.
    """
    from daf_core.visualization import training_curves  # noqa: PLC0415 - matplotlib

    checkpoint_dir = Path(checkpoint_dir)
    figures = training_curves.training_figures(checkpoint_dir, smoothing=smoothing)  # refuses empty input
    # The runs exactly as the figures read them (same discovery, labels, resumes and torn lines).
    runs = training_curves.read_runs(checkpoint_dir)  # the runs the curves draw
    missions = list(
        dict.fromkeys(
            c.removeprefix(training_curves.REWARD_PREFIX)
            for rows in runs.values()
            for c in rows.columns
            if c.startswith(training_curves.REWARD_PREFIX)
        )
    )
    sections = [
        hp.Section("runs", "Runs", _runs_table(checkpoint_dir, runs, missions)),
        hp.Section("figures", "Figures", hp.figures(figures, "figure")),
    ]
    subtitle = f"{len(runs)} run(s) under {checkpoint_dir}; curves against agent steps"
    return hp.write_page(output_path, hp.page(f"Training report: {checkpoint_dir.name}", subtitle, sections))


def _runs_table(checkpoint_dir: Path, runs: dict[str, pd.DataFrame], missions: list[str]) -> str:
    from daf_core.visualization.training_curves import REWARD_PREFIX  # noqa: PLC0415

    columns = [hp.Column("Run"), hp.Column("Policy"), hp.Column("Missions"), hp.Column("Epochs", True)]
    columns += [hp.Column("Agent steps", True), hp.Column("Planned steps", True), hp.Column("Steps/s", True)]
    columns += [hp.Column(f"Last reward: {m}", True) for m in missions]
    rows = []
    for label, frame in runs.items():
        config = _run_config(checkpoint_dir, label)
        last = frame.iloc[-1]
        row = [
            hp.Cell(label),
            hp.Cell(config.get("policy_class_path", "not recorded")),
            hp.Cell(", ".join(_as_list(last.get("missions"))) or "not recorded"),
            hp.number_cell(len(frame), str(len(frame))),
            hp.number_cell(last["agent_steps"], f"{int(last['agent_steps']):,}"),
            hp.number_cell(
                config.get("num_steps"), f"{config['num_steps']:,}" if "num_steps" in config else ""
            ),
            hp.number_cell(_finite(last.get("sps")), fmt.number(_finite(last.get("sps")))),
        ]
        for mission in missions:
            value = _last_value(frame, REWARD_PREFIX + mission)
            row.append(hp.number_cell(value, fmt.number(value) if value is not None else "not recorded"))
        rows.append(row)
    caption = (
        "Each run at its last epoch: agent steps over all workers (a resumed run counts the steps before "
        "its resume), steps/s of its latest invocation, and the last recorded mean episode reward per "
        "mission. Click a column header to sort."
    )
    return hp.table(columns, rows, caption=caption, label="Runs")


def _run_config(checkpoint_dir: Path, label: str) -> dict[str, Any]:
    """The run's config.yaml as a dict ({} where the trainer wrote none)."""
    run_dir = checkpoint_dir if label == checkpoint_dir.name else checkpoint_dir / label
    path = run_dir / RUN_CONFIG_FILE
    if not path.is_file():
        return {}
    return yaml.safe_load(path.read_text()) or {}


def _last_value(frame: pd.DataFrame, column: str) -> float | None:
    if column not in frame.columns:
        return None
    values = frame[column].dropna()
    return _finite(values.iloc[-1]) if len(values) else None


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else []
