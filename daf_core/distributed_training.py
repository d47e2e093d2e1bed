"""The reference's distributed-training API: launch runs over processes, GPUs and nodes; read status.

One training run over N workers is N copies of :mod:`daf_core.training` joined by ``torch.distributed``
(``env://`` rendezvous). On one machine :func:`daf_launch_distributed_training` starts the copies itself
and watches them: a worker that dies takes the whole run down with an error naming it, instead of
leaving the others blocked in an all-reduce. Across nodes the same module runs under ``torchrun``;
:meth:`TrainingCluster.torchrun_command` prints the command for each node.

Starting a rank: on CPU (Linux) each rank is a fork of the launching process, which imports
``daf_core.training`` (torch, PufferLib, mettagrid, cogames) once beforehand, so a rank starts in
milliseconds instead of paying seconds of imports; it then runs exactly what ``python -m
daf_core.training`` runs. On GPUs (CUDA must not be forked), or where fork is unsafe, each rank is a
fresh ``python -m daf_core.training`` process as before.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from daf_core._internal.fingerprints import fingerprint
from daf_core._internal.supervisor import WorkerFailed, WorkerSpec, fork_available, run_workers
from daf_core._internal.threads import SINGLE_THREAD_ENV
from daf_core.config import DAFConfig, DAFTrainingConfig, PPOConfig
from daf_core.environment_checks import daf_get_recommended_device, daf_plan_training_device
from daf_core.training.checkpoints import TrainingStatus, read_status
from daf_core.training.process_group import AUTO, check_worker_limit
from daf_core.training.result import DistributedTrainingResult

logger = logging.getLogger(__name__)

__all__ = [
    "DistributedTrainingResult",
    "TrainingCluster",
    "daf_aggregate_training_stats",
    "daf_create_training_cluster",
    "daf_get_recommended_device",
    "daf_get_training_status",
    "daf_launch_distributed_training",
]

AGGREGATIONS = ("mean", "sum", "min", "max")


@dataclass(frozen=True)
class TrainingCluster:
    """Where a data-parallel run's workers live and how they meet (torch.distributed env:// rendezvous)."""

    num_nodes: int
    workers_per_node: int
    backend: Literal["gloo", "nccl"]
    master_addr: str = "127.0.0.1"
    master_port: int = 29500

    @property
    def world_size(self) -> int:
        return self.num_nodes * self.workers_per_node

    def worker_env(self, node_rank: int, local_rank: int) -> dict[str, str]:
        """The variables torchrun would set for this worker."""
        return {
            "MASTER_ADDR": self.master_addr,
            "MASTER_PORT": str(self.master_port),
            "WORLD_SIZE": str(self.world_size),
            "RANK": str(node_rank * self.workers_per_node + local_rank),
            "LOCAL_RANK": str(local_rank),
            "LOCAL_WORLD_SIZE": str(self.workers_per_node),
            **SINGLE_THREAD_ENV,
        }

    def torchrun_command(self, node_rank: int, config_path: str | Path) -> list[str]:
        """What to run on node ``node_rank`` for a multi-node run of ``config_path``."""
        return [
            "torchrun",
            f"--nnodes={self.num_nodes}",
            f"--nproc-per-node={self.workers_per_node}",
            f"--node-rank={node_rank}",
            f"--master-addr={self.master_addr}",
            f"--master-port={self.master_port}",
            "-m",
            "daf_core.training",
            "--config",
            str(config_path),
        ]


