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

import argparse
import datetime
import hashlib
import json
import logging
import math
import os
import random
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from daf_core import checkpoints
from daf_core._process_state import import_preserving_process_state
from daf_core.config import DAFConfig, DAFTrainingConfig
from daf_core.experiments import record_experiment
from daf_core.io import atomic_write_json
from daf_core.missions import load_mission
from daf_core.system_monitor import SystemMonitor

pufferl = import_preserving_process_state("pufferlib.pufferl")
pvector = import_preserving_process_state("pufferlib.vector")
pufferlib = import_preserving_process_state("pufferlib.pufferlib")

logger = logging.getLogger(__name__)

DISTRIBUTED_TIMEOUT = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class TrainingResult:
    run_dir: Path
    final_checkpoint: Path
    #: Agent steps over all workers, counting those done before a resume.
    training_steps: int
    wall_time_seconds: float
    num_workers: int
    resumed_from_step: int
    epochs: int

    def training_rate(self) -> float:
        """Agent steps per second of this invocation (steps trained before a resume are excluded)."""
        trained_now = self.training_steps - self.resumed_from_step
        return trained_now / self.wall_time_seconds if self.wall_time_seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "run_dir": str(self.run_dir), "final_checkpoint": str(self.final_checkpoint)}


@dataclass(frozen=True)
class WorkerContext:
    """Where this process sits in a data-parallel run (rank 0 of 1 when not distributed)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> WorkerContext:
        """torchrun's variables (RANK, LOCAL_RANK, WORLD_SIZE); absent means a single process."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        return cls(rank=rank, local_rank=int(os.environ.get("LOCAL_RANK", str(rank))), world_size=world)


def default_run_name(config: DAFTrainingConfig) -> str:
    """Deterministic from everything that shapes the run, so rerunning the same config resumes it."""
    identity = config.model_dump(
        mode="json", exclude={"checkpoint_dir", "run_name", "max_checkpoints_to_keep"}
    )
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:10]
    policy = config.policy_class_path.rsplit(".", 1)[-1].lower()
    return f"{policy}-{'+'.join(Path(m).stem for m in config.missions)}-seed{config.seed}-{digest}"


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


#: Training maps come from seeds at or above this, evaluation uses small seeds: the maps a policy is
#: evaluated on were never trained on.
TRAINING_MAP_SEED_BASE = 1_000_000_000


class MissionEnvCreator:
    """Builds PufferLib environments for a rotation of missions: env ``i`` plays mission ``i mod M``.

    Picklable (PufferLib's multiprocessing backend sends it to workers); builds each environment the
    way cogames' trainer does, with mettagrid's stats tracker and early-reset handler. An unseeded map
    builder would draw maps from OS entropy and make training irreproducible, so each environment gets
    its own map seed (mettagrid then advances it every episode).
    """

    def __init__(self, env_cfgs: list[Any], seed: int):
        self.env_cfgs = env_cfgs
        self.seed = seed
        self.created = 0

    def __call__(self, buf: Any = None, seed: int | None = None, **_: Any) -> Any:
        from mettagrid import PufferMettaGridEnv  # noqa: PLC0415
        from mettagrid.envs.early_reset_handler import EarlyResetHandler  # noqa: PLC0415
        from mettagrid.envs.stats_tracker import StatsTracker  # noqa: PLC0415
        from mettagrid.simulator import Simulator  # noqa: PLC0415
        from mettagrid.util.stats_writer import NoopStatsWriter  # noqa: PLC0415

        env_cfg = self.env_cfgs[self.created % len(self.env_cfgs)].model_copy(deep=True)
        map_builder = env_cfg.game.map_builder
        if getattr(map_builder, "seed", 0) is None:
            map_builder.seed = TRAINING_MAP_SEED_BASE + self.seed * 1_000_000 + self.created * 10_000
        self.created += 1
        simulator = Simulator()
        simulator.add_event_handler(StatsTracker(NoopStatsWriter()))
        simulator.add_event_handler(EarlyResetHandler())
        env = PufferMettaGridEnv(simulator, env_cfg, buf=buf, seed=seed if seed is not None else 0)
        pufferlib.set_buffers(env, buf)
        return env


def load_training_missions(missions: list[str]) -> list[Any]:
    """Resolve the missions; a rotation needs the same agent count, observations and actions in each."""
    from mettagrid.policy.policy_env_interface import PolicyEnvInterface  # noqa: PLC0415

    env_cfgs = [load_mission(m) for m in missions]
    interfaces = [PolicyEnvInterface.from_mg_cfg(cfg) for cfg in env_cfgs]
    first = interfaces[0]
    for name, cfg, interface in zip(missions, env_cfgs, interfaces, strict=True):
        if cfg.game.num_agents != env_cfgs[0].game.num_agents:
            raise ValueError(
                f"missions: {name!r} has {cfg.game.num_agents} agents but {missions[0]!r} has "
                f"{env_cfgs[0].game.num_agents}; missions trained together need the same agent count "
                "(override it, e.g. load_mission(name, num_agents=4))"
            )
        if (
            interface.action_names != first.action_names
            or interface.observation_space != first.observation_space
        ):
            raise ValueError(f"missions: {name!r} has other actions or observations than {missions[0]!r}")
    return env_cfgs


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


def init_distributed(context: WorkerContext, backend: str, device: torch.device) -> None:
    """env:// rendezvous (MASTER_ADDR/MASTER_PORT), as torchrun and DAF's launcher set it up."""
    if context.world_size <= 1 or dist.is_initialized():
        return
    if backend == "auto":
        backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(
        backend=backend,
        init_method="env://",
        rank=context.rank,
        world_size=context.world_size,
        timeout=DISTRIBUTED_TIMEOUT,
    )
    logger.info("rank %d/%d joined (%s)", context.rank, context.world_size, backend)


