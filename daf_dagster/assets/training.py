"""``training_checkpoints``: one DAF training run per partition (the key is the run name), and the helper
every asset that trains goes through (:func:`train_checkpoint`).

A partition's run lives in ``<checkpoint root>/<run name>``; materializing it again resumes the run
from its last checkpoint (DAF runs resume by name), so raising ``num_steps`` trains on instead of
starting over. The check ``training_finite`` reads the run's ``metrics.jsonl``: every reward and loss
an epoch recorded must be finite. It is computed in the training step (any asset declaring
:func:`training_finite_spec` gets it from :func:`train_checkpoint`), so it always judges the partition
just trained.

The asset is in the ``gpu`` concurrency pool (:data:`GPU_POOL`): the instance's pool limit
(``dagster.yaml``) is how many training steps run at once, on any executor. ``gpu_training_job``
(``daf_dagster.gpu``) runs it on GPU workers; its metadata records the device, the GPUs the step saw,
the executor and the throughput, so a run that trained on CPU says so.
"""

import json
import math
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from daf_core.config import DAFTrainingConfig
from daf_dagster.metadata import png_markdown, provenance
from daf_dagster.partitions import TRAINING_RUNS
from daf_dagster.resources import DAFResource

#: Bump when what the asset computes changes (Dagster then marks materializations as stale).
CODE_VERSION = "1"
METRICS_FILE = "metrics.jsonl"  # daf_core.training.checkpoints.METRICS, without importing torch
TRAINING_FINITE = "training_finite"
REWARD_PREFIX = "env/per_label_rewards/"
LOSS_PREFIX = "losses/"
#: The concurrency pool of GPU work; its limit is the instance's (``concurrency: pools:`` in dagster.yaml).
GPU_POOL = "gpu"
#: The name of ``daf_dagster.gpu``'s configured Docker executor: steps under it must see their GPUs.
GPU_EXECUTOR_NAME = "daf_gpu_docker"
#: ``num_workers`` meaning one data-parallel worker per GPU the step sees (one where it sees none).
PER_GPU = 0


class TrainingConfig(dg.Config):
    """The user-facing fields of :class:`DAFTrainingConfig`; the defaults train ``lstm`` on ``collect``
    in well under a minute on a CPU core. The run name is the partition key."""

    missions: list[str] = Field(default=["collect"], description="Mission names or mission files.")
    policy_class_path: str = Field(default="lstm", description="A trainable policy: shorthand or class.")
    num_steps: int = Field(
        default=32_768, description="Agent steps in all (whole epochs), those of earlier runs included."
    )
    seed: int = 0
    device: str = Field(default="auto", description='"auto" (CUDA, then MPS, then CPU), "cpu", "cuda:N".')
    num_workers: int = Field(
        default=1,
        ge=0,
        description="Data-parallel worker processes (torch.distributed); 0: one per GPU the step sees "
        "(NCCL on CUDA), one where it sees none.",
    )
    vector_num_envs: int = Field(default=16, description="Environments per worker.")
    vector_backend: str = Field(
        default="serial",
        description='"serial" (one process steps every environment) or "multiprocessing" '
        "(vector_num_workers PufferLib processes per worker; pays only with spare cores).",
    )
    vector_num_workers: int = Field(
        default=1,
        description="Environment processes per worker (multiprocessing only; divides vector_num_envs).",
    )
    checkpoint_interval: int = Field(default=10, description="Epochs between checkpoints.")
    ppo: dict[str, Any] = Field(
        default={}, description="PPO settings to change (PPOConfig field names), e.g. {learning_rate: 0.001}."
    )

    def to_training_config(self, run_name: str, daf: DAFResource) -> DAFTrainingConfig:
        """The DAFTrainingConfig of run ``run_name`` under ``daf``'s checkpoint root; a bad value raises
        ValueError naming the field. ``num_workers=0`` (:data:`PER_GPU`) is resolved here (it asks torch)."""
        fields = self.model_dump()
        if fields["num_workers"] == PER_GPU:
            fields["num_workers"] = max(1, visible_gpus()[0])
        return DAFTrainingConfig(**fields, run_name=run_name, checkpoint_dir=daf.checkpoint_dir())


