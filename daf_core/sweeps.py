"""Hyperparameter sweeps: search spaces, where each parameter goes, trials, and Optuna studies that resume.

A sweep is one Optuna study driven through its ask/tell interface, whatever the strategy: ``grid`` uses
``GridSampler``, ``random`` ``RandomSampler`` and ``bayesian`` ``TPESampler``. Optuna does the searching;
this module decides what a trial *is* (train with DAF's trainer, then measure with DAF's evaluation
engine) and keeps the study honest when workers die:

* **Routing.** Every search-space name is sent where it belongs before any trial runs: PPO settings to
  :class:`~daf_core.config.PPOConfig`, a few run settings (``num_steps``, ``vector_num_envs``...) to the
  trainer, mission parameters (``max_steps``, ``walls``...) to :func:`~daf_core.missions.load_mission`,
  policy constructor arguments to the policy's ``init_kwargs``. A plain name is looked up in each place;
  ``ppo.X``, ``trainer.X``, ``mission.X`` and ``policy.X`` say where explicitly. A name that fits nowhere
  (or in two places) is a ``ValueError`` listing what each place accepts: a typo must not cost a sweep.
* **Persistence.** The study lives in an Optuna RDB storage: ``<output_dir>/<name>/study.db`` (SQLite)
  unless ``storage`` names a database, e.g. PostgreSQL, which workers on several machines can share.
  Re-running a sweep continues its study: finished trials are never run again; a trial whose worker died
  (SIGKILL, OOM, a lost machine) is failed and re-queued with the same parameters by Optuna's own
  ``RetryHeartbeatStaleTrialCallback``. A dead worker is noticed at once on the same machine (its process
  is gone) and after :data:`GRACE_PERIOD_S` without a heartbeat elsewhere. A retried trial trains in
  the directory of the trial it replaces, so it resumes that trial's checkpoint.
* **Workers.** ``max_parallel_jobs`` worker processes (``python -m daf_core.sweeps --config ... --worker``,
  one thread each) loop ask -> train -> evaluate -> tell until the study holds ``num_trials`` finished
  trials; with one job the loop runs in the calling process. Workers coordinate only through the
  storage, so the same command started on several machines shares one PostgreSQL study. Two workers can
  ask in the same instant; the trial numbers the storage hands out decide who keeps a slot (and, for a
  grid, a grid point), and the later trial is discarded (told FAIL, marked ``daf_discarded``, left out of
  every result), so no parameter set runs twice and no more than ``num_trials`` trials count.
* **Failures.** A trial that raises is recorded (FAIL, its error in the results) and the sweep goes on;
  such a trial counts as finished and is not retried (the same parameters would fail the same way). A
  sweep whose every trial failed raises ``RuntimeError`` listing each error.
* **Objective.** ``mean_reward`` is the mean episode reward (summed over agents) over all missions,
  evaluation episodes and training seeds. Any numeric column of the evaluation records works too
  (``reward_per_agent``, ``steps``, ``agent/cell.unique_visited``...). Names are checked at launch
  against the record's fixed columns; ``agent/``/``game/`` statistics appear only once some agent has
  incremented them, so those are checked on each trial's records, and a trial whose records lack the
  metric fails with the list of metrics that were recorded. A statistic missing from some episodes
  counts as 0 there (the evaluation engine's rule).
* **Early stopping** (``early_stopping: true``): a trial trains in ``early_stopping_chunks`` chunks (each
  resumes the previous checkpoint), is evaluated after each and reports the objective to Optuna's
  ``SuccessiveHalvingPruner``, which stops the weak ones. Every chunk trains with
  ``lr_schedule_steps`` set to the whole trial's steps, so the learning-rate schedule is the one an
  unchunked trial follows.
* **Reproducibility.** Every trial trains with the same ``training_seeds`` and is evaluated on the same
  episodes (seeds from ``evaluation_seed``), so trials differ only by their hyperparameters. The sampler
  is seeded from ``seed`` and the trial number, so a sweep run with one worker draws the same values
  every time, also when it is resumed. A trial that resumes from a checkpoint after its worker died is
  not bit-identical to an uninterrupted one (the environments restart).

Layout under ``<output_dir>/<name>/``::

    sweep_config.yaml     the config the workers run
    study.db              the Optuna study (default storage)
    results.json          SweepResult, rewritten atomically whenever a trial starts or ends
    logs/worker-N.log     output of worker processes
    trials/trial_NNNN/    one per trial (a retry reuses the directory of the trial it retries):
        missions/           mission files built with the trial's mission parameters (if any)
        checkpoints/seedS/  DAF training run per training seed (checkpoints, metrics.jsonl)
        evaluation/         episodes.parquet/.csv of the final evaluation (evaluation_chunkK/ before)
        trial.json          this trial's SweepTrialResult; error.txt holds a failed trial's traceback
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import difflib
import functools
import inspect
import itertools
import json
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from daf_core.config import DAFConfig, DAFSweepConfig, DAFTrainingConfig, PPOConfig
from daf_core.io import atomic_write_json, atomic_write_text

if TYPE_CHECKING:
    import optuna
    import pandas as pd

logger = logging.getLogger(__name__)

__all__ = [
    "DESTINATIONS",
    "ParamSpec",
    "SweepResult",
    "SweepTrialResult",
    "daf_grid_search",
    "daf_launch_sweep",
    "daf_random_search",
    "daf_sweep_best_config",
    "daf_sweep_status",
    "parse_search_space",
    "plan_sweep",
    "run_sweep_worker",
]

RESULTS_FILE = "results.json"
CONFIG_FILE = "sweep_config.yaml"
STUDY_FILE = "study.db"

#: Seconds between a running trial's heartbeats in the storage.
HEARTBEAT_INTERVAL_S = 10
#: A running trial with no heartbeat for this long belongs to a dead worker (on any machine).
GRACE_PERIOD_S = 60
#: How often an idle worker looks for retried trials while the last trials run elsewhere.
POLL_INTERVAL_S = 1.0
#: A trial whose worker keeps dying is given up (left FAIL) after this many retries.
MAX_RETRIES = 3

#: Where a parameter can go: PPO settings, trainer run settings, mission parameters, policy arguments.
DESTINATIONS = ("ppo", "trainer", "mission", "policy")
#: DAFTrainingConfig fields a sweep may vary (the rest are the sweep's own settings).
TRAINER_FIELDS = ("num_steps", "vector_num_envs", "checkpoint_interval", "initial_weights_path")
#: Policy constructor arguments DAF sets itself.
_RESERVED_POLICY_ARGS = ("self", "policy_env_info", "device")
#: Numeric columns every evaluation record has; ``agent/*`` and ``game/*`` stats come with the game.
RECORD_METRICS = ("reward", "reward_per_agent", "steps", "max_steps", "action_timeouts", "wall_time_s")
_STAT_PREFIXES = ("agent/", "game/")

# User attributes DAF keeps on Optuna trials.
_ATTR_WORKER = "daf_worker"
_ATTR_HYPERPARAMETERS = "daf_hyperparameters"
_ATTR_ERROR = "daf_error"
_ATTR_METRICS = "daf_metrics"
_ATTR_RUN_DIRS = "daf_run_dirs"
_ATTR_DURATION = "daf_duration_s"
_ATTR_DISCARDED = "daf_discarded"
_STUDY_ATTR_CONFIG = "daf_sweep_config"


# --------------------------------------------------------------------------------------------------
# Search spaces
# --------------------------------------------------------------------------------------------------

_RANGE_KEYS = ("low", "high", "log", "int")
_SCALAR_TYPES = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class ParamSpec:
    """One search-space entry: a list of ``choices``, a ``range`` (low, high, log, int) or a fixed value."""

    name: str
    kind: Literal["choice", "range", "fixed"]
    choices: tuple[Any, ...] = ()
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    integer: bool = False
    value: Any = None

    def distribution(self) -> optuna.distributions.BaseDistribution:
        """The Optuna distribution this entry is sampled from (fixed values are not sampled)."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution  # noqa: PLC0415

        if self.kind == "choice":
            return CategoricalDistribution(list(self.choices))
        if self.kind == "range" and self.integer:
            return IntDistribution(int(self.low), int(self.high), log=self.log)  # type: ignore[arg-type]
        if self.kind == "range":
            return FloatDistribution(float(self.low), float(self.high), log=self.log)  # type: ignore[arg-type]
        raise ValueError(f"parameter {self.name!r} is fixed to {self.value!r}; it has no distribution")