def wrap_for_data_parallel(network: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """DDP around the network, keeping the attributes PuffeRL reads (as PufferLib's own train() does)."""
    if not dist.is_initialized():
        return network
    device_ids = [device.index] if device.type == "cuda" else None
    model = torch.nn.parallel.DistributedDataParallel(network, device_ids=device_ids)
    model.forward_eval = network.forward_eval
    if hasattr(network, "hidden_size"):
        model.hidden_size = network.hidden_size
    return model


def unwrap(network: torch.nn.Module) -> torch.nn.Module:
    return getattr(network, "module", network)


def _align_minibatch(minibatch: int, batch: int, horizon: int) -> int:
    """Largest multiple of the BPTT horizon that is <= both the requested minibatch and the batch."""
    minibatch = min(minibatch, batch)
    return max(horizon, minibatch - minibatch % horizon)


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
            seed_all(int(self.config["seed"]) + self.epoch)

    def shutdown(self) -> None:
        self.utilization.stop()
        self.vecenv.close()


class RunFiles:
    """The run directory and what DAF writes there besides checkpoints; also PuffeRL's ``logger``."""

    def __init__(self, run_dir: Path, class_path: str, policy_env_interface: Any, keep: int, is_main: bool):
        self.run_dir = run_dir
        self.run_id = run_dir.name
        self.class_path = class_path
        self.policy_env_interface = policy_env_interface
        self.keep = keep
        self.is_main = is_main

    def log(self, logs: dict[str, Any], step: int) -> None:
        """PuffeRL's logger hook; DAF writes its own per-epoch rows in :meth:`append_metrics`."""

    def close(self, model_path: str) -> None:
        """PuffeRL's logger hook."""

    def append_metrics(self, row: dict[str, Any]) -> None:
        if self.is_main:
            with open(self.run_dir / checkpoints.METRICS, "a") as handle:
                handle.write(json.dumps(row, allow_nan=False) + "\n")


def _clean(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _metrics_row(
    trainer: DAFTrainer, missions: list[str], started: float, steps_at_start: int
) -> dict[str, Any]:
    world = trainer.context.world_size
    elapsed = max(time.time() - started, 1e-9)
    row: dict[str, Any] = {
        "epoch": trainer.completed_epoch,
        "agent_steps": trainer.completed_step * world,
        "sps": (trainer.completed_step - steps_at_start) * world / elapsed,
        "learning_rate": trainer.optimizer.param_groups[0]["lr"],
        "wall_time_s": elapsed,
    }
    row.update({f"losses/{key}": _clean(value) for key, value in trainer.losses.items()})
    row.update(
        {
            f"env/{key}": _clean(value)
            for key, value in trainer.epoch_stats.items()
            if not key.startswith("per_agent/")
        }
    )
    row["missions"] = missions
    return row


@contextmanager
def sigint_stops_at_epoch_end() -> Iterator[threading.Event]:
    """First Ctrl-C asks the loop to stop after the current epoch; a second one interrupts at once.

    A KeyboardInterrupt raised at an arbitrary point can land inside mettagrid's C++ set-up or a pydantic
    serializer (which turns it into another exception), leaving nothing clean to save. Stopping at an
    epoch boundary always leaves a consistent checkpoint.
    """
    requested = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield requested
        return

    def request_stop(signum: int, frame: Any) -> None:
        if requested.is_set():
            signal.default_int_handler(signum, frame)
        requested.set()
        logger.warning("Ctrl-C: stopping after this epoch (press again to stop now)")

    previous = signal.signal(signal.SIGINT, request_stop)
    try:
        yield requested
    finally:
        signal.signal(signal.SIGINT, previous)


def _stop_requested(requested: threading.Event) -> bool:
    """In a data-parallel run every rank must stop at the same epoch, so the flag is all-reduced."""
    if not dist.is_initialized():
        return requested.is_set()
    flag = torch.tensor([1.0 if requested.is_set() else 0.0])
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item() > 0)


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
    _barrier()

    seed_all(config.seed + context.rank)
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
    settings = _puffer_settings(config, policy, vecenv, device, run_dir, context)
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
    _barrier()
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
            if _stop_requested(stop):
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
            row = _metrics_row(trainer, config.missions, started, steps_at_start)
            trainer.run_files.append_metrics(row)
            progress.update(task, completed=trainer.completed_step * world, sps=row["sps"])


def _puffer_settings(
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
        minibatch_size=_align_minibatch(ppo.minibatch_size, batch_size, horizon),
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


def policy_class_path(name: str) -> str:
    from mettagrid.policy.loader import resolve_policy_class_path  # noqa: PLC0415

    return resolve_policy_class_path(name)


def _apply_daf_config(config: DAFTrainingConfig, daf_config: DAFConfig) -> DAFTrainingConfig:
    """DAFConfig supplies checkpoint_dir and max_checkpoints_to_keep unless the run config sets them."""
    updates = {
        field: getattr(daf_config, field)
        for field in ("checkpoint_dir", "max_checkpoints_to_keep")
        if field not in config.model_fields_set
    }
    return config.model_copy(update=updates)


def _barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train one DAF run (torchrun-compatible).")
    parser.add_argument("--config", required=True, help="DAFTrainingConfig YAML/JSON")
    parser.add_argument("--daf-config", help="optional DAFConfig YAML/JSON")
    args = parser.parse_args(argv)
    config = DAFTrainingConfig.from_file(args.config)
    daf_config = DAFConfig.from_file(args.daf_config) if args.daf_config else None
    try:
        result = train(config, daf_config)
    except KeyboardInterrupt:
        print("training interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if WorkerContext.from_env().is_main:
        print(json.dumps(result.to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
