"""GPU training: the ``gpu`` concurrency pool, the executor that puts training steps on GPU workers, and
``gpu_training_job``.

Dagster picks one executor per run, so the GPU job carries its own, chosen by the deployment
(``$DAF_DEPLOYMENT``, as for the resources):

- ``docker``: dagster-docker's ``docker_executor``: every step in its own container of ``$DAF_GPU_IMAGE``
  (default ``daf-gpu:latest``) with a device request for ``$DAF_GPU_COUNT`` NVIDIA GPUs (default 1). The
  network, environment and volumes come from the instance's ``DockerRunLauncher`` (docker/dagster.yaml):
  dagster-docker merges the launcher's container settings into each step container's, so they are
  written once. The image of the code location's gRPC server (``DAGSTER_CURRENT_IMAGE``) wins over
  ``$DAF_GPU_IMAGE`` when set: docker-compose gives the GPU location the same image.
- ``local`` (these machines: no Docker engine, no GPU): the in-process executor; training runs on what the
  step finds (CPU here), and the run's tags and the asset's metadata say so.

The job's training defaults to one data-parallel worker per GPU the step sees (``num_workers:
0``): ``daf_launch_distributed_training`` starts them with NCCL on CUDA (one worker, on CPU, where
there is no GPU). A step under the Docker executor that sees fewer GPUs than ``$DAF_GPU_COUNT`` fails.

GPU work is serialised by the ``gpu`` pool (``daf_dagster.assets.training.GPU_POOL``) of
``training_checkpoints``; ``dagster.yaml`` and ``docker/dagster.yaml`` set its limit (``concurrency:
pools: default_limit``).
"""

import os
from dataclasses import dataclass
from typing import Any

import dagster as dg

from daf_dagster.assets.training import GPU_EXECUTOR_NAME, PER_GPU, training_checkpoints
from daf_dagster.resources import DEPLOYMENT_ENV, DEPLOYMENTS

GPU_IMAGE_ENV = "DAF_GPU_IMAGE"
GPU_COUNT_ENV = "DAF_GPU_COUNT"
DEFAULT_GPU_IMAGE = "daf-gpu:latest"
DEFAULT_GPU_COUNT = 1
#: Run tags saying where a GPU job's runs train (shown in the UI's run list).
EXECUTOR_TAG = "daf/executor"
GPU_COUNT_TAG = "daf/gpu_count"
GPU_JOB_NAME = "gpu_training_job"
DEFAULT_TRAINING_RUN = "collect_lstm"


@dataclass(frozen=True)
class GpuSettings:
    """Where GPU training runs: the deployment, the GPU image and how many GPUs each step gets."""

    deployment: str
    image: str
    gpu_count: int

    @classmethod
    def from_env(cls, deployment: str | None = None) -> "GpuSettings":
        """From ``$DAF_DEPLOYMENT`` (or ``deployment``), ``$DAF_GPU_IMAGE`` and ``$DAF_GPU_COUNT``; a bad
        value is a ValueError naming the variable."""
        name = deployment or os.environ.get(DEPLOYMENT_ENV) or "local"
        if name not in DEPLOYMENTS:
            raise ValueError(f"{DEPLOYMENT_ENV}: expected one of {', '.join(DEPLOYMENTS)}, got {name!r}")
        image = os.environ.get(GPU_IMAGE_ENV) or DEFAULT_GPU_IMAGE
        raw = os.environ.get(GPU_COUNT_ENV) or str(DEFAULT_GPU_COUNT)
        try:
            count = int(raw)
        except ValueError:
            raise ValueError(f"{GPU_COUNT_ENV}: expected a positive integer, got {raw!r}") from None
        if count < 1:
            raise ValueError(f"{GPU_COUNT_ENV}: expected a positive integer, got {raw!r}")
        return cls(deployment=name, image=image, gpu_count=count)

    @property
    def executor_name(self) -> str:
        return "docker" if self.deployment == "docker" else "in_process"


def device_requests(gpu_count: int) -> list[dict[str, Any]]:
    """Docker's request for ``gpu_count`` NVIDIA GPUs, as ``docker.types.DeviceRequest`` keyword arguments
    (what ``docker run --gpus N`` sends)."""
    return [{"driver": "nvidia", "count": gpu_count, "capabilities": [["gpu"]]}]


def docker_executor_config(settings: GpuSettings) -> dict[str, Any]:
    """The ``docker_executor`` config of GPU steps: the image and the device request. Network, env vars
    and volumes are the run launcher's (docker/dagster.yaml), merged in by dagster-docker."""
    return {
        "image": settings.image,
        "container_kwargs": {"device_requests": device_requests(settings.gpu_count)},
    }


def gpu_executor(settings: GpuSettings) -> dg.ExecutorDefinition:
    """The executor of GPU runs: dagster-docker's, configured for GPU containers, under ``docker``; the
    in-process executor (training on whatever the process has) under ``local``. dagster-docker is only
    imported for ``docker``, so loading the local definitions stays light."""
    if settings.deployment != "docker":
        return dg.in_process_executor
    from dagster_docker import docker_executor  # noqa: PLC0415 - only the docker deployment uses it

    return docker_executor.configured(docker_executor_config(settings), name=GPU_EXECUTOR_NAME)


def gpu_training_job(settings: GpuSettings):
    """``training_checkpoints`` on the GPU executor, one training worker per visible GPU by default
    (the job's config; a run config given in full replaces it, as configs/dagster/gpu_training_job.yaml
    does with the same value)."""
    where = (
        f"{settings.gpu_count} GPU(s) per step in {settings.image} containers"
        if settings.deployment == "docker"
        else "in process, on this machine's device (CPU where no GPU is visible)"
    )
    return dg.define_asset_job(
        GPU_JOB_NAME,
        selection=[training_checkpoints],
        executor_def=gpu_executor(settings),
        config={"ops": {training_checkpoints.op.name: {"config": {"num_workers": PER_GPU}}}},
        tags={
            "dagster/partition": DEFAULT_TRAINING_RUN,
            EXECUTOR_TAG: settings.executor_name,
            GPU_COUNT_TAG: str(settings.gpu_count if settings.deployment == "docker" else 0),
        },
        description=f"Train (or resume) the partition's training run on the GPU executor: {where}.",
    )
