"""The evaluation engine: resolve, resume from recorded episodes, plan, run, keep and save the records.

This is DAF's measuring instrument: comparisons, benchmarks and sweeps all
read the DataFrame it returns. Three properties matter more than anything else here:

* **Common random numbers.** Episode ``k`` of every policy on a mission uses seed ``seed + k`` for the
  simulator, the map (mettagrid ties an unseeded map builder to the episode seed) and the Python,
  NumPy and torch generators the policy samples from. Every policy therefore faces the same maps, and
  the records of two policies can be paired episode by episode.
* **Same numbers for any worker count.** Because each episode is seeded on its own and a policy is
  reset at the start of every episode, which worker ran an episode cannot change its record.
* **The environment's rewards.** ``reward`` is the sum over agents of the rewards mettagrid returned;
  nothing else is ever substituted.

The policy is loaded once per batch of episodes instead of once per episode, and batches run in
parallel worker processes, each pinned to one thread. Neural policies play a batch's episodes in lockstep
(one forward pass per step for every agent), mettagrid's ``random`` and ``noop`` write their actions
straight into the simulator (no per-agent observation objects, the same draws), and every other policy
runs mettagrid's own rollout loop (``single_episode_rollout``), the loop ``cogames.evaluate`` uses; tests
check that each fast path gives the records of that loop.

Every policy controls all agents of a mission (self-play): the score is the policy's, not a mix.

The parts: :mod:`~daf_core.evaluation.subjects` (what is evaluated), :mod:`~daf_core.evaluation.planning`
(batches of episodes), :mod:`~daf_core.evaluation.episodes` (running a batch, one record per episode),
:mod:`~daf_core.evaluation.batched_rollout` (neural policies in lockstep), :mod:`~daf_core.evaluation.workers`
(worker processes) and this module, which puts them together and resumes from recorded episodes.
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
    seed: int = 0,
    max_parallel_jobs: int = 1,
    action_timeout_ms: int = DEFAULT_ACTION_TIMEOUT_MS,
    device: str = "cpu",
    output_dir: str | Path | None = None,
    show_progress: bool = True,
    batch_networks: bool = True,
) -> pd.DataFrame:
    """Run ``episodes`` episodes of every policy on every mission; one row per episode.

    With ``output_dir``, records are saved there (``episodes.parquet`` / ``.csv``) and a rerun with the
    same policies, missions and seed reuses the episodes already recorded instead of running them again.
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
    manifest = _manifest(*subjects, seed, action_timeout_ms)

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
    )
    records, errors = run_batches(batches, max_parallel_jobs, show_progress)

    # Keep exactly the episodes asked for, save them, then report failures (finished episodes are kept).
    frame = records_frame([*previous.to_dict("records"), *records])
    frame = _wanted_episodes(frame, subjects, seed, episodes)
    if output_dir is not None:
        save_records(frame, Path(output_dir) / RECORDS_STEM)
        atomic_write_json(Path(output_dir) / MANIFEST_FILE, manifest | {"episodes": episodes})
    if errors:
        raise EvaluationError(
            f"{len(errors)} batch(es) of episodes failed; {len(frame)} episodes finished and were kept.\n"
            + "\n".join(errors),
            frame,
        )
    return frame


def _wanted_episodes(
    frame: pd.DataFrame,
    subjects: tuple[list[PolicyUnderTest], list[MissionUnderTest]],
    seed: int,
    episodes: int,
) -> pd.DataFrame:
    """The records of this evaluation's policies, missions and seeds (a reused file may hold more)."""
    if frame.empty:
        return frame
    policies, missions = subjects
    wanted = {(p.name, m.name, seed + k) for p in policies for m in missions for k in range(episodes)}
    keep = [tuple(key) in wanted for key in frame[RECORD_KEY].itertuples(index=False)]
    return frame[keep].reset_index(drop=True)


def _manifest(
    policies: Sequence[PolicyUnderTest],
    missions: Sequence[MissionUnderTest],
    seed: int,
    action_timeout_ms: int,
) -> dict[str, Any]:
    """What makes recorded episodes reusable: the seed, the timeout and every policy's and mission's
    fingerprint."""
    return {
        "seed": seed,
        "action_timeout_ms": action_timeout_ms,
        "policies": {p.name: p.fingerprint() for p in policies},
        "missions": {m.name: m.fingerprint() for m in missions},
    }


def _load_previous(output_dir: str | Path | None, manifest: Mapping[str, Any]) -> pd.DataFrame:
    """Episodes recorded by an earlier run of the same evaluation (same seed, timeout and fingerprints)."""
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
    if frame.empty:
        return empty
    same_policies = {p for p, fp in manifest["policies"].items() if old["policies"].get(p) == fp}
    same_missions = {m for m, fp in manifest["missions"].items() if old["missions"].get(m) == fp}
    keep = frame["policy"].isin(same_policies) & frame["mission"].isin(same_missions)
    return frame[keep].reset_index(drop=True)
