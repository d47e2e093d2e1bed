"""The environments a run trains on: missions resolved, checked to fit together, built for PufferLib."""

from __future__ import annotations

import logging
from typing import Any

from daf_core._internal.process_state import import_preserving_process_state
from daf_core.missions import load_mission

logger = logging.getLogger(__name__)

pufferl = import_preserving_process_state("pufferlib.pufferl")
pvector = import_preserving_process_state("pufferlib.vector")
pufferlib = import_preserving_process_state("pufferlib.pufferlib")


#: Training maps come from seeds at or above this, evaluation uses small seeds: the maps a policy is
#: evaluated on were never trained on.
TRAINING_MAP_SEED_BASE = 1_000_000_000


class MissionEnvCreator:
    """Builds PufferLib environments for a rotation of missions: env ``i`` plays mission ``i mod M``.

    Picklable (PufferLib's multiprocessing backend sends it to workers); builds each environment the
    way cogames' trainer does, with mettagrid's stats tracker and early-reset handler. An unseeded map
    builder would draw maps from OS entropy and make training irreproducible, so each environment gets
    its own map seed (mettagrid then advances it every episode).
    """

    def __init__(self, env_cfgs: list[Any], seed: int):
        self.env_cfgs = env_cfgs
        self.seed = seed
        self.created = 0

    def __call__(self, buf: Any = None, seed: int | None = None, **_: Any) -> Any:
        from mettagrid import PufferMettaGridEnv  # noqa: PLC0415
        from mettagrid.envs.early_reset_handler import EarlyResetHandler  # noqa: PLC0415
        from mettagrid.envs.stats_tracker import StatsTracker  # noqa: PLC0415
        from mettagrid.simulator import Simulator  # noqa: PLC0415
        from mettagrid.util.stats_writer import NoopStatsWriter  # noqa: PLC0415

        env_cfg = self.env_cfgs[self.created % len(self.env_cfgs)].model_copy(deep=True)
        map_builder = env_cfg.game.map_builder
        if getattr(map_builder, "seed", 0) is None:
            map_builder.seed = TRAINING_MAP_SEED_BASE + self.seed * 1_000_000 + self.created * 10_000
        self.created += 1
        simulator = Simulator()
        simulator.add_event_handler(StatsTracker(NoopStatsWriter()))
        simulator.add_event_handler(EarlyResetHandler())
        env = PufferMettaGridEnv(simulator, env_cfg, buf=buf, seed=seed if seed is not None else 0)
        pufferlib.set_buffers(env, buf)
        return env


def load_training_missions(missions: list[str]) -> list[Any]:
    """Resolve the missions; a rotation needs the same agent count, observations and actions in each."""
    from mettagrid.policy.policy_env_interface import PolicyEnvInterface  # noqa: PLC0415

    env_cfgs = [load_mission(m) for m in missions]
    interfaces = [PolicyEnvInterface.from_mg_cfg(cfg) for cfg in env_cfgs]
    first = interfaces[0]
    for name, cfg, interface in zip(missions, env_cfgs, interfaces, strict=True):
        if cfg.game.num_agents != env_cfgs[0].game.num_agents:
            raise ValueError(
                f"missions: {name!r} has {cfg.game.num_agents} agents but {missions[0]!r} has "
                f"{env_cfgs[0].game.num_agents}; missions trained together need the same agent count "
                "(override it, e.g. load_mission(name, num_agents=4))"
            )
        if (
            interface.action_names != first.action_names
            or interface.observation_space != first.observation_space
        ):
            raise ValueError(f"missions: {name!r} has other actions or observations than {missions[0]!r}")
    return env_cfgs
