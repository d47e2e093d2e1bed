"""The settings PuffeRL reads: cogames' values, with every PPO value taken from ``PPOConfig``."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import torch

from daf_core.config import DAFTrainingConfig
from daf_core.training.process_group import (
    WorkerContext,
)

logger = logging.getLogger(__name__)


def align_minibatch(minibatch: int, batch: int, horizon: int) -> int:
    """Largest multiple of the BPTT horizon that is <= both the requested minibatch and the batch."""
    minibatch = min(minibatch, batch)
    return max(horizon, minibatch - minibatch % horizon)



def puffer_settings(
    config: DAFTrainingConfig,
    policy: Any,
    vecenv: Any,
    device: torch.device,
    run_dir: Path,
    context: WorkerContext,
) -> dict[str, Any]:
    """The settings dict PuffeRL reads: cogames' values, except that every PPO value comes from config."""
    ppo = config.ppo
    use_rnn = bool(getattr(policy, "is_recurrent", lambda: False)())
    horizon = ppo.bptt_horizon or (64 if use_rnn else 1)
    batch_size = vecenv.num_agents * horizon
    per_worker_steps = math.ceil(config.num_steps / context.world_size)
    return dict(
        env="daf",
        # "cuda", not "cuda:N": PuffeRL derives its autocast device type from this string, and
        # resolve_device already made this rank's GPU the current one.
        device=device.type,
        total_timesteps=max(per_worker_steps, batch_size),
        batch_size="auto",
        bptt_horizon=horizon,
        minibatch_size=align_minibatch(ppo.minibatch_size, batch_size, horizon),
        max_minibatch_size=ppo.max_minibatch_size,
        data_dir=str(run_dir.parent),
        checkpoint_interval=config.checkpoint_interval,
        seed=config.seed + 1000 * context.rank,
        use_rnn=use_rnn,
        torch_deterministic=True,
        cpu_offload=False,
        optimizer="adam",
        precision="float32",
        compile=False,
        min_lr_ratio=0.0,
        **ppo.model_dump(exclude={"bptt_horizon", "minibatch_size", "max_minibatch_size"}),
    )
