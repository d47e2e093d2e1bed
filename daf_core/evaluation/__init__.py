"""Run episodes of policies on missions and return tidy per-episode records (see :mod:`daf_core.records`).

``evaluate_policies(policies, missions, episodes)`` is the measuring instrument every comparison,
benchmark and sweep reads: common random numbers (episode k of every policy uses seed ``seed + k``), the
same records for any worker count, and nothing but the environment's rewards. Each policy plays every
agent (self-play), or with ``lineups=[Lineup.of({"lstm": 2, "random": 2}), ...]`` the policies share the
agents of each episode, as CoGames' tournament mixes them; ``agent_table(records)`` has one row per agent.
"""

from daf_core._internal.process_state import import_preserving_process_state

# mettagrid configures the root logger when first imported; this package's modules import it.
import_preserving_process_state("mettagrid")

from mettagrid.policy.policy import PolicySpec  # noqa: E402 - the policy spec evaluation takes

from daf_core.evaluation.engine import EvaluationError, evaluate_policies  # noqa: E402
from daf_core.evaluation.episodes import DEFAULT_ACTION_TIMEOUT_MS  # noqa: E402
from daf_core.evaluation.lineups import Lineup, seat_assignment  # noqa: E402
from daf_core.evaluation.subjects import (  # noqa: E402
    MissionUnderTest,
    PolicyUnderTest,
    policy_class,
    policy_class_path,
    resolve_mission,
    resolve_missions,
    resolve_policies,
    resolve_policy,
)
from daf_core.records import RECORD_KEY, agent_table, load_records, save_records  # noqa: E402

__all__ = [
    "DEFAULT_ACTION_TIMEOUT_MS",
    "RECORD_KEY",
    "EvaluationError",
    "Lineup",
    "MissionUnderTest",
    "PolicySpec",
    "PolicyUnderTest",
    "agent_table",
    "evaluate_policies",
    "load_records",
    "policy_class",
    "policy_class_path",
    "resolve_mission",
    "resolve_missions",
    "resolve_policies",
    "resolve_policy",
    "save_records",
    "seat_assignment",
]
