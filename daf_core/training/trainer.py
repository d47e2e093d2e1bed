"""DAF's trainer: PufferLib's PPO with every hyperparameter exposed, resumable, and data-parallel.

``cogames.train.train`` hard-codes the PPO settings, so a sweep through it changes nothing. This module
builds the same thing cogames builds (the same environments, policy classes and ``pufferl.PuffeRL``
trainer) but takes the settings from :class:`daf_core.config.PPOConfig`, and adds what a research team
needs around it:

* checkpoints in cogames' layout, written atomically, pruned to ``max_checkpoints_to_keep``, resumed
  automatically when the same run is started again (weights, optimizer, LR schedule, step counter, RNG);
* a per-epoch metrics log (``metrics.jsonl``): agent steps, SPS, losses, KL, clip fraction, explained
  variance and the environment's episode statistics per mission;
* data-parallel training over ``torch.distributed`` (gloo on CPU, NCCL on GPU, ``env://`` rendezvous as
  ``torchrun`` sets it): each rank collects its own rollouts, DDP all-reduces gradients, rank 0 writes;
* Ctrl-C saves the last completed epoch and raises ``KeyboardInterrupt`` (PufferLib's own handler
  would exit with status 0, which looks like success).

Run it from Python with :func:`train`, or as ``python -m daf_core.training --config run.yaml``, which is
also what ``torchrun --nproc-per-node N -m daf_core.training --config run.yaml`` starts on each node.
"""


from __future__ import annotations

import hashlib
import logging
import math
import random
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from daf_core._internal.atomic import atomic_write_json
from daf_core._internal.process_state import import_preserving_process_state
from daf_core._internal.seeding import seed_everything
from daf_core.config import DAFConfig, DAFTrainingConfig
from daf_core.evaluation import policy_class_path
from daf_core.tracking import SystemMonitor, record_experiment
from daf_core.training import checkpoints
from daf_core.training.environments import MissionEnvCreator, load_training_missions
from daf_core.training.interrupts import sigint_stops_at_epoch_end
from daf_core.training.process_group import (
    WorkerContext,
    barrier,
    init_distributed,
    stop_requested,
    unwrap,
    wrap_for_data_parallel,
)
from daf_core.training.result import TrainingResult
from daf_core.training.run_files import RunFiles, default_run_name, metrics_row
from daf_core.training.settings import puffer_settings

logger = logging.getLogger(__name__)

pufferl = import_preserving_process_state("pufferlib.pufferl")
pvector = import_preserving_process_state("pufferlib.vector")
pufferlib = import_preserving_process_state("pufferlib.pufferlib")


def resolve_device(
    config: DAFTrainingConfig, daf_config: DAFConfig | None, context: WorkerContext
) -> torch.device:
    if config.device != "auto":
        device = torch.device(config.device)
    else:
        from daf_core.environment_checks import daf_get_recommended_device  # noqa: PLC0415

        device = daf_get_recommended_device(daf_config)
    if device.type == "cuda" and context.world_size > 1:
        device = torch.device("cuda", context.local_rank)
        torch.cuda.set_device(device)
    return device