def visible_gpus() -> tuple[int, list[str]]:
    """How many CUDA devices this process sees, and their names; (0, []) on a CPU build or machine.
    Neither call initialises CUDA, so worker processes started after it still can."""
    import torch  # noqa: PLC0415 - only in a step

    if not (torch.backends.cuda.is_built() and torch.cuda.is_available()):
        return 0, []
    count = torch.cuda.device_count()
    return count, [torch.cuda.get_device_name(i) for i in range(count)]


def hardware_summary(device: str, gpu_count: int, gpu_names: list[str], executor: str) -> str:
    """One line for the UI: what the step trained on and under which executor."""
    if gpu_count == 0:
        return f"{device}: no GPU visible to the step ({executor} executor)"
    return f"{device}: {gpu_count} GPU(s) visible ({', '.join(gpu_names)}; {executor} executor)"


def train_checkpoint(
    context: dg.AssetExecutionContext, daf: DAFResource, training: DAFTrainingConfig
) -> dg.MaterializeResult:
    """Train (or resume) ``training`` with ``daf``'s DAFConfig; metadata: steps, SPS, device, the final
    episode reward per mission, checkpoint and run paths, the training curves, provenance. When the
    asset declares the ``training_finite`` check (:func:`training_finite_spec`), its result comes too.

    A config that does not set ``checkpoint_dir`` trains under ``daf``'s checkpoint root (never a path
    relative to the working directory).
    """
    from daf_core.distributed_training import daf_launch_distributed_training  # noqa: PLC0415 - torch
    from daf_core.environment_checks import daf_plan_training_device  # noqa: PLC0415
    from daf_core.visualization import daf_plot_training_curves  # noqa: PLC0415 - matplotlib

    daf_config = daf.daf_config()
    if "checkpoint_dir" not in training.model_fields_set:
        training = training.model_copy(update={"checkpoint_dir": daf.checkpoint_dir()})
    device = daf_plan_training_device(training.device, daf_config, 0, training.num_workers)
    context.log.info(
        f"training {training.policy_class_path} on {'+'.join(training.missions)} for {training.num_steps} "
        f"agent steps on {device} ({training.num_workers} worker(s)) into {training.checkpoint_dir}"
    )
    gpu_count, gpu_names = visible_gpus()
    executor = context.job_def.executor_def.name
    hardware = hardware_summary(str(device), gpu_count, gpu_names, executor)
    context.log.info(hardware)
    result = daf_launch_distributed_training(
        training_config=training, daf_config=daf_config, show_progress=False
    )
    run_dir = Path(result.run_dir)
    rows = read_metrics(run_dir)
    plots = daf_plot_training_curves(run_dir, daf.output_path("training", run_dir.name, "plots"))
    curve = next(path for path in plots if path.name == "episode_reward.png")
    rewards = final_rewards(rows)
    context.log.info(
        f"{run_dir.name}: {result.training_steps} agent steps ({result.resumed_from_step} before this run), "
        f"{result.training_rate():.0f} SPS; final episode reward {rewards}"
    )
    checks = [
        finite_check_result(rows, key.asset_key)
        for key in context.selected_asset_check_keys
        if key.name == TRAINING_FINITE
    ]
    return dg.MaterializeResult(
        check_results=checks,
        metadata={
            "steps": result.training_steps,
            "resumed_from_step": result.resumed_from_step,
            "epochs": result.epochs,
            "sps": float(result.training_rate()),
            "wall_time_s": float(result.wall_time_seconds),
            "device": str(device),
            "gpu_count": gpu_count,
            "gpu_names": dg.MetadataValue.json(gpu_names),
            "executor": executor,
            "hardware": hardware,
            "num_workers": result.num_workers,
            **{f"final_episode_reward/{mission}": value for mission, value in rewards.items()},
            "checkpoint": dg.MetadataValue.path(str(result.final_checkpoint)),
            "run_dir": dg.MetadataValue.path(str(run_dir)),
            "training_curve": dg.MetadataValue.path(str(curve)),
            "training_curve_plot": png_markdown(curve, f"episode reward of {run_dir.name}"),
            # The config as it ran (its name, the minibatch actually used), as the run recorded it.
            **provenance(DAFTrainingConfig.from_yaml(run_dir / "config.yaml")),
        },
    )


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The run's metrics rows (one per epoch); a missing file is a FileNotFoundError naming it."""
    path = run_dir / METRICS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the training run has no metrics (has an epoch finished?)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def final_rewards(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Mission -> the episode reward (mean over agents) of the last epoch in which an episode ended there."""
    rewards: dict[str, float] = {}
    for row in rows:
        for key, value in row.items():
            if key.startswith(REWARD_PREFIX) and value is not None:
                rewards[key.removeprefix(REWARD_PREFIX)] = float(value)
    return rewards


def metrics_problems(rows: list[dict[str, Any]]) -> list[str]:
    """Where a reward or a loss is not finite (the trainer writes a non-finite value as null)."""
    problems = []
    for row in rows:
        bad = [
            key
            for key, value in row.items()
            if key.startswith((REWARD_PREFIX, LOSS_PREFIX))
            and (value is None or not math.isfinite(float(value)))
        ]
        if bad:
            problems.append(f"epoch {row.get('epoch')}: {', '.join(sorted(bad))}")
    if rows and not final_rewards(rows):
        problems.append("no episode finished: no reward recorded")
    return problems


def training_finite_spec(asset: str) -> dg.AssetCheckSpec:
    """The ``training_finite`` check of an asset whose body calls :func:`train_checkpoint`."""
    return dg.AssetCheckSpec(
        TRAINING_FINITE, asset=asset, description="Every reward and loss the run recorded is finite."
    )


def finite_check_result(rows: list[dict[str, Any]], asset_key: dg.AssetKey) -> dg.AssetCheckResult:
    problems = metrics_problems(rows)
    return dg.AssetCheckResult(
        check_name=TRAINING_FINITE,
        asset_key=asset_key,
        passed=not problems,
        metadata={"epochs_checked": len(rows), "problems": dg.MetadataValue.json(problems)},
        description="; ".join(problems[:5]) or f"{len(rows)} epochs, every reward and loss finite",
    )


@dg.asset(
    partitions_def=TRAINING_RUNS,
    check_specs=[training_finite_spec("training_checkpoints")],
    pool=GPU_POOL,
    group_name="training",
    kinds={"pytorch"},
    code_version=CODE_VERSION,
)
def training_checkpoints(
    context: dg.AssetExecutionContext, config: TrainingConfig, daf: DAFResource
) -> dg.MaterializeResult:
    """A DAF training run named by the partition key: trained, or resumed when it exists.

    Under the GPU Docker executor a step that sees fewer GPUs than it asked for (``$DAF_GPU_COUNT``: no
    NVIDIA runtime, a CPU image) fails instead of training slowly on CPU.
    """
    if context.job_def.executor_def.name == GPU_EXECUTOR_NAME:
        from daf_dagster.gpu import GpuSettings  # noqa: PLC0415 - daf_dagster.gpu imports this module

        expected, (seen, names) = GpuSettings.from_env().gpu_count, visible_gpus()
        if seen < expected:
            raise dg.Failure(
                f"the GPU executor asked for {expected} GPU(s) ($DAF_GPU_COUNT) but the step sees {seen} "
                f"{names}: is the NVIDIA container runtime installed, and is the image a CUDA build?"
            )
    run_name = context.partition_key
    training = config.to_training_config(run_name, daf)
    # A key typed into `dagster job execute --tags` or the launchpad may be new: register it (idempotent).
    context.instance.add_dynamic_partitions(TRAINING_RUNS.name, [run_name])
    return train_checkpoint(context, daf, training)


ASSETS = [training_checkpoints]
#: The checks (training_finite) are computed in the asset's own step, declared by its check_specs.
ASSET_CHECKS: list[dg.AssetChecksDefinition] = []
