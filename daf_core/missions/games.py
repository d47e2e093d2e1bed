"""Installed cogames games: which are here, the mission names each resolves, and building one of them.

cogames 0.27.3 ships no game: each game (``cogsguard`` and the others in ``cogames.standalone_games``) is a
package of its own, installed from its git repository, that registers a ``CoGame`` when cogames imports
its module. A mission is resolved exactly as cogames' command line resolves ``-m NAME -v VARIANT --cogs N
--steps S`` (``cogames.cli.mission``: find the mission, resolve the variants, apply variants then cogs,
build, then set the step limit), so a name means the same mission in DAF as in ``cogames play``.
"""

from __future__ import annotations

import importlib.util

from cogames.core import CoGameMission
from cogames.game import CoGame, get_game, register_game
from cogames.standalone_games import STANDALONE_GAMES
from mettagrid.config.mettagrid_config import MettaGridConfig

from daf_core.missions.builtin import BUILTIN_MISSIONS
from daf_core.missions.parameters import MissionParameters, check_cogs_range

#: The game under which DAF's built-in missions are registered with cogames.
DAF_GAME_NAME = "daf"

EVALS_PREFIX = "evals."


def register_daf_game() -> None:
    """Register the built-in missions with cogames, so that its own tooling resolves ``daf`` missions."""
    register_game(CoGame(DAF_GAME_NAME, list(BUILTIN_MISSIONS.values()), variants=[]))


def installed_games() -> list[str]:
    """cogames games importable here: DAF's own plus every standalone game package that is installed."""
    names = {DAF_GAME_NAME}
    for name, install in STANDALONE_GAMES.items():
        if importlib.util.find_spec(install.module_name.split(".", 1)[0]) is not None:
            names.add(name)
    return sorted(names)


def install_hint(game_name: str) -> str:
    """How to install a standalone game. Its packages are not on the package index, so cogames' own hint
    (``pip install cogames[NAME]``, an extra that needs the package from the index) does not work."""
    source = STANDALONE_GAMES[game_name].source
    rev = f"@{source.rev}" if source.rev else ""
    return f'pip install "{STANDALONE_GAMES[game_name].package_name} @ git+{source.git}{rev}"'


def load_game(game_name: str) -> CoGame:
    """The registered game (imported on first use); a game that is installed but fails to import is a
    ``RuntimeError`` naming it, not a missing mission."""
    try:
        return get_game(game_name)
    except ImportError as err:
        raise RuntimeError(f"game '{game_name}' is installed but failed to import: {err}") from err


def game_mission_names(game: CoGame) -> list[str]:
    """The names of a game's missions as cogames lists them: each mission and its sub-missions
    (``mission.sub``), then the eval missions and theirs. An eval mission named like a regular one is
    reachable only as ``evals.NAME`` (cogames' ``find_mission`` finds the regular one first)."""
    names: list[str] = []
    for mission in game.missions:
        names += [mission.name, *(f"{mission.name}.{sub}" for sub in mission.sub_missions)]
    regular = {m.name for m in game.missions}
    for mission in game.eval_missions:
        if mission.name in regular:
            names.append(f"{EVALS_PREFIX}{mission.name}")
        else:
            names += [mission.name, *(f"{mission.name}.{sub}" for sub in mission.sub_missions)]
    return names


def resolves(game: CoGame, mission_name: str) -> bool:
    """Whether cogames' ``find_mission`` finds ``mission_name`` in ``game`` (listed name or evals.NAME)."""
    evals = {f"{EVALS_PREFIX}{m.name}" for m in game.eval_missions}
    return mission_name in game_mission_names(game) or mission_name in evals


def find_game_mission(game: CoGame, mission_name: str) -> CoGameMission:
    """cogames' own lookup (sub-missions carry their variant); ``mission_name`` must be one that
    :func:`resolves`."""
    from cogames.cli.mission import find_mission  # noqa: PLC0415 - the CLI module pulls in typer

    return find_mission(game, mission_name, include_evals=True)


def build_mission(
    game: CoGame, mission: CoGameMission, label: str, params: MissionParameters
) -> MettaGridConfig:
    """Build ``mission`` of ``game`` as cogames' command line does: resolve the variants (mission-scoped
    ones first, then the game's registry), apply the variants, then the cogs, build, set the step limit.

    Unknown variants and cogs outside the mission's ``min_cogs``-``max_cogs`` are ``ValueError``.
    """
    from cogames.cli.mission import apply_variants, resolve_mission_variants  # noqa: PLC0415 - see above

    try:
        variants = resolve_mission_variants(game, mission, list(params.variants))
    except ValueError as err:
        reason = " ".join(str(err).split())  # cogames puts the available variants on a second line
        reason = f"{reason} none" if reason.endswith(":") else reason
        raise ValueError(f"mission '{label}': variants={list(params.variants)}: {reason}") from err
    if params.cogs is not None:
        check_cogs_range(label, params.cogs, mission.min_cogs, mission.max_cogs)
    env_cfg = apply_variants(mission, variants, params.cogs).make_env()
    if params.max_steps is not None:
        env_cfg.game.max_steps = params.max_steps
    return env_cfg
