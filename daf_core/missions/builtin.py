"""DAF's built-in missions: dense-reward mettagrid games whose policy ordering is known in advance.

The stock mettagrid environments reward only hearts, which nothing on their maps produces: every policy
would score 0 and no comparison or training curve would mean anything. ``explore`` and its siblings
reward each distinct cell visited; ``collect`` rewards picking up coins, a reactive task that ``lstm``
learns within 300k CPU steps.
"""

from __future__ import annotations

from typing import Any, ClassVar

from cogames.core import CoGameMission
from mettagrid.builder import building
from mettagrid.config.game_value import StatValue
from mettagrid.config.handler_config import Handler
from mettagrid.config.mettagrid_config import (
    ActionsConfig,
    AgentConfig,
    ChangeVibeActionConfig,
    GameConfig,
    GridObjectConfig,
    InventoryConfig,
    MettaGridConfig,
    MoveActionConfig,
    NoopActionConfig,
)
from mettagrid.config.mutation import StatsTarget, logStat, updateActor, withdraw
from mettagrid.config.mutation.stats_mutation import StatsEntity
from mettagrid.config.obs_config import ObsConfig
from mettagrid.config.reward_config import reward
from mettagrid.map_builder.random_map import RandomMapBuilder
from pydantic import Field

BUILTIN_MISSION_PARAMETERS = ("num_cogs", "width", "height", "walls", "max_steps", "reward_per_cell")
COLLECT_MISSION_PARAMETERS = ("num_cogs", "length", "coins", "max_steps", "view", "reward_per_coin")


def moves_and_noop() -> ActionsConfig:
    """Only the four moves and noop: mettagrid enables ~150 vibe-change actions by default, which would
    drown the 5 actions that matter and slow learning several-fold."""
    return ActionsConfig(
        move=MoveActionConfig(enabled=True),
        noop=NoopActionConfig(enabled=True),
        change_vibe=ChangeVibeActionConfig(enabled=False),
    )


class ExploreMission(CoGameMission):
    """Agents on a walled random map, rewarded for each distinct cell they visit.

    The reward is dense enough that a recurrent policy learns to sweep the map within a few hundred
    thousand agent steps on a CPU, while ``random`` revisits cells and ``noop`` stays put: the
    ordering of policies is known in advance, which makes these missions good test instruments.
    """

    parameters: ClassVar[tuple[str, ...]] = BUILTIN_MISSION_PARAMETERS
    description: str = "Explore a random walled map; reward per distinct cell visited."
    num_cogs: int = Field(default=4, ge=1)
    width: int = Field(default=16, ge=4)
    height: int = Field(default=16, ge=4)
    walls: int = Field(default=20, ge=0)
    max_steps: int = Field(default=200, ge=1)
    reward_per_cell: float = Field(default=0.01, gt=0)
    # The map builder is derived from the fields above in make_base_env; this value only satisfies
    # CoGameMission's schema (and is what cogames shows when it lists the mission).
    map_builder: Any = Field(default_factory=RandomMapBuilder.Config)

    def make_base_env(self) -> MettaGridConfig:
        free_cells = (self.width - 2) * (self.height - 2)
        if self.walls + self.num_cogs > free_cells:
            raise ValueError(
                f"mission '{self.name}': walls={self.walls} plus num_cogs={self.num_cogs} do not fit in the "
                f"{free_cells} free cells of a {self.width}x{self.height} map"
            )
        map_builder = RandomMapBuilder.Config(
            width=self.width,
            height=self.height,
            agents=self.num_cogs,
            objects={"wall": self.walls} if self.walls else {},
            border_width=1,
        )
        return MettaGridConfig(
            label=self.name,
            game=GameConfig(
                num_agents=self.num_cogs,
                max_steps=self.max_steps,
                objects={"wall": building.wall},
                resource_names=["heart"],
                actions=moves_and_noop(),
                agent=AgentConfig(
                    rewards={
                        "explore": reward(StatValue(name="cell.unique_visited"), weight=self.reward_per_cell)
                    }
                ),
                map_builder=map_builder,
            ),
        )


