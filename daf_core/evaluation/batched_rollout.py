"""Episodes of a neural policy, several at once, with one network call per step.

mettagrid's rollout asks each agent's policy for an action in turn: for a network that is one forward
pass per agent per step, with the observation rebuilt token by token in Python. That is why evaluating
a trained policy is 10-20x slower than stepping the simulator. Here the simulations of several episodes
advance in lockstep and every agent of every episode goes through the network in a single batch.

What stays the same as mettagrid's rollout, so scores are comparable with ``cogames.evaluate``:

* each episode is ``Simulator().new_simulation(env, seed)`` on the map its seed selects;
* the network sees exactly what mettagrid's per-agent path feeds it: the simulator's observation
  tokens, with unused token slots as ``[255, 0, 0]`` (the raw buffer pads with ``[255, 255, 255]``);
* actions are sampled from the softmax of the logits, recurrent state starts at zero each episode;
* rewards, steps and stats are read from the simulation itself (see :func:`raw_buffers` for why the
  arrays are read the way they are).

Each episode samples from its own generator seeded with the episode seed, so an episode's actions do
not depend on which other episodes share its batch. There is no per-step action-time budget on this
path (a batch has no per-agent time), so ``action_timeouts`` is always 0 here.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from mettagrid.config.mettagrid_config import MettaGridConfig
from mettagrid.map_builder.map_builder import HasSeed
from mettagrid.policy.policy import MultiAgentPolicy
from mettagrid.simulator import Simulation, Simulator

logger = logging.getLogger(__name__)

#: Episodes run together in one batch. Fixed, so that batches never depend on the worker count.
EPISODES_PER_BATCH = 8

_EMPTY_TOKEN = 255


@dataclass
class EpisodeResult:
    """The fields of mettagrid's episode result that DAF records."""

    rewards: list[float]
    steps: int
    stats: dict[str, Any]
    action_timeouts: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, sim: Simulation) -> EpisodeResult:
        """A finished simulation's result; lockstep episodes have no per-step budget, so no timeouts."""
        return cls(
            rewards=[float(r) for r in sim.episode_rewards],
            steps=int(sim.current_step),
            stats=sim.episode_stats,
            action_timeouts=[0],
        )


def has_network(policy_class: type) -> bool:
    """True for policy classes that override ``MultiAgentPolicy.network`` (trainable, batchable ones)."""
    return getattr(policy_class, "network", None) is not MultiAgentPolicy.network


def batchable_network(policy: MultiAgentPolicy) -> Any | None:
    """The policy's network if it follows PufferLib's ``forward_eval(obs, state)`` convention, else None."""
    network = policy.network() if hasattr(policy, "network") else None
    return network if network is not None and hasattr(network, "forward_eval") else None


def run_batched_episodes(
    policy: MultiAgentPolicy, env_cfg: MettaGridConfig, seeds: list[int], device: str = "cpu"
) -> list[EpisodeResult]:
    """Play one episode per seed, all at once, with every agent controlled by ``policy``'s network."""
    import torch  # noqa: PLC0415 - only neural policies reach this module's work

    network = batchable_network(policy)
    if network is None:
        raise ValueError(f"policy {type(policy).__name__}: no network with forward_eval to batch")
    network.eval()
    num_agents = env_cfg.game.num_agents
    sims = [Simulator().new_simulation(env_for_seed(env_cfg, seed), seed) for seed in seeds]
    buffers = [raw_buffers(sim) for sim in sims]  # the simulator's own arrays, the same every step
    steps = [stepper(sim) for sim in sims]
    generators = [torch.Generator().manual_seed(seed) for seed in seeds]
    state = initial_state(policy, network, len(seeds) * num_agents, device)
    # While every episode runs (all of them, on fixed-length missions) the whole batch goes through the
    # network as it is: one observation array filled in place, the recurrent state passed without a copy.
    everyone = np.empty((len(sims) * num_agents, *buffers[0][0].shape[1:]), dtype=buffers[0][0].dtype)
    try:
        with torch.inference_mode():
            active = [k for k, sim in enumerate(sims) if not sim.is_done()]
            while active:
                if len(active) == len(sims):
                    observations = np.concatenate([obs for obs, _ in buffers], out=everyone)
                    step_state, rows = state, None
                else:
                    rows = torch.cat([torch.arange(k * num_agents, (k + 1) * num_agents) for k in active])
                    observations = np.concatenate([buffers[k][0] for k in active])
                    step_state = None if state is None else {key: value[rows] for key, value in state.items()}
                tokens = torch.from_numpy(observations)
                clear_empty_tokens(tokens)
                logits, _ = network.forward_eval(tokens.to(device), step_state)
                if state is not None and step_state is not None:
                    for key in state:
                        if rows is None:
                            state[key] = step_state[key].reshape(state[key].shape)
                        else:
                            state[key][rows] = step_state[key].reshape(state[key][rows].shape)
                probabilities = torch.softmax(logits.float(), dim=-1).cpu()
                for offset, k in enumerate(active):
                    block = probabilities[offset * num_agents : (offset + 1) * num_agents]
                    actions = torch.multinomial(block, 1, generator=generators[k]).squeeze(1)
                    buffers[k][1][:] = actions.numpy()
                    steps[k]()
                active = [k for k in active if not sims[k].is_done()]
        return [EpisodeResult.of(sim) for sim in sims]
    finally:
        for sim in sims:
            sim.close()


