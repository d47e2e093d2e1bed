"""The settings PuffeRL reads: cogames' values, with every PPO value taken from ``PPOConfig``."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from daf_core.config import DAFTrainingConfig
from daf_core.training.process_group import WorkerContext

logger = logging.getLogger(__name__)


#: The BPTT horizon of recurrent policies when ``ppo.bptt_horizon`` is not set (1 otherwise): cogames' rule.
RECURRENT_BPTT_HORIZON = 64


@dataclass(frozen=True)
class BatchShape:
    """What one epoch of one worker collects: ``agents`` per environment x ``envs`` x ``horizon`` steps.

    PuffeRL needs a minibatch no larger than the batch and a multiple of the horizon, so a requested
    minibatch is clamped to the batch and rounded down to the horizon: with 2 agents, 16 environments and
    horizon 64 the batch is 2048, and 4096 and 8192 both train with 2048 (which is why a sweep over
    minibatch sizes is checked against this rule before it starts).
    """

    agents: int
    envs: int
    horizon: int

    @property
    def batch_size(self) -> int:
        return self.agents * self.envs * self.horizon

    def effective_minibatch(self, requested: int) -> int:
        """The minibatch that runs for ``requested``."""
        minibatch = min(requested, self.batch_size)
        return max(self.horizon, minibatch - minibatch % self.horizon)

    def describe(self) -> str:
        return (
            f"the batch is {self.agents} agents x {self.envs} environments x BPTT horizon {self.horizon} "
            f"= {self.batch_size}"
        )


def bptt_horizon(requested: int | None, use_rnn: bool) -> int:
    return requested or (RECURRENT_BPTT_HORIZON if use_rnn else 1)


def batch_shape(config: DAFTrainingConfig, use_rnn: bool, total_agents: int) -> BatchShape:
    """The epoch's shape; a minibatch that cannot run as requested is changed, with a WARNING saying so.

    ``total_agents``: the agents of all of this worker's environments (PufferLib's ``vecenv.num_agents``).
    """
    shape = BatchShape(
        total_agents // config.vector_num_envs,
        config.vector_num_envs,
        bptt_horizon(config.ppo.bptt_horizon, use_rnn),
    )
    requested = config.ppo.minibatch_size
    if shape.effective_minibatch(requested) != requested:
        logger.warning(
            "ppo.minibatch_size: %d requested, %d used (%s, and a minibatch must fit in it as a multiple of "
            "the horizon; raise vector_num_envs or bptt_horizon for larger minibatches)",
            requested,
            shape.effective_minibatch(requested),
            shape.describe(),
        )
    return shape


def per_worker_steps(steps: int, shape: BatchShape, context: WorkerContext) -> int:
    """One worker's share of ``steps`` agent steps over all workers, rounded up to whole epochs."""
    return math.ceil(math.ceil(steps / context.world_size) / shape.batch_size) * shape.batch_size


def puffer_settings(
    config: DAFTrainingConfig,
    shape: BatchShape,
    use_rnn: bool,
    device: torch.device,
    run_dir: Path,
    context: WorkerContext,
) -> dict[str, Any]:
    """The settings dict PuffeRL reads: cogames' values, except that every PPO value comes from config.

    ``total_timesteps`` is the run length PuffeRL sizes its schedules by (the cosine learning rate and
    the prioritised-replay beta anneal, through its ``total_epochs``): ``lr_schedule_steps`` when set, so
    a run trained in chunks follows one schedule. When to stop is DAF's loop's business (``num_steps``).
    """
    ppo = config.ppo
    return dict(
        env="daf",
        # A torch.device with its index: PuffeRL allocates its buffers on it and takes the autocast type
        # from its .type; the string "cuda" would put them on whatever device is current.
        device=device,
        total_timesteps=per_worker_steps(config.lr_schedule_steps or config.num_steps, shape, context),
        batch_size=shape.batch_size,
        bptt_horizon=shape.horizon,
        minibatch_size=shape.effective_minibatch(ppo.minibatch_size),
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
        **ppo.model_dump(exclude={"bptt_horizon", "minibatch_size", "max_minibatch_size"}),
    )