class CollectMission(CoGameMission):
    """Agents on a one-cell-wide track strewn with coins; reward per coin picked up (by walking into it).

    Why this shape: ``lstm`` (and ``stateless``) read the observation as raw token bytes, and cogames'
    trainer makes only about 150 gradient steps in 300k agent steps, so only a nearly linear rule is
    learnt that fast. On a track seen through a ``view`` x 1 window, the location byte of the nearest
    object token is its column (the agent sits at ``view // 2``), so "walk toward the nearest coin" is a
    threshold on one input; in two dimensions the byte packs row and column and the rule is not learnt in
    time. ``random`` wastes two moves in five on the track's side walls and dithers, ``noop`` scores 0, and
    a trained ``lstm`` collects more than twice what ``random`` does. Taken coins vanish; the agent keeps
    none (a coin in its inventory would shift every token after it), so the reward counts a stat.
    """

    parameters: ClassVar[tuple[str, ...]] = COLLECT_MISSION_PARAMETERS
    description: str = "Pick up coins on a one-cell-wide track; reward per coin."
    num_cogs: int = Field(default=2, ge=1)
    length: int = Field(default=64, ge=4)
    coins: int = Field(default=40, ge=0)
    max_steps: int = Field(default=150, ge=1)
    view: int = Field(default=13, ge=3, le=15)
    reward_per_coin: float = Field(default=1.0, gt=0)
    map_builder: Any = Field(default_factory=RandomMapBuilder.Config)

    def make_base_env(self) -> MettaGridConfig:
        free_cells = self.length - 2
        if self.coins + self.num_cogs > free_cells:
            raise ValueError(
                f"mission '{self.name}': coins={self.coins} plus num_cogs={self.num_cogs} do not fit "
                f"on a track of {free_cells} free cells (length={self.length})"
            )
        if self.view % 2 == 0:
            raise ValueError(
                f"mission '{self.name}': view={self.view} must be odd (the agent sits at the centre)"
            )
        take_coin = Handler(
            mutations=[
                withdraw({"coin": 1}, remove_when_empty=True),
                updateActor({"coin": -1}),
                logStat("coins.collected", target=StatsTarget.AGENT, entity=StatsEntity.ACTOR),
            ]
        )
        coin = GridObjectConfig(
            name="coin", inventory=InventoryConfig(initial={"coin": 1}), on_use_handler=take_coin
        )
        return MettaGridConfig(
            label=self.name,
            game=GameConfig(
                num_agents=self.num_cogs,
                max_steps=self.max_steps,
                objects={"wall": building.wall, "coin": coin},
                resource_names=["coin"],
                actions=moves_and_noop(),
                agent=AgentConfig(
                    rewards={"coins": reward(StatValue(name="coins.collected"), weight=self.reward_per_coin)}
                ),
                # One row: the track. 32 tokens hold the globals, the agent and the nearest objects (tokens
                # are ordered nearest first, so only the farthest are dropped) and keep the network small.
                obs=ObsConfig(width=self.view, height=1, num_tokens=32),
                map_builder=RandomMapBuilder.Config(
                    width=self.length,
                    height=3,
                    agents=self.num_cogs,
                    objects={"coin": self.coins} if self.coins else {},
                    border_width=1,
                ),
            ),
        )


BUILTIN_MISSIONS: dict[str, ExploreMission | CollectMission] = {
    mission.name: mission
    for mission in (
        ExploreMission(
            name="tiny_walk",
            description="2 agents, 8x8 map, 100 steps: the smallest real episode, for smoke tests.",
            num_cogs=2,
            width=8,
            height=8,
            walls=4,
            max_steps=100,
        ),
        ExploreMission(
            name="explore",
            description="4 agents, 16x16 map with 20 walls, 200 steps: learnable on a CPU in minutes.",
        ),
        ExploreMission(
            name="explore_large",
            description="8 agents, 24x24 map with 60 walls, 300 steps: a harder, longer exploration task.",
            num_cogs=8,
            width=24,
            height=24,
            walls=60,
            max_steps=300,
        ),
        CollectMission(
            name="collect",
            description="2 agents, a 62-cell track with 40 coins, 150 steps: lstm learns it in 300k steps.",
        ),
    )
}
