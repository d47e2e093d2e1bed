"""Training curves from the ``metrics.jsonl`` rows of DAF's trainer (one row per epoch), against agent steps.

The file is read with plain ``json`` (no torch, no simulator), one run per directory holding a
``metrics.jsonl``: ``checkpoint_dir`` may be one run directory or a folder of runs at any depth (a
training ``checkpoint_dir``, a sweep's ``checkpoints/<name>``), and several runs are overlaid, one
colour each. A resumed run is one line: its rows are unique per epoch (the trainer drops the rows of
epochs it trains again; should an old file still repeat an epoch, its last row wins) and sorted by
agent steps. A last line cut short by a kill is skipped with a warning.

Each curve is smoothed with a debiased exponential moving average (TensorBoard's, weight
``smoothing``) and drawn solid over the raw per-epoch values, drawn faint.

The figures (:func:`training_figures`; names are the files :func:`daf_plot_training_curves` writes):
``episode_reward`` (one panel per mission, from ``env/per_label_rewards/<mission>``),
``steps_per_second``, ``policy_loss``, ``value_loss``, ``entropy``, ``approx_kl`` and
``clip_fraction``. A metric no run recorded becomes a figure that says so.
"""

from __future__ import annotations

import json
import logging
import math
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from daf_core.visualization import style

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

__all__ = ["METRICS_FILE", "daf_plot_training_curves", "read_metrics", "training_figures"]

METRICS_FILE = "metrics.jsonl"
STEPS_LABEL = "agent steps"
REWARD_PREFIX = "env/per_label_rewards/"
DEFAULT_SMOOTHING = 0.6


@dataclass(frozen=True)
class Curve:
    """One figure of one metric: its file name, the metrics column, its axis label and its title."""

    name: str
    column: str
    label: str
    title: str


CURVES = (
    Curve("steps_per_second", "sps", "steps/s (agent steps per second)", "training throughput"),
    Curve("policy_loss", "losses/policy_loss", "policy loss (PPO clipped surrogate)", "policy loss"),
    Curve("value_loss", "losses/value_loss", "value loss (squared error, reward units^2)", "value loss"),
    Curve("entropy", "losses/entropy", "policy entropy (nats)", "policy entropy"),
    Curve("approx_kl", "losses/approx_kl", "approximate KL(old || new) (nats)", "approximate KL divergence"),
    Curve(
        "clip_fraction", "losses/clipfrac", "clip fraction (share of samples clipped)", "PPO clip fraction"
    ),
)
REWARD_LABEL = "episode reward (mean over agents)"


def training_figures(
    checkpoint_dir: str | Path, *, smoothing: float = DEFAULT_SMOOTHING
) -> dict[str, Figure]:
    """Every training figure of the runs under ``checkpoint_dir``, by name (see the module docstring).

    ``smoothing`` is the EMA weight in [0, 1): 0 draws the raw values, closer to 1 smooths more.
    Raises ``FileNotFoundError`` when ``checkpoint_dir`` does not exist and ``ValueError`` when it holds
    no ``metrics.jsonl`` with a complete row. A metric that no run recorded gives a figure saying so.
    """
    smoothing = _check_smoothing(smoothing)
    runs = read_runs(Path(checkpoint_dir))
    caption = f"{len(runs)} run(s); solid: EMA-smoothed (weight {smoothing:g}), faint: raw values per epoch"
    with style.styled():
        figures = {"episode_reward": _reward_figure(runs, smoothing, caption)}
        for curve in CURVES:
            figures[curve.name] = _curve_figure(runs, curve, smoothing, caption)
    return figures


def daf_plot_training_curves(
    checkpoint_dir: str | Path,
    output_dir: str | Path = "training_plots",
    *,
    smoothing: float = DEFAULT_SMOOTHING,
) -> list[Path]:
    """Save every figure of :func:`training_figures` as PNG and SVG in ``output_dir``; the files written."""
    written: list[Path] = []
    for name, fig in training_figures(checkpoint_dir, smoothing=smoothing).items():
        written += style.save_figure(fig, output_dir, name)
    return written


def _check_smoothing(value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(float(value))
        or not 0.0 <= float(value) < 1.0
    ):
        raise ValueError(f"smoothing: must be a number in [0, 1), got {value!r}")
    return float(value)


# --------------------------------------------------------------------------------------------------
# Reading the runs
# --------------------------------------------------------------------------------------------------


