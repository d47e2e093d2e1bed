"""Mission parameters as a user gives them to ``load_mission``, checked before any mission is built.

The names follow cogames' own command line, so a mission is set up the same way in both: ``cogs`` is
``--cogs`` (``num_cogs`` and ``num_agents`` are accepted for it), ``variants`` is ``-v`` (repeatable) and
``max_steps`` is ``--steps``. Built-in missions also take their own fields (``width``, ``walls``...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

COGS_NAMES = ("cogs", "num_cogs", "num_agents")
VARIANTS = "variants"
MAX_STEPS = "max_steps"


@dataclass(frozen=True)
class MissionParameters:
    """Checked parameters: ``None`` / empty where the mission's own value stands."""

    cogs: int | None = None
    variants: tuple[str, ...] = ()
    max_steps: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)


def accepted_parameters(fields: Sequence[str] = (), *, cogs: bool = True, variants: bool = True) -> list[str]:
    """Every parameter name a mission takes, given its own fields and whether it takes cogs and variants."""
    names = [*COGS_NAMES] if cogs else []
    names += [VARIANTS] if variants else []
    names += [MAX_STEPS]
    return names + [f for f in fields if f not in names]


def read_parameters(
    label: str,
    params: Mapping[str, Any],
    *,
    fields: Sequence[str] = (),
    cogs: bool = True,
    variants: bool = True,
) -> MissionParameters:
    """Check ``params`` for mission ``label``: unknown names, conflicting cogs aliases and bad values are
    refused with a ``ValueError`` naming the parameter and the value. ``fields`` are the mission's own
    fields (checked later by the mission model itself)."""
    accepted = accepted_parameters(fields, cogs=cogs, variants=variants)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(
            f"mission '{label}': unknown parameter(s) {unknown}; this mission takes {accepted}"
            + ("" if cogs else " (cogs and variants belong to catalog missions, not to mission files)")
        )
    return MissionParameters(
        cogs=_cogs(label, params),
        variants=_variants(label, params.get(VARIANTS)),
        max_steps=_positive_int(label, MAX_STEPS, params[MAX_STEPS]) if MAX_STEPS in params else None,
        fields={k: v for k, v in params.items() if k not in (*COGS_NAMES, VARIANTS, MAX_STEPS)},
    )


def check_cogs_range(label: str, cogs: int, min_cogs: int, max_cogs: int) -> None:
    """A mission declares how many cogs it supports; cogames' ``with_cogs`` does not check, DAF does."""
    if not min_cogs <= cogs <= max_cogs:
        raise ValueError(
            f"mission '{label}': cogs={cogs} is outside the {min_cogs}-{max_cogs} cogs it supports"
        )


def _cogs(label: str, params: Mapping[str, Any]) -> int | None:
    given = {name: params[name] for name in COGS_NAMES if name in params}
    if not given:
        return None
    if len(set(map(repr, given.values()))) > 1:
        raise ValueError(f"mission '{label}': {given} disagree; give the number of cogs once (cogs=N)")
    name, value = next(iter(given.items()))
    return _positive_int(label, name, value)


def _variants(label: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, Sequence) or not all(isinstance(v, str) and v.strip() for v in names):
        raise ValueError(f"mission '{label}': variants must be a list of variant names, got {value!r}")
    return tuple(names)


def _positive_int(label: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"mission '{label}': {name} must be a positive integer, got {value!r}")
    return value
