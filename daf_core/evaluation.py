"""Run episodes of policies on missions and return tidy per-episode records.

This is DAF's measuring instrument: comparisons, benchmarks, sweeps and deployment validation all
read the DataFrame it returns. Three properties matter more than anything else here:

* **Common random numbers.** Episode ``k`` of every policy on a mission uses seed ``seed + k`` for the
  simulator, the map (mettagrid ties an unseeded map builder to the episode seed) and the Python,
  NumPy and torch generators the policy samples from. Every policy therefore faces the same maps, and
  the records of two policies can be paired episode by episode.
* **Same numbers for any worker count.** Because each episode is seeded on its own and a policy is
  reset at the start of every episode, which worker ran an episode cannot change its record.
* **The environment's rewards.** ``reward`` is the sum over agents of the rewards mettagrid returned;
  nothing else is ever substituted.

Episodes run through mettagrid's own rollout loop (``single_episode_rollout``), the same loop
``cogames.evaluate`` uses, but the policy is loaded once per batch of episodes instead of once per
episode, and batches run in parallel worker processes, each pinned to one thread.

Every policy controls all agents of a mission (self-play): the score is the policy's, not a mix.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import multiprocessing
import os
import random
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mettagrid.config.mettagrid_config import MettaGridConfig
from mettagrid.policy.policy import PolicySpec
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from daf_core.batched_rollout import EPISODES_PER_BATCH, batchable_network, has_network, run_batched_episodes
from daf_core.io import atomic_write_bytes, atomic_write_json
from daf_core.missions import load_mission

logger = logging.getLogger(__name__)

DEFAULT_ACTION_TIMEOUT_MS = 10_000
RECORD_KEY = ["policy", "mission", "seed"]


@dataclass(frozen=True)
class PolicyUnderTest:
    """A named policy: the name labels records and reports, the spec says how to load it."""

    name: str
    spec: PolicySpec

    def fingerprint(self) -> str:
        """Changes when the class, init kwargs or weights file (its size and mtime) change."""
        data_path = self.spec.data_path
        weights = None
        if data_path and Path(data_path).exists():
            stat = Path(data_path).stat()
            weights = [stat.st_size, stat.st_mtime_ns]
        payload = [self.spec.class_path, data_path, sorted(self.spec.init_kwargs.items()), weights]
        return hashlib.sha256(json.dumps(payload, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class MissionUnderTest:
    name: str
    env_cfg: MettaGridConfig

    def fingerprint(self) -> str:
        return hashlib.sha256(self.env_cfg.model_dump_json().encode()).hexdigest()[:16]


class EvaluationError(RuntimeError):
    """Some episodes failed; ``records`` holds every episode that finished."""

    def __init__(self, message: str, records: pd.DataFrame):
        super().__init__(message)
        self.records = records


def resolve_policy(
    policy: str | Path | PolicySpec | PolicyUnderTest, name: str | None = None
) -> PolicyUnderTest:
    """Accept a shorthand (``random``), a class path, cogames' ``class=...,data=...`` syntax, a
    checkpoint directory or bundle holding ``policy_spec.json``, or a ``PolicySpec``."""
    if isinstance(policy, PolicyUnderTest):
        return policy if name is None else PolicyUnderTest(name, policy.spec)
    if isinstance(policy, PolicySpec):
        from mettagrid.policy.loader import resolve_policy_class_path  # noqa: PLC0415

        spec = policy.model_copy(update={"class_path": resolve_policy_class_path(policy.class_path)})
        default_name = policy.name
    else:
        spec = _parse_policy_string(str(policy))
        default_name = _default_policy_name(str(policy), spec)
    _check_policy_class(spec, str(policy))
    return PolicyUnderTest(name or default_name, spec)


def _parse_policy_string(text: str) -> PolicySpec:
    from cogames.cli.policy import parse_policy_spec  # noqa: PLC0415 - pulls in typer; only needed here

    if not text.strip():
        raise ValueError("policy: empty policy name")
    candidate = Path(text).expanduser()
    if candidate.exists() and not text.startswith(("/", ".", "~")):
        text = str(candidate.resolve())  # cogames reads bare relative paths as class names
    if candidate.is_file() and candidate.suffix == ".pt":
        spec_file = candidate.parent / "policy_spec.json"
        if not spec_file.exists():
            raise ValueError(
                f"policy {text!r}: a weights file needs its class; pass 'class=NAME,data={text}' "
                "or the checkpoint directory that holds policy_spec.json"
            )
        class_path = json.loads(spec_file.read_text())["class_path"]
        text = f"class={class_path},data={candidate.resolve()}"
    try:
        parsed = parse_policy_spec(text)
    except (ValueError, FileNotFoundError) as err:
        raise ValueError(f"policy {text!r}: {err}") from err
    return PolicySpec(
        class_path=parsed.class_path, data_path=parsed.data_path, init_kwargs=parsed.init_kwargs
    )


def _default_policy_name(text: str, spec: PolicySpec) -> str:
    path = Path(text).expanduser()
    if path.exists():
        return path.stem if path.is_file() else path.name
    if spec.data_path:
        return f"{spec.name}@{Path(spec.data_path).stem}"
    return text if "=" not in text else spec.name


def _check_policy_class(spec: PolicySpec, label: str) -> None:
    from mettagrid.util.module import load_symbol  # noqa: PLC0415

    try:
        load_symbol(spec.class_path)
    except (ImportError, AttributeError, ValueError) as err:
        raise ValueError(
            f"policy {label!r}: class {spec.class_path!r} cannot be imported ({err}). "
            "Shorthands here include random, noop, lstm, stateless."
        ) from err
    if spec.data_path and not Path(spec.data_path).exists():
        raise FileNotFoundError(f"policy {label!r}: weights file not found: {spec.data_path}")


def resolve_mission(mission: str | Path | tuple[str, MettaGridConfig] | MissionUnderTest) -> MissionUnderTest:
    """A catalog name or mission file, or a ``(name, MettaGridConfig)`` pair as cogames takes them."""
    if isinstance(mission, MissionUnderTest):
        return mission
    if isinstance(mission, tuple):
        name, env_cfg = mission
        if not isinstance(env_cfg, MettaGridConfig):
            raise ValueError(f"mission {name!r}: expected a MettaGridConfig, got {type(env_cfg).__name__}")
        return MissionUnderTest(str(name), env_cfg)
    return MissionUnderTest(str(mission), load_mission(mission))


@dataclass(frozen=True)
class EpisodeBatch:
    """The unit of work a worker runs: one policy, one mission, a few seeds."""

    policy: PolicyUnderTest
    mission: MissionUnderTest
    seeds: tuple[int, ...]
    first_episode: int
    action_timeout_ms: int
    device: str
    batch_networks: bool = True


@dataclass
class BatchOutcome:
    records: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


def seed_everything(seed: int) -> None:
    """Seed every generator a policy may sample from (``random`` samples from Python's module RNG)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def limit_threads_to_one() -> None:
    """Parallel workers on a small machine must not each spawn a thread per core (15x slowdowns seen)."""
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


def run_batch(batch: EpisodeBatch, on_episode: Callable[[int], None] | None = None) -> BatchOutcome:
    """Load the policy once, then run each seed's episode; an exception stops the batch and is returned.

    Neural policies run all the batch's episodes in lockstep (:mod:`daf_core.batched_rollout`) unless
    ``batch.batch_networks`` is off; everything else runs mettagrid's per-agent rollout loop.
    """
    from mettagrid.policy.loader import initialize_or_load_policy  # noqa: PLC0415
    from mettagrid.policy.policy_env_interface import PolicyEnvInterface  # noqa: PLC0415

    outcome = BatchOutcome()
    seed = batch.seeds[0]
    try:
        env_cfg = batch.mission.env_cfg
        policy = initialize_or_load_policy(
            PolicyEnvInterface.from_mg_cfg(env_cfg), batch.policy.spec, device_override=batch.device
        )
        if batch.batch_networks and batchable_network(policy) is not None:
            started = time.perf_counter()
            results = run_batched_episodes(policy, env_cfg, list(batch.seeds), batch.device)
            per_episode = (time.perf_counter() - started) / len(results)
            for offset, (seed, result) in enumerate(zip(batch.seeds, results, strict=True)):
                outcome.records.append(
                    episode_record(batch, batch.first_episode + offset, seed, result, per_episode)
                )
            if on_episode is not None:
                on_episode(len(results))
            return outcome
        for offset, seed in enumerate(batch.seeds):
            started = time.perf_counter()
            result = _run_one_episode(policy, batch, seed)
            outcome.records.append(
                episode_record(
                    batch, batch.first_episode + offset, seed, result, time.perf_counter() - started
                )
            )
            if on_episode is not None:
                on_episode(1)
    except Exception:  # noqa: BLE001 - reported to the caller with the policy, mission and seed
        outcome.error = (
            f"policy {batch.policy.name!r} on mission {batch.mission.name!r}, seed {seed}: "
            f"{traceback.format_exc(limit=-3)}"
        )
    return outcome


def _run_one_episode(policy: Any, batch: EpisodeBatch, seed: int) -> Any:
    """mettagrid's own rollout loop (the one ``cogames.evaluate`` runs), with every generator seeded."""
    from mettagrid.runner.rollout import resolve_env_for_seed, single_episode_rollout  # noqa: PLC0415

    seed_everything(seed)
    env_cfg = batch.mission.env_cfg
    result, _ = single_episode_rollout(
        [policy],
        [0] * env_cfg.game.num_agents,
        resolve_env_for_seed(env_cfg, seed),
        seed=seed,
        max_action_time_ms=batch.action_timeout_ms,
        render_mode="none",
        autostart=False,
        capture_replay=False,
        policy_names=[batch.policy.name],
    )
    return result


def episode_record(
    batch: EpisodeBatch, episode: int, seed: int, result: Any, wall_time_s: float
) -> dict[str, Any]:
    agent_rewards = [float(r) for r in result.rewards]
    record: dict[str, Any] = {
        "policy": batch.policy.name,
        "mission": batch.mission.name,
        "episode": episode,
        "seed": seed,
        "reward": float(sum(agent_rewards)),
        "reward_per_agent": float(np.mean(agent_rewards)) if agent_rewards else 0.0,
        "agent_rewards": agent_rewards,
        "num_agents": len(agent_rewards),
        "steps": int(result.steps),
        "max_steps": int(batch.mission.env_cfg.game.max_steps),
        "action_timeouts": int(sum(result.action_timeouts)),
        "wall_time_s": wall_time_s,
    }
    for key, value in sorted((result.stats.get("game") or {}).items()):
        record[f"game/{key}"] = float(value)
    agent_stats: dict[str, list[float]] = {}
    for stats in result.stats.get("agent") or []:
        for key, value in stats.items():
            agent_stats.setdefault(key, []).append(float(value))
    for key, values in sorted(agent_stats.items()):
        # An agent without a stat never incremented it: it counts as 0 in the per-agent mean.
        record[f"agent/{key}"] = float(sum(values) / len(agent_rewards)) if agent_rewards else 0.0
    return record


def plan_batches(
    policies: Sequence[PolicyUnderTest],
    missions: Sequence[MissionUnderTest],
    episodes: int,
    seed: int,
    workers: int,
    action_timeout_ms: int,
    device: str,
    batch_networks: bool = True,
    skip: frozenset[tuple[str, str, int]] = frozenset(),
) -> list[EpisodeBatch]:
    """Split each (policy, mission) into batches of seeds, skipping episodes already recorded.

    Neural policies are cut at fixed episode boundaries (``EPISODES_PER_BATCH``), so the episodes that
    share a network batch never depend on the worker count; other policies are cut into enough pieces
    to keep every worker busy.
    """
    from mettagrid.util.module import load_symbol  # noqa: PLC0415

    pieces_per_unit = 1 if workers <= 1 else max(1, math.ceil(3 * workers / (len(policies) * len(missions))))
    batches = []
    for policy in policies:
        batched = batch_networks and has_network(load_symbol(policy.spec.class_path))
        for mission in missions:
            todo = [k for k in range(episodes) if (policy.name, mission.name, seed + k) not in skip]
            if batched:
                groups = [
                    [k for k in todo if k // EPISODES_PER_BATCH == g]
                    for g in range(math.ceil(episodes / EPISODES_PER_BATCH))
                ]
            else:
                size = max(1, math.ceil(len(todo) / pieces_per_unit))
                groups = [todo[start : start + size] for start in range(0, len(todo), size)]
            batches.extend(
                EpisodeBatch(
                    policy, mission, tuple(seed + k for k in run), run[0], action_timeout_ms, device, batched
                )
                for group in groups
                for run in _consecutive_runs(group)
            )
    return batches


def _consecutive_runs(indices: list[int]) -> Iterable[list[int]]:
    run: list[int] = []
    for index in indices:
        if run and index != run[-1] + 1:
            yield run
            run = []
        run.append(index)
    if run:
        yield run


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
    ``batch_networks=False`` runs neural policies through mettagrid's per-agent loop too (slower; it
    also enforces ``action_timeout_ms`` per step, which the batched path cannot).
    """
    if episodes < 1:
        raise ValueError(f"episodes: must be >= 1, got {episodes!r}")
    if max_parallel_jobs < 1:
        raise ValueError(f"max_parallel_jobs: must be >= 1, got {max_parallel_jobs!r}")
    named = policies.items() if isinstance(policies, Mapping) else [(None, p) for p in policies]
    resolved_policies = [resolve_policy(p, name) for name, p in named]
    resolved_missions = [resolve_mission(m) for m in missions]
    _require_unique("policy", [p.name for p in resolved_policies])
    _require_unique("mission", [m.name for m in resolved_missions])
    if not resolved_policies or not resolved_missions:
        raise ValueError("evaluate_policies: need at least one policy and one mission")

    previous = _load_previous(output_dir, resolved_policies, resolved_missions, seed, action_timeout_ms)
    done = {tuple(key) for key in previous[RECORD_KEY].itertuples(index=False)} if len(previous) else set()
    batches = plan_batches(
        resolved_policies,
        resolved_missions,
        episodes,
        seed,
        max_parallel_jobs,
        action_timeout_ms,
        device,
        batch_networks=batch_networks,
        skip=frozenset(done),
    )
    total = sum(len(b.seeds) for b in batches)
    if previous is not None and len(previous):
        logger.info("Reusing %d recorded episodes from %s; %d to run", len(previous), output_dir, total)

    records, errors = _run_batches(batches, max_parallel_jobs, total, show_progress)
    frame = _to_frame([*previous.to_dict("records"), *records] if len(previous) else records)
    wanted = {
        (p.name, m.name, seed + k)
        for p in resolved_policies
        for m in resolved_missions
        for k in range(episodes)
    }
    if len(frame):
        frame = frame[[tuple(k) in wanted for k in frame[RECORD_KEY].itertuples(index=False)]].reset_index(
            drop=True
        )
    if output_dir is not None:
        save_records(frame, Path(output_dir) / "episodes")
        atomic_write_json(
            Path(output_dir) / "evaluation.json",
            _manifest(resolved_policies, resolved_missions, seed, action_timeout_ms) | {"episodes": episodes},
        )
    if errors:
        raise EvaluationError(
            f"{len(errors)} batch(es) of episodes failed; {len(frame)} episodes finished and were kept.\n"
            + "\n".join(errors),
            frame,
        )
    return frame


def _require_unique(kind: str, names: list[str]) -> None:
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{kind} names must be unique; repeated: {duplicates} (name them with a mapping)")


def _run_batches(
    batches: list[EpisodeBatch], workers: int, total: int, show_progress: bool
) -> tuple[list[dict[str, Any]], list[str]]:
    records: list[dict[str, Any]] = []
    errors: list[str] = []
    if not batches:
        return records, errors
    progress = Progress(
        TextColumn("[cyan]Evaluating"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not show_progress,
        transient=True,
    )
    if workers == 1:
        with progress:
            task = progress.add_task("episodes", total=total)
            for batch in batches:
                outcome = run_batch(batch, on_episode=lambda n: progress.advance(task, n))
                records.extend(outcome.records)
                if outcome.error:
                    errors.append(outcome.error)
        return records, errors
    # The pool forks its workers on the first submit: that happens before the progress bar starts its
    # refresh thread, so a fork-started pool forks a single-threaded process.
    with ProcessPoolExecutor(
        max_workers=min(workers, len(batches)), mp_context=_worker_context(), initializer=limit_threads_to_one
    ) as pool:
        futures: dict[Future[BatchOutcome], EpisodeBatch] = {pool.submit(run_batch, b): b for b in batches}
        with progress:
            task = progress.add_task("episodes", total=total)
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    batch = futures[future]
                    try:
                        outcome = future.result()
                    except BrokenProcessPool as err:
                        errors.append(
                            f"policy {batch.policy.name!r} on mission {batch.mission.name!r}, seeds "
                            f"{batch.seeds[0]}..{batch.seeds[-1]}: worker process died ({err})"
                        )
                        continue
                    records.extend(outcome.records)
                    progress.advance(task, len(outcome.records))
                    if outcome.error:
                        errors.append(outcome.error)
    return records, errors


def _worker_context() -> multiprocessing.context.BaseContext:
    """How worker processes start.

    ``fork`` when it is safe: only this thread is alive and torch (if imported) runs one thread, so no
    lock or OpenMP pool can be caught mid-use by the fork. Workers then start in milliseconds with every
    module already imported. Otherwise ``forkserver``: workers fork from a clean server process that
    imports torch and mettagrid once (a few seconds, paid by the first parallel call in a process).
    """
    torch = sys.modules.get("torch")
    single_threaded = threading.active_count() == 1 and (torch is None or torch.get_num_threads() == 1)
    if single_threaded and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # Importing torch costs seconds; done once in the server, every forked worker shares it.
    context.set_forkserver_preload(["torch", "daf_core.evaluation", "mettagrid.runner.rollout"])
    return context


def _to_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    if not records:
        return pd.DataFrame(columns=["policy", "mission", "episode", "seed", "reward"])
    frame = pd.DataFrame.from_records(records)
    return frame.sort_values(["policy", "mission", "episode"], kind="stable").reset_index(drop=True)


def _manifest(
    policies: Sequence[PolicyUnderTest],
    missions: Sequence[MissionUnderTest],
    seed: int,
    action_timeout_ms: int,
) -> dict[str, Any]:
    return {
        "seed": seed,
        "action_timeout_ms": action_timeout_ms,
        "policies": {p.name: p.fingerprint() for p in policies},
        "missions": {m.name: m.fingerprint() for m in missions},
    }


def _load_previous(
    output_dir: str | Path | None,
    policies: Sequence[PolicyUnderTest],
    missions: Sequence[MissionUnderTest],
    seed: int,
    action_timeout_ms: int,
) -> pd.DataFrame:
    """Episodes recorded by an earlier run of the same evaluation (same fingerprints and seed)."""
    empty = pd.DataFrame(columns=RECORD_KEY)
    if output_dir is None:
        return empty
    manifest_path, records_path = Path(output_dir) / "evaluation.json", Path(output_dir) / "episodes.parquet"
    if not manifest_path.exists() or not records_path.exists():
        return empty
    old = json.loads(manifest_path.read_text())
    new = _manifest(policies, missions, seed, action_timeout_ms)
    if old.get("seed") != seed or old.get("action_timeout_ms") != action_timeout_ms:
        return empty
    frame = pd.read_parquet(records_path)
    if frame.empty:
        return empty
    same_policies = {p for p, fp in new["policies"].items() if old["policies"].get(p) == fp}
    same_missions = {m for m, fp in new["missions"].items() if old["missions"].get(m) == fp}
    keep = frame["policy"].isin(same_policies) & frame["mission"].isin(same_missions)
    frame = frame[keep].reset_index(drop=True)
    if "agent_rewards" in frame:
        frame["agent_rewards"] = frame["agent_rewards"].map(lambda v: [float(x) for x in v])
    return frame


def save_records(records: pd.DataFrame, stem: str | Path) -> list[Path]:
    """Write ``<stem>.parquet`` (exact types) and ``<stem>.csv`` (lists as JSON), each atomically."""
    stem = Path(stem)
    parquet = io.BytesIO()
    records.to_parquet(parquet, index=False)
    csv_frame = records.copy()
    if "agent_rewards" in csv_frame:
        csv_frame["agent_rewards"] = csv_frame["agent_rewards"].map(json.dumps)
    paths = [
        atomic_write_bytes(stem.with_suffix(".parquet"), parquet.getvalue()),
        atomic_write_bytes(stem.with_suffix(".csv"), csv_frame.to_csv(index=False).encode()),
    ]
    return paths


def load_records(path: str | Path) -> pd.DataFrame:
    """Read records written by :func:`save_records` (``.parquet`` or ``.csv``)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"records file not found: {path}")
    if path.suffix == ".csv":
        frame = pd.read_csv(path)
        if "agent_rewards" in frame:
            frame["agent_rewards"] = frame["agent_rewards"].map(json.loads)
        return frame
    frame = pd.read_parquet(path)
    if "agent_rewards" in frame:
        frame["agent_rewards"] = frame["agent_rewards"].map(lambda v: [float(x) for x in v])
    return frame
