"""The training run: ``train()`` in named phases, and ``DAFTrainer``, PuffeRL with DAF's checkpoints.

``cogames.train.train`` hard-codes the PPO settings, so a sweep through it changes nothing. This module
builds the same thing cogames builds (the same environments, policy classes and ``pufferl.PuffeRL``
trainer) but takes the settings from :class:`daf_core.config.PPOConfig`, and adds what a research team
needs around it:

* checkpoints in cogames' layout, written atomically, pruned to ``max_checkpoints_to_keep``, resumed
  automatically when the same run is started again (weights, optimizer, LR schedule, step counter, RNG);
* a per-epoch metrics log (``metrics.jsonl``): agent steps, SPS, losses, KL, clip fraction, explained
  variance and the environment's episode statistics per mission; each epoch appears once, however
  often the run was stopped and resumed (a row is written before its checkpoint, and a resume drops
  the rows after the checkpoint it starts from);
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
import os
import random
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import torch

from daf_core._internal.atomic import atomic_write_json
from daf_core._internal.process_state import import_preserving_process_state
from daf_core._internal.seeding import seed_everything
from daf_core.config import DAFConfig, DAFTrainingConfig, configure_logging
from daf_core.environment_checks import daf_select_training_device
from daf_core.evaluation import policy_class_path
from daf_core.tracking import SystemMonitor, TrainingTrackers, record_experiment
from daf_core.training import checkpoints
from daf_core.training.environments import MissionEnvCreator, load_training_missions
from daf_core.training.interrupts import sigint_stops_at_epoch_end
from daf_core.training.process_group import (
    WorkerContext,
    barrier,
    check_worker_limit,
    check_world_size,
    init_distributed,
    stop_requested,
    unwrap,
    wrap_for_data_parallel,
)
from daf_core.training.result import TrainingResult
from daf_core.training.run_files import RunFiles, default_run_name, metrics_row
from daf_core.training.settings import BatchShape, batch_shape, per_worker_steps, puffer_settings
from daf_core.training.vector_workers import CheckedMultiprocessing

logger = logging.getLogger(__name__)

pufferl = import_preserving_process_state("pufferlib.pufferl")
pvector = import_preserving_process_state("pufferlib.vector")


class DAFTrainer(pufferl.PuffeRL):
    """PuffeRL with DAF's checkpoints (atomic, pruned, resumable, after the metrics row) and no dashboard.

    ``completed_epoch``/``completed_step`` count the epochs whose update finished and whose metrics row
    is written; ``target_step`` is this worker's share of ``num_steps``, in whole epochs.
    """

    def __init__(
        self,
        settings: dict[str, Any],
        vecenv: Any,
        policy: Any,
        run: RunFiles,
        context: WorkerContext,
        target_step: int,
    ):
        self.run_files = run
        self.context = context
        self.target_step = target_step
        self.epoch_stats: dict[str, float] = {}
        self.completed_step = 0
        self.completed_epoch = 0
        self.checkpointed_epoch: int | None = None
        self.updating = False
        self.trackers = TrainingTrackers()  # TensorBoard and MLflow, opened by train() once resumed
        with warnings.catch_warnings():
            # float32 "autocast" on CPU is a no-op that PufferLib always sets up; its warning is noise.
            warnings.filterwarnings("ignore", message="In CPU autocast", category=UserWarning)
            super().__init__(settings, vecenv, policy, logger=run)

    @property
    def done(self) -> bool:
        return self.completed_step >= self.target_step

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

    def save_checkpoint(self) -> None:
        """PuffeRL calls this inside ``train()``, before DAF has written the epoch's metrics row.

        A checkpoint written there and a kill before the row would lose the epoch's row for good, so
        DAF checkpoints in :meth:`checkpoint`, after the row, instead.
        """

    def checkpoint_due(self) -> bool:
        """PuffeRL's rule: every ``checkpoint_interval`` epochs, and at the end."""
        return self.completed_epoch % self.config["checkpoint_interval"] == 0 or self.done

    def checkpoint(self) -> Path | None:
        """Write the completed epoch's checkpoint (rank 0) and prune old ones; the model file's path."""
        model_path = self._write_checkpoint() if self.context.is_main else None
        self.checkpointed_epoch = self.completed_epoch
        self.trackers.rows_saved()
        return model_path

    def _write_checkpoint(self) -> Path:
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
                "complete": self.done,
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
        self.epoch = self.completed_epoch = self.checkpointed_epoch = int(state["update"])
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


