"""``PPOConfig`` and ``DAFTrainingConfig``: one training run, with every PPO setting in one place."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BeforeValidator, Field, model_validator

from daf_core.config.base import ConfigPath, CountOrAuto, DAFConfigBase, NonEmptyStr, PositiveInt, reject_bool
from daf_core.config.global_config import DEFAULT_OUTPUT_DIR


class PPOConfig(DAFConfigBase):
    """Every PPO setting PufferLib's trainer reads, in one place (CleanRL style).

    The defaults are exactly what ``cogames.train.train`` hard-codes, so DAF's trainer with defaults does
    the same work as cogames; a sweep changes these and they really reach ``pufferl.PuffeRL``.
    """

    learning_rate: Annotated[float, BeforeValidator(reject_bool), Field(ge=0.0)] = 0.00092
    gamma: Annotated[float, BeforeValidator(reject_bool), Field(ge=0.0, le=1.0)] = 0.995
    gae_lambda: Annotated[float, BeforeValidator(reject_bool), Field(ge=0.0, le=1.0)] = 0.90
    update_epochs: PositiveInt = 1
    clip_coef: Annotated[float, BeforeValidator(reject_bool), Field(gt=0.0)] = 0.2
    vf_coef: Annotated[float, BeforeValidator(reject_bool), Field(ge=0.0)] = 2.0
    vf_clip_coef: Annotated[float, BeforeValidator(reject_bool), Field(gt=0.0)] = 0.2
    max_grad_norm: Annotated[float, BeforeValidator(reject_bool), Field(gt=0.0)] = 1.5
    ent_coef: Annotated[float, BeforeValidator(reject_bool), Field(ge=0.0)] = 0.01
    adam_beta1: Annotated[float, BeforeValidator(reject_bool), Field(ge=0.0, lt=1.0)] = 0.95
    adam_beta2: Annotated[float, BeforeValidator(reject_bool), Field(ge=0.0, lt=1.0)] = 0.999
    adam_eps: Annotated[float, BeforeValidator(reject_bool), Field(gt=0.0)] = 1e-8
    minibatch_size: PositiveInt = 4096
    #: Steps per training segment; None: 64 for recurrent policies, 1 otherwise (cogames' rule).
    bptt_horizon: PositiveInt | None = None
    anneal_lr: bool = True
    vtrace_rho_clip: Annotated[float, BeforeValidator(reject_bool), Field(gt=0.0)] = 1.0
    vtrace_c_clip: Annotated[float, BeforeValidator(reject_bool), Field(gt=0.0)] = 1.0
    prio_alpha: Annotated[float, BeforeValidator(reject_bool), Field(ge=0.0)] = 0.8
    prio_beta0: Annotated[float, BeforeValidator(reject_bool), Field(ge=0.0, le=1.0)] = 0.2
    max_minibatch_size: PositiveInt = 32768


class DAFTrainingConfig(DAFConfigBase):
    """One training run: what to train, on which missions, for how long, and where it is written.

    ``run_name`` names the run's checkpoint directory; rerunning the same config finds it and resumes.
    """

    missions: Annotated[list[NonEmptyStr], Field(min_length=1)] = ["explore"]
    policy_class_path: NonEmptyStr = "lstm"
    #: Constructor arguments of the policy class (mettagrid's ``PolicySpec.init_kwargs``).
    policy_init_kwargs: dict[str, Any] = Field(default_factory=dict)
    initial_weights_path: ConfigPath | None = None
    num_steps: PositiveInt = 300_000
    #: Agent steps the cosine learning-rate schedule spans; None: ``num_steps``. Set it when a run is
    #: trained in chunks (resumed with growing ``num_steps``) so every chunk follows one schedule.
    lr_schedule_steps: PositiveInt | None = None
    seed: int = 0
    device: NonEmptyStr = "auto"
    #: Data-parallel processes (torch.distributed); 1 trains in this process. "auto": as many as were
    #: started (torchrun's WORLD_SIZE); daf_launch_distributed_training starts one per CPU core (per GPU
    #: on CUDA), at most DAFConfig.max_parallel_jobs.
    num_workers: CountOrAuto = 1
    backend: Literal["auto", "gloo", "nccl"] = "auto"
    #: Environments each training process steps (``num_agents`` agents each).
    vector_num_envs: PositiveInt = 16
    #: How the environments are stepped: "serial" in the training process (as cogames' trainer on
    #: CPU), "multiprocessing" by ``vector_num_workers`` processes (PufferLib's backend). Environment
    #: ``i`` has the same maps, mission and seeds either way.
    vector_backend: Literal["serial", "multiprocessing"] = "serial"
    #: Environment worker processes per training process ("multiprocessing" only); must divide
    #: ``vector_num_envs``. It pays with spare cores; PufferLib's workers busy-wait, so more workers
    #: than free cores is slower than "serial".
    vector_num_workers: PositiveInt = 1
    checkpoint_interval: PositiveInt = 10
    max_checkpoints_to_keep: PositiveInt = 5
    checkpoint_dir: ConfigPath = DEFAULT_OUTPUT_DIR / "checkpoints"
    run_name: NonEmptyStr | None = None
    ppo: PPOConfig = Field(default_factory=PPOConfig)

    @model_validator(mode="after")
    def _vector_workers_fit(self) -> Self:
        """Worker processes exist only with "multiprocessing", and each steps the same number of envs."""
        if self.vector_backend == "serial" and self.vector_num_workers != 1:
            raise ValueError(
                f"vector_num_workers: {self.vector_num_workers} needs vector_backend='multiprocessing' "
                "(vector_backend='serial' steps every environment in the training process)"
            )
        if self.vector_num_envs % self.vector_num_workers:
            raise ValueError(
                f"vector_num_workers: {self.vector_num_workers} does not divide vector_num_envs "
                f"({self.vector_num_envs}); each worker steps the same number of environments"
            )
        return self
