"""The mission catalog: DAF's built-in missions, mission files, and installed cogames games.

cogames 0.27.3 ships no game (its games are separate packages that are not on the package index),
so DAF brings missions of its own, built with mettagrid's config API and registered with cogames
as the game ``daf`` so that cogames' own tooling (``cogames.cli.mission.get_mission``) resolves them.

Names resolve in this order:

1. a path ending in ``.yaml``/``.yml``/``.json`` is a serialised ``MettaGridConfig`` (a mission file);
2. ``game:mission`` names a mission of an installed cogames game (``cogsguard:...`` when installed);
3. a plain name is a built-in DAF mission, else a mission of an installed cogames game.

Built-in missions have dense rewards of their own, because the stock mettagrid environments reward
only hearts, which nothing on their maps produces: every policy would score 0 and no comparison or
training curve would mean anything. ``explore`` and its siblings reward each distinct cell visited;
``collect`` rewards picking up coins, a reactive task that ``lstm`` learns within 300k CPU steps.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import logging
from pathlib import Path
from typing import Any, ClassVar

import yaml
from cogames.core import CoGameMission
from cogames.game import CoGame, get_game, register_game
from cogames.standalone_games import STANDALONE_GAMES
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
from pydantic import Field, ValidationError

logger = logging.getLogger(__name__)

DAF_GAME_NAME = "daf"
BUILTIN_MISSION_PARAMETERS = ("num_cogs", "width", "height", "walls", "max_steps", "reward_per_cell")
COLLECT_MISSION_PARAMETERS = ("num_cogs", "length", "coins", "max_steps", "view", "reward_per_coin")
MISSION_FILE_SUFFIXES = (".yaml", ".yml", ".json")


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


def _register_daf_game() -> None:
    register_game(CoGame(DAF_GAME_NAME, list(BUILTIN_MISSIONS.values()), variants=[]))


_register_daf_game()


def installed_games() -> list[str]:
    """cogames games importable here: DAF's own plus any standalone game package that is installed."""
    names = {DAF_GAME_NAME}
    for name, install in STANDALONE_GAMES.items():
        root = install.module_name.split(".", 1)[0]
        if importlib.util.find_spec(root) is not None:
            names.add(name)
    return sorted(names)


def _game_mission_names(game_name: str) -> list[str]:
    game = get_game(game_name)
    return [m.full_name() for m in [*game.missions, *game.eval_missions]]


def list_missions() -> list[str]:
    """Every mission name this machine can load: built-ins plain, other games as ``game:mission``."""
    names = list(BUILTIN_MISSIONS)
    for game_name in installed_games():
        if game_name != DAF_GAME_NAME:
            names.extend(f"{game_name}:{m}" for m in _game_mission_names(game_name))
    return names


def is_mission_file(name: str | Path) -> bool:
    return str(name).lower().endswith(MISSION_FILE_SUFFIXES)


def load_mission(name: str | Path, **params: Any) -> MettaGridConfig:
    """Resolve a mission name or file to a fresh ``MettaGridConfig``.

    ``params`` override mission parameters: any field of a built-in mission (``num_cogs``, ``width``,
    ``max_steps``, ``walls``, ``reward_per_cell``...; ``collect``: ``length``, ``coins``, ``view``,
    ``reward_per_coin``); for files and other games only ``max_steps``.
    """
    if isinstance(name, Path) or is_mission_file(name):
        return _apply_generic_params(load_mission_file(name), params, str(name))
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"mission: expected a mission name or file path, got {name!r}")
    if ":" in name:
        game_name, mission_name = name.split(":", 1)
        return _load_game_mission(game_name, mission_name, params)
    if name in BUILTIN_MISSIONS:
        return _load_builtin(name, params)
    for game_name in installed_games():
        if game_name != DAF_GAME_NAME and name in _game_mission_names(game_name):
            return _load_game_mission(game_name, name, params)
    raise ValueError(_unknown_mission_message(name))


