"""``DAFSweepConfig``: a hyperparameter sweep (missions, policy, search space, strategy, budget, storage)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BeforeValidator, Field, field_validator, model_validator

from daf_core.config.base import ConfigPath, DAFConfigBase, NonEmptyStr, PositiveInt, reject_bool
from daf_core.config.search_space import parse_search_space


class DAFSweepConfig(DAFConfigBase):
    """A hyperparameter sweep: which missions, which policy, which parameters, how to search them.

    ``search_space`` maps a parameter name to a list of choices, a range mapping such as
    ``{low: 1e-4, high: 3e-3, log: true}`` (``int: true`` for integers) or a fixed value; its structure
    is checked here (by :func:`daf_core.config.search_space.parse_search_space`), where each name goes
    (trainer, mission or policy) when the sweep is launched. ``base_hyperparameters`` are fixed values
    routed the same way. ``storage`` is an Optuna database URL; None keeps the study in
    ``<output_dir>/<name>/study.db`` (SQLite), a PostgreSQL URL lets workers on several machines share it.
    ``heartbeat_interval_s``, ``heartbeat_grace_period_s`` and ``max_retries`` say how dead workers are
    found and their trials retried (see :mod:`daf_core.sweeps.liveness`); they may change between runs
    of the same sweep.
    """

    name: NonEmptyStr
    missions: Annotated[list[NonEmptyStr], Field(min_length=1)]
    policy_class_path: NonEmptyStr = "lstm"
    search_space: dict[str, Any]
    strategy: Literal["grid", "random", "bayesian"] = "random"
    num_trials: PositiveInt = 10
    episodes_per_trial: PositiveInt = 5
    objective_metric: NonEmptyStr = "mean_reward"
    optimize_direction: Literal["maximize", "minimize"] = "maximize"
    seed: Annotated[int, BeforeValidator(reject_bool)] = 42
    max_parallel_jobs: PositiveInt = 1
    output_dir: ConfigPath = Path("./daf_output/sweeps")
    #: Agent steps each trial trains (per training seed).
    training_steps: PositiveInt = 8192
    #: Each trial trains once per seed; the objective is the mean over seeds.
    training_seeds: Annotated[list[Annotated[int, BeforeValidator(reject_bool)]], Field(min_length=1)] = [0]
    #: First evaluation episode seed; training maps come from seeds >= 1e9, so they never overlap.
    evaluation_seed: Annotated[int, BeforeValidator(reject_bool), Field(ge=0)] = 1000
    vector_num_envs: PositiveInt = 16
    device: NonEmptyStr = "cpu"
    #: Fixed values for every trial, routed like search-space names (e.g. ``{"mission.max_steps": 50}``).
    base_hyperparameters: dict[str, Any] = Field(default_factory=dict)
    storage: NonEmptyStr | None = None
    #: Successive halving: each trial trains in ``early_stopping_chunks`` chunks, is evaluated after each,
    #: and stops early when it is not in the best 1/``early_stopping_reduction_factor`` at a rung.
    early_stopping: bool = False
    early_stopping_chunks: Annotated[int, BeforeValidator(reject_bool), Field(ge=2)] = 4
    early_stopping_reduction_factor: Annotated[int, BeforeValidator(reject_bool), Field(ge=2)] = 3
    #: Seconds between a running trial's heartbeats in the storage. Each beat also looks for other
    #: workers' dead trials, so a busy worker notices a dead one within this interval, mid-trial.
    heartbeat_interval_s: PositiveInt = 10
    #: A running trial with no heartbeat for this long belongs to a dead worker (on any machine) and is
    #: failed and retried; a dead worker on the same machine is noticed at once (its process is gone).
    heartbeat_grace_period_s: PositiveInt = 60
    #: How many times a trial whose worker died is retried before it is left failed (0: never retried).
    max_retries: Annotated[int, BeforeValidator(reject_bool), Field(ge=0)] = 3
    #: Once the sweep is finished, its k best trials are evaluated again on fresh seeds and each one's
    #: shrinkage (sweep estimate - fresh estimate, with its interval) is reported: the winner's curse,
    #: measured (:mod:`daf_core.sweeps.reevaluation`). 0: off. May change between runs of the same sweep.
    reevaluate_top_k: Annotated[int, BeforeValidator(reject_bool), Field(ge=0)] = 0
    #: Fresh episodes per mission and training seed of each re-evaluated trial (None: episodes_per_trial),
    #: seeds ``evaluation_seed + episodes_per_trial`` onwards, never scored or trained on.
    reevaluate_episodes: Annotated[int, BeforeValidator(reject_bool), Field(ge=2)] | None = None

    @field_validator("search_space")
    @classmethod
    def _valid_search_space(cls, space: dict[str, Any]) -> dict[str, Any]:
        """A malformed range would otherwise only fail when the sweep samples it."""
        parse_search_space(space)
        return space

    @field_validator("training_seeds")
    @classmethod
    def _distinct_seeds(cls, seeds: list[int]) -> list[int]:
        """A repeated seed would train and count the same run twice."""
        duplicates = sorted(seed for seed, times in Counter(seeds).items() if times > 1)
        if duplicates:
            raise ValueError(f"seed {duplicates[0]} is listed more than once")
        return seeds

    @field_validator("storage")
    @classmethod
    def _database_url(cls, url: str | None) -> str | None:
        """A bare path is a common slip for an SQLite URL; say what Optuna expects."""
        if url is not None and "://" not in url:
            raise ValueError(
                "expected a database URL such as 'sqlite:////abs/path/study.db' or "
                "'postgresql://user@host:5432/db'"
            )
        return url

    @model_validator(mode="after")
    def _grace_outlasts_heartbeat(self) -> Self:
        """A grace period within one heartbeat interval would take live workers' trials for dead."""
        if self.heartbeat_grace_period_s <= self.heartbeat_interval_s:
            raise ValueError(
                f"heartbeat_grace_period_s: {self.heartbeat_grace_period_s} must be longer than "
                f"heartbeat_interval_s ({self.heartbeat_interval_s}), or live trials are retried as dead"
            )
        return self

    @model_validator(mode="after")
    def _reevaluation_has_two_seeds(self) -> Self:
        """An interval needs two fresh seeds; by default there are as many as the sweep's."""
        if self.reevaluate_top_k and self.reevaluate_episodes is None and self.episodes_per_trial < 2:
            raise ValueError(
                f"reevaluate_episodes: the default (episodes_per_trial: {self.episodes_per_trial}) gives one "
                "fresh seed; an interval needs at least 2, give reevaluate_episodes"
            )
        return self

    @model_validator(mode="after")
    def _fixed_values_are_not_swept(self) -> Self:
        """A name both swept and fixed has no single meaning."""
        both = sorted(set(self.search_space) & set(self.base_hyperparameters))
        if both:
            raise ValueError(
                f"base_hyperparameters: {both[0]!r} is also in search_space; give it in one place only"
            )
        return self
