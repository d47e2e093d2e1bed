"""The mission catalog: DAF's built-in missions, mission files and the missions of installed cogames games.

``load_mission(name, **params)`` resolves any of them to a fresh ``MettaGridConfig`` (``cogs``, ``variants``
and ``max_steps`` as cogames' command line takes them); ``list_missions()`` lists what this machine can load.
"""

from daf_core._internal.process_state import import_preserving_process_state

# mettagrid configures the root logger when first imported; every module of this package imports it.
import_preserving_process_state("mettagrid")

from daf_core.missions.builtin import BUILTIN_MISSIONS, CollectMission, ExploreMission  # noqa: E402
from daf_core.missions.catalog import list_missions, load_mission, mission_parameters  # noqa: E402
from daf_core.missions.files import (  # noqa: E402
    MISSION_FILE_SUFFIXES,
    is_mission_file,
    load_mission_file,
    save_mission,
)
from daf_core.missions.games import DAF_GAME_NAME, installed_games  # noqa: E402

__all__ = [
    "BUILTIN_MISSIONS",
    "DAF_GAME_NAME",
    "MISSION_FILE_SUFFIXES",
    "CollectMission",
    "ExploreMission",
    "installed_games",
    "is_mission_file",
    "list_missions",
    "load_mission",
    "load_mission_file",
    "mission_parameters",
    "save_mission",
]
