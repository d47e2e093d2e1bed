"""Isolated validation: play a bundle in a fresh, limited interpreter and decide whether it may serve.

A bundle is code and weights from elsewhere; validating it inside the caller's process would let it
see (and break) the caller's modules, paths and memory. So :func:`validate_bundle`

1. checks the archive (:mod:`~daf_core.deployment.archive_safety`) and extracts it into a new
   temporary directory, then checks it against its manifest (every SHA-256);
2. checks that every validation mission loads and fits the bundle's ``policy_env_interface``;
3. starts ``sys.executable -I -B -m daf_core.deployment._validation_child`` with that directory as its
   working directory (and nothing else in it), ``PYTHONPATH`` removed from the environment (``-I``
   ignores every other ``PYTHON*`` variable and the user's site-packages), its own process group, an
   address-space limit of ``memory_mb`` (set by the child before it loads torch or the bundle) and a
   wall-clock limit of ``timeout_s`` after which the whole group is killed;
4. reads the child's raw figures (per-episode rewards, every action's latency summarised as p50, p99
   and max, how many actions were mettagrid's no-op) and applies the thresholds here. Each policy's
   first action is timed apart as its warm-up (lazy torch initialisation, first page faults: seconds on a
   loaded machine) and reported, not judged: the budget is about a policy that is serving.

The bundle fails when it cannot load, when every action it took was a no-op, when its slowest action
exceeds ``max_action_ms`` (the tournament's per-action budget is 250 ms; slower actions become no-ops
there), when its mean episode reward (summed over agents, as in DAF's records) is below
``min_mean_reward``, or when it overruns the time or memory limit. Each failure is a reason in words.

This is isolation, not a security sandbox: the child runs as the same user and could read the file
system. It keeps the bundle's imports, working directory and resources apart from the caller's.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import create_model

from daf_core._internal.process_state import import_preserving_process_state
from daf_core.config.base import DAFConfigBase
from daf_core.config.deployment import VALIDATION_FIELDS, DAFDeploymentConfig
from daf_core.deployment.archive_safety import ArchiveLimits, UnsafeArchiveError, safe_extract
from daf_core.deployment.manifest import verify_bundle
from daf_core.deployment.result import DeploymentResult

logger = logging.getLogger(__name__)

CHILD_MODULE = "daf_core.deployment._validation_child"
#: The rollout turns slower actions into no-ops; validation measures instead, so its own cut-off is far.
ROLLOUT_ACTION_TIMEOUT_MS = 10_000
_STDERR_TAIL = 1500

#: DAFDeploymentConfig's validation fields alone, so validation can be configured without an endpoint
#: or a version, and refuses a bad value exactly as the full config does.
ValidationSettings = create_model(
    "ValidationSettings",
    __base__=DAFConfigBase,
    __doc__="The validation fields of DAFDeploymentConfig.",
    **{
        name: (DAFDeploymentConfig.model_fields[name].annotation, DAFDeploymentConfig.model_fields[name])
        for name in VALIDATION_FIELDS
    },
)


@dataclasses.dataclass
class ValidationReport:
    """What the validation saw. Figures are None where nothing ran; ``passed`` only when it all ran."""

    passed: bool
    reasons: list[str]
    mean_reward: float | None
    per_mission: dict[str, float]
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    noop_fraction: float | None
    episodes: int
    wall_s: float
    steps: int = 0
    actions: int = 0
    #: Seconds the child spent importing mettagrid and loading the policy, then playing (None if it
    #: never reported); the rest of wall_s is interpreter start-up, extraction and checks.
    load_s: float | None = None
    play_s: float | None = None
    episode_rewards: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: The slowest first action of a policy instance: one-off start-up costs, reported, not judged.
    warmup_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def summary(self) -> str:
        if not self.passed:
            return "validation failed: " + "; ".join(self.reasons)
        return (
            f"validation passed: mean reward {self.mean_reward:.3f} over {self.episodes} episodes, "
            f"action latency p50 {self.p50_ms:.2f} ms, p99 {self.p99_ms:.2f} ms, max {self.max_ms:.2f} ms, "
            f"{self.noop_fraction:.0%} no-ops, {self.wall_s:.1f} s"
        )


def validation_settings(config: DAFDeploymentConfig | None = None, **overrides: Any) -> Any:
    """The validation settings of ``config`` (or the defaults) with ``overrides`` (field names of
    DAFDeploymentConfig's validation fields) applied; ValueError naming an unknown or bad field."""
    unknown = sorted(set(overrides) - set(VALIDATION_FIELDS))
    if unknown:
        raise ValueError(
            f"{unknown[0]}: not a validation setting; valid ones: {', '.join(VALIDATION_FIELDS)}"
        )
    base = {name: getattr(config, name) for name in VALIDATION_FIELDS} if config is not None else {}
    return ValidationSettings(**{**base, **overrides})


def validate_bundle(
    bundle_path: str | Path,
    *,
    missions: Sequence[str],
    episodes: int = DAFDeploymentConfig.model_fields["validation_episodes"].default,
    max_steps: int | None = None,
    min_mean_reward: float | None = None,
    max_action_ms: float = DAFDeploymentConfig.model_fields["max_action_ms"].default,
    timeout_s: float = DAFDeploymentConfig.model_fields["validation_timeout_s"].default,
    memory_mb: int = DAFDeploymentConfig.model_fields["validation_memory_mb"].default,
    seed: int = 0,
    limits: ArchiveLimits | None = None,
) -> ValidationReport:
    """Validate a bundle zip (or an unpacked bundle directory) in a fresh interpreter; see the module."""
    settings = ValidationSettings(
        validation_missions=list(missions),
        validation_episodes=episodes,
        validation_max_steps=max_steps,
        min_mean_reward=min_mean_reward,
        max_action_ms=max_action_ms,
        validation_timeout_s=timeout_s,
        validation_memory_mb=memory_mb,
    )
    if not settings.validation_missions:
        raise ValueError("missions: at least one validation mission is needed")
    return _validate(Path(bundle_path), settings, seed, limits)


def validate_bundle_config(
    bundle_path: str | Path, config: DAFDeploymentConfig, *, seed: int = 0
) -> ValidationReport:
    """:func:`validate_bundle` with the validation fields of ``config``."""
    settings = validation_settings(config)
    if not settings.validation_missions:
        raise ValueError("validation_missions: the config names no validation mission")
    return _validate(Path(bundle_path), settings, seed, None)


def daf_validate_deployment(
    policy_class_path: str,
    weights_path: str | Path | None = None,
    validation_missions: Sequence[str] | None = None,
    *,
    config: DAFDeploymentConfig | None = None,
    additional_files: Any = None,
    seed: int = 0,
    **overrides: Any,
) -> DeploymentResult:
    """Package the policy into a temporary bundle and validate it in isolation.

    Settings: ``config``'s validation fields (or their defaults), then ``overrides`` by field name
    (``validation_episodes=1``...). Missions: ``validation_missions``, else the config's, else the
    missions the checkpoint run trained on. Returns status "success" only when the validation ran and
    passed, else "validation_failed" with the reasons in ``message``; the report is in ``details``.
    """
    if validation_missions is not None:
        overrides["validation_missions"] = list(validation_missions)
    settings = validation_settings(config, **overrides)
    if weights_path is None and config is not None:
        weights_path = config.weights_path
    missions = list(settings.validation_missions) or _trained_missions(weights_path)
    if not missions:
        raise ValueError(
            "validation_missions: none given (argument or config) and weights_path is not a training run "
            "whose missions are known"
        )
    settings = settings.model_copy(update={"validation_missions": missions})
    name = config.policy_name if config is not None else None
    version = config.version if config is not None else "0.1.0"

    from daf_core.deployment.bundle import daf_package_policy  # noqa: PLC0415 - sibling room

    with tempfile.TemporaryDirectory(prefix="daf-package-") as tmp:
        try:
            package = daf_package_policy(
                policy_class_path,
                weights_path,
                additional_files,
                policy_name=name,
                version=version,
                output_dir=tmp,
                mission=None if _run_recorded_interface(weights_path) else missions[0],
            )
        except (ValueError, FileNotFoundError) as err:
            return DeploymentResult(
                policy_name=name or str(policy_class_path),
                version=version,
                status="validation_failed",
                message=f"validation failed: the policy cannot be packaged: {err}",
                details={"reasons": [f"cannot package: {err}"]},
            )
        report = _validate(package.package_path, settings, seed, None)  # type: ignore[arg-type]
    return DeploymentResult(
        policy_name=package.policy_name,
        version=package.version,
        status="success" if report.passed else "validation_failed",
        message=report.summary(),
        details={
            "validation": report.to_dict(),
            "manifest": package.details["manifest"],
            "sha256": package.details["sha256"],
        },
    )


def _trained_missions(weights_path: str | Path | None) -> list[str]:
    if weights_path is None:
        return []
    config_path = Path(weights_path).expanduser() / "config.yaml"
    if not config_path.is_file():
        return []
    from daf_core.config import DAFTrainingConfig  # noqa: PLC0415

    return [str(m) for m in DAFTrainingConfig.from_yaml(config_path).missions]


def _run_recorded_interface(weights_path: str | Path | None) -> bool:
    if weights_path is None:
        return False
    spec_path = Path(weights_path).expanduser() / "policy_spec.json"
    if not spec_path.is_file():
        return False
    try:
        return json.loads(spec_path.read_text()).get("policy_env_interface") is not None
    except json.JSONDecodeError:
        return False


# --------------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------------


def _validate(bundle_path: Path, settings: Any, seed: int, limits: ArchiveLimits | None) -> ValidationReport:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed: expected an integer, got {seed!r}")
    started = time.monotonic()
    record = {
        "missions": list(settings.validation_missions),
        "episodes": settings.validation_episodes,
        "max_steps": settings.validation_max_steps,
        "min_mean_reward": settings.min_mean_reward,
        "max_action_ms": settings.max_action_ms,
        "timeout_s": settings.validation_timeout_s,
        "memory_mb": settings.validation_memory_mb,
        "seed": seed,
    }

    def failed(*reasons: str) -> ValidationReport:
        return _report(None, list(reasons), settings, record, time.monotonic() - started)

    root = Path(tempfile.mkdtemp(prefix="daf-validate-"))
    try:
        bundle_dir = root / "bundle"
        try:
            if bundle_path.is_dir():
                shutil.copytree(bundle_path, bundle_dir, symlinks=True)
            else:
                safe_extract(bundle_path, bundle_dir, limits)
            verify_bundle(bundle_dir)
        except UnsafeArchiveError as err:
            return failed(str(err))
        except (ValueError, FileNotFoundError) as err:
            return failed(f"the bundle is not valid: {err}")
        problems = _mission_problems(bundle_dir, settings)
        if problems:
            return failed(*problems)
        outcome, problem = _run_child(root, bundle_dir, settings, seed, started)
        if problem is not None:
            return failed(problem)
        return _report(outcome, [], settings, record, time.monotonic() - started)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _mission_problems(bundle_dir: Path, settings: Any) -> list[str]:
    """Missions that cannot be loaded or that the bundle's policy would misread, found before a child
    is started (an interpreter with torch costs seconds; a wrong mission name should not)."""
    from daf_core.deployment.manifest import POLICY_SPEC_FILENAME, read_policy_spec  # noqa: PLC0415
    from daf_core.missions import load_mission  # noqa: PLC0415 - loads mettagrid

    interfaces = import_preserving_process_state("mettagrid.policy.policy_env_interface")
    bundled = read_policy_spec((bundle_dir / POLICY_SPEC_FILENAME).read_bytes(), str(bundle_dir))
    params = {"max_steps": settings.validation_max_steps} if settings.validation_max_steps is not None else {}
    problems = []
    for name in settings.validation_missions:
        try:
            interface = interfaces.PolicyEnvInterface.from_mg_cfg(load_mission(name, **params))
        except (ValueError, FileNotFoundError) as err:
            problems.append(f"validation mission {name!r} cannot be loaded: {err}")
            continue
        if bundled.policy_env_interface is not None:
            mismatch = interface_mismatch(bundled.policy_env_interface, interface)
            if mismatch:
                problems.append(
                    f"mission {name!r} does not fit the bundle's policy_env_interface: {mismatch}"
                )
    return problems


def interface_mismatch(bundled: Any, mission: Any) -> str | None:
    """What a policy built for ``bundled`` would misread in an environment with interface ``mission``
    (the number of agents may differ: a policy acts per agent)."""
    for field in ("action_names", "vibe_action_names", "observation_shape", "observation_kind", "tags"):
        if getattr(bundled, field) != getattr(mission, field):
            ours, theirs = getattr(bundled, field), getattr(mission, field)
            return f"{field} {ours!r} in the bundle, {theirs!r} in the mission"
    if [(f.id, f.name) for f in bundled.obs_features] != [(f.id, f.name) for f in mission.obs_features]:
        return "the observation features differ"
    return None


def _child_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.setdefault("METTAGRID_LOG_LEVEL", "WARNING")
    # One policy step is small; more threads only contend with whatever else runs on the machine.
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _run_child(
    root: Path, bundle_dir: Path, settings: Any, seed: int, started: float
) -> tuple[dict[str, Any] | None, str | None]:
    """(the child's outcome, None) when it reported figures; (None, reason) when it did not."""
    result_path = root / "result.json"
    request = {
        "missions": list(settings.validation_missions),
        "episodes": settings.validation_episodes,
        "max_steps": settings.validation_max_steps,
        "seed": seed,
        "memory_mb": settings.validation_memory_mb,
        "result_path": str(result_path),
        "rollout_action_timeout_ms": max(ROLLOUT_ACTION_TIMEOUT_MS, math.ceil(settings.max_action_ms)),
    }
    request_path = root / "request.json"
    request_path.write_text(json.dumps(request))
    timeout_s = settings.validation_timeout_s
    process = subprocess.Popen(
        # -I: no PYTHON* variables, no user site, no script directory on sys.path; -B: the bundle
        # directory stays as shipped (no __pycache__ written into it).
        [sys.executable, "-I", "-B", "-m", CHILD_MODULE, str(request_path)],
        cwd=bundle_dir,
        env=_child_environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, so a timeout kills whatever it started too
    )
    try:
        _, stderr = process.communicate(timeout=max(0.0, timeout_s - (time.monotonic() - started)))
    except subprocess.TimeoutExpired:
        _kill_group(process)
        process.communicate()
        return None, (
            f"validation exceeded its wall-clock limit of {timeout_s:g} s (validation_timeout_s); "
            "the validating process group was killed"
        )
    finally:
        if process.poll() is None:  # an exception (KeyboardInterrupt...) in the parent: leave no child
            _kill_group(process)
            process.wait()
    tail = stderr.decode(errors="replace")[-_STDERR_TAIL:].strip()
    if not result_path.is_file():
        if any(marker in tail.lower() for marker in _memory_markers()):
            return None, _memory_reason(settings, tail.splitlines()[-1] if tail else "")
        return None, (
            f"the validating interpreter exited with status {process.returncode} before reporting"
            + (f": {tail}" if tail else "")
        )
    outcome = json.loads(result_path.read_text())
    if outcome["ok"]:
        return outcome, None
    return None, _failure_reason(outcome, settings)


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _memory_markers() -> tuple[str, ...]:
    from daf_core.deployment._validation_child import MEMORY_MARKERS  # noqa: PLC0415 - one list

    return MEMORY_MARKERS


def _memory_reason(settings: Any, error: str) -> str:
    return (
        f"the policy exceeded the memory limit of {settings.validation_memory_mb} MiB "
        f"(validation_memory_mb): {error}"
    )


def _failure_reason(outcome: dict[str, Any], settings: Any) -> str:
    error = outcome["error"]
    if outcome.get("memory"):
        return _memory_reason(
            settings, f"{error} (peak address space {outcome['peak_address_space_mb']} MiB)"
        )
    stage = outcome["stage"]
    mission = outcome.get("mission")
    if stage == "mission":
        return f"validation mission {mission!r} cannot be loaded: {error}"
    if stage == "play":
        return f"the policy failed while playing {mission!r} (episode {outcome.get('episode')}): {error}"
    return f"the policy cannot be loaded from the bundle: {error}"


def _report(
    outcome: dict[str, Any] | None,
    reasons: list[str],
    settings: Any,
    record: dict[str, Any],
    wall_s: float,
) -> ValidationReport:
    if outcome is None:
        return ValidationReport(
            passed=False, reasons=reasons, mean_reward=None, per_mission={}, p50_ms=None, p99_ms=None,
            max_ms=None, noop_fraction=None, episodes=0, wall_s=wall_s, settings=record,
        )  # fmt: skip
    missions = outcome["missions"]
    rewards = {name: m["episode_rewards"] for name, m in missions.items()}
    all_rewards = [r for values in rewards.values() for r in values]
    mean_reward = sum(all_rewards) / len(all_rewards)
    latency = outcome["latency_ms"]
    actions = outcome["actions"]
    noop_fraction = (
        outcome["noop_actions"] / actions if actions and outcome["noop_index"] is not None else None
    )
    if actions == 0:
        reasons.append("the policy was never asked for an action (no step was played)")
    if noop_fraction == 1.0:
        reasons.append(f"the policy only emits no-ops (all {actions} actions were mettagrid's noop)")
    if latency["max"] is not None and latency["max"] > settings.max_action_ms:
        reasons.append(
            f"the slowest action took {latency['max']:.3f} ms, over max_action_ms={settings.max_action_ms:g} "
            f"(p50 {latency['p50']:.3f} ms, p99 {latency['p99']:.3f} ms)"
        )
    if settings.min_mean_reward is not None and mean_reward < settings.min_mean_reward:
        reasons.append(
            f"the mean episode reward {mean_reward:.4g} is below min_mean_reward={settings.min_mean_reward:g}"
        )
    return ValidationReport(
        passed=not reasons,
        reasons=reasons,
        mean_reward=mean_reward,
        per_mission={name: sum(values) / len(values) for name, values in rewards.items()},
        p50_ms=latency["p50"],
        p99_ms=latency["p99"],
        max_ms=latency["max"],
        warmup_ms=latency["warmup"],
        noop_fraction=noop_fraction,
        episodes=len(all_rewards),
        wall_s=wall_s,
        steps=sum(sum(m["steps"]) for m in missions.values()),
        actions=actions,
        load_s=outcome["load_s"],
        play_s=outcome["play_s"],
        episode_rewards=rewards,
        settings=record,
    )
