"""MLflow runs through ``MlflowClient``'s public API: found by a DAF tag, params once, metrics by step.

mlflow (3 s to import) is imported only when a DAFConfig names a tracking store. Every MLflow failure
becomes a ``RuntimeError`` that names ``mlflow_tracking_uri``, so a run never dies of a bare
``MlflowException``. A file store (``file:`` or a plain path) is opted into as MLflow 3 asks
(``MLFLOW_ALLOW_FILE_STORE``; mlflow-skinny 3.17 refuses it otherwise): configuring one is the choice.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

#: MLflow's limits (mlflow.utils.validation, checked against mlflow-skinny 3.17): a param value's length
#: and the params and metrics one ``log_batch`` call may carry.
MAX_PARAM_LENGTH = 6000
PARAMS_PER_BATCH = 100
METRICS_PER_BATCH = 1000

#: The tags DAF finds its runs by, and marks a run that no longer matches its results with.
TAG_KIND = "daf.kind"
TAG_KEY = "daf.key"
TAG_SUPERSEDED = "daf.superseded_key"


@contextlib.contextmanager
def mlflow_errors(tracking_uri: str, doing: str) -> Iterator[None]:
    """MLflow's exceptions as a RuntimeError naming the store and what DAF was doing."""
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    try:
        yield
    except MlflowException as err:
        raise RuntimeError(f"mlflow_tracking_uri {tracking_uri!r}: could not {doing}: {err.message}") from err


