"""``PPOConfig`` and ``DAFTrainingConfig``: one training run, with every PPO setting in one place."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from daf_core.config.base import ConfigPath, DAFConfigBase, NonEmptyStr, PositiveInt, reject_bool
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
    #: Data-parallel processes (torch.distributed); 1 trains in this process.
    num_workers: PositiveInt = 1
    backend: Literal["auto", "gloo", "nccl"] = "auto"
    vector_num_envs: PositiveInt = 16
    checkpoint_interval: PositiveInt = 10
    max_checkpoints_to_keep: PositiveInt = 5
    checkpoint_dir: ConfigPath = DEFAULT_OUTPUT_DIR / "checkpoints"
    run_name: NonEmptyStr | None = None
    ppo: PPOConfig = Field(default_factory=PPOConfig)
