"""Records as evaluate_policies writes them, built by hand: tests of the analysis need no simulator."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd


def episode(population: str, mission: str, seed: int, seats: Sequence[str], rewards: Sequence[float]) -> dict:
    """One record: ``seats`` is the policy of each agent, ``rewards`` each agent's reward."""
    return {
        "policy": population,
        "mission": mission,
        "episode": seed,
        "seed": seed,
        "reward": float(sum(rewards)),
        "agent_rewards": [float(r) for r in rewards],
        "agent_policies": list(seats),
        "lineup": population,
    }


def play(
    lineups: Sequence[Mapping[str, int]],
    missions: Sequence[str],
    seeds: Sequence[int],
    reward: Callable[[str, str, int, Mapping[str, int]], float],
) -> pd.DataFrame:
    """Records of every lineup on every mission and seed; ``reward(policy, mission, seed, lineup)`` gives
    each agent's reward (called once per agent)."""
    rows = []
    for mission in missions:
        for seed in seeds:
            for lineup in lineups:
                seats = [p for p, c in lineup.items() for _ in range(c)]
                name = "+".join(f"{p}:{c}" for p, c in lineup.items())
                rows.append(
                    episode(name, mission, seed, seats, [reward(p, mission, seed, lineup) for p in seats])
                )
    return pd.DataFrame(rows)


def normal_rewards(means: Mapping[str, float], *, seed_sd: float, noise_sd: float, rng: np.random.Generator):
    """A reward function: policy mean + a seed (map) effect shared by every lineup on that seed + noise."""
    effects: dict[tuple[str, int], float] = {}

    def reward(policy: str, mission: str, seed: int, lineup: Mapping[str, int]) -> float:
        shared = effects.setdefault((mission, seed), rng.normal(0, seed_sd))
        return means[policy] + shared + rng.normal(0, noise_sd)

    return reward


def crn_records(
    lineups: Sequence[Mapping[str, int]],
    missions: Sequence[str],
    n_seeds: int,
    means: Mapping[str, float],
    *,
    seed_sd: float,
    noise_sd: float,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """What :func:`play` with :func:`normal_rewards` gives, drawn with numpy at once (for simulations
    of thousands of missions)."""
    shared = rng.normal(0, seed_sd, (len(missions), n_seeds, 1))
    frames = []
    for lineup in lineups:
        seats = [p for p, c in lineup.items() for _ in range(c)]
        rewards = (
            np.array([means[p] for p in seats])
            + shared
            + rng.normal(0, noise_sd, shared.shape[:2] + (len(seats),))
        )
        name = "+".join(f"{p}:{c}" for p, c in lineup.items())
        frames.append(
            pd.DataFrame(
                {
                    "policy": name,
                    "mission": np.repeat(missions, n_seeds),
                    "episode": np.tile(np.arange(n_seeds), len(missions)),
                    "seed": np.tile(np.arange(n_seeds), len(missions)),
                    "reward": rewards.sum(axis=-1).ravel(),
                    "agent_rewards": list(rewards.reshape(-1, len(seats)).tolist()),
                    "agent_policies": [seats] * (len(missions) * n_seeds),
                    "lineup": name,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