def train(
    config: DAFTrainingConfig, daf_config: DAFConfig | None = None, *, show_progress: bool = True
) -> TrainingResult:
    """Train (or resume) one run; in a torchrun/DAF-launched worker, this process's share of it.

    ``daf_config`` (default: one whose ``output_dir`` is the checkpoint directory's parent) supplies
    the checkpoint directory and how many checkpoints to keep unless ``config`` sets them, the GPU
    settings, logging (``verbose``, ``log_to_file``), ``max_parallel_jobs`` (at most that many
    workers), system monitoring, the experiments log, and where the metrics rows also go: TensorBoard
    (``tensorboard``) and MLflow (``mlflow_tracking_uri``, ``mlflow_experiment``), see
    :mod:`daf_core.tracking.training_log`.
    """
    # 1. Settings: logging, this process's place in the run, its device and its seed.
    daf_config = daf_config or DAFConfig(output_dir=Path(config.checkpoint_dir).parent)
    configure_logging(daf_config)
    config = _apply_daf_config(config, daf_config)
    context = WorkerContext.from_env()
    check_worker_limit(config.num_workers, daf_config.max_parallel_jobs)
    check_world_size(config.num_workers, context)
    device = daf_select_training_device(config.device, daf_config, context.local_rank, context.world_size)
    init_distributed(context, config.backend, device)
    seed_everything(config.seed + context.rank)

    # 2. Environments, policy and the epoch's shape (which may change the minibatch, with a warning).
    env_cfgs = load_training_missions(config.missions)
    policy, network, interface = _build_policy(config, env_cfgs[0])
    use_rnn = bool(getattr(policy, "is_recurrent", lambda: False)())
    vecenv = _make_vecenv(env_cfgs, config, context)
    shape = batch_shape(config, use_rnn, vecenv.num_agents)

    # 3. The run directory, named from the config as given (rerunning it resumes the same run); its
    #    config.yaml records what runs.
    run_name = config.run_name or default_run_name(config)
    run_dir = Path(config.checkpoint_dir) / run_name
    class_path = policy_class_path(config.policy_class_path)
    run_files = RunFiles(run_dir, class_path, interface, config.max_checkpoints_to_keep, context.is_main)
    ran_config = _ran_config(config, run_name, shape)
    if context.is_main:
        _write_run_config(run_dir, ran_config)
    barrier()
    logger.info(
        "training %s: %s on %s, %d agent steps, %d worker(s) on %s",
        run_name,
        class_path,
        "+".join(config.missions),
        config.num_steps,
        context.world_size,
        device,
    )

    # 4. PuffeRL's trainer, resumed from the run's last checkpoint if it has one.
    resume_state = checkpoints.read_trainer_state(run_dir)
    if resume_state is not None:
        network.load_state_dict(torch.load(run_dir / resume_state["model_name"], map_location="cpu"))
    network.to(device)
    trainer = DAFTrainer(
        puffer_settings(config, shape, use_rnn, device, run_dir, context),
        vecenv,
        wrap_for_data_parallel(network, device),
        run_files,
        context,
        target_step=per_worker_steps(config.num_steps, shape, context),
    )
    if resume_state is not None:
        trainer.restore(resume_state)
        logger.info("resuming %s at epoch %d, step %d", run_dir, trainer.epoch, trainer.global_step)
    run_files.keep_metrics_through(trainer.completed_epoch)
    steps_at_start = trainer.completed_step

    # 5. Epochs until num_steps, a Ctrl-C (saved at the end of the epoch) or an error (not saved); the
    #    rows also go to TensorBoard and MLflow (DAFConfig), whose runs end with the final checkpoint.
    started = time.time()
    monitor = SystemMonitor(
        run_dir / "system.jsonl", enabled=daf_config.monitor_system_stats and context.is_main
    )
    try:
        trainer.trackers = TrainingTrackers.open(
            daf_config,
            run_dir,
            ran_config.model_dump(mode="json"),
            start_step=steps_at_start * context.world_size,
            kept_rows=run_files.metrics_rows(),
            enabled=context.is_main,
        )
        with trainer.trackers:
            try:
                with monitor, sigint_stops_at_epoch_end() as stop:
                    _train_epochs(trainer, config, network, started, show_progress and context.is_main, stop)
            except KeyboardInterrupt:
                _save_on_interrupt(trainer)
                raise
            # 6. The final checkpoint, the result, this worker's report and the experiments log.
            if trainer.checkpointed_epoch != trainer.completed_epoch:
                trainer.checkpoint()
    finally:
        trainer.shutdown()
    barrier()
    result = TrainingResult(
        run_dir=run_dir,
        final_checkpoint=run_dir / checkpoints.read_trainer_state(run_dir)["model_name"],
        training_steps=trainer.completed_step * context.world_size,
        wall_time_seconds=time.time() - started,
        num_workers=context.world_size,
        resumed_from_step=steps_at_start * context.world_size,
        epochs=trainer.completed_epoch,
    )
    _write_worker_report(run_dir, context, network, result)
    logger.info(
        "finished %s: epoch %d, %d agent steps in %.1f s",
        run_name,
        result.epochs,
        result.training_steps,
        result.wall_time_seconds,
    )
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