def parse_search_space(search_space: Mapping[str, Any]) -> dict[str, ParamSpec]:
    """Check a search space's structure and return its entries; ``ValueError`` names the bad parameter.

    A list is a set of choices (scalars, non-empty, no repeats); a mapping is a range ``{low, high}`` of
    numbers with ``low < high``, optional ``log: true`` (then ``low > 0``) and ``int: true`` (integer
    bounds); anything else that is a number, string, boolean or null is a fixed value.
    """
    if not isinstance(search_space, Mapping):
        raise ValueError(
            f"search_space: expected a mapping of parameter names to values, lists or ranges, "
            f"got {type(search_space).__name__}"
        )
    if not search_space:
        raise ValueError("search_space: empty; give at least one parameter to sweep")
    return {name: _parse_param(name, spec) for name, spec in search_space.items()}


def _parse_param(name: Any, spec: Any) -> ParamSpec:
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise ValueError(f"search_space: parameter names must be non-empty strings, got {name!r}")
    where = f"search_space: parameter {name!r}"
    if isinstance(spec, list | tuple):
        if not spec:
            raise ValueError(f"{where}: empty list of choices; give at least one value")
        for choice in spec:
            if not isinstance(choice, _SCALAR_TYPES):
                raise ValueError(
                    f"{where}: choice {choice!r} is a {type(choice).__name__}; choices must be numbers, "
                    "strings, booleans or null"
                )
            if isinstance(choice, float) and not math.isfinite(choice):
                raise ValueError(f"{where}: choice {choice!r} is not a finite number")
        repeated = [c for i, c in enumerate(spec) if any(_same(c, d) for d in spec[:i])]
        if repeated:
            raise ValueError(f"{where}: choice {repeated[0]!r} is listed more than once")
        return ParamSpec(name, "choice", choices=tuple(spec))
    if isinstance(spec, Mapping):
        return _parse_range(name, spec, where)
    if isinstance(spec, _SCALAR_TYPES):
        return ParamSpec(name, "fixed", value=spec)
    raise ValueError(
        f"{where}: {spec!r} ({type(spec).__name__}) is not a list of choices, a range {{low, high}} "
        "or a fixed value"
    )


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same kind: 1 and True (or 1 and 1.0) are different choices to a user."""
    return type(a) is type(b) and a == b


def _parse_range(name: str, spec: Mapping[str, Any], where: str) -> ParamSpec:
    unknown = [key for key in spec if key not in _RANGE_KEYS]
    if unknown or "low" not in spec or "high" not in spec:
        problem = f"unknown key(s) {unknown}" if unknown else "missing 'low' or 'high'"
        raise ValueError(
            f"{where}: {problem} in {dict(spec)!r}; a range is {{low: L, high: H}} with optional "
            "log: true and int: true (use a list for choices)"
        )
    low, high = spec["low"], spec["high"]
    for bound, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"{where}: range bound {bound}={value!r} is not a finite number")
    for flag in ("log", "int"):
        if not isinstance(spec.get(flag, False), bool):
            raise ValueError(f"{where}: {flag}={spec[flag]!r} must be true or false")
    log, integer = bool(spec.get("log", False)), bool(spec.get("int", False))
    if not low < high:
        raise ValueError(f"{where}: range low={low!r} must be less than high={high!r}")
    if log and low <= 0:
        raise ValueError(f"{where}: a log range needs low > 0, got low={low!r}")
    if integer:
        if float(low) != int(low) or float(high) != int(high):
            raise ValueError(
                f"{where}: an int range needs whole-number bounds, got low={low!r}, high={high!r}"
            )
        low, high = int(low), int(high)
    return ParamSpec(name, "range", low=low, high=high, log=log, integer=integer)


def daf_grid_search(search_space: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every combination of the choices (fixed values included), in the order the names are given.

    A grid needs values to enumerate: a range ``{low, high}`` is a ``ValueError`` asking for a list.
    """
    specs = parse_search_space(search_space)
    _require_grid(specs)
    names = list(specs)
    axes = [spec.choices if spec.kind == "choice" else (spec.value,) for spec in specs.values()]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes)]


def _require_grid(specs: Mapping[str, ParamSpec]) -> None:
    for spec in specs.values():
        if spec.kind == "range":
            example = [spec.low, spec.high]
            raise ValueError(
                f"search_space: parameter {spec.name!r} is a range {{low: {spec.low}, high: {spec.high}}}, "
                f"which a grid cannot enumerate; give a list of values instead, e.g. {example}"
            )


def daf_random_search(
    search_space: Mapping[str, Any], num_samples: int, seed: int = 42
) -> list[dict[str, Any]]:
    """``num_samples`` independent draws, the same for the same seed.

    Choices are drawn uniformly, ranges uniformly or log-uniformly (``log: true``), ``int: true`` ranges
    as integers between the bounds inclusive; fixed values are copied into every sample.
    """
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples: must be a positive integer, got {num_samples!r}")
    specs = parse_search_space(search_space)
    rng = np.random.default_rng(seed)
    return [{name: _draw(spec, rng) for name, spec in specs.items()} for _ in range(num_samples)]


def _draw(spec: ParamSpec, rng: np.random.Generator) -> Any:
    if spec.kind == "fixed":
        return spec.value
    if spec.kind == "choice":
        return spec.choices[int(rng.integers(len(spec.choices)))]
    low, high = float(spec.low), float(spec.high)  # type: ignore[arg-type]
    if spec.integer:
        if (
            spec.log
        ):  # log-uniform over [low, high + 1), floored: each integer gets its share of the log scale
            value = math.floor(math.exp(rng.uniform(math.log(low), math.log(high + 1))))
        else:
            value = int(rng.integers(int(low), int(high) + 1))
        return int(min(max(value, int(low)), int(high)))
    if spec.log:
        return float(math.exp(rng.uniform(math.log(low), math.log(high))))
    return float(rng.uniform(low, high))


# --------------------------------------------------------------------------------------------------
# Routing: which parameter goes where
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """``destination`` is one of :data:`DESTINATIONS`; ``field`` the name it has there."""

    destination: str
    field: str


@dataclass(frozen=True)
class _Targets:
    """What each destination accepts for this sweep's missions and policy."""

    ppo: tuple[str, ...]
    trainer: tuple[str, ...]
    mission: tuple[str, ...]
    policy: tuple[str, ...]
    policy_takes_any: bool
    policy_class: str

    def accepts(self, destination: str, name: str, explicit: bool) -> bool:
        if destination == "policy" and explicit and self.policy_takes_any:
            return name not in _RESERVED_POLICY_ARGS
        return name in getattr(self, destination)

    def listing(self) -> str:
        policy = list(self.policy) + (["(any, via **kwargs)"] if self.policy_takes_any else [])
        return (
            f"PPO settings {list(self.ppo)}; trainer settings {list(self.trainer)}; mission parameters "
            f"{list(self.mission)}; arguments of policy {self.policy_class} {policy}"
        )


