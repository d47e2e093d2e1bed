"""The smallest real pipelines the tests run: tiny_walk, 2048 agent steps, two episodes, one process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from daf_core.config import DAFPipelineConfig

#: Global settings that keep a test's pipeline in one process and writing nothing it does not check.
QUIET_DAF_CONFIG = {
    "max_parallel_jobs": 1,
    "tensorboard": False,
    "monitor_system_stats": False,
    "track_experiments": False,
    "log_to_file": False,
}
#: One epoch of tiny_walk (2 agents x 16 environments x BPTT 64).
TINY_TRAINING = {"missions": ["tiny_walk"], "num_steps": 2048, "device": "cpu", "checkpoint_interval": 1}
#: A comparison that fails when it starts: its mission file does not exist.
MISSING_MISSION_COMPARISON = {
    "name": "broken",
    "policies": ["random", "noop"],
    "missions": ["does_not_exist/mission.yaml"],
    "episodes_per_mission": 2,
}


def pipeline(tmp_path: Path, stages: list[str], **fields: Any) -> DAFPipelineConfig:
    """A pipeline writing under ``tmp_path``, with the tiny training run and two evaluation episodes
    unless ``fields`` say otherwise."""
    data = {
        "name": "tiny",
        "stages": stages,
        "output_dir": str(tmp_path),
        "daf_config": QUIET_DAF_CONFIG,
        "training": TINY_TRAINING,
        "evaluation": {"episodes": 2},
        **fields,
    }
    return DAFPipelineConfig.from_dict(data)
