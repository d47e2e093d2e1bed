"""The evaluation engine: resolve, resume from recorded episodes, plan, run, keep and save the records.

This is DAF's measuring instrument: comparisons, benchmarks and sweeps all
read the DataFrame it returns. Three properties matter more than anything else here:

* **Common random numbers.** Episode ``k`` of every policy (or lineup) on a mission uses seed
  ``seed + k`` for the simulator, the map (mettagrid ties an unseeded map builder to the episode seed)
  and the Python, NumPy and torch generators the policies sample from. Every policy therefore faces the
  same maps, in self-play and in every lineup, and records can be paired episode by episode.
* **Same numbers for any worker count.** Because each episode is seeded on its own (its seats too) and
  a policy is reset at the start of every episode, which worker ran an episode cannot change its record.
* **The environment's rewards.** ``reward`` is the sum over agents of the rewards mettagrid returned;
  nothing else is ever substituted.

The policy is loaded once per batch of episodes instead of once per episode, and batches run in
parallel worker processes, each pinned to one thread. Neural policies, and lineups with neural members,
play a batch's episodes in lockstep (one forward pass per step per network), mettagrid's ``random`` and
``noop`` (alone or in lineups of the two) write their actions straight into the simulator (no per-agent
observation objects, the same draws), and every other policy or lineup runs mettagrid's own rollout loop
(``single_episode_rollout``), the loop ``cogames.evaluate`` uses; tests check that each fast path gives
the records of that loop.

Without ``lineups`` every policy controls all agents of a mission (self-play): the score is the
policy's, not a mix. With ``lineups`` (:mod:`~daf_core.evaluation.lineups`) the agents of each episode
are split between policies, as CoGames' tournament scores them (1v3, 2v2, 3v1): ``policies`` is then the
pool the lineups draw from, each policy object is built exactly as for self-play (so an untrained
``lstm`` is the same network everywhere), each agent is played by its seat's policy object, and its
record says which policy controlled each agent
(``agent_policies``; :func:`~daf_core.records.agent_table` gives one row per agent).

The parts: :mod:`~daf_core.evaluation.subjects` (what is evaluated), :mod:`~daf_core.evaluation.lineups`
(who controls which agents), :mod:`~daf_core.evaluation.planning` (batches of episodes),
:mod:`~daf_core.evaluation.episodes` (running a batch, one record per episode),
:mod:`~daf_core.evaluation.batched_rollout` (neural policies in lockstep),
:mod:`~daf_core.evaluation.lineup_rollout` (lineups with neural members in lockstep),
:mod:`~daf_core.evaluation.scripted_rollout` (``random`` / ``noop`` without per-agent objects),
:mod:`~daf_core.evaluation.workers` (worker processes) and this module, which puts them together and
resumes from recorded episodes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from mettagrid.config.mettagrid_config import MettaGridConfig
from mettagrid.policy.policy import PolicySpec

from daf_core._internal.atomic import atomic_write_json
from daf_core.evaluation.episodes import DEFAULT_ACTION_TIMEOUT_MS
from daf_core.evaluation.lineups import Lineup, as_lineups
from daf_core.evaluation.planning import plan_batches
from daf_core.evaluation.subjects import (
    MissionUnderTest,
    PolicyUnderTest,
    resolve_missions,
    resolve_policies,
)
from daf_core.evaluation.workers import run_batches
from daf_core.records import RECORD_KEY, load_records, records_frame, save_records

logger = logging.getLogger(__name__)

MANIFEST_FILE = "evaluation.json"
RECORDS_STEM = "episodes"


class EvaluationError(RuntimeError):
    """Some episodes failed; ``records`` holds every episode that finished."""

    def __init__(self, message: str, records: pd.DataFrame):
        super().__init__(message)
        self.records = records


def evaluate_policies(
    policies: Sequence[str | Path | PolicySpec | PolicyUnderTest] | Mapping[str, str | Path | PolicySpec],
    missions: Sequence[str | Path | tuple[str, MettaGridConfig] | MissionUnderTest],
    episodes: int = 5,
    *,
    lineups: Sequence[Lineup | Mapping[str, int]] | None = None,
    seed: int = 0,
    max_parallel_jobs: int = 1,
    action_timeout_ms: int = DEFAULT_ACTION_TIMEOUT_MS,
    device: str = "cpu",
    output_dir: str | Path | None = None,
    show_progress: bool = True,
    batch_networks: bool = True,
) -> pd.DataFrame:
    """Run ``episodes`` episodes of every policy on every mission; one row per episode.

    With ``lineups`` (``Lineup`` objects or ``{policy: agent count}`` mappings), run every lineup on every
    mission instead, its agents split between the policies it names (all of them from ``policies``); a
    lineup's records carry its name in ``policy`` and ``lineup``, and each agent's policy in
    ``agent_policies``. Seats are shuffled per episode, fixed by the seed (see
    :mod:`~daf_core.evaluation.lineups`).

    With ``output_dir``, records are saved there (``episodes.parquet`` / ``.csv``) and a rerun with the
    same policies (lineups), missions and seed reuses the episodes already recorded instead of running
    them again.
    Raises :class:`EvaluationError` (a ``RuntimeError``) when an episode fails, after saving the rest.
    ``batch_networks=False`` runs every policy, neural and scripted, through mettagrid's per-agent loop
    (slower; it also enforces ``action_timeout_ms`` per step, which the batched path cannot).
    """
    # What to run: every policy and mission resolved and checked before any episode starts.
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes: must be a positive integer, got {episodes!r}")
    if isinstance(max_parallel_jobs, bool) or not isinstance(max_parallel_jobs, int) or max_parallel_jobs < 1:
        raise ValueError(f"max_parallel_jobs: must be a positive integer, got {max_parallel_jobs!r}")
    subjects = resolve_policies(policies), resolve_missions(missions)
    resolved_lineups = None if lineups is None else as_lineups(lineups, subjects[0])
    manifest = _manifest(*subjects, resolved_lineups, seed, action_timeout_ms)

    # What is already recorded: a rerun of the same evaluation resumes instead of starting over.
    previous = _load_previous(output_dir, manifest)
    if len(previous):
        logger.info("Reusing %d recorded episodes from %s", len(previous), output_dir)

    # Run the rest in batches, serially or in worker processes.
    batches = plan_batches(
        *subjects,
        episodes,
        seed,
        max_parallel_jobs,
        action_timeout_ms,
        device,
        batch_networks=batch_networks,
        skip=frozenset(tuple(key) for key in previous[RECORD_KEY].itertuples(index=False)),
        lineups=resolved_lineups,
    )
    records, errors = run_batches(batches, max_parallel_jobs, show_progress)

    # Save every reusable episode (a shorter rerun keeps the longer run's later seeds on disk, as a
    # sequential comparison's first round does), return exactly the ones asked for, then report failures
    # (finished episodes are kept).
    recorded = records_frame([*previous.to_dict("records"), *records])
    frame = _wanted_episodes(recorded, list(manifest["populations"]), subjects[1], seed, episodes)
    if output_dir is not None:
        save_records(recorded, Path(output_dir) / RECORDS_STEM)
        atomic_write_json(Path(output_dir) / MANIFEST_FILE, manifest | {"episodes": episodes})
    if errors:
        raise EvaluationError(
            f"{len(errors)} batch(es) of episodes failed; {len(frame)} episodes finished and were kept.\n"
            + "\n".join(errors),
            frame,
        )
    return frame


def _wanted_episodes(
    frame: pd.DataFrame, populations: list[str], missions: list[MissionUnderTest], seed: int, episodes: int
) -> pd.DataFrame:
    """The records of this evaluation's policies or lineups, missions and seeds (a reused file may hold
    more)."""
    if frame.empty:
        return frame
    wanted = {(p, m.name, seed + k) for p in populations for m in missions for k in range(episodes)}
    keep = [tuple(key) in wanted for key in frame[RECORD_KEY].itertuples(index=False)]
    return frame[keep].reset_index(drop=True)


def _manifest(
    policies: Sequence[PolicyUnderTest],
    missions: Sequence[MissionUnderTest],
    lineups: Sequence[Lineup] | None,
    seed: int,
    action_timeout_ms: int,
) -> dict[str, Any]:
    """What makes recorded episodes reusable: the seed, the timeout, every mission's fingerprint and
    every population's (a self-play policy's own; a lineup's covers its counts and its policies')."""
    pool = {p.name: p for p in policies}
    if lineups is None:
        populations = {p.name: p.fingerprint() for p in policies}
    else:
        populations = {lineup.name: lineup.fingerprint(pool) for lineup in lineups}
    return {
        "seed": seed,
        "action_timeout_ms": action_timeout_ms,
        "policies": {p.name: p.fingerprint() for p in policies},
        "populations": populations,
        "missions": {m.name: m.fingerprint() for m in missions},
    }


def _load_previous(output_dir: str | Path | None, manifest: Mapping[str, Any]) -> pd.DataFrame:
    """Episodes recorded by an earlier run of the same evaluation (same seed, timeout and fingerprints).

    A manifest without populations predates lineups (and its records the ``agent_policies`` column):
    nothing of it is reused.
    """
    empty = pd.DataFrame(columns=RECORD_KEY)
    if output_dir is None:
        return empty
    manifest_path = Path(output_dir) / MANIFEST_FILE
    records_path = Path(output_dir) / f"{RECORDS_STEM}.parquet"
    if not manifest_path.exists() or not records_path.exists():
        return empty
    old = json.loads(manifest_path.read_text())
    if old.get("seed") != manifest["seed"] or old.get("action_timeout_ms") != manifest["action_timeout_ms"]:
        return empty
    frame = load_records(records_path)
    if frame.empty or "populations" not in old:
        return empty
    same_populations = {p for p, fp in manifest["populations"].items() if old["populations"].get(p) == fp}
    same_missions = {m for m, fp in manifest["missions"].items() if old["missions"].get(m) == fp}
    keep = frame["policy"].isin(same_populations) & frame["mission"].isin(same_missions)
    return frame[keep].reset_index(drop=True)
