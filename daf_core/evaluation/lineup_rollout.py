"""Episodes of a lineup with neural members, several at once, one network call per member per step.

A lineup's episodes through mettagrid's per-agent loop cost what self-play networks cost there (one
forward pass per agent per step, the observation rebuilt token by token): about a second per
``explore`` episode for ``lstm:2+random:2``. Here, as in :mod:`~daf_core.evaluation.batched_rollout`, the
simulations of several episodes advance in lockstep: each step, every agent that a network member plays,
in every running episode, goes through that member's network in one batch, and the agents of
mettagrid's ``random`` / ``noop`` get their actions drawn as their per-agent policies draw them
(:func:`~daf_core.evaluation.scripted_rollout.agent_draw`).

What stays as in mettagrid's per-agent loop is what the batched rollout keeps (the map of each seed,
the observation tokens with ``[255, 0, 0]`` padding, sampling from the softmax of the logits, zero
recurrent state at the start of each episode, rewards and stats read from the simulation), and:

* ``random`` agents draw from ``random.Random(seed)``, in agent order: the generator the per-agent loop's
  ``random`` agents draw from once the episode seed is set, in the same order, so the same draws;
* network agents draw from a torch generator of their own episode (member by member, agent by agent), so
  an episode never depends on the episodes that share its batch; the draws differ from the per-agent
  loop's (as in self-play's lockstep), their distribution does not. A deterministic network gives
  exactly the per-agent loop's records (``tests/evaluation/test_lineups.py``).

There is no per-step action-time budget on this path, so ``action_timeouts`` is 0 here.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
from mettagrid.config.mettagrid_config import MettaGridConfig
from mettagrid.policy.policy import MultiAgentPolicy
from mettagrid.simulator import Simulator

from daf_core.evaluation.batched_rollout import (
    EpisodeResult,
    batchable_network,
    clear_empty_tokens,
    env_for_seed,
    initial_state,
    raw_buffers,
    raw_simulator,
    stepper,
)
from daf_core.evaluation.scripted_rollout import agent_draw, is_scripted


def runs_in_lockstep(members: Sequence[MultiAgentPolicy]) -> bool:
    """True when a lineup can run here: at least one network member, every other member scripted."""
    networks = [batchable_network(member) is not None for member in members]
    return any(networks) and all(net or is_scripted(m) for net, m in zip(networks, members, strict=True))


def run_lineup_episodes(
    members: Sequence[MultiAgentPolicy],
    seats: Sequence[Sequence[int]],
    env_cfg: MettaGridConfig,
    seeds: Sequence[int],
    device: str = "cpu",
) -> list[EpisodeResult]:
    """Play one episode per seed, all at once; agent ``i`` of episode ``k`` is played by
    ``members[seats[k][i]]``."""
    import torch  # noqa: PLC0415 - only neural policies reach this module's work

    networks = {m: batchable_network(member) for m, member in enumerate(members)}
    networks = {m: network for m, network in networks.items() if network is not None}
    for network in networks.values():
        network.eval()
    sims = [Simulator().new_simulation(env_for_seed(env_cfg, seed), seed) for seed in seeds]
    try:
        buffers = [raw_buffers(sim) for sim in sims]
        vibe_actions = [raw_simulator(sim).vibe_actions() for sim in sims]
        steps = [stepper(sim) for sim in sims]
        generators = [torch.Generator().manual_seed(seed) for seed in seeds]
        # Each network member's agents in each episode, and its recurrent state: one row per such agent,
        # episode after episode (rows[m][k] are episode k's).
        agents = {m: [np.flatnonzero(np.asarray(s) == m) for s in seats] for m in networks}
        bounds = {m: np.cumsum([0, *map(len, agents[m])]) for m in networks}
        rows = {
            m: [torch.arange(int(b[k]), int(b[k + 1])) for k in range(len(sims))] for m, b in bounds.items()
        }
        states = {
            m: initial_state(members[m], net, int(bounds[m][-1]), device) for m, net in networks.items()
        }
        scripted = []
        for k, (sim, seed) in enumerate(zip(sims, seeds, strict=True)):
            rng = random.Random(seed)  # one per episode, shared by its scripted members, as the global one is
            draws = {m: agent_draw(members[m], sim, rng) for m in sorted(set(seats[k])) if m not in networks}
            scripted.append([(agent, draws[m]) for agent, m in enumerate(seats[k]) if m in draws])
        with torch.inference_mode():
            active = [k for k, sim in enumerate(sims) if not sim.is_done()]
            while active:
                for m, network in networks.items():
                    playing = [k for k in active if len(agents[m][k])]
                    if not playing:
                        continue
                    tokens = torch.from_numpy(np.concatenate([buffers[k][0][agents[m][k]] for k in playing]))
                    clear_empty_tokens(tokens)
                    state = states[m]
                    picked = torch.cat([rows[m][k] for k in playing])
                    step_state = (
                        None if state is None else {key: value[picked] for key, value in state.items()}
                    )
                    logits, _ = network.forward_eval(tokens.to(device), step_state)
                    if state is not None and step_state is not None:
                        for key in state:
                            state[key][picked] = step_state[key].reshape(state[key][picked].shape)
                    probabilities = torch.softmax(logits.float(), dim=-1).cpu()
                    start = 0
                    for k in playing:
                        count = len(agents[m][k])
                        block = probabilities[start : start + count]
                        start += count
                        sampled = torch.multinomial(block, 1, generator=generators[k]).squeeze(1).numpy()
                        buffers[k][1][agents[m][k]] = sampled
                        vibe_actions[k][agents[m][k]] = 0
                for k in active:
                    actions, vibes = buffers[k][1], vibe_actions[k]
                    for agent, draw in scripted[k]:
                        is_vibe, index = draw()
                        actions[agent], vibes[agent] = (0, index) if is_vibe else (index, 0)
                    steps[k]()
                active = [k for k in active if not sims[k].is_done()]
        return [EpisodeResult.of(sim) for sim in sims]
    finally:
        for sim in sims:
            sim.close()
