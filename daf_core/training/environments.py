"""The environments a run trains on: missions resolved, checked to fit together, built for PufferLib.

Environment ``i`` of a run (``0 <= i < vector_num_envs``) gets the same map seed, mission and
simulation seed whichever vector backend steps it: the index comes from the per-environment ``seed``
PufferLib passes when it builds the environment (``Serial`` gives environment ``i`` seed ``i``;
``Multiprocessing`` gives worker ``w`` a ``Serial`` seeded ``w * envs_per_worker``, hence again ``i``),
never from a count kept in the creator, which every forked worker would copy and restart.
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any

from daf_core._internal.process_state import import_preserving_process_state
from daf_core.missions import load_mission
from daf_core.training.vector_workers import become_environment_worker

logger = logging.getLogger(__name__)

pufferl = import_preserving_process_state("pufferlib.pufferl")
pvector = import_preserving_process_state("pufferlib.vector")
pufferlib = import_preserving_process_state("pufferlib.pufferlib")


#: Training maps come from seeds at or above this, evaluation uses small seeds: the maps a policy is
#: evaluated on were never trained on.
TRAINING_MAP_SEED_BASE = 1_000_000_000


class MissionEnvCreator:
    """Builds PufferLib environments for a rotation of missions.

    Environment ``i`` is built in slot ``i + 1``: it plays mission ``(i + 1) mod M`` on maps from seed
    ``TRAINING_MAP_SEED_BASE + seed * 10**6 + (i + 1) * 10**4`` (mettagrid advances it every episode).
    Slot 0 is the environment PufferLib builds first, without a seed, only to read the spaces from;
    the ``+ 1`` keeps the maps every run drew before the index came from PufferLib's seed (when it
    was the count of environments built, that one included).

    Picklable (PufferLib's multiprocessing backend hands it to workers); builds each environment the
    way cogames' trainer does, with mettagrid's stats tracker and early-reset handler. An unseeded map
    builder would draw maps from OS entropy and make training irreproducible, so each environment gets
    its own map seed.

    ``envs_per_worker`` (None: one process steps them all) makes each environment's reset seed
    ``reset seed + i`` under the multiprocessing backend too: PufferLib's worker ``w`` resets its
    ``j``-th environment with ``seed + w + j``, which collides across workers and differs from the
    serial backend's ``seed + i``. In a worker process, the creator also makes the worker ignore Ctrl-C
    (the trainer stops at the end of the epoch and then closes the workers) and exit if the trainer dies.
    """

    def __init__(self, env_cfgs: list[Any], seed: int, envs_per_worker: int | None = None):
        self.env_cfgs = env_cfgs
        self.seed = seed
        self.envs_per_worker = envs_per_worker
        self.trainer_pid = os.getpid()

    def slot(self, seed: int | None) -> int:
        """The environment's slot: 0 for PufferLib's seedless spaces-only environment, else ``seed + 1``."""
        return 0 if seed is None else seed + 1

    def map_seed(self, seed: int | None) -> int:
        """The first map seed of the environment PufferLib builds with ``seed``."""
        return TRAINING_MAP_SEED_BASE + self.seed * 1_000_000 + self.slot(seed) * 10_000

    def __call__(self, buf: Any = None, seed: int | None = None, **_: Any) -> Any:
        from mettagrid.envs.early_reset_handler import EarlyResetHandler  # noqa: PLC0415
        from mettagrid.envs.stats_tracker import StatsTracker  # noqa: PLC0415
        from mettagrid.simulator import Simulator  # noqa: PLC0415
        from mettagrid.util.stats_writer import NoopStatsWriter  # noqa: PLC0415

        if os.getpid() != self.trainer_pid:
            become_environment_worker(self.trainer_pid)
        slot = self.slot(seed)
        env_cfg = self.env_cfgs[slot % len(self.env_cfgs)].model_copy(deep=True)
        map_builder = env_cfg.game.map_builder
        if getattr(map_builder, "seed", 0) is None:
            map_builder.seed = self.map_seed(seed)
        simulator = Simulator()
        simulator.add_event_handler(StatsTracker(NoopStatsWriter()))
        simulator.add_event_handler(EarlyResetHandler())
        env = _training_env_class()(simulator, env_cfg, buf=buf, seed=seed if seed is not None else 0)
        if seed is not None and self.envs_per_worker:
            worker, local = divmod(seed, self.envs_per_worker)
            env.reset_seed_offset = seed - worker - local
        pufferlib.set_buffers(env, buf)
        return env


@functools.cache
def _training_env_class() -> type:
    """mettagrid's PufferLib environment, with the reset seed shifted by ``reset_seed_offset``."""
    from mettagrid import PufferMettaGridEnv  # noqa: PLC0415

    class TrainingEnv(PufferMettaGridEnv):
        reset_seed_offset = 0

        def reset(self, seed: int | None = None) -> Any:
            return super().reset(None if seed is None else seed + self.reset_seed_offset)

    return TrainingEnv


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
