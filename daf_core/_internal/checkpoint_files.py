"""The names of a training run's model files, with nothing heavier than the standard library: a Dagster
sensor lists checkpoints every few seconds and must not load torch or the simulator to do it.

``daf_core.training.checkpoints`` re-exports these; it documents the whole run directory layout.
"""

from __future__ import annotations

import re
from pathlib import Path

#: ``model_000010.pt``: the network after epoch 10. Temporary files of an atomic write never match.
MODEL_PATTERN = re.compile(r"^model_(\d{6,})\.pt$")


def model_filename(epoch: int) -> str:
    return f"model_{epoch:06d}.pt"


def model_epoch(name: str) -> int:
    """The epoch of a model file name; ValueError naming it when it is not one."""
    match = MODEL_PATTERN.match(name)
    if match is None:
        raise ValueError(f"model file: {name!r} is not a model_NNNNNN.pt name")
    return int(match.group(1))


def model_files(run_dir: Path) -> list[Path]:
    """Model files of a run, oldest epoch first (temporary files never match the pattern)."""
    files = [p for p in Path(run_dir).glob("model_*.pt") if MODEL_PATTERN.match(p.name)]
    return sorted(files, key=lambda p: model_epoch(p.name))