def _train_epochs(
    trainer: DAFTrainer,
    config: DAFTrainingConfig,
    network: torch.nn.Module,
    started: float,
    show_progress: bool,
    stop: threading.Event,
) -> None:
    """Rollout, update, record, checkpoint: one epoch per pass, in that order."""
    steps_at_start = trainer.completed_step
    with _progress_bar(trainer, show_progress) as advance:
        while not trainer.done:
            if stop_requested(stop):
                raise KeyboardInterrupt
            # Rollout: one batch of experience with the current weights.
            trainer.last_log_time = 0.0  # PuffeRL logs (and keeps the epoch's losses) only when this is old
            trainer.evaluate()
            # Update and record: PPO on the batch, then the epoch's metrics row. Stopped in between, the
            # epoch did not happen: nothing is saved, and a resume drops a row already written.
            trainer.updating = True
            trainer.train()
            if any(not torch.isfinite(p).all() for p in network.parameters()):
                raise RuntimeError(
                    f"training diverged at epoch {trainer.epoch}: non-finite weights; the last checkpoint in "
                    f"{trainer.run_files.run_dir} predates it (lower the learning rate?)"
                )
            trainer.completed_epoch, trainer.completed_step = trainer.epoch, trainer.global_step
            row = metrics_row(trainer, config.missions, started, steps_at_start)
            trainer.run_files.append_metrics(row)
            trainer.trackers.log_row(row)
            trainer.updating = False
            # Checkpoint, after the row: the epoch a checkpoint names always has its row.
            if trainer.checkpoint_due():
                trainer.checkpoint()
            logger.debug(
                "epoch %d: %d agent steps, %.0f SPS, learning rate %.3g",
                row["epoch"],
                row["agent_steps"],
                row["sps"],
                row["learning_rate"],
            )
            advance(row)


def _save_on_interrupt(trainer: DAFTrainer) -> None:
    """Ctrl-C between epochs saves the last completed one; during an update, the weights are half-done."""
    if trainer.updating:
        logger.warning(
            "interrupted during an update; resume from the last checkpoint in %s", trainer.run_files.run_dir
        )
        return
    logger.warning("interrupted; saving epoch %d (rerun the same config to resume)", trainer.completed_epoch)
    if trainer.checkpointed_epoch != trainer.completed_epoch:
        trainer.checkpoint()


