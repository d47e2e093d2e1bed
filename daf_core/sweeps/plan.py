"""The sweep plan: where each search-space name goes, and everything checked before any trial runs.

* **Routing.** Every search-space name is sent where it belongs before any trial runs: PPO settings to
  :class:`~daf_core.config.PPOConfig`, a few run settings (``num_steps``, ``vector_num_envs``...) to the
  trainer, mission parameters (``max_steps``, ``walls``...) to :func:`~daf_core.missions.load_mission`,
  policy constructor arguments to the policy's ``init_kwargs``. A plain name is looked up in each place;
  ``ppo.X``, ``trainer.X``, ``mission.X`` and ``policy.X`` say where explicitly. A name that fits nowhere
  (or in two places) is a ``ValueError`` listing what each place accepts: a typo must not cost a sweep.
* **Checks.** PPO and trainer values are validated against their configs, the objective metric's name
  against the evaluation record's fixed columns (``agent/``/``game/`` statistics are checked on each
  trial's records, see :mod:`daf_core.sweeps.trial`) and the missions by loading them. Swept
  ``minibatch_size`` values must give distinct effective minibatches (:mod:`daf_core.sweeps.batch`);
  a random or Bayesian sweep must fit ``num_trials`` distinct parameter sets in its search space; the
  device must be one training can use under the DAFConfig (a GPU is refused when ``enable_gpu`` is
  False).
* **Global settings.** The plan carries the :class:`~daf_core.config.DAFConfig` the trials run under
  (:func:`sweep_daf_config`): device choice, system monitoring, experiment tracking, checkpoint
  directory and how many checkpoints to keep all act in every trial.

A :class:`SweepPlan` is a sweep that passed all of this, plus where its files and study live.
"""

from __future__ import annotations

import difflib
import inspect
import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daf_core._internal.atomic import atomic_write_json
from daf_core.config import DAFConfig, DAFSweepConfig, DAFTrainingConfig, PPOConfig
from daf_core.config.search_space import ParamSpec, parse_search_space, require_grid

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)

RESULTS_FILE = "results.json"
STUDY_FILE = "study.db"
#: Names the sweep that owns a checkpoint directory (see :func:`claim_checkpoint_root`).
CHECKPOINT_OWNER_FILE = "sweep.json"

#: Where a parameter can go: PPO settings, trainer run settings, mission parameters, policy arguments.
DESTINATIONS = ("ppo", "trainer", "mission", "policy")
#: DAFTrainingConfig fields a sweep may vary (the rest are the sweep's own settings).
TRAINER_FIELDS = ("num_steps", "vector_num_envs", "checkpoint_interval", "initial_weights_path")
#: Policy constructor arguments DAF sets itself.
_RESERVED_POLICY_ARGS = ("self", "policy_env_info", "device")
#: Numeric columns every evaluation record has; ``agent/*`` and ``game/*`` stats come with the game.
RECORD_METRICS = ("reward", "reward_per_agent", "steps", "max_steps", "action_timeouts", "wall_time_s")
STAT_PREFIXES = ("agent/", "game/")


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
    from daf_core.missions import mission_parameters  # noqa: PLC0415 - imports mettagrid behind its guard

    mission_params: set[str] | None = None
    for mission in config.missions:
        accepted = set(mission_parameters(mission))
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


def _policy_arguments(name: str) -> tuple[str, tuple[str, ...], bool]:
    """The policy class's full path and constructor arguments (besides the environment and device)."""
    from daf_core.evaluation import policy_class, policy_class_path  # noqa: PLC0415 - imports mettagrid

    try:
        class_path = policy_class_path(name)
    except ValueError as err:
        raise ValueError(f"policy_class_path: {err}") from err
    cls = policy_class(class_path, "policy_class_path")
    parameters = list(inspect.signature(cls.__init__).parameters.values())[2:]  # self, env info
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
    """A validated sweep: its parameters, where each goes, the fixed values, the trial budget and the
    global settings its trials run under."""

    config: DAFSweepConfig
    specs: dict[str, ParamSpec]
    routes: dict[str, Route]
    fixed: dict[str, Any]
    num_trials: int
    policy_class_path: str
    daf_config: DAFConfig

    @property
    def sweep_dir(self) -> Path:
        return Path(self.config.output_dir) / self.config.name

    @property
    def results_path(self) -> Path:
        return self.sweep_dir / RESULTS_FILE

    @property
    def storage_url(self) -> str:
        return self.config.storage or f"sqlite:///{(self.sweep_dir / STUDY_FILE).absolute()}"

    @property
    def storage_label(self) -> str:
        """The storage URL without its password, for logs and results files."""
        return without_password(self.storage_url)

    @property
    def checkpoint_root(self) -> Path:
        """Where the trials' checkpoints go: ``<DAFConfig.checkpoint_dir>/<sweep name>``."""
        return Path(self.daf_config.checkpoint_dir) / self.config.name

    def trial_dir(self, first_attempt: int) -> Path:
        """A trial's files (missions, evaluation, trial.json); a retry shares its first attempt's."""
        return self.sweep_dir / "trials" / f"trial_{first_attempt:04d}"

    def trial_checkpoint_dir(self, first_attempt: int) -> Path:
        """A trial's training runs (one per training seed); a retry resumes its first attempt's."""
        return self.checkpoint_root / f"trial_{first_attempt:04d}"

    def distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        return {name: spec.distribution() for name, spec in self.specs.items() if spec.kind != "fixed"}

    def space_axes(self, names: Iterable[str] | None = None) -> dict[str, Sequence[Any]]:
        """The values each swept name can take (a ``range`` for an int range); float ranges have none."""
        axes: dict[str, Sequence[Any]] = {}
        for name in self.distributions() if names is None else names:
            spec = self.specs[name]
            if spec.kind == "choice":
                axes[name] = spec.choices
            elif spec.integer:
                axes[name] = range(int(spec.low), int(spec.high) + 1)  # type: ignore[arg-type]
        return axes

    def space_size(self, names: Iterable[str] | None = None) -> int | None:
        """How many distinct parameter sets the swept names allow (None: a float range, endless)."""
        names = list(self.distributions() if names is None else names)
        axes = self.space_axes(names)
        return math.prod(len(values) for values in axes.values()) if len(axes) == len(names) else None

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


