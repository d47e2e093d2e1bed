"""The batch a trial trains with, and the minibatch it really gets: minibatch sizes that would all train
alike are refused before any trial runs.

PuffeRL collects a batch of agents x environments x BPTT horizon steps per epoch (the horizon is
``ppo.bptt_horizon``, or 64 for recurrent policies and 1 otherwise, cogames' rule) and needs a minibatch
no larger than the batch and a multiple of the horizon, so DAF's trainer clamps the ``minibatch_size`` it
is given to the batch and rounds it down to the horizon. With 2 agents, 16 environments and horizon
64 the batch is 2048: 4096 (the default) and 8192 both train with 2048, and a sweep over them runs the
same trial twice. :func:`check_minibatch_sizes` computes the batch of every trial configuration the
search space allows (agents, environments and horizon may be swept too) and refuses minibatch choices,
or a minibatch range, that map to one effective minibatch in every one of them; where they collapse only
in some configurations it logs a warning.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from daf_core._internal.process_state import import_preserving_process_state
from daf_core.config import DAFSweepConfig
from daf_core.config.search_space import ParamSpec

if TYPE_CHECKING:
    from daf_core.training.settings import BatchShape

#: Where each search-space name goes: ``(destination, field)``, e.g. ``("ppo", "minibatch_size")``.
Destinations = Mapping[str, tuple[str, str]]

logger = logging.getLogger(__name__)


def check_minibatch_sizes(
    config: DAFSweepConfig,
    specs: Mapping[str, ParamSpec],
    routes: Destinations,
    fixed: Mapping[str, Any],
    env_cfg: Any,
    policy_class_path: str,
) -> None:
    """``ValueError`` when the swept ``minibatch_size`` values train with one effective minibatch."""
    from daf_core.training.settings import BatchShape, bptt_horizon  # noqa: PLC0415 - imports torch

    name = _name_for(routes, "ppo", "minibatch_size")
    spec = specs.get(name) if name else None
    if spec is None or spec.kind == "fixed" or (spec.kind == "choice" and len(spec.choices) < 2):
        return
    values = _values(specs, routes, fixed)
    horizons = values("ppo", "bptt_horizon") or [None]
    if None in horizons:
        policy_kwargs = {routes[n][1]: v for n, v in fixed.items() if routes[n][0] == "policy"}
        recurrent = _is_recurrent(policy_class_path, env_cfg, policy_kwargs)
        horizons = [bptt_horizon(horizon, recurrent) for horizon in horizons]
    cog_counts = [v for n in ("cogs", "num_cogs", "num_agents") for v in values("mission", n)]
    shapes = [
        BatchShape(int(agents), int(envs), int(horizon))
        for agents, envs, horizon in itertools.product(
            cog_counts or [env_cfg.game.num_agents],
            values("trainer", "vector_num_envs") or [config.vector_num_envs],
            horizons,
        )
    ]
    problems = [problem for shape in shapes if (problem := _collapse(name, spec, shape))]
    if len(problems) == len(shapes):
        raise ValueError(problems[0])
    for problem in problems:
        logger.warning("sweep %s: in some trials %s", config.name, problem)


def _name_for(routes: Destinations, destination: str, field: str) -> str | None:
    return next((name for name, route in routes.items() if route == (destination, field)), None)


def _values(specs: Mapping[str, ParamSpec], routes: Destinations, fixed: Mapping[str, Any]) -> Any:
    """A lookup of the values a setting takes over the search space: its choices, a range's bounds, a
    fixed value, or nothing when the sweep does not set it."""

    def lookup(destination: str, field: str) -> list[Any]:
        name = _name_for(routes, destination, field)
        if name is None:
            return []
        if name in fixed:
            return [fixed[name]]
        spec = specs[name]
        return list(spec.choices) if spec.kind == "choice" else [spec.low, spec.high]

    return lookup


def _collapse(name: str, spec: ParamSpec, shape: BatchShape) -> str | None:
    """Why these minibatch values would train alike with this batch (None when they stay distinct)."""
    why = (
        f"{shape.describe()} (PuffeRL needs a minibatch <= the batch and a multiple of the horizon), so "
        "such trials would be identical. Give values that stay distinct (multiples of the horizon up to "
        "the batch) or grow the batch (vector_num_envs, bptt_horizon, agents)"
    )
    if spec.kind == "range":
        low, high = shape.effective_minibatch(int(spec.low)), shape.effective_minibatch(int(spec.high))
        if low != high:
            return None
        return (
            f"search_space: parameter {name!r}: every minibatch_size in "
            f"{{low: {spec.low}, high: {spec.high}}} trains with minibatch {low}: {why}"
        )
    by_effect: dict[int, list[Any]] = {}
    for value in spec.choices:
        by_effect.setdefault(shape.effective_minibatch(int(value)), []).append(value)
    same = [(effect, group) for effect, group in by_effect.items() if len(group) > 1]
    if not same:
        return None
    effect, group = same[0]
    return (
        f"search_space: parameter {name!r}: minibatch_size values {group} all train with minibatch "
        f"{effect}: {why}"
    )


def _is_recurrent(policy_class_path: str, env_cfg: Any, init_kwargs: Mapping[str, Any]) -> bool:
    """Whether the policy trains with the recurrent horizon: DAF's trainer asks the policy the same way."""
    from daf_core.evaluation import PolicySpec  # noqa: PLC0415 - imports mettagrid behind its guard

    loader = import_preserving_process_state("mettagrid.policy.loader")
    interfaces = import_preserving_process_state("mettagrid.policy.policy_env_interface")
    try:
        policy = loader.initialize_or_load_policy(
            interfaces.PolicyEnvInterface.from_mg_cfg(env_cfg),
            PolicySpec(class_path=policy_class_path, init_kwargs=dict(init_kwargs)),
        )
    except Exception as err:  # noqa: BLE001 - reported as the reason the check cannot be made
        raise ValueError(
            f"policy_class_path: cannot build {policy_class_path} to learn its BPTT horizon for the "
            f"minibatch_size check ({type(err).__name__}: {err}); set ppo.bptt_horizon in "
            "base_hyperparameters"
        ) from err
    return bool(getattr(policy, "is_recurrent", lambda: False)())
