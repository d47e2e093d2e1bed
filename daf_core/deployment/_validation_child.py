"""The validating interpreter: ``python -I -m daf_core.deployment._validation_child REQUEST.json``.

:mod:`daf_core.deployment.validation` starts this in a fresh interpreter whose working directory holds
nothing but the extracted bundle. It limits its own address space first (before torch or the bundle's
code is loaded, so the limit covers them), loads the policy from the bundle as cogames does
(``load_policy_spec_from_path`` on the directory, then ``initialize_or_load_policy``), plays each
validation mission through mettagrid's own rollout loop, times every action the policy returns and
writes raw figures to the request's result file. It judges nothing: the thresholds are applied by the
parent, in one place. Missions come from DAF's catalog (an installed package); the policy comes only
from the bundle.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path
from typing import Any

#: Words in an error that mean the address-space limit was hit: a MemoryError, a native allocator's
#: failure, a shared library that could not be mapped, or CPython's SystemError for a C function that
#: failed (here: an allocation under the limit, seen while importing torch) without setting an exception.
MEMORY_MARKERS = (
    "memoryerror",
    "cannot allocate memory",
    "can't allocate memory",
    "failed to map segment",
    "std::bad_alloc",
    "out of memory",
    "error return without exception set",
)
#: A failure with the peak address space this close to the limit counts as hitting it.
NEAR_LIMIT = 0.9


class ChildFailure(Exception):
    """A failure with the stage it happened in (load, mission, play)."""

    def __init__(self, stage: str, message: str, **context: Any):
        super().__init__(message)
        self.stage = stage
        self.context = context


def peak_address_space_bytes() -> int | None:
    """The process's peak virtual memory (Linux ``VmPeak``), or None where /proc does not say."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmPeak:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def is_memory_error(err: BaseException, limit_bytes: int | None = None) -> bool:
    peak = peak_address_space_bytes()
    if limit_bytes is not None and peak is not None and peak >= NEAR_LIMIT * limit_bytes:
        return True
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, MemoryError) or any(m in str(seen).lower() for m in MEMORY_MARKERS):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _describe(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _play(request: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    # Heavy imports only now, under the memory limit. mettagrid through DAF's guard (it configures the
    # root logger when imported).
    import numpy

    from daf_core._internal.process_state import import_preserving_process_state
    from daf_core._internal.seeding import seed_everything
    from daf_core.missions import load_mission

    loader = import_preserving_process_state("mettagrid.policy.loader")
    policy_api = import_preserving_process_state("mettagrid.policy.policy")
    preparing = import_preserving_process_state("mettagrid.policy.prepare_policy_spec")
    interfaces = import_preserving_process_state("mettagrid.policy.policy_env_interface")
    rollout = import_preserving_process_state("mettagrid.runner.rollout")
    module = import_preserving_process_state("mettagrid.util.module")

    latencies_ms: list[float] = []
    # Each policy's first action pays one-off costs (lazy torch initialisation, first page faults: seen
    # at 2.9 s on a loaded machine where p50 was 0.7 ms). It is timed apart, reported as the warm-up, and
    # not judged against the per-action budget, which is about serving once the policy is running.
    warmup_ms: list[float] = []
    counts = {"actions": 0, "noops": 0}

    class TimedAgentPolicy(policy_api.AgentPolicy):
        """Times each action of the wrapped agent policy and counts its no-ops."""

        def __init__(self, inner: Any, noop_index: int | None, owner: TimedPolicy):
            super().__init__(inner.policy_env_info)
            self._inner = inner
            self._noop_index = noop_index
            self._flat_index = inner.policy_env_info.action_name_to_flat_index
            self._owner = owner

        @property
        def infos(self) -> dict[str, Any]:
            return self._inner.infos

        def reset(self, simulation: Any = None) -> None:
            # mettagrid's rollout calls reset() bare, and some policies take no argument at all.
            if simulation is None:
                self._inner.reset()
            else:
                self._inner.reset(simulation)

        def step(self, obs: Any) -> Any:
            begin = time.perf_counter_ns()
            action = self._inner.step(obs)
            elapsed_ms = (time.perf_counter_ns() - begin) / 1e6
            if self._owner.warmed_up:
                latencies_ms.append(elapsed_ms)
            else:
                warmup_ms.append(elapsed_ms)
                self._owner.warmed_up = True
            counts["actions"] += 1
            if self._noop_index is not None and self._flat_index.get(action.name) == self._noop_index:
                counts["noops"] += 1
            return action

    class TimedPolicy(policy_api.MultiAgentPolicy):
        def __init__(self, inner: Any, noop_index: int | None):
            super().__init__(inner.policy_env_info)
            self._inner = inner
            self._noop_index = noop_index
            self.minimum_action_timeout_ms = inner.minimum_action_timeout_ms
            self.warmed_up = False

        def configure_action_timeout_ms(self, action_timeout_ms: int) -> None:
            super().configure_action_timeout_ms(action_timeout_ms)
            self._inner.configure_action_timeout_ms(action_timeout_ms)

        def agent_policy(self, agent_id: int) -> Any:
            return TimedAgentPolicy(self._inner.agent_policy(agent_id), self._noop_index, self)

    bundle = Path.cwd()
    try:
        spec = preparing.load_policy_spec_from_path(bundle, device="cpu")
        # The class first, so torch is imported before seeding (the same seed is then the same network).
        module.load_symbol(loader.resolve_policy_class_path(spec.class_path))
    except BaseException as err:
        raise ChildFailure("load", _describe(err)) from err
    loaded_s = time.perf_counter() - started

    # Every mission is loaded before any is played.
    planned = []
    for name in request["missions"]:
        params = {"max_steps": request["max_steps"]} if request["max_steps"] is not None else {}
        try:
            env_cfg = load_mission(name, **params)
        except BaseException as err:
            raise ChildFailure("mission", _describe(err), mission=name) from err
        # The parent has checked that each mission fits the bundle's policy_env_interface.
        planned.append((name, env_cfg, interfaces.PolicyEnvInterface.from_mg_cfg(env_cfg)))

    missions: dict[str, Any] = {}
    noop_index: int | None = None
    for name, env_cfg, interface in planned:
        noop_index = interface.action_names.index("noop") if "noop" in interface.action_names else None
        try:
            seed_everything(request["seed"])
            policy = loader.initialize_or_load_policy(interface, spec)
        except BaseException as err:
            raise ChildFailure("load", _describe(err)) from err
        timed = TimedPolicy(policy, noop_index)
        rewards, steps = [], []
        for episode in range(request["episodes"]):
            seed = request["seed"] + episode  # episode k uses seed + k, as DAF's evaluation does
            try:
                seed_everything(seed)
                result, _ = rollout.single_episode_rollout(
                    [timed],
                    [0] * env_cfg.game.num_agents,
                    rollout.resolve_env_for_seed(env_cfg, seed),
                    seed=seed,
                    max_action_time_ms=request["rollout_action_timeout_ms"],
                    render_mode="none",
                    autostart=False,
                    capture_replay=False,
                )
            except BaseException as err:
                raise ChildFailure("play", _describe(err), mission=name, episode=episode) from err
            rewards.append(float(sum(result.rewards)))  # DAF's episode reward: the sum over agents
            steps.append(int(result.steps))
        missions[name] = {"episode_rewards": rewards, "steps": steps, "num_agents": env_cfg.game.num_agents}

    latencies = numpy.asarray(latencies_ms, dtype=float)
    return {
        "ok": True,
        "missions": missions,
        "actions": counts["actions"],
        "noop_actions": counts["noops"],
        "noop_index": noop_index,
        "latency_ms": {
            "p50": float(numpy.percentile(latencies, 50)) if latencies.size else None,
            "p99": float(numpy.percentile(latencies, 99)) if latencies.size else None,
            "max": float(latencies.max()) if latencies.size else None,
            "warmup": max(warmup_ms) if warmup_ms else None,
        },
        "load_s": loaded_s,
        "play_s": time.perf_counter() - started - loaded_s,
        "isolated": bool(sys.flags.isolated),
    }


def main(argv: list[str]) -> int:
    request = json.loads(Path(argv[1]).read_text())
    result_path = Path(request["result_path"])
    limit = int(request["memory_mb"]) << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        outcome = _play(request)
    except BaseException as err:  # the parent needs every failure as a reason, never a traceback alone
        failure = err if isinstance(err, ChildFailure) else ChildFailure("load", _describe(err))
        outcome = {
            "ok": False,
            "stage": failure.stage,
            "error": str(failure),
            "memory": is_memory_error(err, limit),
            "peak_address_space_mb": (peak_address_space_bytes() or 0) >> 20,
            "traceback": traceback.format_exc(limit=20)[-4000:],
            **failure.context,
        }
    tmp = result_path.with_name(result_path.name + ".tmp")
    tmp.write_text(json.dumps(outcome, allow_nan=False))
    os.replace(tmp, result_path)
    return 0 if outcome["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