@contextmanager
def _progress_bar(trainer: DAFTrainer, show: bool) -> Iterator[Callable[[dict[str, Any]], None]]:
    """A rich progress bar over agent steps (all workers); yields the function that advances it by a row."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: PLC0415

    world = trainer.context.world_size
    progress = Progress(
        TextColumn("[cyan]Training {task.fields[run]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[sps]:.0f} SPS"),
        TimeElapsedColumn(),
        disable=not show,
        transient=True,
    )
    with progress:
        task = progress.add_task(
            "train",
            total=trainer.target_step * world,
            completed=trainer.completed_step * world,
            run=trainer.run_files.run_id,
            sps=0,
        )
        yield lambda row: progress.update(task, completed=row["agent_steps"], sps=row["sps"])


def _apply_daf_config(config: DAFTrainingConfig, daf_config: DAFConfig) -> DAFTrainingConfig:
    """DAFConfig supplies checkpoint_dir and max_checkpoints_to_keep unless the run config sets them."""
    updates = {
        field: getattr(daf_config, field)
        for field in ("checkpoint_dir", "max_checkpoints_to_keep")
        if field not in config.model_fields_set
    }
    return config.model_copy(update=updates)


def _build_policy(config: DAFTrainingConfig, env_cfg: Any) -> tuple[Any, torch.nn.Module, Any]:
    """The policy (with its initial weights, if given), its network and the interface it was built for."""
    from mettagrid.policy.loader import initialize_or_load_policy  # noqa: PLC0415
    from mettagrid.policy.policy import PolicySpec  # noqa: PLC0415
    from mettagrid.policy.policy_env_interface import PolicyEnvInterface  # noqa: PLC0415

    interface = PolicyEnvInterface.from_mg_cfg(env_cfg)
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
    return policy, network, interface


def _make_vecenv(env_cfgs: list[Any], config: DAFTrainingConfig, context: WorkerContext) -> Any:
    """This worker's environments: stepped in-process (``vector_backend="serial"``, as cogames' trainer
    on CPU) or by ``vector_num_workers`` processes, each stepping ``vector_num_envs / vector_num_workers``
    of them, all in every step (PufferLib's multiprocessing backend, checked for dead workers).

    Either way environment ``i`` has the same maps, mission and seeds, so the backend changes the speed,
    not the run (see :class:`MissionEnvCreator`).
    """
    seed = config.seed + 1000 * context.rank
    num_envs = config.vector_num_envs
    if config.vector_backend == "serial":
        return pvector.make(
            MissionEnvCreator(env_cfgs, seed),
            num_envs=num_envs,
            num_workers=1,
            batch_size=num_envs,
            backend=pvector.Serial,
        )
    workers = config.vector_num_workers
    cores = psutil.cpu_count(logical=False) or psutil.cpu_count() or 1
    ranks_here = int(os.environ.get("LOCAL_WORLD_SIZE", context.world_size))  # torchrun's, and DAF's
    if (workers + 1) * ranks_here > cores:
        logger.warning(
            "vector_num_workers=%d: %d environment worker(s) and %d trainer(s) on %d CPU cores; PufferLib's "
            "workers spin while the trainer computes, so this is likely slower than vector_backend='serial'",
            workers,
            workers * ranks_here,
            ranks_here,
            cores,
        )
    return pvector.make(
        MissionEnvCreator(env_cfgs, seed, envs_per_worker=num_envs // workers),
        num_envs=num_envs,
        num_workers=workers,
        batch_size=num_envs,  # every worker in every step: the serial backend's batches, in its order
        zero_copy=True,
        overwork=True,  # more workers than cores is allowed, with the warning above
        backend=CheckedMultiprocessing,
    )


def _ran_config(config: DAFTrainingConfig, run_name: str, shape: BatchShape) -> DAFTrainingConfig:
    """The config that runs: its name, and the minibatch actually used."""
    return config.model_copy(
        update={
            "run_name": run_name,
            "ppo": config.ppo.model_copy(
                update={"minibatch_size": shape.effective_minibatch(config.ppo.minibatch_size)}
            ),
        }
    )


def _write_run_config(run_dir: Path, ran_config: DAFTrainingConfig) -> None:
    """config.yaml: the config that runs (see :func:`_ran_config`); rerunning it resumes."""
    run_dir.mkdir(parents=True, exist_ok=True)
    ran_config.to_yaml(run_dir / "config.yaml")


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