def _targets(config: DAFSweepConfig) -> _Targets:
    from daf_core.missions import BUILTIN_MISSIONS, is_mission_file  # noqa: PLC0415

    mission_params: set[str] | None = None
    for mission in config.missions:
        if not is_mission_file(mission) and mission in BUILTIN_MISSIONS:
            accepted = {*BUILTIN_MISSIONS[mission].parameters, "num_agents"}
        else:  # mission files and other games' missions take only max_steps (see load_mission)
            accepted = {"max_steps"}
        mission_params = accepted if mission_params is None else mission_params & accepted
    class_path, policy_args, takes_any = _policy_arguments(config.policy_class_path)
    return _Targets(
        ppo=tuple(PPOConfig.model_fields),
        trainer=TRAINER_FIELDS,
        mission=tuple(sorted(mission_params or ())),
        policy=policy_args,
        policy_takes_any=takes_any,
        policy_class=class_path,
    )


def _policy_arguments(policy_class_path: str) -> tuple[str, tuple[str, ...], bool]:
    """The policy class's constructor arguments (besides the environment and device)."""
    from mettagrid.policy.loader import resolve_policy_class_path  # noqa: PLC0415
    from mettagrid.util.module import load_symbol  # noqa: PLC0415

    try:
        class_path = resolve_policy_class_path(policy_class_path)
        policy_class = load_symbol(class_path)
    except (ImportError, AttributeError, ValueError) as err:
        raise ValueError(f"policy_class_path: {policy_class_path!r} cannot be imported ({err})") from err
    parameters = list(inspect.signature(policy_class.__init__).parameters.values())[2:]  # self, env info
    names = tuple(
        p.name
        for p in parameters
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in _RESERVED_POLICY_ARGS
    )
    takes_any = any(p.kind == p.VAR_KEYWORD for p in parameters)
    return class_path, names, takes_any


def route_parameters(names: Sequence[str], config: DAFSweepConfig) -> dict[str, Route]:
    """Where each name goes; ``ValueError`` for a name that fits nowhere or in several places."""
    targets = _targets(config)
    routes = {name: _route(name, targets, config) for name in names}
    seen: dict[Route, str] = {}
    for name, route in routes.items():
        if route in seen:
            raise ValueError(
                f"search_space: parameters {seen[route]!r} and {name!r} both set "
                f"{route.destination}.{route.field}; give it once"
            )
        seen[route] = name
    return routes


def _route(name: str, targets: _Targets, config: DAFSweepConfig) -> Route:
    prefix, _, rest = name.partition(".")
    if rest and prefix in DESTINATIONS:
        if targets.accepts(prefix, rest, explicit=True):
            return Route(prefix, rest)
        valid = list(getattr(targets, prefix))
        where = {
            "ppo": "a PPO setting",
            "trainer": "a trainer setting",
            "mission": f"a parameter of every mission in {config.missions}",
            "policy": f"an argument of policy {targets.policy_class}",
        }[prefix]
        raise ValueError(
            f"search_space: parameter {name!r}: {rest!r} is not {where}{_suggest(rest, valid)}; "
            f"valid: {valid}"
        )
    fits = [d for d in DESTINATIONS if targets.accepts(d, name, explicit=False)]
    if len(fits) == 1:
        return Route(fits[0], name)
    if len(fits) > 1:
        raise ValueError(
            f"search_space: parameter {name!r} is ambiguous: it is accepted by {fits}; write "
            f"{' or '.join(f'{d}.{name}' for d in fits)}"
        )
    every = [*targets.ppo, *targets.trainer, *targets.mission, *targets.policy]
    raise ValueError(
        f"search_space: parameter {name!r} fits nowhere{_suggest(name, every)}. Accepted: "
        f"{targets.listing()}. Prefix a name with ppo., trainer., mission. or policy. to say where it goes."
    )


