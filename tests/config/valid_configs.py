"""One valid config of every model, as plain data, and the example files in configs/ with their models.

Shared by the focused bad-input tests and the fuzz test, so both cover every model (a new model is
added here once).
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from daf_core.config import (
    BenchmarkSettings,
    DAFComparisonConfig,
    DAFConfig,
    DAFConfigBase,
    DAFDeploymentConfig,
    DAFPipelineConfig,
    DAFSweepConfig,
    DAFTrainingConfig,
    EnvironmentCheckSettings,
    EvaluationSettings,
    PPOConfig,
)

CONFIGS_DIR = Path(__file__).resolve().parents[2] / "configs"

#: The fields each model requires (everything else has a default).
REQUIRED: dict[type[DAFConfigBase], dict[str, Any]] = {
    DAFConfig: {},
    PPOConfig: {},
    EnvironmentCheckSettings: {},
    EvaluationSettings: {},
    BenchmarkSettings: {},
    DAFTrainingConfig: {},
    DAFSweepConfig: {
        "name": "explore_lr",
        "missions": ["explore"],
        "search_space": {"learning_rate": {"low": 1e-4, "high": 3e-3, "log": True}, "ent_coef": [0.0, 0.01]},
    },
    DAFComparisonConfig: {"name": "baselines", "policies": ["random", "noop"], "missions": ["explore"]},
    DAFDeploymentConfig: {
        "policy_name": "explore-lstm",
        "policy_class_path": "lstm",
        "deployment_endpoint": "http://localhost:8080",
        "version": "1.0.0",
    },
    DAFPipelineConfig: {"name": "train_compare", "stages": ["train", "evaluate"]},
}
MODELS: list[type[DAFConfigBase]] = list(REQUIRED)

#: Example files are matched to their model by name prefix.
EXAMPLE_PREFIXES: dict[str, type[DAFConfigBase]] = {
    "daf_config": DAFConfig,
    "sweep_": DAFSweepConfig,
    "comparison_": DAFComparisonConfig,
    "deployment_": DAFDeploymentConfig,
    "pipeline_": DAFPipelineConfig,
    "training_": DAFTrainingConfig,
}


def full_dict(model: type[DAFConfigBase]) -> dict[str, Any]:
    """Every field of a valid ``model``, as a file would hold it (defaults written out)."""
    return model(**REQUIRED[model]).to_dict()


def example_files() -> list[tuple[Path, type[DAFConfigBase]]]:
    found = []
    for path in sorted(CONFIGS_DIR.glob("*")):
        for prefix, model in EXAMPLE_PREFIXES.items():
            if path.suffix in (".yaml", ".yml", ".json") and path.name.startswith(prefix):
                found.append((path, model))
    return found


def path_fields(model: type[DAFConfigBase]) -> list[str]:
    """The fields of ``model`` that hold a file system path."""
    return [name for name, field in model.model_fields.items() if "Path" in str(field.annotation)]


def _numeric(annotation: Any) -> bool:
    if get_origin(annotation) is Annotated:
        return _numeric(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_numeric(arg) for arg in get_args(annotation))
    return annotation in (int, float)


def number_fields(model: type[DAFConfigBase]) -> list[str]:
    """The fields of ``model`` that hold an int or a float (optionally None)."""
    return [name for name, field in model.model_fields.items() if _numeric(field.annotation)]
