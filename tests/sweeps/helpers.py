"""What the sweep tests share: a tiny sweep config, a policy with arguments to sweep, and readers of a
sweep's files and study.

Every sweep in these tests trains for real (tiny_walk, 2 agents, 4 environments: 512 agent steps per
epoch) and evaluates with the evaluation engine; a trial takes a second or two.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import optuna
import torch
from mettagrid.policy.lstm import LSTMPolicy
from torch import nn

from daf_core.config import DAFSweepConfig
from daf_core.sweeps import SweepResult, SweepTrialResult
from daf_core.training import read_trainer_state

REPO = Path(__file__).resolve().parents[2]


class TaggedLSTMPolicy(LSTMPolicy):
    """lstm with constructor arguments for a sweep to set.

    ``tag_size`` adds a parameter of that size to the network: the trained checkpoint shows which value
    training got, and evaluation can load it only when it passes the same value. ``explode`` fails,
    ``ctrl_c`` acts as if the user pressed Ctrl-C.
    """

    def __init__(
        self,
        policy_env_info,
        device: str = "cpu",
        tag_size: int = 1,
        explode: bool = False,
        ctrl_c: bool = False,
    ):
        if explode:
            raise RuntimeError("policy constructor exploded on purpose")
        if ctrl_c:
            raise KeyboardInterrupt
        super().__init__(policy_env_info, device=device)
        self._net.register_parameter("tag", nn.Parameter(torch.zeros(tag_size)))


TAGGED_POLICY = f"{__name__}.TaggedLSTMPolicy"


def sweep_config(tmp_path: Path, **overrides: Any) -> DAFSweepConfig:
    settings = {
        "name": "tiny",
        "missions": ["tiny_walk"],
        "search_space": {"learning_rate": [1e-3, 3e-3], "ent_coef": [0.0, 0.05]},
        "strategy": "grid",
        "episodes_per_trial": 2,
        "training_steps": 1024,
        "vector_num_envs": 4,
        "output_dir": tmp_path,
        **overrides,
    }
    return DAFSweepConfig(**settings)


def trial_dir(config: DAFSweepConfig, trial: SweepTrialResult) -> Path:
    """The trial's own directory (a retry's is its first attempt's)."""
    first = trial.retry_of if trial.retry_of is not None else trial.trial_id
    return Path(config.output_dir) / config.name / "trials" / f"trial_{first:04d}"


def final_weights(trial: SweepTrialResult) -> dict[str, torch.Tensor]:
    run_dir = Path(trial.run_dir)
    return torch.load(run_dir / read_trainer_state(run_dir)["model_name"], map_location="cpu")


def file_times(run_dir: str) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in Path(run_dir).iterdir() if p.is_file()}


def worker_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def load_study(config: DAFSweepConfig) -> optuna.Study:
    """The sweep's study, read with Optuna alone (psycopg2 named for PostgreSQL URLs)."""
    url = config.storage or f"sqlite:///{Path(config.output_dir) / config.name / 'study.db'}"
    url = url.replace("postgresql://", "postgresql+psycopg2://", 1)
    return optuna.load_study(study_name=config.name, storage=url)


def drawn_in_order(result: SweepResult) -> list[str]:
    """Each logical trial's hyperparameters in the order they were drawn (a retry in its first attempt's
    place), as comparable strings."""
    trials = sorted(result.trials, key=lambda t: t.retry_of if t.retry_of is not None else t.trial_id)
    return [json.dumps(t.hyperparameters, sort_keys=True) for t in trials]
