"""Episodes of mettagrid's scripted ``random`` and ``noop`` policies without a Python object per agent.

mettagrid's rollout builds each agent's observation token by token in Python every step (about two
thirds of a ``random`` episode's time on ``explore``) and hands it to a policy that never reads it. Here
the simulation is stepped directly, and each step's actions are written into the simulator's action
array, drawn exactly as the per-agent policies draw them:

* ``random`` (``RandomAgentPolicy.step``): for each agent in order, ``random.choices`` between the vibe
  and the primary actions (weights ``vibe_action_p`` and ``1 - vibe_action_p``), then ``random.choice``
  within the category, from Python's global generator, which the caller seeds with the episode seed;
  the same calls in the same order, so the same draws;
* ``noop``: the ``noop`` action for every agent.

A lineup of these two (``random:2+noop:2``, or two ``random`` with different ``vibe_action_p``) runs
here too (:func:`run_scripted_lineup`): each agent's action is drawn as its seat's policy draws it, in
agent order, which is the order mettagrid's loop steps the agents in, so again the same draws.

An action is written the way ``SimulationAgent.set_action`` writes it (vibe actions in the vibe buffer,
the other buffer zeroed). Only these two exact classes take this path (a subclass may override
``step``); ``tests/evaluation`` checks the records equal mettagrid's per-agent loop. Neither policy can
exceed an action-time budget, so ``action_timeouts`` is 0, as it is there.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import random
from collections.abc import Callable, Sequence
from typing import Any

from mettagrid.config.mettagrid_config import MettaGridConfig
from mettagrid.policy.noop import NoopPolicy
from mettagrid.policy.policy import MultiAgentPolicy
from mettagrid.policy.random_agent import RandomMultiAgentPolicy
from mettagrid.simulator import Simulation, Simulator

from daf_core.evaluation.batched_rollout import (
    EpisodeResult,
    env_for_seed,
    raw_buffers,
    raw_simulator,
    stepper,
)

#: A step's action writer: fills the simulation's action buffers for every agent.
ActionWriter = Callable[[], None]


#: The classes this module plays: exactly these (a subclass may override ``step``).
SCRIPTED_CLASSES = (RandomMultiAgentPolicy, NoopPolicy)


def is_scripted(policy: MultiAgentPolicy) -> bool:
    """True for exactly mettagrid's ``RandomMultiAgentPolicy`` and ``NoopPolicy`` (not their subclasses)."""
    return type(policy) in SCRIPTED_CLASSES


def run_scripted_episode(policy: MultiAgentPolicy, env_cfg: MettaGridConfig, seed: int) -> EpisodeResult:
    """One episode of ``policy`` playing every agent; the caller has seeded the generators with ``seed``."""
    return _run(env_cfg, seed, lambda sim: _action_writer(policy, sim))


def run_scripted_lineup(
    seated: Sequence[MultiAgentPolicy], env_cfg: MettaGridConfig, seed: int
) -> EpisodeResult:
    """One episode with agent ``i`` played by ``seated[i]`` (each one :func:`is_scripted`); the caller has
    seeded the generators with ``seed``."""
    return _run(env_cfg, seed, lambda sim: _seated_writer(seated, sim))


def _run(env_cfg: MettaGridConfig, seed: int, writer: Callable[[Simulation], ActionWriter]) -> EpisodeResult:
    sim = Simulator().new_simulation(env_for_seed(env_cfg, seed), seed)
    try:
        write_actions = writer(sim)
        step = stepper(sim)
        is_done = sim.is_done
        while not is_done():
            write_actions()
            step()
        return EpisodeResult(
            rewards=[float(r) for r in sim.episode_rewards],
            steps=int(sim.current_step),
            stats=sim.episode_stats,
            action_timeouts=[0] * sim.num_agents,
        )
    finally:
        sim.close()


def _action_writer(policy: MultiAgentPolicy, sim: Simulation) -> ActionWriter:
    actions = raw_buffers(sim)[1]
    vibe_actions = raw_simulator(sim).vibe_actions()  # where set_action writes vibe actions
    num_agents = sim.num_agents

    if type(policy) is NoopPolicy:
        noop = sim.action_ids["noop"]

        def write_noop() -> None:
            actions[:] = noop
            vibe_actions[:] = 0

        return write_noop

    draw = agent_draw(policy, sim)

    def write_random() -> None:
        drawn = [draw() for _ in range(num_agents)]
        actions[:] = [0 if is_vibe else index for is_vibe, index in drawn]
        vibe_actions[:] = [index if is_vibe else 0 for is_vibe, index in drawn]

    return write_random


