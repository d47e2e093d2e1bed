"""The mission catalog: resolve a name to a ``MettaGridConfig`` (built-in, mission file, installed game).

cogames 0.27.3 ships no game (its games are separate packages that are not on the package index), so
DAF brings missions of its own (:mod:`daf_core.missions.builtin`) and registers them with cogames as the
game ``daf``, so that cogames' own tooling (``cogames.cli.mission.get_mission``) resolves them.

Names resolve in this order:

1. a path ending in ``.yaml``/``.yml``/``.json`` is a serialised ``MettaGridConfig`` (a mission file);
2. ``game:mission`` names a mission of an installed cogames game (``cogsguard:...`` when installed);
3. a plain name is a built-in DAF mission, else a mission of an installed cogames game.
"""

from __future__ import annotations

import difflib
import importlib.util
import logging
from pathlib import Path
from typing import Any

from cogames.game import CoGame, get_game, register_game
from cogames.standalone_games import STANDALONE_GAMES
from mettagrid.config.mettagrid_config import MettaGridConfig
from pydantic import ValidationError

from daf_core.missions.builtin import BUILTIN_MISSIONS
from daf_core.missions.files import MISSION_FILE_SUFFIXES, is_mission_file, load_mission_file

logger = logging.getLogger(__name__)

DAF_GAME_NAME = "daf"


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




def _unknown_mission_message(name: str) -> str:
    known = list_missions()
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return (
        f"mission: unknown mission {name!r}.{hint} Known missions: {known}. "
        f"Installed games: {installed_games()}. "
        f"A path ending in {', '.join(MISSION_FILE_SUFFIXES)} is read as a mission file."
    )

