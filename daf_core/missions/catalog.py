"""The mission catalog: resolve a name to a ``MettaGridConfig`` (built-in, mission file, installed game).

cogames 0.27.3 ships no game (its games are separate packages, installed from git), so DAF brings
missions of its own (:mod:`daf_core.missions.builtin`) and registers them with cogames as the game
``daf``, so that cogames' own tooling (``cogames.cli.mission.get_mission``) resolves them too.

Names resolve in this order:

1. a path ending in ``.yaml``/``.yml``/``.json`` is a serialised ``MettaGridConfig`` (a mission file);
2. ``game:mission`` names a mission of an installed cogames game (``cogsguard:tutorial.miner`` when
   cogsguard is installed; ``daf:explore`` is a built-in);
3. a plain name is a built-in DAF mission, else the mission of that name in the one installed game
   that has it, resolved as cogames resolves ``-m NAME`` (``tutorial``, ``tutorial.miner``, an eval).

``load_mission(name, cogs=3, variants=[...], max_steps=...)`` sets a mission up as cogames' command line
does (``--cogs``, ``-v``, ``--steps``); built-in missions also take their own fields.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from cogames.standalone_games import STANDALONE_GAMES
from mettagrid.config.mettagrid_config import MettaGridConfig
from pydantic import ValidationError

from daf_core.missions.builtin import BUILTIN_MISSIONS
from daf_core.missions.files import MISSION_FILE_SUFFIXES, is_mission_file, load_mission_file
from daf_core.missions.games import (
    DAF_GAME_NAME,
    build_mission,
    find_game_mission,
    game_mission_names,
    install_hint,
    installed_games,
    load_game,
    register_daf_game,
    resolves,
)
from daf_core.missions.parameters import MissionParameters, accepted_parameters, read_parameters

#: How many close matches an unknown name's error suggests (never the whole catalogue).
CLOSE_MATCHES = 5

register_daf_game()


def list_missions() -> list[str]:
    """Every mission name this machine can load: built-ins plain, then each installed game's missions,
    sub-missions and eval missions as ``game:mission`` (the names cogames lists for that game)."""
    names = list(BUILTIN_MISSIONS)
    for game_name in _other_games():
        names.extend(f"{game_name}:{m}" for m in game_mission_names(load_game(game_name)))
    return names


def load_mission(name: str | Path, **params: Any) -> MettaGridConfig:
    """Resolve a mission name or file to a fresh ``MettaGridConfig``.

    ``params``: ``cogs`` (or ``num_cogs`` / ``num_agents``), ``variants`` (variant names, applied as
    cogames' ``-v``) and ``max_steps`` for every catalog mission; a built-in mission also takes its own
    fields (``width``, ``walls``, ``reward_per_cell``...; ``collect``: ``length``, ``coins``, ``view``,
    ``reward_per_coin``); a mission file only ``max_steps``. Anything else is refused, naming it.
    """
    if isinstance(name, Path) or (isinstance(name, str) and is_mission_file(name)):
        return _load_file(name, params)
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"mission: expected a mission name or file path, got {name!r}")
    if ":" in name:
        game_name, mission_name = name.split(":", 1)
        return _load_from_game(game_name, mission_name, params)
    if name in BUILTIN_MISSIONS:
        return _load_builtin(name, params)
    games = [g for g in _other_games() if resolves(load_game(g), name)]
    if len(games) > 1:
        raise ValueError(
            f"mission {name!r}: several installed games have it; name one of {[f'{g}:{name}' for g in games]}"
        )
    if not games:
        raise ValueError(_unknown_mission_message(name, list_missions()))
    return _load_from_game(games[0], name, params)


def mission_parameters(name: str | Path) -> list[str]:
    """The parameter names ``load_mission(name, ...)`` takes (what a sweep may vary for this mission)."""
    if isinstance(name, Path) or is_mission_file(name):
        return accepted_parameters(cogs=False, variants=False)
    mission_name = name.split(":", 1)[1] if name.startswith(f"{DAF_GAME_NAME}:") else name
    if mission_name in BUILTIN_MISSIONS:
        return accepted_parameters(BUILTIN_MISSIONS[mission_name].parameters)
    return accepted_parameters()


def _other_games() -> list[str]:
    return [g for g in installed_games() if g != DAF_GAME_NAME]


def _load_file(path: str | Path, params: dict[str, Any]) -> MettaGridConfig:
    checked = read_parameters(str(path), params, cogs=False, variants=False)
    env_cfg = load_mission_file(path)
    if checked.max_steps is not None:
        env_cfg.game.max_steps = checked.max_steps
    return env_cfg


def _load_builtin(name: str, params: dict[str, Any]) -> MettaGridConfig:
    """A built-in mission with its fields overridden (cogs are its ``num_cogs``), then its variants."""
    mission = BUILTIN_MISSIONS[name]
    checked = read_parameters(name, params, fields=mission.parameters)
    overrides = dict(checked.fields)
    if checked.cogs is not None:
        overrides["num_cogs"] = checked.cogs
    if checked.max_steps is not None:
        overrides["max_steps"] = checked.max_steps
    try:
        mission = type(mission).model_validate({**mission.model_dump(), **overrides})
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}={e.get('input')!r}: {e['msg']}" for e in err.errors()
        )
        raise ValueError(f"mission '{name}': invalid parameter {problems}") from err
    return build_mission(
        load_game(DAF_GAME_NAME), mission, name, MissionParameters(variants=checked.variants)
    )


def _load_from_game(game_name: str, mission_name: str, params: dict[str, Any]) -> MettaGridConfig:
    label = f"{game_name}:{mission_name}"
    if game_name not in installed_games():
        raise ValueError(_absent_game_message(label, game_name))
    if game_name == DAF_GAME_NAME:
        if mission_name not in BUILTIN_MISSIONS:
            raise ValueError(
                _unknown_mission_message(label, [f"{DAF_GAME_NAME}:{m}" for m in BUILTIN_MISSIONS])
            )
        return _load_builtin(mission_name, params)
    game = load_game(game_name)
    if not resolves(game, mission_name):
        known = [f"{game_name}:{m}" for m in game_mission_names(game)]
        raise ValueError(_unknown_mission_message(label, known))
    checked = read_parameters(label, params)
    return build_mission(game, find_game_mission(game, mission_name), label, checked)


def _unknown_mission_message(name: str, known: list[str]) -> str:
    """A few close matches, the installed games and where the rest is listed (never the whole catalogue).

    The mission part of ``name`` is matched against the mission part of each known name, so a shared
    ``game:`` prefix does not make every mission of that game look close.
    """
    by_mission: dict[str, list[str]] = {}
    for qualified in known:
        by_mission.setdefault(qualified.split(":", 1)[-1], []).append(qualified)
    close = difflib.get_close_matches(name.split(":", 1)[-1], list(by_mission), n=CLOSE_MATCHES, cutoff=0.6)
    suggestions = [q for c in close for q in by_mission[c]][:CLOSE_MATCHES]
    hint = f"Did you mean: {', '.join(suggestions)}?" if suggestions else "No mission has a similar name."
    return (
        f"mission {name!r}: no such mission. {hint} Installed games: {installed_games()} "
        f"(list_missions() lists every mission). "
        f"A path ending in {', '.join(MISSION_FILE_SUFFIXES)} is read as a mission file."
    )


def _absent_game_message(label: str, game_name: str) -> str:
    installed = installed_games()
    if game_name in STANDALONE_GAMES:
        return (
            f"mission '{label}': game '{game_name}' is not installed. Install it with: "
            f"{install_hint(game_name)}. Installed games: {installed}"
        )
    close = difflib.get_close_matches(game_name, sorted({*installed, *STANDALONE_GAMES}), n=1, cutoff=0.6)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return (
        f"mission '{label}': unknown game '{game_name}'.{hint} Installed games: {installed}; "
        f"games that can be installed: {sorted(STANDALONE_GAMES)}"
    )