#: The mettagrid release :func:`raw_buffers` was checked against.
_CHECKED_METTAGRID = "0.26.21"


def raw_buffers(sim: Simulation) -> tuple[np.ndarray, np.ndarray]:
    """The simulation's observation and action arrays, through mettagrid's private ``_c_sim``.

    Why the private attribute: ``Simulation`` exposes observations publicly only as per-agent objects
    (the slow path this module exists to avoid). Its public ``Buffers`` route
    (``Simulator.new_simulation(..., buffers=...)``) hands the same arrays over, but setting buffers makes
    the simulator compute the first observation twice, which adds one observation's worth to the
    ``game/tokens_free_space`` statistic, so records would differ from ``cogames.evaluate``'s.
    Checked against mettagrid 0.26.21 (the version cogames 0.27.3 pins).
    """
    c_sim = raw_simulator(sim)
    return c_sim.observations(), c_sim.actions()


def env_for_seed(env_cfg: MettaGridConfig, seed: int) -> MettaGridConfig:
    """``mettagrid.runner.rollout.resolve_env_for_seed`` without its deep copy of the whole config.

    An unseeded map builder takes the episode seed (mettagrid ties the map to it); only the objects on the
    way to the builder's seed are copied, the rest is shared, which the simulation only reads. The deep
    copy cost more than a whole ``random`` episode's actions on ``explore``.
    """
    map_builder = env_cfg.game.map_builder
    if not isinstance(map_builder, HasSeed) or map_builder.seed is not None:
        return env_cfg
    seeded = map_builder.model_copy(update={"seed": int(seed)})
    return env_cfg.model_copy(update={"game": env_cfg.game.model_copy(update={"map_builder": seeded})})


def clear_empty_tokens(observations: Any) -> None:
    """Unused token slots ``[255, 255, 255]`` become ``[255, 0, 0]`` in place (mettagrid's per-agent padding).

    A slot is unused when all three bytes are 255, i.e. when their bitwise and is 255; multiplying the last
    two bytes by "used" is the same as assigning through a boolean mask. On the torch tensor that shares
    the observation array's memory: about 8x faster than numpy's masked assignment.
    """
    used = (observations[..., 0] & observations[..., 1] & observations[..., 2]) != _EMPTY_TOKEN
    observations[..., 1:] *= used.unsqueeze(-1)


def stepper(sim: Simulation) -> Callable[[], None]:
    """The simulation's step: the C simulator's own when ``Simulation.step`` would add nothing to it.

    ``Simulation.step`` wraps the C step in stopwatch timers (more time than the step itself on small maps),
    delivers queued talk (these rollouts never queue any) and calls the event handlers; a bare
    ``Simulator()`` has none unless the game ends episodes on game stats, and then ``sim.step`` is used.
    """
    if getattr(sim, "_event_handlers", True):
        return sim.step
    return raw_simulator(sim).step


def raw_simulator(sim: Simulation) -> Any:
    """mettagrid's C simulation behind ``sim`` (see :func:`raw_buffers`)."""
    c_sim = getattr(sim, "_c_sim", None)
    if c_sim is None:
        raise RuntimeError(
            f"mettagrid {importlib.metadata.version('mettagrid')}: Simulation has no _c_sim; the batched "
            f"rollout was written against mettagrid {_CHECKED_METTAGRID}. Evaluate with batch_networks=False."
        )
    return c_sim


def initial_state(policy: MultiAgentPolicy, network: Any, rows: int, device: str) -> dict[str, Any] | None:
    """Zero LSTM state for ``rows`` agents; None for feed-forward nets."""
    recurrent = getattr(policy, "is_recurrent", lambda: False)()
    return zero_recurrent_state(network, rows, device) if recurrent else None


def zero_recurrent_state(network: Any, rows: int, device: str = "cpu") -> dict[str, Any]:
    """Zero LSTM state of a recurrent PufferLib network in its layout ``(rows, layers, hidden)``.

    The one place that knows the layout: the batched rollout and the policy server both start episodes here.
    """
    import torch  # noqa: PLC0415

    rnn = getattr(network, "_rnn", None)
    layers = rnn.num_layers * (2 if rnn.bidirectional else 1) if rnn is not None else 1
    shape = (rows, layers, int(network.hidden_size))
    return {"lstm_h": torch.zeros(shape, device=device), "lstm_c": torch.zeros(shape, device=device)}
