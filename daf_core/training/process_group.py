"""Where this process sits in a data-parallel run, and the ``torch.distributed`` plumbing around it.

An ``env://`` rendezvous (MASTER_ADDR/MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK) as torchrun and DAF's
launcher set it; gloo on CPU, NCCL on GPU; DDP around the network with the attributes PuffeRL reads.
"""

from __future__ import annotations

import datetime
import logging
import os
import threading
from dataclasses import dataclass

import torch
import torch.distributed as dist

logger = logging.getLogger(__name__)


DISTRIBUTED_TIMEOUT = datetime.timedelta(minutes=5)

#: ``num_workers: auto``: as many workers as were started (or, in the launcher, as there are cores/GPUs).
AUTO = "auto"


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


def check_worker_limit(num_workers: int | str, max_parallel_jobs: int) -> None:
    """A run of more workers than ``DAFConfig.max_parallel_jobs`` is refused before anything starts
    (``auto``: the processes this one was started among)."""
    if num_workers == AUTO:
        num_workers = WorkerContext.from_env().world_size
    if int(num_workers) > max_parallel_jobs:
        raise ValueError(
            f"num_workers: {num_workers} exceeds DAFConfig.max_parallel_jobs={max_parallel_jobs}; "
            "train with fewer workers or raise max_parallel_jobs"
        )


def check_world_size(num_workers: int | str, context: WorkerContext) -> None:
    """``num_workers`` must be the number of processes this one was started among (torchrun's WORLD_SIZE).

    Otherwise ``num_workers=2`` in a plain ``python`` process would silently train as one worker.
    ``auto`` is whatever was started.
    """
    if num_workers == AUTO or num_workers == context.world_size:
        return
    started_as = os.environ.get("WORLD_SIZE", "unset, so 1")
    raise ValueError(
        f"num_workers: {num_workers}, but this process was started as one of {context.world_size} "
        f"(WORLD_SIZE={started_as}). Launch {num_workers} workers with "
        f"daf_launch_distributed_training(..., num_workers={num_workers}) or `torchrun --nproc-per-node "
        f"{num_workers} -m daf_core.training --config run.yaml`, or set num_workers: {context.world_size}"
    )


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


def stop_requested(requested: threading.Event) -> bool:
    """In a data-parallel run every rank must stop at the same epoch, so the flag is all-reduced."""
    if not dist.is_initialized():
        return requested.is_set()
    flag = torch.tensor([1.0 if requested.is_set() else 0.0])
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item() > 0)


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()
