"""Mission files: a ``MettaGridConfig`` serialised as YAML or JSON, read and written atomically."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from mettagrid.config.mettagrid_config import MettaGridConfig
from pydantic import ValidationError

from daf_core._internal.atomic import atomic_write_text

MISSION_FILE_SUFFIXES = (".yaml", ".yml", ".json")


def is_mission_file(name: str | Path) -> bool:
    return str(name).lower().endswith(MISSION_FILE_SUFFIXES)


def load_mission_file(path: str | Path) -> MettaGridConfig:
    """Read a YAML/JSON ``MettaGridConfig`` (what :func:`save_mission` or ``cogames`` writes)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mission file not found: {path}")
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise ValueError(f"mission file {path}: not valid {path.suffix.lstrip('.').upper()}: {err}") from err
    if not isinstance(data, dict):
        raise ValueError(
            f"mission file {path}: expected a MettaGridConfig mapping, got {type(data).__name__}"
        )
    try:
        return MettaGridConfig.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(map(str, first["loc"]))
        raise ValueError(
            f"mission file {path}: field '{where}' = {first.get('input')!r}: {first['msg']} "
            f"({err.error_count()} error(s) in all)"
        ) from err


def save_mission(env_cfg: MettaGridConfig, path: str | Path) -> Path:
    """Write a mission file atomically; the suffix (.yaml/.yml/.json) picks the format."""
    path = Path(path)
    if not is_mission_file(path):
        raise ValueError(f"mission file {path}: suffix must be one of {list(MISSION_FILE_SUFFIXES)}")
    data = env_cfg.model_dump(mode="json")
    text = (
        json.dumps(data, indent=2)
        if path.suffix.lower() == ".json"
        else yaml.safe_dump(data, sort_keys=False)
    )
    atomic_write_text(path, text)
    return path
