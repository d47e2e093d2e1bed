"""``DAFConfig``: the global settings every DAF workflow reads: output, hardware, logging, tracking."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator

from daf_core.config.base import ConfigPath, DAFConfigBase, PositiveInt, reject_bool

DEFAULT_OUTPUT_DIR = Path("./daf_output")


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
