"""Sweep trials and comparison summaries to TensorBoard and MLflow, as a DAFConfig says.

* A **sweep trial**, once it has ended: TensorBoard scalars in ``<sweep_dir>/tensorboard`` keyed by
  trial number (``objective``, ``metrics/<name>``, ``hyperparameters/<name>`` for numeric values), and an
  MLflow run named ``<sweep>/trial_<n>`` tagged ``daf.sweep`` and ``daf.trial``, with the trial's
  hyperparameters as params, its objective and metrics, and its end (FINISHED, KILLED when pruned,
  FAILED). The trial's training runs log their own curves (see :mod:`daf_core.tracking.training_log`).
* A **comparison**: every policy x mission mean and IQM with their interval bounds (and the aggregate
  over missions, ``overall``): TensorBoard scalars ``<policy>/<mission>/<statistic>`` at step 0 in
  ``<output_dir>/tensorboard/comparisons/<name>`` (a rerun of the same name replaces them), and one MLflow
  run per policy (tags ``daf.comparison``, ``daf.policy``) with metrics ``<mission>/<statistic>``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from daf_core.tracking.mlflow_log import MlflowRun, flatten_params, now_ms
from daf_core.tracking.scalars import scalar_values
from daf_core.tracking.settings import TrackingSettings
from daf_core.tracking.tensorboard_log import TENSORBOARD_DIR, TensorBoardLog, rewrite

#: How a sweep trial's state ends its MLflow run.
TRIAL_STATUS = {"complete": "FINISHED", "pruned": "KILLED", "failed": "FAILED"}

#: The statistics a comparison logs, by the names its summary uses per mission and over all missions.
MISSION_STATISTICS = {
    "mean": "mean",
    "ci_low": "mean_ci_low",
    "ci_high": "mean_ci_high",
    "iqm": "iqm",
    "iqm_ci_low": "iqm_ci_low",
    "iqm_ci_high": "iqm_ci_high",
    "n": "episodes",
}
OVERALL_STATISTICS = {
    name: name
    for name in ("mean", "mean_ci_low", "mean_ci_high", "iqm", "iqm_ci_low", "iqm_ci_high", "episodes")
}
OVERALL = "overall"

_UNSAFE_IN_FOLDER = re.compile(r"[^A-Za-z0-9._-]+")


def log_sweep_trial(
    settings: TrackingSettings,
    sweep_dir: Path,
    sweep: str,
    trial: int,
    *,
    state: str,
    objective: float | None,
    metrics: Mapping[str, float],
    hyperparameters: Mapping[str, Any],
) -> None:
    """One ended trial of sweep ``sweep`` (see the module docstring)."""
    values = scalar_values(
        {
            "objective": objective,
            **{f"metrics/{name}": value for name, value in metrics.items()},
            **{f"hyperparameters/{name}": value for name, value in hyperparameters.items()},
        }
    )
    if settings.tensorboard:
        with TensorBoardLog(Path(sweep_dir) / TENSORBOARD_DIR) as log:
            log.add_scalars(values, trial)
    if settings.mlflow_tracking_uri is not None:
        run = MlflowRun.open(
            settings.mlflow_tracking_uri,
            settings.mlflow_experiment,
            kind="sweep_trial",
            key=None,
            run_name=f"{sweep}/trial_{trial:04d}",
            tags={"daf.sweep": sweep, "daf.trial": str(trial), "daf.trial_state": state},
        )
        run.log_params(flatten_params(hyperparameters))
        run.log_metrics(
            [({k: v for k, v in values.items() if not k.startswith("hyperparameters/")}, 0, now_ms())]
        )
        run.finish(TRIAL_STATUS.get(state, "FAILED"))


def comparison_metrics(summary: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> dict[str, dict[str, float]]:
    """``{policy: {"<mission>/<statistic>": value}}`` from a report's ``summary_statistics``."""
    out: dict[str, dict[str, float]] = {}
    for policy, missions in summary.items():
        row: dict[str, Any] = {}
        for mission, statistics in missions.items():
            names = OVERALL_STATISTICS if mission == OVERALL else MISSION_STATISTICS
            row.update({f"{mission}/{names[key]}": statistics.get(key) for key in names})
        out[policy] = scalar_values(row)
    return out


def log_comparison(
    settings: TrackingSettings,
    output_dir: Path,
    name: str,
    *,
    kind: str,
    summary: Mapping[str, Mapping[str, Mapping[str, Any]]],
    params: Mapping[str, Any],
    policy_params: Mapping[str, Mapping[str, Any]],
) -> None:
    """A comparison's per policy x mission summary (see the module docstring); ``params`` describe the
    comparison (episodes, seed, missions...), ``policy_params`` each policy (class path, checkpoint...)."""
    per_policy = comparison_metrics(summary)
    if settings.tensorboard:
        folder = _UNSAFE_IN_FOLDER.sub("-", name).strip("-.") or "comparison"
        scalars = {f"{policy}/{key}": v for policy, row in per_policy.items() for key, v in row.items()}
        rewrite(Path(output_dir) / TENSORBOARD_DIR / "comparisons" / folder, [(scalars, 0)]).close()
    if settings.mlflow_tracking_uri is None:
        return
    for policy, values in per_policy.items():
        run = MlflowRun.open(
            settings.mlflow_tracking_uri,
            settings.mlflow_experiment,
            kind=kind,
            key=None,
            run_name=f"{name}/{policy}",
            tags={"daf.comparison": name, "daf.policy": policy},
        )
        run.log_params(flatten_params({**params, "policy": dict(policy_params.get(policy, {}))}))
        run.log_metrics([(values, 0, now_ms())])
        run.finish()