def _suggest(name: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_trainer_values(name: str, route: Route, values: Sequence[Any], continuous: bool = False) -> None:
    """PPO and trainer values are independent of each other, so a bad one is rejected before any trial.

    ``continuous``: the values are the bounds of a float range, which would sample fractions.
    """
    model: type[Any] = PPOConfig if route.destination == "ppo" else DAFTrainingConfig
    integer_field = _is_integer_field(model, route.field)
    for value in values:
        if integer_field and (continuous or isinstance(value, float)):
            raise ValueError(
                f"search_space: parameter {name!r}: {route.field} takes integers, got {value!r} "
                "(give an int range: {low, high, int: true})"
            )
        try:
            model.model_validate({route.field: value})
        except ValueError as err:
            raise ValueError(f"search_space: parameter {name!r}: value {value!r} is invalid: {err}") from err


def _is_integer_field(model: type[Any], name: str) -> bool:
    from typing import get_args  # noqa: PLC0415

    annotation = model.model_fields[name].annotation
    kinds = set(get_args(annotation)) or {annotation}
    return int in kinds and float not in kinds


# --------------------------------------------------------------------------------------------------
# The plan: everything checked before any trial runs
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepPlan:
    """A validated sweep: its parameters, where each goes, the fixed values and the trial budget."""

    config: DAFSweepConfig
    specs: dict[str, ParamSpec]
    routes: dict[str, Route]
    fixed: dict[str, Any]
    num_trials: int
    policy_class_path: str

    @property
    def sweep_dir(self) -> Path:
        return Path(self.config.output_dir) / self.config.name

    @property
    def results_path(self) -> Path:
        return self.sweep_dir / RESULTS_FILE

    @property
    def storage_url(self) -> str:
        return self.config.storage or f"sqlite:///{(self.sweep_dir / STUDY_FILE).absolute()}"

    def distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        return {name: spec.distribution() for name, spec in self.specs.items() if spec.kind != "fixed"}

    def hyperparameters(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """A trial's full set of values: fixed ones and the sampled ones, keyed as the user wrote them."""
        return {**self.fixed, **params}

    def split(self, hyperparameters: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """Values grouped by destination, under the names they have there."""
        groups: dict[str, dict[str, Any]] = {d: {} for d in DESTINATIONS}
        for name, value in hyperparameters.items():
            route = self.routes[name]
            groups[route.destination][route.field] = value
        return groups


def plan_sweep(config: DAFSweepConfig) -> SweepPlan:
    """Validate a sweep completely (names, values, strategy, metric, missions) before any trial runs."""
    from daf_core.training import load_training_missions  # noqa: PLC0415

    specs = parse_search_space(config.search_space)
    if config.strategy == "grid":
        _require_grid(specs)
    routes = route_parameters([*specs, *config.base_hyperparameters], config)
    for name, route in routes.items():
        if route.destination not in ("ppo", "trainer"):
            continue  # mission and policy values interact (walls vs map size): each trial checks its own
        spec = specs.get(name)
        if spec is None:
            values: list[Any] = [config.base_hyperparameters[name]]
        elif spec.kind == "choice":
            values = list(spec.choices)
        elif spec.kind == "range":
            values = [spec.low, spec.high]
        else:
            values = [spec.value]
        _check_trainer_values(
            name, route, values, continuous=spec is not None and spec.kind == "range" and not spec.integer
        )
    _check_metric_name(config.objective_metric)
    load_training_missions(config.missions)  # names exist and can be trained together
    fixed = {name: spec.value for name, spec in specs.items() if spec.kind == "fixed"}
    fixed.update(config.base_hyperparameters)
    if config.strategy == "grid":
        num_trials = math.prod(len(s.choices) for s in specs.values() if s.kind == "choice")
        if num_trials != config.num_trials:
            logger.info("grid sweep %s: %d grid points (num_trials is ignored)", config.name, num_trials)
    else:
        num_trials = config.num_trials
    class_path = _policy_arguments(config.policy_class_path)[0]
    return SweepPlan(config, specs, routes, fixed, num_trials, class_path)


def _check_metric_name(metric: str) -> None:
    plain = metric.removeprefix("mean_")
    if metric == "mean_reward" or plain in RECORD_METRICS or metric.startswith(_STAT_PREFIXES):
        return
    raise ValueError(
        f"objective_metric: {metric!r} is not something the evaluation records; use 'mean_reward', one of "
        f"{list(RECORD_METRICS)} or a statistic such as 'agent/cell.unique_visited' (any 'agent/...' or "
        "'game/...' column of the evaluation records)"
    )


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------

TrialStateName = Literal["complete", "failed", "pruned", "running", "waiting"]


@dataclass
class SweepTrialResult:
    """One trial: its values, its objective (``primary_metric``) and every metric averaged over episodes."""

    trial_id: int
    hyperparameters: dict[str, Any]
    primary_metric: float | None = None
    all_metrics: dict[str, float] = field(default_factory=dict)
    success: bool = False
    state: TrialStateName = "complete"
    error: str | None = None
    duration_s: float | None = None
    run_dirs: list[str] = field(default_factory=list)
    #: Objective after each training chunk (early stopping), keyed by chunk number.
    intermediate_values: dict[int, float] = field(default_factory=dict)
    #: The trial number this one retries after its worker died.
    retry_of: int | None = None

    @property
    def run_dir(self) -> str | None:
        """The first training seed's run directory (a checkpoint dir is a loadable policy)."""
        return self.run_dirs[0] if self.run_dirs else None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["intermediate_values"] = {str(k): v for k, v in self.intermediate_values.items()}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepTrialResult:
        data = dict(data)
        data["intermediate_values"] = {int(k): v for k, v in (data.get("intermediate_values") or {}).items()}
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


@dataclass
class SweepResult:
    """All trials of a sweep and how far it got; what ``results.json`` holds."""

    sweep_name: str
    objective_metric: str = "mean_reward"
    optimize_direction: str = "maximize"
    strategy: str = "random"
    num_trials_planned: int = 0
    trials: list[SweepTrialResult] = field(default_factory=list)
    output_dir: str | None = None
    storage: str | None = None
    started_at: str | None = None
    updated_at: str | None = None
    finished_at: str | None = None

    # -- building -----------------------------------------------------------------------------------

    def add_trial(self, trial: SweepTrialResult) -> None:
        """Add a trial, replacing an earlier record of the same trial id; trials stay in id order."""
        self.trials = [t for t in self.trials if t.trial_id != trial.trial_id] + [trial]
        self.trials.sort(key=lambda t: t.trial_id)

    def finalize(self) -> SweepResult:
        """Mark the sweep complete (``daf_sweep_status`` then reports it finished)."""
        self.finished_at = self.finished_at or _now()
        self.updated_at = self.finished_at
        return self

    @property
    def is_finished(self) -> bool:
        return self.finished_at is not None

    # -- reading ------------------------------------------------------------------------------------

    def _scored(self) -> list[SweepTrialResult]:
        scored = [
            t
            for t in self.trials
            if t.success and t.primary_metric is not None and math.isfinite(t.primary_metric)
        ]
        return sorted(
            scored,
            key=lambda t: (t.primary_metric, -t.trial_id),
            reverse=self.optimize_direction == "maximize",
        )

    def get_best_trial(self) -> SweepTrialResult | None:
        """The completed trial with the best objective (the earliest on ties); None if none completed."""
        scored = self._scored()
        return scored[0] if scored else None

    def get_worst_trial(self) -> SweepTrialResult | None:
        scored = self._scored()
        return scored[-1] if scored else None

    def top_trials(self, n: int = 5) -> list[SweepTrialResult]:
        """The ``n`` best completed trials, best first."""
        return self._scored()[: max(n, 0)]

    def counts(self) -> dict[str, int]:
        states = [t.state for t in self.trials]
        return {
            state: states.count(state) for state in ("complete", "failed", "pruned", "running", "waiting")
        }

    def status(self) -> dict[str, Any]:
        """Progress in numbers: what :func:`daf_sweep_status` returns."""
        counts = self.counts()
        finished = counts["complete"] + counts["failed"] + counts["pruned"]
        best = self.get_best_trial()
        planned = self.num_trials_planned
        return {
            "name": self.sweep_name,
            "state": "finished" if self.is_finished else "running",
            "finished": self.is_finished,
            "total_trials": planned,
            "finished_trials": finished,
            "completed": counts["complete"],
            "failed": counts["failed"],
            "pruned": counts["pruned"],
            "running": counts["running"],
            "waiting": counts["waiting"],
            "remaining": max(planned - finished, 0),
            "progress": finished / planned if planned else 0.0,
            "objective_metric": self.objective_metric,
            "optimize_direction": self.optimize_direction,
            "best_trial_id": best.trial_id if best else None,
            "best_value": best.primary_metric if best else None,
            "best_hyperparameters": dict(best.hyperparameters) if best else None,
            "started_at": self.started_at,
            "updated_at": self.updated_at,
            "finished_at": self.finished_at,
        }

    def errors(self) -> list[str]:
        return [
            f"trial {t.trial_id} {t.hyperparameters}: {t.error}" for t in self.trials if t.state == "failed"
        ]

    # -- files --------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "trials"}
        data["trials"] = [t.to_dict() for t in self.trials]
        data["status"] = self.status()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepResult:
        known = {f.name for f in dataclasses.fields(cls)} - {"trials"}
        result = cls(**{key: value for key, value in data.items() if key in known})
        result.trials = [SweepTrialResult.from_dict(t) for t in data.get("trials", [])]
        return result

    def save_json(self, path: str | Path) -> Path:
        """Write atomically, so a reader polling the file during the sweep never sees half of it."""
        return atomic_write_json(Path(path), _json_safe(self.to_dict()))

    @classmethod
    def load_json(cls, path: str | Path) -> SweepResult:
        path = _results_file(path)
        return cls.from_dict(json.loads(path.read_text()))

    def print_summary(self, console: Any = None, top: int = 10) -> None:
        """A table of the best trials and the sweep's progress, on ``console`` (a rich Console)."""
        from rich.console import Console  # noqa: PLC0415
        from rich.table import Table  # noqa: PLC0415

        console = console or Console()
        status = self.status()
        console.print(
            f"[bold]Sweep {self.sweep_name}[/bold] ({self.strategy}, {self.optimize_direction} "
            f"{self.objective_metric}): {status['finished_trials']}/{status['total_trials']} finished - "
            f"{status['completed']} complete, {status['pruned']} pruned, {status['failed']} failed, "
            f"{status['running']} running" + ("" if self.is_finished else " [yellow](in progress)[/yellow]")
        )
        table = Table(show_header=True, header_style="bold")
        for column in ("rank", "trial", self.objective_metric, "hyperparameters", "time (s)"):
            table.add_column(column)
        for rank, trial in enumerate(self.top_trials(top), start=1):
            table.add_row(
                str(rank),
                str(trial.trial_id),
                f"{trial.primary_metric:.4g}",
                ", ".join(f"{k}={_short(v)}" for k, v in trial.hyperparameters.items()),
                f"{trial.duration_s:.1f}" if trial.duration_s is not None else "",
            )
        console.print(table)
        for line in self.errors():
            console.print(f"[red]failed[/red] {line}")


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _json_safe(value: Any) -> Any:
    """Non-finite floats become null: results.json is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def _results_file(path: str | Path) -> Path:
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"sweep results file not found: {path}")
    return path


def daf_sweep_status(results_path: str | Path) -> dict[str, Any]:
    """Progress of a sweep, running or finished, read from its ``results.json`` (or the sweep directory).

    Workers rewrite the file whenever a trial starts or ends, so this is live while the sweep runs;
    ``updated_at`` says when it was last written (a sweep whose workers were killed stays "running").
    """
    path = _results_file(results_path)
    result = SweepResult.load_json(path)
    return {**result.status(), "results_path": str(path)}


def daf_sweep_best_config(sweep_result: SweepResult | str | Path) -> dict[str, Any]:
    """The best completed trial's hyperparameters (fixed ones included), keyed as in the search space."""
    if not isinstance(sweep_result, SweepResult):
        sweep_result = SweepResult.load_json(sweep_result)
    best = sweep_result.get_best_trial()
    if best is None:
        raise ValueError(
            f"sweep {sweep_result.sweep_name!r} has no completed trial yet "
            f"({sweep_result.counts()}); there is no best configuration"
        )
    return dict(best.hyperparameters)


# --------------------------------------------------------------------------------------------------
# One trial: train, evaluate, score
# --------------------------------------------------------------------------------------------------


@dataclass
class TrialOutcome:
    objective: float
    metrics: dict[str, float]
    run_dirs: list[str]


class TrialPruned(Exception):  # noqa: N818 - mirrors optuna.TrialPruned without importing optuna here
    """Raised between training chunks when the pruner stops a trial; ``outcome`` is its last evaluation."""

    def __init__(self, message: str, outcome: TrialOutcome):
        super().__init__(message)
        self.outcome = outcome


def run_trial(
    plan: SweepPlan,
    hyperparameters: Mapping[str, Any],
    trial_dir: Path,
    report: Callable[[int, float], bool] | None = None,
) -> TrialOutcome:
    """Train one configuration (once per training seed) and evaluate it.

    With early stopping, training goes in chunks; after each but the last the objective goes to
    ``report(chunk, value)``, and a True answer (prune) raises :class:`TrialPruned`.
    """
    from mettagrid.policy.policy import PolicySpec  # noqa: PLC0415

    from daf_core.evaluation import evaluate_policies  # noqa: PLC0415
    from daf_core.training import train  # noqa: PLC0415

    config = plan.config
    groups = plan.split(hyperparameters)
    train_missions, eval_missions = _trial_missions(config.missions, groups["mission"], trial_dir)
    trainer_settings = dict(groups["trainer"])
    total_steps = int(trainer_settings.pop("num_steps", config.training_steps))
    chunks = config.early_stopping_chunks if config.early_stopping else 1
    daf_config = DAFConfig(
        output_dir=plan.sweep_dir, track_experiments=False, monitor_system_stats=False, log_to_file=False
    )
    device = _evaluation_device(config.device)
    outcome: TrialOutcome | None = None
    for chunk in range(1, chunks + 1):
        steps = max(1, math.ceil(total_steps * chunk / chunks))
        policies: dict[str, Any] = {}
        run_dirs = []
        for seed in config.training_seeds:
            training = DAFTrainingConfig(
                missions=train_missions,
                policy_class_path=config.policy_class_path,
                num_steps=steps,
                seed=seed,
                device=config.device,
                checkpoint_dir=trial_dir / "checkpoints",
                run_name=f"seed{seed}",
                max_checkpoints_to_keep=2,
                lr_schedule_steps=total_steps,
                policy_init_kwargs=dict(groups["policy"]),
                ppo=PPOConfig(**groups["ppo"]),
                **{"vector_num_envs": config.vector_num_envs, **trainer_settings},
            )
            result = train(training, daf_config, show_progress=False)
            run_dirs.append(str(result.run_dir))
            policies[f"seed{seed}"] = PolicySpec(
                class_path=plan.policy_class_path,
                data_path=str(result.final_checkpoint),
                init_kwargs=dict(groups["policy"]),
            )
        records = evaluate_policies(
            policies,
            eval_missions,
            config.episodes_per_trial,
            seed=config.evaluation_seed,
            max_parallel_jobs=1,
            device=device,
            output_dir=trial_dir / ("evaluation" if chunk == chunks else f"evaluation_chunk{chunk}"),
            show_progress=False,
        )
        objective, metrics = score_records(records, config.objective_metric)
        outcome = TrialOutcome(objective, metrics, run_dirs)
        if chunk < chunks and report is not None and report(chunk, objective):
            message = f"pruned after chunk {chunk}/{chunks} ({steps} steps): objective {objective:.4g}"
            raise TrialPruned(message, outcome)
    assert outcome is not None
    return outcome


def _evaluation_device(device: str) -> str:
    if device != "auto":
        return device
    import torch  # noqa: PLC0415

    return "cuda" if torch.cuda.is_available() else "cpu"


def _trial_missions(
    missions: Sequence[str], params: Mapping[str, Any], trial_dir: Path
) -> tuple[list[str], list[Any]]:
    """Missions as the trial trains and evaluates them: with mission parameters, files in the trial dir.

    Evaluation records keep the mission's own name, so trials' records line up whatever the parameters.
    """
    if not params:
        return list(missions), list(missions)
    from daf_core.missions import load_mission, load_mission_file, save_mission  # noqa: PLC0415

    train_missions, eval_missions = [], []
    for index, name in enumerate(missions):
        env_cfg = load_mission(name, **params)
        path = save_mission(env_cfg, trial_dir / "missions" / f"{index}_{Path(name).stem}.yaml")
        train_missions.append(str(path))
        eval_missions.append((name, load_mission_file(path)))
    return train_missions, eval_missions


def score_records(records: pd.DataFrame, metric: str) -> tuple[float, dict[str, float]]:
    """The objective (mean over training seeds of the per-seed mean) and the mean of every numeric column."""
    numeric = records.select_dtypes("number").drop(columns=["episode", "seed"], errors="ignore")
    stats = [c for c in numeric.columns if c.startswith(_STAT_PREFIXES)]
    numeric[stats] = numeric[stats].fillna(0.0)  # a stat missing from an episode was never incremented
    metrics = {"mean_reward": float(numeric["reward"].mean())}
    metrics.update({column: float(numeric[column].mean()) for column in numeric.columns})
    column = _metric_column(metric, list(numeric.columns))
    per_seed = numeric[column].groupby(records["policy"]).mean()
    objective = float(per_seed.mean())
    if not math.isfinite(objective):
        raise RuntimeError(f"objective {metric!r} is not a finite number ({objective})")
    return objective, metrics


def _metric_column(metric: str, columns: Sequence[str]) -> str:
    if metric == "mean_reward":
        return "reward"
    if metric in columns:
        return metric
    if metric.startswith("mean_") and metric.removeprefix("mean_") in columns:
        return metric.removeprefix("mean_")
    raise ValueError(
        f"objective_metric: {metric!r} was not recorded by this trial's evaluation; recorded metrics: "
        f"{['mean_reward', *columns]}"
    )


@contextlib.contextmanager
def _single_threaded() -> Iterator[None]:
    """One torch thread per trial: parallel workers on a small machine must not oversubscribe it, and
    results should not depend on whether a trial ran in the caller's process or in a worker."""
    import torch  # noqa: PLC0415

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# --------------------------------------------------------------------------------------------------
# The Optuna study
# --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna flags heartbeats outside ``optimize`` and its retry callback as experimental; we use both
    on purpose (ask/tell needs them to survive dead workers), so their warnings are noise here."""
    import optuna  # noqa: PLC0415

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
        yield


def _retry_callback() -> Callable[..., None]:
    import optuna  # noqa: PLC0415

    with _quiet_optuna():
        retry = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
        if retry is None:  # optuna < 4.9
            retry = optuna.storages.RetryFailedTrialCallback
        return retry(max_retry=MAX_RETRIES)


def open_storage(url: str, attempts: int = 5) -> optuna.storages.RDBStorage:
    """An RDB storage with heartbeats and retries of heartbeat-stale trials (Optuna's own mechanism)."""
    import optuna  # noqa: PLC0415

    url = _with_installed_driver(url)
    if url.startswith("sqlite:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs: dict[str, Any] = {"connect_args": {"timeout": 60}}
    else:
        engine_kwargs = {"pool_pre_ping": True}
    callback_arg = (
        "heartbeat_stale_trial_callback"
        if "heartbeat_stale_trial_callback" in inspect.signature(optuna.storages.RDBStorage).parameters
        else "failed_trial_callback"
    )
    for attempt in range(1, attempts + 1):
        try:
            with _quiet_optuna():
                return optuna.storages.RDBStorage(
                    url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=HEARTBEAT_INTERVAL_S,
                    grace_period=GRACE_PERIOD_S,
                    **{callback_arg: _retry_callback()},
                )
        except ImportError as err:
            raise ImportError(
                f"the sweep storage {_redact(url)} needs a database driver that is not installed "
                "(PostgreSQL: pip install psycopg2-binary)"
            ) from err
        except Exception as err:  # noqa: BLE001 - workers starting together race to create the tables
            if attempt == attempts:
                raise RuntimeError(f"cannot open the sweep storage {_redact(url)}: {err}") from err
            logger.debug("opening storage failed (%s); retrying", err)
            time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


def _with_installed_driver(url: str) -> str:
    """``postgresql://`` means psycopg 3 to SQLAlchemy 2.1, but DAF installs psycopg2: name the driver
    that is there, so the URL users know (the one psql and Dagster take) works unchanged."""
    import importlib.util  # noqa: PLC0415

    scheme, sep, rest = url.partition("://")
    if scheme in ("postgresql", "postgres") and importlib.util.find_spec("psycopg") is None:
        if importlib.util.find_spec("psycopg2") is not None:
            return f"postgresql+psycopg2{sep}{rest}"
    return url


def _redact(url: str) -> str:
    """A URL without its password, for logs and results files."""
    from urllib.parse import urlsplit, urlunsplit  # noqa: PLC0415

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _config_identity(config: DAFSweepConfig) -> dict[str, Any]:
    """What makes two runs the same sweep (budget, parallelism and where files go may change)."""
    return config.model_dump(
        mode="json", exclude={"num_trials", "max_parallel_jobs", "output_dir", "storage"}
    )


def open_study(plan: SweepPlan, storage: optuna.storages.RDBStorage | None = None) -> optuna.Study:
    """Create the sweep's study or load it; a study created by a different sweep config is refused."""
    import optuna  # noqa: PLC0415

    config = plan.config
    storage = storage or open_storage(plan.storage_url)
    pruner = (
        optuna.pruners.SuccessiveHalvingPruner(
            min_resource=1, reduction_factor=config.early_stopping_reduction_factor, min_early_stopping_rate=0
        )
        if config.early_stopping
        else optuna.pruners.NopPruner()
    )
    with _quiet_optuna():
        study = optuna.create_study(
            study_name=config.name,
            storage=storage,
            sampler=_sampler(plan, 0),
            pruner=pruner,
            direction=config.optimize_direction,
            load_if_exists=True,
        )
    identity = _config_identity(config)
    stored = study.user_attrs.get(_STUDY_ATTR_CONFIG)
    if stored is None:
        study.set_user_attr(_STUDY_ATTR_CONFIG, identity)
    elif stored != identity:
        changed = sorted(k for k in {*stored, *identity} if stored.get(k) != identity.get(k))
        raise ValueError(
            f"sweep {config.name!r}: the study in {_redact(plan.storage_url)} was created by a different "
            f"configuration (changed: {changed}); continuing it would mix incomparable trials. Use a new "
            "name, output_dir or storage, or restore the original settings."
        )
    if list(study.directions) != [optuna.study.StudyDirection[config.optimize_direction.upper()]]:
        raise ValueError(f"sweep {config.name!r}: the stored study optimizes in another direction")
    return study


@functools.cache
def _grid_sampler_class() -> type[Any]:
    import optuna  # noqa: PLC0415

    class AskTellGridSampler(optuna.samplers.GridSampler):
        """``GridSampler`` minus its ``study.stop()`` call, which only works inside ``study.optimize``
        (under ask/tell it raises); the worker loop decides when the sweep is done."""

        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            return None

    return AskTellGridSampler


def _sampler(plan: SweepPlan, trial_number: int) -> optuna.samplers.BaseSampler:
    """The strategy's sampler, seeded from the sweep seed and the number of the trial about to be asked.

    Seeding per trial (not once per process) is what makes a resumed sweep draw the values an
    uninterrupted one would have: a sampler seeded once would start its sequence again after a restart
    and propose the finished trials' parameters a second time.
    """
    import optuna  # noqa: PLC0415

    config = plan.config
    seed = int(np.random.SeedSequence([config.seed, trial_number]).generate_state(1)[0])
    if config.strategy == "grid":
        choices = {n: list(s.choices) for n, s in plan.specs.items() if s.kind == "choice"}
        return _grid_sampler_class()(choices, seed=config.seed)
    if config.strategy == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    with _quiet_optuna():
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(1, min(5, plan.num_trials // 2)))


# -- who is alive ----------------------------------------------------------------------------------


def _host_id() -> str:
    """Hostname plus boot id: a pid means something only on the same machine since the same boot."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""
    return f"{socket.gethostname()}/{boot}"


def _this_worker(trial_number: int) -> dict[str, Any]:
    import psutil  # noqa: PLC0415

    return {
        "trial": trial_number,
        "host": _host_id(),
        "pid": os.getpid(),
        "started": psutil.Process().create_time(),
    }


def _worker_gone(worker: Mapping[str, Any]) -> bool:
    """True when the worker ran on this machine and its process no longer exists (or is a zombie)."""
    import psutil  # noqa: PLC0415

    if worker.get("host") != _host_id():
        return False  # another machine: its heartbeat decides
    try:
        process = psutil.Process(int(worker["pid"]))
        if abs(process.create_time() - float(worker["started"])) > 1.0:
            return True  # the pid was reused by another process
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def reap_dead_trials(study: optuna.Study) -> list[int]:
    """Fail running trials whose worker is dead and queue a retry of each; returns their numbers.

    Heartbeat-stale trials (any machine) go through ``optuna.storages.fail_stale_trials``; trials of a
    dead process on this machine are failed at once the same way (state FAIL, then the storage's retry
    callback), instead of waiting out the grace period.
    """
    import optuna  # noqa: PLC0415
    from optuna.trial import TrialState  # noqa: PLC0415

    running = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    with _quiet_optuna():
        optuna.storages.fail_stale_trials(study)
    reaped = [
        t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)) if t.number in running
    ]
    for number in reaped:
        logger.warning("trial %d: no heartbeat for %ds; it will be retried", number, GRACE_PERIOD_S)
    storage = study._storage  # the study's storage: Optuna exposes no public accessor
    callback = (
        storage.get_heartbeat_stale_trial_callback()
        if hasattr(storage, "get_heartbeat_stale_trial_callback")
        else storage.get_failed_trial_callback()
    )
    now = datetime.datetime.now()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get(_ATTR_WORKER)
        if worker and worker.get("trial") == trial.number:
            if not _worker_gone(worker):
                continue
        elif trial.datetime_start and (now - trial.datetime_start).total_seconds() < GRACE_PERIOD_S:
            continue  # just asked; its worker has not written its name yet
        try:
            if not storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        reaped.append(trial.number)
        logger.warning("trial %d: its worker died; it will be retried", trial.number)
        if callback is not None and not trial.user_attrs.get(_ATTR_DISCARDED):
            with _quiet_optuna():
                callback(study, storage.get_trial(trial._trial_id))
    return reaped


class _Heartbeat:
    """Records the trial's heartbeat every :data:`HEARTBEAT_INTERVAL_S` in a background thread."""

    def __init__(self, storage: Any, trial_id: int):
        self.storage, self.trial_id = storage, trial_id
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"sweep-heartbeat-{trial_id}", daemon=True)

    def _beat(self) -> None:
        while not self.stop.wait(HEARTBEAT_INTERVAL_S):
            try:
                self.storage.record_heartbeat(self.trial_id)
            except Exception as err:  # noqa: BLE001 - a missed beat must not kill the trial
                logger.warning("heartbeat of trial id %d failed: %s", self.trial_id, err)

    def __enter__(self) -> _Heartbeat:
        self.storage.record_heartbeat(self.trial_id)
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join()


# -- counting trials -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tally:
    """The study's trials as the sweep counts them: retried and discarded attempts left out."""

    logical: list[Any]
    finished: int
    waiting: int

    def done(self, num_trials: int) -> bool:
        return self.finished >= num_trials

    def may_ask(self, num_trials: int) -> bool:
        return len(self.logical) < num_trials or self.waiting > 0


def _logical_trials(trials: Sequence[Any]) -> list[Any]:
    """Drop attempts that a retry replaced and trials discarded as surplus or duplicate."""
    replaced = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    return [t for t in trials if t.number not in replaced and not t.user_attrs.get(_ATTR_DISCARDED)]


def _tally(study: optuna.Study) -> _Tally:
    from optuna.trial import TrialState  # noqa: PLC0415

    logical = _logical_trials(study.get_trials(deepcopy=False))
    finished = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL) for t in logical)
    waiting = sum(t.state == TrialState.WAITING for t in logical)
    return _Tally(logical, finished, waiting)


def _discard_reason(study: optuna.Study, plan: SweepPlan, number: int) -> str | None:
    """Why a freshly asked trial must not run: the budget is already taken, or (grid) its point is.

    Trials are numbered by the storage in the order they were created, so when two workers ask at the
    same moment the lower number keeps the slot; both workers reach the same verdict.
    """
    trials = study.get_trials(deepcopy=False)
    mine = next(t for t in trials if t.number == number)
    if "failed_trial" in mine.system_attrs or "fixed_params" in mine.system_attrs:
        return None  # a retry or a trial the user enqueued: it replaces or adds a slot by design
    earlier = [t for t in _logical_trials(trials) if t.number < number]
    if len(earlier) >= plan.num_trials:
        return "surplus"
    grid_id = mine.system_attrs.get("grid_id")
    if grid_id is not None and any(t.system_attrs.get("grid_id") == grid_id for t in earlier):
        return "duplicate"
    return None


# -- results from the study ------------------------------------------------------------------------


def collect_results(study: optuna.Study, plan: SweepPlan) -> SweepResult:
    """The study as a :class:`SweepResult` (finalized when ``num_trials`` trials have finished)."""
    from optuna.trial import TrialState  # noqa: PLC0415

    config = plan.config
    states: dict[Any, TrialStateName] = {
        TrialState.COMPLETE: "complete",
        TrialState.FAIL: "failed",
        TrialState.PRUNED: "pruned",
        TrialState.RUNNING: "running",
        TrialState.WAITING: "waiting",
    }
    result = SweepResult(
        sweep_name=config.name,
        objective_metric=config.objective_metric,
        optimize_direction=config.optimize_direction,
        strategy=config.strategy,
        num_trials_planned=plan.num_trials,
        output_dir=str(plan.sweep_dir),
        storage=_redact(plan.storage_url),
    )
    logical = _logical_trials(study.get_trials(deepcopy=False))
    starts = [t.datetime_start for t in logical if t.datetime_start]
    result.started_at = min(starts).astimezone().isoformat(timespec="seconds") if starts else None
    for trial in logical:
        state = states[trial.state]
        attrs = trial.user_attrs
        duration = attrs.get(_ATTR_DURATION)
        if duration is None and trial.datetime_start and trial.datetime_complete:
            duration = (trial.datetime_complete - trial.datetime_start).total_seconds()
        error = attrs.get(_ATTR_ERROR) if state == "failed" else None
        if state == "failed" and error is None:
            error = "the trial's worker died and the trial was not retried (retries used up)"
        result.add_trial(
            SweepTrialResult(
                trial_id=trial.number,
                hyperparameters=attrs.get(_ATTR_HYPERPARAMETERS) or plan.hyperparameters(trial.params),
                primary_metric=trial.value if state in ("complete", "pruned") else None,
                all_metrics=attrs.get(_ATTR_METRICS, {}) if state in ("complete", "pruned") else {},
                success=state == "complete",
                state=state,
                error=error,
                duration_s=duration,
                run_dirs=list(attrs.get(_ATTR_RUN_DIRS, [])),
                intermediate_values={int(k): float(v) for k, v in trial.intermediate_values.items()},
                retry_of=trial.system_attrs.get("failed_trial"),
            )
        )
    result.updated_at = _now()
    counts = result.counts()
    if counts["complete"] + counts["failed"] + counts["pruned"] >= plan.num_trials:
        result.finalize()
    return result


def _write_results(study: optuna.Study, plan: SweepPlan) -> SweepResult:
    result = collect_results(study, plan)
    result.save_json(plan.results_path)
    return result


# --------------------------------------------------------------------------------------------------
# The worker loop
# --------------------------------------------------------------------------------------------------


def run_sweep_worker(
    config: DAFSweepConfig, plan: SweepPlan | None = None, study: optuna.Study | None = None
) -> SweepResult:
    """Run trials of the sweep's study until it holds ``num_trials`` finished trials.

    Any number of these loops, in any processes on any machines sharing the storage, cooperate on one
    sweep. A loop with nothing left to ask waits for the other workers' trials (and retries those whose
    workers die) rather than leaving early.
    """
    plan = plan or plan_sweep(config)
    study = study or open_study(plan)
    plan.sweep_dir.mkdir(parents=True, exist_ok=True)
    while True:
        reap_dead_trials(study)
        tally = _tally(study)
        if tally.done(plan.num_trials):
            break
        if not tally.may_ask(plan.num_trials):
            time.sleep(POLL_INTERVAL_S)
            continue
        study.sampler = _sampler(plan, len(study.get_trials(deepcopy=False)))
        with _quiet_optuna():
            trial = study.ask(plan.distributions())
        trial.set_user_attr(_ATTR_WORKER, _this_worker(trial.number))
        reason = _discard_reason(study, plan, trial.number)
        if reason is not None:
            _discard(study, trial, reason)
            continue
        _run_optuna_trial(study, plan, trial)
    return _write_results(study, plan)


def _discard(study: optuna.Study, trial: optuna.Trial, reason: str) -> None:
    """Close a trial that must not run. Its grid point is released (``GridSampler`` counts every
    finished trial holding a ``grid_id`` as having visited that point) so that it can still be asked."""
    from optuna.trial import TrialState  # noqa: PLC0415

    logger.info("trial %d discarded (%s): another worker took its slot", trial.number, reason)
    trial.set_user_attr(_ATTR_DISCARDED, reason)
    study._storage.set_trial_system_attr(trial._trial_id, "grid_id", None)
    study.tell(trial, state=TrialState.FAIL)


def _trial_dir(plan: SweepPlan, study: optuna.Study, number: int) -> Path:
    """A retry works in the directory of the trial it retries, so its training resumes from there."""
    frozen = next(t for t in study.get_trials(deepcopy=False) if t.number == number)
    root = frozen.system_attrs.get("failed_trial", number)
    return plan.sweep_dir / "trials" / f"trial_{int(root):04d}"


def _run_optuna_trial(study: optuna.Study, plan: SweepPlan, trial: optuna.Trial) -> None:
    from optuna.trial import TrialState  # noqa: PLC0415

    hyperparameters = plan.hyperparameters(trial.params)
    trial.set_user_attr(_ATTR_HYPERPARAMETERS, hyperparameters)
    trial_dir = _trial_dir(plan, study, trial.number)
    trial_dir.mkdir(parents=True, exist_ok=True)
    _write_results(study, plan)
    name = plan.config.name
    logger.info("sweep %s: trial %d starts: %s", name, trial.number, hyperparameters)

    def report(chunk: int, value: float) -> bool:
        trial.report(value, chunk)
        return trial.should_prune()

    started = time.monotonic()
    try:
        with _Heartbeat(study._storage, trial._trial_id), _single_threaded():
            outcome = run_trial(plan, hyperparameters, trial_dir, report)
    except TrialPruned as pruned:
        logger.info("sweep %s: trial %d %s", name, trial.number, pruned)
        attrs = {
            _ATTR_METRICS: pruned.outcome.metrics,
            _ATTR_RUN_DIRS: pruned.outcome.run_dirs,
            _ATTR_DURATION: time.monotonic() - started,
        }
        _finish(study, trial, attrs, state=TrialState.PRUNED)
    except KeyboardInterrupt:
        _requeue(study, trial)
        with contextlib.suppress(Exception):
            _write_results(study, plan)
        raise
    except Exception as err:  # noqa: BLE001 - a failed trial is recorded; the sweep goes on
        message = f"{type(err).__name__}: {err}"
        atomic_write_text(trial_dir / "error.txt", traceback.format_exc())
        logger.warning("sweep %s: trial %d failed: %s", name, trial.number, message)
        attrs = {_ATTR_ERROR: message, _ATTR_DURATION: time.monotonic() - started}
        _finish(study, trial, attrs, state=TrialState.FAIL)
    else:
        logger.info(
            "sweep %s: trial %d: %s = %.4g",
            name,
            trial.number,
            plan.config.objective_metric,
            outcome.objective,
        )
        attrs = {
            _ATTR_METRICS: outcome.metrics,
            _ATTR_RUN_DIRS: outcome.run_dirs,
            _ATTR_DURATION: time.monotonic() - started,
        }
        _finish(study, trial, attrs, values=outcome.objective)
    result = _write_results(study, plan)
    for record in result.trials:
        if record.trial_id == trial.number:
            atomic_write_json(trial_dir / "trial.json", _json_safe(record.to_dict()))


def _finish(study: optuna.Study, trial: optuna.Trial, attrs: Mapping[str, Any], **tell: Any) -> None:
    """Record the trial's attributes and tell Optuna how it ended.

    If another worker already failed this trial (it missed heartbeats for the whole grace period), its
    retry is queued and will redo the work; this worker's result is dropped with a warning.
    """
    import optuna  # noqa: PLC0415

    try:
        for key, value in attrs.items():
            trial.set_user_attr(key, _json_safe(value))
        study.tell(trial, **tell)
    except optuna.exceptions.UpdateFinishedTrialError:
        logger.warning("trial %d was failed by another worker meanwhile; its retry will run it", trial.number)


def _requeue(study: optuna.Study, trial: optuna.Trial) -> None:
    """An interrupted trial is failed and queued again with the same parameters (as a dead one would be)."""
    from optuna.trial import TrialState  # noqa: PLC0415

    storage = study._storage
    try:
        if storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
            with _quiet_optuna():
                _retry_callback()(study, storage.get_trial(trial._trial_id))
    except Exception as err:  # noqa: BLE001 - the heartbeat will catch it if this fails
        logger.warning("could not requeue interrupted trial %d: %s", trial.number, err)


# --------------------------------------------------------------------------------------------------
# Launching
# --------------------------------------------------------------------------------------------------


def daf_launch_sweep(
    sweep_config: DAFSweepConfig | str | Path, daf_config: DAFConfig | None = None
) -> SweepResult:
    """Run (or continue) a sweep to ``num_trials`` finished trials and return its results.

    Everything is validated before the first trial. With ``max_parallel_jobs`` > 1 the trials run in
    that many worker processes; otherwise in this process. The sweep is recorded in the experiments
    log of ``daf_config.output_dir`` (default: the sweep's ``output_dir``). Raises ``RuntimeError`` when
    every trial failed (listing each error) or when the workers stopped before the sweep finished.
    """
    config = (
        sweep_config if isinstance(sweep_config, DAFSweepConfig) else DAFSweepConfig.from_file(sweep_config)
    )
    config = config.model_copy(update={"output_dir": Path(config.output_dir).absolute()})
    plan = plan_sweep(config)
    plan.sweep_dir.mkdir(parents=True, exist_ok=True)
    config_path = config.to_yaml(plan.sweep_dir / CONFIG_FILE)
    study = open_study(plan)
    reap_dead_trials(study)
    tally = _tally(study)
    remaining = plan.num_trials - tally.finished
    workers = max(1, min(config.max_parallel_jobs, remaining))
    logger.info(
        "sweep %s: %d of %d trials finished; %d to run on %d worker(s)",
        config.name,
        tally.finished,
        plan.num_trials,
        max(remaining, 0),
        workers,
    )
    if remaining <= 0:
        result = _write_results(study, plan)
    elif workers == 1:
        result = run_sweep_worker(config, plan, study)
    else:
        problems = _run_worker_processes(config_path, workers, plan.sweep_dir)
        result = _write_results(study, plan)
        if not result.is_finished:
            raise RuntimeError(
                f"sweep {config.name!r}: the workers stopped with {result.status()['finished_trials']} of "
                f"{plan.num_trials} trials finished:\n" + "\n".join(problems)
            )
    if remaining > 0:  # a rerun of a finished sweep is not a new experiment
        _record(config, daf_config, result, plan)
    counts = result.counts()
    if counts["complete"] == 0 and counts["pruned"] == 0 and counts["failed"] > 0:
        raise RuntimeError(
            f"sweep {config.name!r}: all {counts['failed']} trials failed:\n"
            + "\n".join(f"  - {line}" for line in result.errors())
        )
    return result


def _record(
    config: DAFSweepConfig, daf_config: DAFConfig | None, result: SweepResult, plan: SweepPlan
) -> None:
    from daf_core.experiments import record_experiment  # noqa: PLC0415

    if daf_config is not None and not daf_config.track_experiments:
        return
    best = result.get_best_trial()
    record_experiment(
        daf_config.output_dir if daf_config is not None else config.output_dir,
        "sweep",
        config.name,
        config.to_dict(),
        {
            **{k: v for k, v in result.status().items() if k != "best_hyperparameters"},
            "best_hyperparameters": best.hyperparameters if best else None,
        },
        {"sweep_dir": str(plan.sweep_dir), "results": str(plan.results_path)},
    )


def worker_command(config_path: str | Path) -> list[str]:
    """The command line of one sweep worker (what to start on other machines sharing the storage)."""
    return [sys.executable, "-m", "daf_core.sweeps", "--config", str(config_path), "--worker"]


def _run_worker_processes(config_path: Path, workers: int, sweep_dir: Path) -> list[str]:
    """Start the workers, wait for all of them; returns a line per worker that exited abnormally."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        # The same imports as here (policy classes given by module path, e.g. from a test package).
        "PYTHONPATH": os.pathsep.join(dict.fromkeys(p for p in [os.getcwd(), *sys.path] if p)),
    }
    logs = sweep_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    processes = []
    for index in range(workers):
        log_path = logs / f"worker-{index}.log"
        with open(log_path, "ab") as log:
            processes.append(
                (log_path, subprocess.Popen(worker_command(config_path), stdout=log, stderr=log, env=env))
            )
    try:
        codes = [process.wait() for _, process in processes]
    except BaseException:
        for _, process in processes:  # Ctrl-C: workers requeue their trials and stop
            process.send_signal(signal.SIGINT)
        for _, process in processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        raise
    problems = []
    for (log_path, _), code in zip(processes, codes, strict=True):
        if code != 0:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
            problems.append(f"worker log {log_path} (exit status {code}):\n{tail}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a DAF hyperparameter sweep, or one worker of it.")
    parser.add_argument("--config", required=True, help="DAFSweepConfig YAML/JSON")
    parser.add_argument(
        "--worker",
        action="store_true",
        help="run trials of the sweep's study until it is done (start one per core, on any machine "
        "that reaches the storage)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)  # a stopped worker requeues its trial
    config = DAFSweepConfig.from_file(args.config)
    try:
        if args.worker:
            config = config.model_copy(update={"output_dir": Path(config.output_dir).absolute()})
            result = run_sweep_worker(config)
            print(json.dumps(result.status(), indent=2, default=str))
            return 0
        result = daf_launch_sweep(config)
    except KeyboardInterrupt:
        print("sweep interrupted; rerun the same command to continue it", file=sys.stderr)
        return 130
    except (RuntimeError, ValueError, FileNotFoundError) as err:
        print(f"sweep failed: {err}", file=sys.stderr)
        return 1
    result.print_summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())