class DAFTrainer(pufferl.PuffeRL):
    """PuffeRL with DAF's checkpoints (atomic, pruned, resumable), metrics rows and no dashboard."""

    def __init__(
        self, settings: dict[str, Any], vecenv: Any, policy: Any, run: RunFiles, context: WorkerContext
    ):
        self.run_files = run
        self.context = context
        self.epoch_stats: dict[str, float] = {}
        self.completed_step = 0
        self.completed_epoch = 0
        self.updating = False
        with warnings.catch_warnings():
            # float32 "autocast" on CPU is a no-op that PufferLib always sets up; its warning is noise.
            warnings.filterwarnings("ignore", message="In CPU autocast", category=UserWarning)
            super().__init__(settings, vecenv, policy, logger=run)

    def print_dashboard(self, *args: Any, **kwargs: Any) -> None:
        """DAF shows a progress bar and writes metrics.jsonl instead of PufferLib's full-screen dashboard."""

    def mean_and_log(self) -> dict[str, float]:
        """Capture this epoch's environment statistics (PufferLib clears them right after this call)."""
        self.epoch_stats = {}
        for key, values in self.stats.items():
            try:
                self.epoch_stats[key] = float(np.mean(values))
            except (TypeError, ValueError):
                continue
        return self.epoch_stats

    def save_checkpoint(self) -> Path | None:
        if not self.context.is_main:
            return None
        run_dir = self.run_files.run_dir
        model_path = checkpoints.write_checkpoint(
            run_dir,
            self.completed_epoch,
            unwrap(self.uncompiled_policy).state_dict(),
            {
                "optimizer_state_dict": self.optimizer.state_dict(),
                "scheduler_state_dict": self.scheduler.state_dict(),
                "global_step": self.completed_step,
                "agent_step": self.completed_step,
                "agent_steps": self.completed_step * self.context.world_size,
                "world_size": self.context.world_size,
                "rng": {
                    "torch": torch.get_rng_state(),
                    "numpy": np.random.get_state(),
                    "python": random.getstate(),
                },
                "run_id": self.run_files.run_id,
                "complete": self.completed_step >= self.config["total_timesteps"],
            },
        )
        checkpoints.write_policy_spec(
            run_dir, self.run_files.class_path, model_path.name, self.run_files.policy_env_interface
        )
        checkpoints.prune_checkpoints(run_dir, self.run_files.keep)
        return model_path

    def restore(self, state: dict[str, Any]) -> None:
        """Optimizer, schedule, counters and RNG from a checkpoint (weights were loaded before DDP)."""
        self.optimizer.load_state_dict(state["optimizer_state_dict"])
        if "scheduler_state_dict" in state:
            self.scheduler.load_state_dict(state["scheduler_state_dict"])
        self.global_step = self.completed_step = self.last_log_step = int(state["global_step"])
        self.epoch = self.completed_epoch = int(state["update"])
        rng = state.get("rng")
        if rng and self.context.is_main:
            torch.set_rng_state(rng["torch"])
            np.random.set_state(rng["numpy"])
            random.setstate(rng["python"])
        elif rng:
            seed_everything(int(self.config["seed"]) + self.epoch)

    def shutdown(self) -> None:
        self.utilization.stop()
        self.vecenv.close()



def _has_non_finite(network: torch.nn.Module) -> bool:
    return any(not torch.isfinite(p).all() for p in network.parameters())


def train(
    config: DAFTrainingConfig, daf_config: DAFConfig | None = None, *, show_progress: bool = True
) -> TrainingResult:
    """Train (or resume) one run; in a torchrun/DAF-launched worker, this process's share of it."""
    from mettagrid.policy.loader import initialize_or_load_policy  # noqa: PLC0415
    from mettagrid.policy.policy import PolicySpec  # noqa: PLC0415
    from mettagrid.policy.policy_env_interface import PolicyEnvInterface  # noqa: PLC0415

    daf_config = daf_config or DAFConfig(output_dir=Path(config.checkpoint_dir).parent)
    config = _apply_daf_config(config, daf_config)
    context = WorkerContext.from_env()
    device = resolve_device(config, daf_config, context)
    init_distributed(context, config.backend, device)
    run_name = config.run_name or default_run_name(config)
    run_dir = Path(config.checkpoint_dir) / run_name
    if context.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        config.model_copy(update={"run_name": run_name}).to_yaml(run_dir / "config.yaml")
    barrier()

    seed_everything(config.seed + context.rank)
    env_cfgs = load_training_missions(config.missions)
    interface = PolicyEnvInterface.from_mg_cfg(env_cfgs[0])
    policy = initialize_or_load_policy(
        interface,
        PolicySpec(
            class_path=config.policy_class_path,
            data_path=str(config.initial_weights_path) if config.initial_weights_path else None,
            init_kwargs=dict(config.policy_init_kwargs),
        ),
    )
    network = policy.network()
    if network is None:
        raise ValueError(f"policy_class_path: {config.policy_class_path!r} is not trainable (no network())")
    resume_state = checkpoints.read_trainer_state(run_dir)
    if resume_state is not None:
        network.load_state_dict(torch.load(run_dir / resume_state["model_name"], map_location="cpu"))
    network.to(device)

    vecenv = pvector.make(
        MissionEnvCreator(env_cfgs, config.seed + 1000 * context.rank),
        num_envs=config.vector_num_envs,
        num_workers=1,
        batch_size=config.vector_num_envs,
        backend=pvector.Serial,
    )
    settings = puffer_settings(config, policy, vecenv, device, run_dir, context)
    run_files = RunFiles(
        run_dir,
        policy_class_path(config.policy_class_path),
        interface,
        config.max_checkpoints_to_keep,
        context.is_main,
    )
    trainer = DAFTrainer(settings, vecenv, wrap_for_data_parallel(network, device), run_files, context)
    if config.lr_schedule_steps is not None:  # PuffeRL sized the schedule from num_steps; resize it
        epochs = math.ceil(config.lr_schedule_steps / context.world_size) // trainer.config["batch_size"]
        trainer.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(trainer.optimizer, max(1, epochs))
    if resume_state is not None:
        trainer.restore(resume_state)
        logger.info("resuming %s at epoch %d, step %d", run_dir, trainer.epoch, trainer.global_step)
    steps_at_start = trainer.completed_step
    started = time.time()
    monitor = SystemMonitor(
        run_dir / "system.jsonl", enabled=daf_config.monitor_system_stats and context.is_main
    )
    show_progress = show_progress and context.is_main
    try:
        with monitor, sigint_stops_at_epoch_end() as stop:
            _train_loop(trainer, config, network, started, steps_at_start, show_progress, stop)
    except KeyboardInterrupt:
        if trainer.updating:  # weights are half-updated: the last periodic checkpoint stands
            logger.warning("interrupted during an update; resume from the last checkpoint in %s", run_dir)
        else:
            logger.warning(
                "interrupted; saving epoch %d (rerun the same config to resume)", trainer.completed_epoch
            )
            trainer.save_checkpoint()
        raise
    finally:
        trainer.shutdown()
    final = trainer.save_checkpoint() if context.is_main else None
    barrier()
    final = final or run_dir / checkpoints.read_trainer_state(run_dir)["model_name"]
    result = TrainingResult(
        run_dir=run_dir,
        final_checkpoint=Path(final),
        training_steps=trainer.completed_step * context.world_size,
        wall_time_seconds=time.time() - started,
        num_workers=context.world_size,
        resumed_from_step=steps_at_start * context.world_size,
        epochs=trainer.completed_epoch,
    )
    _write_worker_report(run_dir, context, network, result)
    if daf_config.track_experiments and context.is_main:
        record_experiment(
            daf_config.output_dir,
            "training",
            run_name,
            config.model_dump(mode="json"),
            result.to_dict(),
            {"run_dir": str(run_dir), "metrics": str(run_dir / checkpoints.METRICS)},
        )
    return result


