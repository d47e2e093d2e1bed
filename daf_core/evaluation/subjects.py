"""What is evaluated: named policies and missions, resolved from whatever form a user gives them.

A policy is a shorthand (``random``, ``lstm``), a class path, cogames' ``class=...,data=...`` syntax, a
checkpoint directory or bundle holding ``policy_spec.json``, or a ``PolicySpec``; a mission is a catalog
name, a mission file or a ``(name, MettaGridConfig)`` pair. Each resolves to a named object with a
fingerprint, which decides whether recorded episodes can be reused.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mettagrid.config.mettagrid_config import MettaGridConfig
from mettagrid.policy.loader import resolve_policy_class_path
from mettagrid.policy.policy import MultiAgentPolicy, PolicySpec
from mettagrid.util.module import load_symbol

from daf_core._internal.fingerprints import fingerprint
from daf_core.missions import load_mission

logger = logging.getLogger(__name__)


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
        return fingerprint([self.spec.class_path, data_path, sorted(self.spec.init_kwargs.items()), weights])


@dataclass(frozen=True)
class MissionUnderTest:
    name: str
    env_cfg: MettaGridConfig

    def fingerprint(self) -> str:
        """Changes when anything in the mission's full ``MettaGridConfig`` changes."""
        return fingerprint(json.loads(self.env_cfg.model_dump_json()))


def resolve_policy(
    policy: str | Path | PolicySpec | PolicyUnderTest, name: str | None = None
) -> PolicyUnderTest:
    """Accept a shorthand (``random``), a class path, cogames' ``class=...,data=...`` syntax, a
    checkpoint directory or bundle holding ``policy_spec.json``, or a ``PolicySpec``."""
    if isinstance(policy, PolicyUnderTest):
        return policy if name is None else PolicyUnderTest(name, policy.spec)
    if isinstance(policy, PolicySpec):
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


def policy_class_path(name: str) -> str:
    """The full class path of a shorthand (``lstm`` -> ``mettagrid.policy.lstm.LSTMPolicy``) or a path."""
    try:
        return resolve_policy_class_path(name)
    except (ImportError, AttributeError, ValueError) as err:
        raise ValueError(f"policy {name!r} cannot be resolved to a class ({err})") from err


def policy_class(class_path: str, label: str | None = None) -> type[MultiAgentPolicy]:
    """The class a shorthand (``lstm``) or a class path names; ``ValueError`` if it cannot be imported."""
    try:
        return load_symbol(resolve_policy_class_path(class_path))
    except (ImportError, AttributeError, ValueError) as err:
        raise ValueError(
            f"policy {label or class_path!r}: class {class_path!r} cannot be imported ({err}). "
            "Shorthands here include random, noop, lstm, stateless."
        ) from err


def _check_policy_class(spec: PolicySpec, label: str) -> None:
    policy_class(spec.class_path, label)
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


def _as_list(value: Any, singles: tuple[type, ...]) -> Any:
    """A single policy or mission where a list was expected becomes a list of one."""
    return [value] if isinstance(value, singles) else value


def resolve_policies(policies: Any, arg: str = "policies") -> list[PolicyUnderTest]:
    """Policies in any form ``resolve_policy`` takes (one, a list, or ``{name: policy}``), uniquely named;
    ``arg`` names the argument in errors."""
    policies = _as_list(policies, (str, Path, PolicySpec, PolicyUnderTest))
    if isinstance(policies, Mapping):
        named = [(str(name), p) for name, p in policies.items()]
    elif isinstance(policies, Sequence):
        named = [(None, p) for p in policies]
    else:
        raise ValueError(f"{arg}: expected a list or a {{name: policy}} mapping, got {policies!r}")
    if not named:
        raise ValueError(f"{arg}: no policies given, got {policies!r}")
    resolved = [resolve_policy(p, name) for name, p in named]
    names = [p.name for p in resolved]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(
            f"{arg}: policy names must be unique, repeated: {repeated}; "
            "pass a {name: policy} mapping to name them"
        )
    return resolved


def resolve_missions(missions: Any) -> list[MissionUnderTest]:
    """Missions in any form ``resolve_mission`` takes (one or a list), uniquely named."""
    missions = _as_list(missions, (str, Path, MissionUnderTest))
    if isinstance(missions, tuple) and len(missions) == 2 and isinstance(missions[1], MettaGridConfig):
        missions = [missions]
    if not isinstance(missions, Sequence) or not missions:
        raise ValueError(f"missions: expected a non-empty list of missions, got {missions!r}")
    resolved = [resolve_mission(m) for m in missions]
    names = [m.name for m in resolved]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"missions: mission names must be unique, repeated: {repeated}")
    return resolved