def daf_create_training_cluster(
    num_nodes: int = 1,
    workers_per_node: int = 1,
    backend: str = "torch",
    master_addr: str = "127.0.0.1",
    master_port: int | None = None,
) -> TrainingCluster:
    """Describe the workers of a run. ``backend``: "gloo", "nccl", or "torch"/"auto" (NCCL with CUDA)."""
    import torch  # noqa: PLC0415

    if num_nodes < 1:
        raise ValueError(f"num_nodes: must be >= 1, got {num_nodes!r}")
    if workers_per_node < 1:
        raise ValueError(f"workers_per_node: must be >= 1, got {workers_per_node!r}")
    if backend in ("torch", "auto"):
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"backend: expected 'gloo', 'nccl', 'torch' or 'auto', got {backend!r}")
    if backend == "nccl" and torch.cuda.device_count() < workers_per_node:
        raise ValueError(
            f"backend: 'nccl' needs a GPU per worker; {workers_per_node} workers per node but "
            f"{torch.cuda.device_count()} CUDA device(s) here"
        )
    return TrainingCluster(num_nodes, workers_per_node, backend, master_addr, master_port or _free_port())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def daf_launch_distributed_training(
    env_cfg: Any = None,
    policy_class_path: str = "lstm",
    device: Any = "auto",
    num_steps: int = 300_000,
    *,
    missions: list[str] | None = None,
    num_workers: int | str = AUTO,
    hyperparameters: dict[str, Any] | None = None,
    seed: int = 0,
    checkpoint_interval: int = 10,
    vector_num_envs: int = 16,
    run_name: str | None = None,
    initial_weights_path: str | Path | None = None,
    daf_config: DAFConfig | None = None,
    training_config: DAFTrainingConfig | None = None,
    show_progress: bool = True,
) -> DistributedTrainingResult:
    """Train a policy with DAF's PPO trainer on one worker or several (data-parallel).

    Give missions by name (``missions=[...]``, rotated across environments) or a ``MettaGridConfig`` as
    ``env_cfg`` (saved as a mission file in the run). ``hyperparameters`` are PPO settings
    (:class:`daf_core.config.PPOConfig` fields); an unknown name is a ValueError before anything runs.
    Or pass a complete ``training_config``. Rerunning the same arguments resumes the run.

    ``num_workers``: data-parallel ranks; ``"auto"`` (the default here) is one per CPU core this process
    may use, or one per visible GPU when training on CUDA, at most ``DAFConfig.max_parallel_jobs``.
    """
    config = training_config or _config_from_arguments(
        env_cfg,
        policy_class_path,
        device,
        num_steps,
        missions,
        num_workers,
        hyperparameters,
        seed,
        checkpoint_interval,
        vector_num_envs,
        run_name,
        initial_weights_path,
        daf_config,
    )
    config = config.model_copy(update={"num_workers": resolve_num_workers(config, daf_config)})
    check_worker_limit(config.num_workers, (daf_config or DAFConfig()).max_parallel_jobs)
    if config.num_workers == 1:
        from daf_core.training import train  # noqa: PLC0415 - imports torch and PufferLib

        result = train(config, daf_config, show_progress=show_progress)
        return DistributedTrainingResult.from_reports(_read_worker_reports(result.run_dir, 1))
    devices = _worker_devices(config, daf_config)
    backend = config.backend if config.backend != "auto" else "nccl" if devices[0].type == "cuda" else "gloo"
    cluster = daf_create_training_cluster(1, config.num_workers, backend)
    return _launch_local_workers(config, daf_config, cluster, fork=_can_fork(devices))


def resolve_num_workers(config: DAFTrainingConfig, daf_config: DAFConfig | None) -> int:
    """``num_workers`` as a number: ``"auto"`` is one rank per usable CPU core, or per visible GPU when
    the run trains on CUDA (one for a named GPU), capped at ``DAFConfig.max_parallel_jobs``."""
    if config.num_workers != AUTO:
        return int(config.num_workers)
    limit = (daf_config or DAFConfig()).max_parallel_jobs
    device = daf_plan_training_device(config.device, daf_config, 0, 1)
    if device.type == "cuda":
        import torch  # noqa: PLC0415

        # One named GPU ("cuda:1") is one worker; "cuda"/"auto" use every visible GPU.
        available = 1 if ":" in str(config.device) else torch.cuda.device_count()
    else:
        available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(int(available or 1), limit))


def _can_fork(devices: list[Any]) -> bool:
    """Ranks may be forks of this process: CPU only (CUDA state does not survive a fork), on Linux, and
    with no process group of this process's own to inherit."""
    import torch  # noqa: PLC0415
    import torch.distributed as dist  # noqa: PLC0415

    if not _FORK_RANKS or not fork_available() or any(device.type != "cpu" for device in devices):
        return False
    return not torch.cuda.is_initialized() and not (dist.is_available() and dist.is_initialized())


#: Whether CPU ranks are forked from the launching process (False: each is a fresh interpreter).
_FORK_RANKS = os.environ.get("DAF_TRAINING_RANK_START", "fork") != "exec"


def _worker_devices(config: DAFTrainingConfig, daf_config: DAFConfig | None) -> list[Any]:
    """Each local worker's device, so that a device no worker can use is refused before any starts."""
    return [
        daf_plan_training_device(config.device, daf_config, rank, config.num_workers)
        for rank in range(config.num_workers)
    ]


def _config_from_arguments(
    env_cfg: Any,
    policy_class_path: str,
    device: Any,
    num_steps: int,
    missions: list[str] | None,
    num_workers: int | str,
    hyperparameters: dict[str, Any] | None,
    seed: int,
    checkpoint_interval: int,
    vector_num_envs: int,
    run_name: str | None,
    initial_weights_path: str | Path | None,
    daf_config: DAFConfig | None,
) -> DAFTrainingConfig:
    if (env_cfg is None) == (missions is None):
        raise ValueError("daf_launch_distributed_training: give exactly one of env_cfg or missions")
    ppo = PPOConfig(**(hyperparameters or {}))
    base = DAFConfig() if daf_config is None else daf_config
    if env_cfg is not None:
        from daf_core.missions import save_mission  # noqa: PLC0415

        digest = fingerprint(json.loads(env_cfg.model_dump_json()), length=10)
        mission_file = Path(base.output_dir) / "missions" / f"{env_cfg.label or 'mission'}-{digest}.yaml"
        missions = [str(save_mission(env_cfg, mission_file))]
    return DAFTrainingConfig(
        missions=missions,
        policy_class_path=policy_class_path,
        initial_weights_path=initial_weights_path,
        num_steps=num_steps,
        seed=seed,
        device=str(device),
        num_workers=num_workers,
        vector_num_envs=vector_num_envs,
        checkpoint_interval=checkpoint_interval,
        checkpoint_dir=base.checkpoint_dir,
        max_checkpoints_to_keep=base.max_checkpoints_to_keep,
        run_name=run_name,
        ppo=ppo,
    )