def read_metrics(path: str | Path) -> pd.DataFrame:
    """One run's metrics rows: one per epoch (the last row of a repeated epoch), sorted by agent steps.

    A last line that is not valid JSON (the run was killed while writing it) is skipped with a
    warning; an invalid line anywhere else raises ``ValueError`` naming the file and line. Columns
    are the row keys; ``null`` (a non-finite value) becomes NaN.
    """
    path = Path(path)
    lines = [(n, line) for n, line in enumerate(path.read_text().splitlines(), start=1) if line.strip()]
    rows = []
    for position, (number, line) in enumerate(lines):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            if position == len(lines) - 1:
                logger.warning("%s: skipped the last line %d, cut short (%s)", path, number, error)
                continue
            raise ValueError(f"{path}: line {number} is not a JSON metrics row ({error})") from error
    frame = pd.DataFrame.from_records(rows)
    if frame.empty:
        return frame
    missing = [c for c in ("epoch", "agent_steps") if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: metrics rows have no {missing} column; is this a DAF metrics file?")
    frame = frame.drop_duplicates("epoch", keep="last")
    return frame.sort_values("agent_steps", kind="stable").reset_index(drop=True)


def read_runs(checkpoint_dir: Path) -> dict[str, pd.DataFrame]:
    """Run label (its path under ``checkpoint_dir``) -> its rows; runs without a complete row are left out."""
    if not checkpoint_dir.is_dir():
        raise FileNotFoundError(f"checkpoint_dir: directory not found: {checkpoint_dir}")
    own = checkpoint_dir / METRICS_FILE
    files = [own] if own.is_file() else sorted(checkpoint_dir.rglob(METRICS_FILE))
    if not files:
        raise ValueError(
            f"checkpoint_dir: no {METRICS_FILE} in {checkpoint_dir} or below it; give a training run "
            "directory, or a folder of them"
        )
    runs = {}
    for path in files:
        label = checkpoint_dir.name if path == own else path.parent.relative_to(checkpoint_dir).as_posix()
        rows = read_metrics(path)
        if rows.empty:
            logger.warning("%s: no complete metrics row yet; run %s left out", path, label)
            continue
        runs[label] = rows
    if not runs:
        raise ValueError(
            f"checkpoint_dir: no complete metrics row in {[str(f) for f in files]}; has an epoch finished?"
        )
    return runs


# --------------------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------------------


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's debiased exponential moving average: early points are not pulled towards zero."""
    smoothed = np.empty_like(values, dtype=float)
    accumulated = 0.0
    for i, value in enumerate(values):
        accumulated = weight * accumulated + (1 - weight) * value
        smoothed[i] = accumulated / (1 - weight ** (i + 1))
    return smoothed


def _draw_series(ax: Axes, rows: pd.DataFrame, column: str, smoothing: float, color: str, label: str) -> bool:
    """Raw values faint and their EMA solid (labelled with the run); False when the run lacks the column."""
    if column not in rows.columns:
        return False
    series = rows[["agent_steps", column]].astype(float).dropna()
    if series.empty:
        return False
    steps, values = series["agent_steps"].to_numpy(), series[column].to_numpy()
    ax.plot(steps, values, color=color, alpha=style.FAINT_ALPHA, marker=".", label="_nolegend_")
    ax.plot(
        steps,
        ema(values, smoothing),
        color=color,
        linewidth=2,
        marker="o" if len(steps) == 1 else None,
        label=label,
    )
    return True


def _curve_figure(runs: dict[str, pd.DataFrame], curve: Curve, smoothing: float, caption: str) -> Figure:
    fig = style.new_figure(7.0, 4.5)
    ax = fig.add_subplot()
    drawn = [
        _draw_series(ax, rows, curve.column, smoothing, style.color(i), label)
        for i, (label, rows) in enumerate(runs.items())
    ]
    if not any(drawn):
        return style.notice_figure(
            curve.title, f"No run recorded {curve.column!r} in its {METRICS_FILE} (runs: {list(runs)})."
        )
    _finish_axes(ax, curve.label)
    fig.suptitle(f"{curve.title} against agent steps")
    ax.set_title(caption, fontsize="small")
    return fig


def _reward_figure(runs: dict[str, pd.DataFrame], smoothing: float, caption: str) -> Figure:
    """One panel per mission (``env/per_label_rewards/<mission>``), every run that trained on it."""
    columns = list(
        dict.fromkeys(c for rows in runs.values() for c in rows.columns if c.startswith(REWARD_PREFIX))
    )
    if not columns:
        return style.notice_figure(
            "episode reward",
            f"No run recorded an episode reward ({REWARD_PREFIX}<mission>) in its {METRICS_FILE}: "
            "no episode finished during training yet?",
        )
    fig = style.new_figure(max(7.0, 4.2 * len(columns)), 4.5)
    axes = fig.subplots(1, len(columns), squeeze=False)[0]
    for ax, column in zip(axes, columns, strict=True):
        for i, (label, rows) in enumerate(runs.items()):
            _draw_series(ax, rows, column, smoothing, style.color(i), label)
        ax.set_title(f"mission {column.removeprefix(REWARD_PREFIX)}")
        _finish_axes(ax, REWARD_LABEL)
    fig.suptitle(f"episode reward against agent steps\n{caption}")
    return fig


def _finish_axes(ax: Axes, ylabel: str) -> None:
    ax.set_xlabel(STEPS_LABEL)
    ax.set_ylabel(ylabel)
    ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
    ax.legend(title="run", loc="best", fontsize="small")