def without_password(url: str) -> str:
    """A database URL with its password hidden."""
    from urllib.parse import urlsplit, urlunsplit  # noqa: PLC0415

    parts = urlsplit(url)
    if parts.password:
        return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))
    return url


def sweep_daf_config(config: DAFSweepConfig, daf_config: DAFConfig | None = None) -> DAFConfig:
    """The global settings a sweep runs under, with absolute paths (worker processes read them).

    Without a DAFConfig a sweep uses DAFConfig's defaults, except that its files (experiments log,
    ``logs/daf.log``, checkpoints) stay under the sweep's ``output_dir`` and its parallelism is the
    sweep's own ``max_parallel_jobs``.
    """
    if daf_config is None:
        daf_config = DAFConfig(output_dir=config.output_dir, max_parallel_jobs=config.max_parallel_jobs)
    return daf_config.model_copy(
        update={
            "output_dir": Path(daf_config.output_dir).absolute(),
            "checkpoint_dir": Path(daf_config.checkpoint_dir).absolute(),
        }
    )


def plan_sweep(config: DAFSweepConfig, daf_config: DAFConfig | None = None) -> SweepPlan:
    """Validate a sweep completely (names, values, strategy, metric, missions, budget, batch) before any
    trial runs; ``daf_config`` is what its trials run under (see :func:`sweep_daf_config`)."""
    from daf_core.environment_checks import daf_plan_training_device  # noqa: PLC0415 - imports torch
    from daf_core.sweeps.batch import check_minibatch_sizes  # noqa: PLC0415
    from daf_core.training import load_training_missions  # noqa: PLC0415

    specs = parse_search_space(config.search_space)
    if config.strategy == "grid":
        require_grid(specs)
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
    env_cfgs = load_training_missions(config.missions)  # names exist and can be trained together
    fixed = {name: spec.value for name, spec in specs.items() if spec.kind == "fixed"}
    fixed.update(config.base_hyperparameters)
    if config.strategy == "grid":
        num_trials = math.prod(len(s.choices) for s in specs.values() if s.kind == "choice")
        if num_trials != config.num_trials:
            logger.info("grid sweep %s: %d grid points (num_trials is ignored)", config.name, num_trials)
    else:
        num_trials = config.num_trials
    class_path = _policy_arguments(config.policy_class_path)[0]
    destinations = {name: (route.destination, route.field) for name, route in routes.items()}
    check_minibatch_sizes(config, specs, destinations, fixed, env_cfgs[0], class_path)
    daf_config = sweep_daf_config(config, daf_config)
    daf_plan_training_device(config.device, daf_config)  # a device that cannot train, or a GPU refused
    plan = SweepPlan(config, specs, routes, fixed, num_trials, class_path, daf_config)
    size = plan.space_size()
    if size is not None and num_trials > size:
        raise ValueError(
            f"num_trials: {num_trials} trials need {num_trials} distinct parameter sets, but the search "
            f"space has only {size}; lower num_trials or use strategy 'grid'"
        )
    return plan


def claim_checkpoint_root(plan: SweepPlan) -> None:
    """Mark the sweep's checkpoint directory as this sweep's, refusing one another sweep already uses.

    Trials resume whatever checkpoint they find in their directory, so two sweeps of the same name
    (different output directories or storages) sharing one ``DAFConfig.checkpoint_dir`` would resume
    each other's training. The owner is the study's storage: every worker of one sweep has the same.
    """
    owner_file = plan.checkpoint_root / CHECKPOINT_OWNER_FILE
    if owner_file.exists():
        owner = json.loads(owner_file.read_text()).get("storage")
        if owner != plan.storage_label:
            raise ValueError(
                f"checkpoint_dir: {plan.checkpoint_root} holds the checkpoints of sweep "
                f"{plan.config.name!r} with the study in {owner}, not in {plan.storage_label}; give this "
                "sweep another name or DAFConfig.checkpoint_dir"
            )
        return
    atomic_write_json(owner_file, {"sweep": plan.config.name, "storage": plan.storage_label})


def _check_metric_name(metric: str) -> None:
    plain = metric.removeprefix("mean_")
    if metric == "mean_reward" or plain in RECORD_METRICS or metric.startswith(STAT_PREFIXES):
        return
    raise ValueError(
        f"objective_metric: {metric!r} is not something the evaluation records; use 'mean_reward', one of "
        f"{list(RECORD_METRICS)} or a statistic such as 'agent/cell.unique_visited' (any 'agent/...' or "
        "'game/...' column of the evaluation records)"
    )