def _seated_writer(seated: Sequence[MultiAgentPolicy], sim: Simulation) -> ActionWriter:
    """Each agent's action drawn by its own seat's policy, agent after agent (one draw function per
    member, so two agents of one member share it, as they share its generator)."""
    actions = raw_buffers(sim)[1]
    vibe_actions = raw_simulator(sim).vibe_actions()
    draws: dict[int, Callable[[], tuple[bool, int]]] = {}
    for policy in seated:
        draws.setdefault(id(policy), agent_draw(policy, sim))
    per_agent = [draws[id(policy)] for policy in seated]

    def write_seated() -> None:
        drawn = [draw() for draw in per_agent]
        actions[:] = [0 if is_vibe else index for is_vibe, index in drawn]
        vibe_actions[:] = [index if is_vibe else 0 for is_vibe, index in drawn]

    return write_seated


def agent_draw(
    policy: MultiAgentPolicy, sim: Simulation, rng: random.Random | None = None
) -> Callable[[], tuple[bool, int]]:
    """One agent's action as ``(is_vibe, action index)``, drawn as ``policy``'s per-agent step draws it,
    from ``rng`` (by default Python's global generator, the one the per-agent step draws from)."""
    ids = sim.action_ids
    vibe_names = set(sim.vibe_action_names)

    def slot(name: str) -> tuple[bool, int]:
        return name in vibe_names, ids[name]

    if type(policy) is NoopPolicy:
        noop = slot("noop")
        return lambda: noop

    # RandomAgentPolicy: categories in its order (vibe first), weights as it computes them.
    interface = policy.policy_env_info
    vibe_p = float(policy._vibe_action_p)  # noqa: SLF001 - the one parameter of mettagrid's random policy
    categories: list[list[tuple[bool, int]]] = []
    weights: list[float] = []
    if interface.vibe_action_names:
        categories.append([slot(name) for name in interface.vibe_action_names])
        weights.append(vibe_p)
    if interface.action_names:
        categories.append([slot(name) for name in interface.action_names])
        weights.append(1.0 - vibe_p)
    if not categories:
        raise ValueError("PolicyEnvInterface must define at least one action")
    return _random_draw(categories, weights, random._inst if rng is None else rng)  # noqa: SLF001 - global


def _random_draw(categories: list[list[Any]], weights: list[float], rng: random.Random) -> Callable[[], Any]:
    """``rng.choice(rng.choices(categories, weights=weights)[0])``, inlined.

    The same two stdlib algorithms with their set-up hoisted out of the per-agent call: ``choices`` draws
    one ``random()`` and bisects the cumulative weights, ``choice`` draws ``getrandbits(k)`` until it is
    below the length. Checked against the stdlib calls on this interpreter once per process; if they ever
    disagreed, the stdlib calls themselves would be used.
    """
    if _inlined_draws_match_stdlib():
        return _inlined(rng, categories, weights)
    return _stdlib(rng, categories, weights)


def _inlined(rng: random.Random, categories: list[list[Any]], weights: list[float]) -> Callable[[], Any]:
    cumulative = list(itertools.accumulate(weights))
    total, last = cumulative[-1] + 0.0, len(cumulative) - 1
    sizes = [(len(category), len(category).bit_length()) for category in categories]
    uniform, bits, bisect_right = rng.random, rng.getrandbits, bisect.bisect

    def draw() -> Any:
        chosen = bisect_right(cumulative, uniform() * total, 0, last)
        size, width = sizes[chosen]
        pick = bits(width)
        while pick >= size:
            pick = bits(width)
        return categories[chosen][pick]

    return draw


def _stdlib(rng: random.Random, categories: list[list[Any]], weights: list[float]) -> Callable[[], Any]:
    return lambda: rng.choice(rng.choices(categories, weights=weights)[0])


@functools.cache
def _inlined_draws_match_stdlib() -> bool:
    """Both ways give the same draws and leave the generator in the same state (private generators)."""
    for categories, weights in (
        ([list(range(3)), list(range(5))], [0.5, 0.5]),
        ([list(range(1)), list(range(8)), list(range(150))], [0.2, 0.3, 0.5]),
        ([list(range(5))], [0.5]),
    ):
        fast_rng, slow_rng = random.Random(20261203), random.Random(20261203)
        fast, slow = _inlined(fast_rng, categories, weights), _stdlib(slow_rng, categories, weights)
        if any(fast() != slow() for _ in range(500)) or fast_rng.random() != slow_rng.random():
            return False
    return True
