"""The smallest training runs the tests make: tiny_walk on the CPU, a checkpoint every epoch."""

from pathlib import Path

from daf_core.config import DAFTrainingConfig

# tiny_walk: 2 agents x 16 environments x BPTT 64 = 2048 agent steps per epoch.
EPOCH = 2048


def small_run(tmp_path: Path, **overrides) -> DAFTrainingConfig:
    """Two epochs of tiny_walk under ``tmp_path/checkpoints``; ``overrides`` change any field."""
    settings = {
        "missions": ["tiny_walk"],
        "num_steps": 2 * EPOCH,
        "checkpoint_dir": tmp_path / "checkpoints",
        "checkpoint_interval": 1,
        "device": "cpu",
        **overrides,
    }
    return DAFTrainingConfig(**settings)