def _train_loop(
    trainer: DAFTrainer,
    config: DAFTrainingConfig,
    network: torch.nn.Module,
    started: float,
    steps_at_start: int,
    show_progress: bool,
    stop: threading.Event,
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: PLC0415

    total = trainer.config["total_timesteps"]
    world = trainer.context.world_size
    progress = Progress(
        TextColumn("[cyan]Training {task.fields[run]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[sps]:.0f} SPS"),
        TimeElapsedColumn(),
        disable=not show_progress,
        transient=True,
    )
    with progress:
        task = progress.add_task(
            "train",
            total=total * world,
            completed=trainer.completed_step * world,
            run=trainer.run_files.run_id,
            sps=0,
        )
        while trainer.completed_step < total:
            if stop_requested(stop):
                raise KeyboardInterrupt
            trainer.last_log_time = 0.0  # PuffeRL logs (and keeps the epoch's losses) only when this is old
            trainer.evaluate()
            trainer.completed_epoch = trainer.epoch + 1
            trainer.completed_step = trainer.global_step
            trainer.updating = True
            trainer.train()
            trainer.updating = False
            if _has_non_finite(network):
                raise RuntimeError(
                    f"training diverged at epoch {trainer.epoch}: non-finite weights; the last checkpoint in "
                    f"{trainer.run_files.run_dir} predates it (lower the learning rate?)"
                )
            row = metrics_row(trainer, config.missions, started, steps_at_start)
            trainer.run_files.append_metrics(row)
            progress.update(task, completed=trainer.completed_step * world, sps=row["sps"])




def _apply_daf_config(config: DAFTrainingConfig, daf_config: DAFConfig) -> DAFTrainingConfig:
    """DAFConfig supplies checkpoint_dir and max_checkpoints_to_keep unless the run config sets them."""
    updates = {
        field: getattr(daf_config, field)
        for field in ("checkpoint_dir", "max_checkpoints_to_keep")
        if field not in config.model_fields_set
    }
    return config.model_copy(update=updates)




def _write_worker_report(
    run_dir: Path, context: WorkerContext, network: torch.nn.Module, result: TrainingResult
) -> None:
    """Each rank records a checksum of its final weights: data-parallel ranks must hold identical ones."""
    digest = hashlib.sha256()
    for name, tensor in sorted(unwrap(network).state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    atomic_write_json(
        run_dir / "workers" / f"rank{context.rank}.json",
        {
            "rank": context.rank,
            "world_size": context.world_size,
            "weights_sha256": digest.hexdigest(),
            **result.to_dict(),
        },
    )
