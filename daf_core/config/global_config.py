"""``DAFConfig``: the global settings every DAF workflow reads: output, hardware, logging, tracking."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints, model_validator

from daf_core.config.base import ConfigPath, DAFConfigBase, PositiveInt, reject_bool

DEFAULT_OUTPUT_DIR = Path("./daf_output")


#: Bare words MLflow reads as a remote store rather than a folder (mlflow.utils.uri, mlflow-skinny 3.17).
_MLFLOW_NAMED_STORES = ("databricks", "databricks-uc", "uc")


def _mlflow_store(value: str) -> str:
    """An MLflow tracking store DAF can reach: a local file store, a SQLite file or a tracking server.

    Caught here, not at the first logged metric: ``postgres://`` (SQLAlchemy wants ``postgresql``),
    ``sqlite://`` (an in-memory database that loses every run when the process ends) or a typo'd scheme.
    """
    if not value.strip():
        raise ValueError("must not be empty; leave it unset (null) for no MLflow tracking")
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme == "" and value.strip() in _MLFLOW_NAMED_STORES:
        word = value.strip()
        raise ValueError(f"{word!r} is MLflow's name for a Databricks store; write './{word}' for a folder")
    if scheme == "":  # a path, as MLflow takes it for a file store; '~' expanded as in every DAF path
        return os.path.expanduser(value)
    if scheme == "file" and parts.path:
        return value
    if scheme == "sqlite" and value.startswith("sqlite:///") and len(value) > len("sqlite:///"):
        return value
    if scheme in ("http", "https") and parts.netloc:
        return value
    raise ValueError(
        "expected a local path, a file: URI ('file:./mlruns'), a SQLite file ('sqlite:///mlflow.db') or an "
        "MLflow tracking server ('http://host:5000')"
    )


MlflowStoreUri = Annotated[str, AfterValidator(_mlflow_store)]


class DAFConfig(DAFConfigBase):
    """Global DAF settings: where results go, how much hardware to use, what to log and track."""

    output_dir: ConfigPath = DEFAULT_OUTPUT_DIR
    #: Defaults to ``<output_dir>/checkpoints`` so that moving ``output_dir`` moves everything.
    checkpoint_dir: ConfigPath = DEFAULT_OUTPUT_DIR / "checkpoints"
    max_checkpoints_to_keep: PositiveInt = 5
    max_parallel_jobs: PositiveInt = 4
    enable_gpu: bool = True
    gpu_memory_fraction: Annotated[float, BeforeValidator(reject_bool), Field(gt=0.0, le=1.0)] = 0.8
    verbose: bool = False
    log_to_file: bool = True
    monitor_system_stats: bool = True
    track_experiments: bool = True
    #: TensorBoard event files beside the results: ``<run_dir>/tensorboard`` for training (keyed by agent
    #: steps), ``<sweep_dir>/tensorboard`` for sweep trials, ``<output_dir>/tensorboard/comparisons/`` for
    #: comparisons. False writes none.
    tensorboard: bool = True
    #: Where MLflow runs go (one per training run, sweep trial and compared policy); None: no MLflow, and
    #: mlflow is never imported.
    mlflow_tracking_uri: MlflowStoreUri | None = None
    #: The MLflow experiment those runs belong to (created when missing).
    mlflow_experiment: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)
    ] = "daf"

    @model_validator(mode="before")
    @classmethod
    def _derive_checkpoint_dir(cls, data: Any) -> Any:
        """A missing (or null) checkpoint_dir follows output_dir; an explicit one is kept as given."""
        if isinstance(data, dict) and data.get("checkpoint_dir") is None:
            output_dir = data.get("output_dir", DEFAULT_OUTPUT_DIR)
            data = {key: value for key, value in data.items() if key != "checkpoint_dir"}
            if isinstance(output_dir, str | Path) and str(output_dir).strip():
                # A string, not a Path: model_validate_json accepts only JSON types for Path fields.
                data["checkpoint_dir"] = str(Path(output_dir) / "checkpoints")
        return data


def daf_load_config(config_path: str | Path) -> DAFConfig:
    """Load the global DAF configuration from a .yaml, .yml or .json file (parser chosen by suffix)."""
    return DAFConfig.from_file(config_path)