def _launch_local_workers(
    config: DAFTrainingConfig, daf_config: DAFConfig | None, cluster: TrainingCluster, *, fork: bool
) -> DistributedTrainingResult:
    """Start one process per worker (forks of this one, or fresh interpreters), watch them, and stop them
    all if one fails."""
    from daf_core.training import default_run_name  # noqa: PLC0415

    if fork:
        # What every rank imports, once, here: the module `python -m daf_core.training` runs, and what
        # torch's optimizer imports on first use (torch._dynamo, about a second).
        import torch._dynamo  # noqa: F401, PLC0415

        import daf_core.training.__main__  # noqa: F401, PLC0415

    config = config.model_copy(update={"run_name": config.run_name or default_run_name(config)})
    run_dir = Path(config.checkpoint_dir) / str(config.run_name)
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path = config.to_yaml(run_dir / "launch_config.yaml")
    daf_args = (
        ["--daf-config", str(daf_config.to_yaml(run_dir / "launch_daf_config.yaml"))] if daf_config else []
    )
    logs_dir = run_dir / "workers"
    arguments = ["--config", str(config_path), *daf_args]
    specs = [
        WorkerSpec(
            f"training worker rank {rank}",
            [sys.executable, "-m", "daf_core.training", *arguments],
            {**os.environ, **cluster.worker_env(0, rank)},
            logs_dir / f"rank{rank}.log",
            target=functools.partial(_forked_rank, arguments) if fork else None,
            pid_path=logs_dir / f"rank{rank}.pid",
        )
        for rank in range(cluster.world_size)
    ]
    try:
        run_workers(specs, stop_all_on_failure=True)
    except WorkerFailed as failed:
        raise RuntimeError(
            f"{failed.failed.name} exited with status {failed.failed.returncode}; all workers stopped. "
            f"Rerun to resume from the last checkpoint. Last lines of {failed.failed.log_path}:\n"
            + failed.failed.log_tail()
        ) from None
    return DistributedTrainingResult.from_reports(_read_worker_reports(run_dir, cluster.world_size))


def _forked_rank(arguments: list[str]) -> int:
    """A forked rank: ``python -m daf_core.training ARGUMENTS`` without starting a new interpreter."""
    from daf_core.training.__main__ import main  # noqa: PLC0415 - imported by the launcher before forking

    return main(arguments)


def _read_worker_reports(run_dir: Path, world_size: int) -> list[dict[str, Any]]:
    """Each rank's ``workers/rank<N>.json``, written at the end of its ``train()``."""
    paths = [run_dir / "workers" / f"rank{rank}.json" for rank in range(world_size)]
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        raise RuntimeError(f"training workers exited without their reports: {', '.join(missing)}")
    return [json.loads(path.read_text()) for path in paths]


def daf_aggregate_training_stats(
    worker_stats: list[dict[str, float]], aggregation_method: str = "mean"
) -> dict[str, float]:
    """Combine per-worker metrics key by key (keys missing on a worker are aggregated over the rest)."""
    import numpy as np  # noqa: PLC0415

    if aggregation_method not in AGGREGATIONS:
        raise ValueError(f"aggregation_method: expected one of {AGGREGATIONS}, got {aggregation_method!r}")
    if not worker_stats:
        raise ValueError("worker_stats: need at least one worker's stats")
    keys = sorted({key for stats in worker_stats for key in stats})
    combine = {"mean": np.mean, "sum": np.sum, "min": np.min, "max": np.max}[aggregation_method]
    result = {}
    for key in keys:
        values = [float(stats[key]) for stats in worker_stats if key in stats and stats[key] is not None]
        if values:
            result[key] = float(combine(values))
    return result


def daf_get_training_status(checkpoints_path: str | Path) -> dict[str, Any]:
    """Status of a run directory, or of the most recently written run under a checkpoint directory."""
    path = Path(checkpoints_path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoints_path not found: {path}")
    if not (path / "trainer_state.pt").exists() and not (path / "config.yaml").exists():
        runs = [p for p in path.iterdir() if p.is_dir() and (p / "config.yaml").exists()]
        if not runs:
            raise FileNotFoundError(f"checkpoints_path: no training run under {path}")
        path = max(runs, key=lambda p: p.stat().st_mtime)
    status: TrainingStatus = read_status(path)
    return status.to_dict()
