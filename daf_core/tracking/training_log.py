"""A training run's metrics rows, beside ``metrics.jsonl``, in TensorBoard and MLflow as DAFConfig says.

``metrics.jsonl`` stays the record: a resumed run drops the rows after the checkpoint it starts from and
trains those epochs again. The trackers follow it, so each agent step appears once in each:

* **TensorBoard** (``DAFConfig.tensorboard``, ``<run_dir>/tensorboard``) gets each row as it is written,
  to watch live. A resumed run adds a new event file with the kept rows the directory lacks (none, after
  a clean stop) and then its own. If the directory shows steps past the checkpoint (an earlier attempt
  was killed between checkpoints), its event files are replaced by one holding the kept rows.
* **MLflow** (``DAFConfig.mlflow_tracking_uri``) holds one run per training run (tagged with its run
  directory and name; params: the run's config). MLflow cannot forget a metric, so it gets a row once the
  row's checkpoint is saved (every ``checkpoint_interval`` epochs, and at the end), never a row a resume
  would drop; a resumed run continues the same MLflow run and logs the kept rows it lacks. An MLflow run
  that holds steps this run no longer has (its checkpoints were deleted) is kept but untagged, and a new
  one takes the run's place.

Metrics are every finite number of a row except ``agent_steps``, which is their step. Only the process
that writes ``metrics.jsonl`` (rank 0) tracks.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from daf_core._internal.fingerprints import fingerprint
from daf_core.tracking.mlflow_log import MlflowRun, flatten_params, now_ms
from daf_core.tracking.scalars import scalar_values
from daf_core.tracking.settings import TrackingSettings
from daf_core.tracking.tensorboard_log import TENSORBOARD_DIR, TensorBoardLog, last_step, rewrite

logger = logging.getLogger(__name__)

#: A training row's step, and a metric every row has (its history is the set of rows logged).
STEP_KEY = "agent_steps"
ROW_KEY = "epoch"


class TrainingTrackers:
    """Where one run's rows go besides ``metrics.jsonl``; without sinks, a tracker that does nothing."""

    def __init__(self, tensorboard: TensorBoardLog | None = None, mlflow: MlflowRun | None = None):
        self.tensorboard = tensorboard
        self.mlflow = mlflow
        self._unsaved: list[tuple[dict[str, float], int, int]] = []

    @classmethod
    def open(
        cls,
        settings: TrackingSettings,
        run_dir: Path,
        config: Mapping[str, Any],
        *,
        start_step: int,
        kept_rows: Sequence[Mapping[str, Any]],
        enabled: bool = True,
    ) -> TrainingTrackers:
        """The run's trackers, starting at ``start_step`` agent steps with ``kept_rows`` already recorded."""
        if not enabled:
            return cls()
        mlflow = None
        if settings.mlflow_tracking_uri is not None:
            mlflow = _open_mlflow(settings, run_dir, config, start_step, kept_rows)
        try:
            tensorboard = _open_tensorboard(run_dir, start_step, kept_rows) if settings.tensorboard else None
        except BaseException:
            if mlflow is not None:
                mlflow.finish("FAILED")
            raise
        return cls(tensorboard, mlflow)

    def log_row(self, row: Mapping[str, Any]) -> None:
        """A row just appended to ``metrics.jsonl``: to TensorBoard now, to MLflow once it is saved."""
        values, step = scalar_values(row, exclude=(STEP_KEY,)), int(row[STEP_KEY])
        if self.tensorboard is not None:
            self.tensorboard.add_scalars(values, step)
        if self.mlflow is not None:
            self._unsaved.append((values, step, now_ms()))

    def rows_saved(self) -> None:
        """A checkpoint now covers every row logged so far: MLflow gets them."""
        if self.mlflow is not None and self._unsaved:
            self.mlflow.log_metrics(self._unsaved)
        self._unsaved = []

    def close(self, status: str = "FINISHED") -> None:
        """Close the event file; end the MLflow run as FINISHED, KILLED (Ctrl-C) or FAILED."""
        if self.tensorboard is not None:
            self.tensorboard.close()
        if self.mlflow is not None:
            self.mlflow.finish(status)

    def __enter__(self) -> TrainingTrackers:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is None:
            self.close("FINISHED")
        else:
            self.close("KILLED" if issubclass(kind, KeyboardInterrupt) else "FAILED")


def _open_tensorboard(
    run_dir: Path, start_step: int, kept_rows: Sequence[Mapping[str, Any]]
) -> TensorBoardLog:
    """This attempt's event file, after which the directory shows each kept row once and nothing later.

    Rows reach TensorBoard in order, so the directory holds every row up to the last step it shows.
    """
    log_dir = run_dir / TENSORBOARD_DIR
    shown = last_step(log_dir, ROW_KEY)
    points = [(scalar_values(row, exclude=(STEP_KEY,)), int(row[STEP_KEY])) for row in kept_rows]
    if shown is not None and shown > start_step:
        logger.info(
            "%s shows steps up to %d, past the checkpoint at %d: rewritten", log_dir, shown, start_step
        )
        return rewrite(log_dir, points)
    log = TensorBoardLog(log_dir)
    for values, step in points:
        if shown is None or step > shown:
            log.add_scalars(values, step)
    return log


def _open_mlflow(
    settings: TrackingSettings,
    run_dir: Path,
    config: Mapping[str, Any],
    start_step: int,
    kept_rows: Sequence[Mapping[str, Any]],
) -> MlflowRun:
    """The run's MLflow run (a new one when the old one holds steps past ``start_step``), its params
    logged and every kept row it lacks added."""
    uri = settings.mlflow_tracking_uri
    assert uri is not None
    key = fingerprint(str(Path(run_dir).absolute()))
    tags = {"daf.run_name": run_dir.name, "daf.run_dir": str(Path(run_dir).absolute())}

    def open_run() -> MlflowRun:
        return MlflowRun.open(
            uri, settings.mlflow_experiment, kind="training", key=key, run_name=run_dir.name, tags=tags
        )

    run = open_run()
    logged = run.last_step(ROW_KEY)
    if logged is not None and logged > start_step:
        logger.warning(
            "MLflow run %s has steps up to %d but %s restarts at %d: it is kept untagged, a new run follows",
            run.run_id,
            logged,
            run_dir,
            start_step,
        )
        run.supersede()
        run, logged = open_run(), None
    run.log_params(flatten_params(config))
    missing = [row for row in kept_rows if logged is None or int(row[STEP_KEY]) > logged]
    run.log_metrics(
        [(scalar_values(row, exclude=(STEP_KEY,)), int(row[STEP_KEY]), now_ms()) for row in missing]
    )
    logger.info("MLflow run %s (experiment %r) tracks %s", run.run_id, settings.mlflow_experiment, run_dir)
    return run
