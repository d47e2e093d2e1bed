"""The sweep plan: where each search-space name goes, and everything checked before any trial runs.

* **Routing.** Every search-space name is sent where it belongs before any trial runs: PPO settings to
  :class:`~daf_core.config.PPOConfig`, a few run settings (``num_steps``, ``vector_num_envs``...) to the
  trainer, mission parameters (``max_steps``, ``walls``...) to :func:`~daf_core.missions.load_mission`,
  policy constructor arguments to the policy's ``init_kwargs``. A plain name is looked up in each place;
  ``ppo.X``, ``trainer.X``, ``mission.X`` and ``policy.X`` say where explicitly. A name that fits nowhere
  (or in two places) is a ``ValueError`` listing what each place accepts: a typo must not cost a sweep.
* **Checks.** PPO and trainer values are validated against their configs, the objective metric's name
  against the evaluation record's fixed columns (``agent/``/``game/`` statistics are checked on each
  trial's records, see :mod:`daf_core.sweeps.trial`) and the missions by loading them. A
  :class:`SweepPlan` is a sweep that passed all of this, plus where its files and study live.
"""

from __future__ import annotations

import difflib
import inspect
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daf_core.config import DAFSweepConfig, DAFTrainingConfig, PPOConfig
from daf_core.config.search_space import ParamSpec, parse_search_space, require_grid

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)

RESULTS_FILE = "results.json"
STUDY_FILE = "study.db"

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
    if metric == "mean_reward" or plain in RECORD_METRICS or metric.startswith(STAT_PREFIXES):
        return
    raise ValueError(
        f"objective_metric: {metric!r} is not something the evaluation records; use 'mean_reward', one of "
        f"{list(RECORD_METRICS)} or a statistic such as 'agent/cell.unique_visited' (any 'agent/...' or "
        "'game/...' column of the evaluation records)"
    )