def _load_builtin(name: str, params: dict[str, Any]) -> MettaGridConfig:
    mission = BUILTIN_MISSIONS[name]
    if "num_agents" in params:
        params = {**params, "num_cogs": params["num_agents"]}
        del params["num_agents"]
    unknown = sorted(set(params) - set(mission.parameters))
    if unknown:
        raise ValueError(
            f"mission '{name}': unknown parameter(s) {unknown}; "
            f"parameters of this mission: {list(mission.parameters)} (num_agents is an alias of num_cogs)"
        )
    try:
        mission = type(mission).model_validate({**mission.model_dump(), **params})
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}={e.get('input')!r}: {e['msg']}" for e in err.errors()
        )
        raise ValueError(f"mission '{name}': invalid parameter {problems}") from err
    return mission.make_env()


def _load_game_mission(game_name: str, mission_name: str, params: dict[str, Any]) -> MettaGridConfig:
    from cogames.cli.mission import get_mission  # noqa: PLC0415 - CLI module; only needed here

    games = installed_games()
    if game_name not in games:
        raise ValueError(
            f"mission '{game_name}:{mission_name}': game '{game_name}' is not installed. "
            f"Installed games: {games}. Built-in missions: {sorted(BUILTIN_MISSIONS)}"
        )
    if game_name == DAF_GAME_NAME and mission_name in BUILTIN_MISSIONS:
        return _load_builtin(mission_name, params)
    try:
        _, env_cfg, _ = get_mission(mission_name, game_name=game_name)
    except ValueError as err:
        raise ValueError(f"mission '{game_name}:{mission_name}': {err}") from err
    return _apply_generic_params(env_cfg, params, f"{game_name}:{mission_name}")


def _apply_generic_params(env_cfg: MettaGridConfig, params: dict[str, Any], label: str) -> MettaGridConfig:
    unknown = sorted(set(params) - {"max_steps"})
    if unknown:
        raise ValueError(
            f"mission '{label}': unknown parameter(s) {unknown}; this mission takes only ['max_steps']"
        )
    if "max_steps" in params:
        steps = params["max_steps"]
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
            raise ValueError(f"mission '{label}': max_steps must be a positive integer, got {steps!r}")
        env_cfg.game.max_steps = steps
    return env_cfg


def load_mission_file(path: str | Path) -> MettaGridConfig:
    """Read a YAML/JSON ``MettaGridConfig`` (what :func:`save_mission` or ``cogames`` writes)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mission file not found: {path}")
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise ValueError(f"mission file {path}: not valid {path.suffix.lstrip('.').upper()}: {err}") from err
    if not isinstance(data, dict):
        raise ValueError(
            f"mission file {path}: expected a MettaGridConfig mapping, got {type(data).__name__}"
        )
    try:
        return MettaGridConfig.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(map(str, first["loc"]))
        raise ValueError(
            f"mission file {path}: field '{where}' = {first.get('input')!r}: {first['msg']} "
            f"({err.error_count()} error(s) in all)"
        ) from err


def save_mission(env_cfg: MettaGridConfig, path: str | Path) -> Path:
    """Write a mission file atomically; the suffix (.yaml/.yml/.json) picks the format."""
    from daf_core.io import atomic_write_text  # noqa: PLC0415

    path = Path(path)
    if not is_mission_file(path):
        raise ValueError(f"mission file {path}: suffix must be one of {list(MISSION_FILE_SUFFIXES)}")
    data = env_cfg.model_dump(mode="json")
    text = (
        json.dumps(data, indent=2)
        if path.suffix.lower() == ".json"
        else yaml.safe_dump(data, sort_keys=False)
    )
    atomic_write_text(path, text)
    return path


def _unknown_mission_message(name: str) -> str:
    known = list_missions()
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return (
        f"mission: unknown mission {name!r}.{hint} Known missions: {known}. "
        f"Installed games: {installed_games()}. "
        f"A path ending in {', '.join(MISSION_FILE_SUFFIXES)} is read as a mission file."
    )