def mlflow_client(tracking_uri: str) -> Any:
    """An ``MlflowClient`` for the store (ImportError with the install hint when mlflow is missing)."""
    try:
        from mlflow import MlflowClient  # noqa: PLC0415
    except ImportError as err:
        raise ImportError(
            f"mlflow_tracking_uri is {tracking_uri!r} but mlflow is not installed: pip install mlflow-skinny"
        ) from err
    if urlsplit(tracking_uri).scheme in ("", "file"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    with mlflow_errors(tracking_uri, "open the tracking store"), _one_process_creates_the_store(tracking_uri):
        return MlflowClient(tracking_uri=tracking_uri)


@contextlib.contextmanager
def _one_process_creates_the_store(tracking_uri: str) -> Iterator[None]:
    """Hold a lock file beside a SQLite store while a client opens it.

    MLflow creates a new SQLite store's tables (alembic migrations) when the first client opens it; two
    processes doing that at once break the migration (``CommandError``/``OperationalError``, checked with
    mlflow-skinny 3.17), which is what parallel sweep workers starting their first trials do.
    """
    if not tracking_uri.startswith("sqlite:///"):
        yield
        return
    import fcntl  # noqa: PLC0415 - POSIX only, and only needed here

    database = Path(tracking_uri.removeprefix("sqlite:///").split("?", 1)[0])
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(database.with_name(database.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def experiment_id(client: Any, tracking_uri: str, name: str) -> str:
    """The experiment's id, created when missing (by whichever of several workers gets there first)."""
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    with mlflow_errors(tracking_uri, f"find or create the experiment {name!r}"):
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            return str(experiment.experiment_id)
        try:
            return str(client.create_experiment(name))
        except MlflowException:  # created by another worker meanwhile; any other problem shows below
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
            return str(experiment.experiment_id)


def flatten_params(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """A nested config as MLflow params: ``ppo.learning_rate``; lists and empty mappings as JSON text."""
    params: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            params.update(flatten_params(value, f"{name}."))
        else:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            if len(text) > MAX_PARAM_LENGTH:
                logger.warning("MLflow param %s is cut to MLflow's %d characters", name, MAX_PARAM_LENGTH)
                text = text[: MAX_PARAM_LENGTH - 3] + "..."
            params[name] = text
    return params


class MlflowRun:
    """One MLflow run DAF writes to: params, metrics by step, and how it ended."""

    def __init__(self, client: Any, tracking_uri: str, run_id: str):
        self.client = client
        self.tracking_uri = tracking_uri
        self.run_id = run_id

    @classmethod
    def open(
        cls,
        tracking_uri: str,
        experiment: str,
        *,
        kind: str,
        key: str | None,
        run_name: str,
        tags: Mapping[str, str] | None = None,
    ) -> MlflowRun:
        """The active run tagged with this ``key`` (status set back to RUNNING), or a new one.

        ``key=None`` always starts a new run (a sweep trial or a comparison happens once).
        """
        client = mlflow_client(tracking_uri)
        experiment_key = experiment_id(client, tracking_uri, experiment)
        with mlflow_errors(tracking_uri, f"open the MLflow run of {run_name!r}"):
            found = cls._find(client, experiment_key, key) if key is not None else None
            if found is not None:
                client.update_run(found, status="RUNNING")
                return cls(client, tracking_uri, found)
            run_tags = {TAG_KIND: kind, **({TAG_KEY: key} if key is not None else {}), **(tags or {})}
            run = client.create_run(experiment_key, run_name=run_name, tags=run_tags)
            return cls(client, tracking_uri, run.info.run_id)

    @staticmethod
    def _find(client: Any, experiment_key: str, key: str) -> str | None:
        runs = client.search_runs(
            [experiment_key],
            filter_string=f"tags.`{TAG_KEY}` = '{key}'",
            order_by=["attributes.start_time DESC"],
        )
        return runs[0].info.run_id if runs else None

    def supersede(self) -> None:
        """Keep this run, but no longer under its key (a fresh start of the same results takes the key)."""
        with mlflow_errors(self.tracking_uri, f"retire MLflow run {self.run_id}"):
            run = self.client.get_run(self.run_id)
            key = run.data.tags.get(TAG_KEY)
            if key is not None:
                self.client.set_tag(self.run_id, TAG_SUPERSEDED, key)
                self.client.delete_tag(self.run_id, TAG_KEY)
            self.client.set_terminated(self.run_id, status="KILLED")

    def log_params(self, params: Mapping[str, str]) -> None:
        """Params the run does not have yet; MLflow params never change, so a changed value is reported
        (the first value stays) rather than refused."""
        with mlflow_errors(self.tracking_uri, f"log params to MLflow run {self.run_id}"):
            from mlflow.entities import Param  # noqa: PLC0415

            existing = self.client.get_run(self.run_id).data.params
            changed = sorted(k for k, v in params.items() if k in existing and existing[k] != v)
            if changed:
                logger.info(
                    "MLflow run %s keeps its first values of %s (MLflow params never change)",
                    self.run_id,
                    changed,
                )
            new = [Param(k, v) for k, v in params.items() if k not in existing]
            for start in range(0, len(new), PARAMS_PER_BATCH):
                self.client.log_batch(self.run_id, params=new[start : start + PARAMS_PER_BATCH])

    def log_metrics(self, points: list[tuple[Mapping[str, float], int, int]]) -> None:
        """``(values, step, timestamp in ms)`` points, in as few ``log_batch`` calls as MLflow allows."""
        from mlflow.entities import Metric  # noqa: PLC0415

        metrics = [
            Metric(key, value, timestamp, step)
            for values, step, timestamp in points
            for key, value in values.items()
        ]
        with mlflow_errors(self.tracking_uri, f"log metrics to MLflow run {self.run_id}"):
            for start in range(0, len(metrics), METRICS_PER_BATCH):
                self.client.log_batch(self.run_id, metrics=metrics[start : start + METRICS_PER_BATCH])

    def last_step(self, key: str) -> int | None:
        """The largest step logged for metric ``key``; None before the first."""
        with mlflow_errors(self.tracking_uri, f"read MLflow run {self.run_id}"):
            history = self.client.get_metric_history(self.run_id, key)
        return max((metric.step for metric in history), default=None)

    def finish(self, status: str = "FINISHED") -> None:
        with mlflow_errors(self.tracking_uri, f"end MLflow run {self.run_id}"):
            self.client.set_terminated(self.run_id, status=status)


def now_ms() -> int:
    """A metric timestamp, as MLflow stores them."""
    return int(time.time() * 1000)
