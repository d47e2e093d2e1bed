"""Ablations: the full policy against variants with one thing changed, on the same seeds."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daf_core.comparison.report import ComparisonReport
from daf_core.comparison.runner import (
    MissionInput,
    PolicyInput,
    check_episodes,
    resolve_missions,
    run_comparison,
)

if TYPE_CHECKING:
    from daf_core.evaluation import PolicyUnderTest

logger = logging.getLogger(__name__)


ABLATION_OVERRIDE_KEYS = ("init_kwargs", "data_path")


def ablation_variant(base: PolicyUnderTest, name: str, variant: Any) -> PolicyUnderTest:
    """One ablation variant: a full policy (any form ``resolve_policy`` takes), or overrides of the base.

    Overrides are a mapping with ``init_kwargs`` (merged over the base's init kwargs) and/or
    ``data_path`` (another checkpoint; None drops the weights, i.e. an untrained network).
    """
    from daf_core.evaluation import resolve_policy  # noqa: PLC0415 - see daf_core.comparison.runner

    if not isinstance(variant, Mapping):
        return resolve_policy(variant, name)
    unknown = sorted(set(variant) - set(ABLATION_OVERRIDE_KEYS))
    if unknown or not variant:
        raise ValueError(
            f"variants[{name!r}]: overrides may set {list(ABLATION_OVERRIDE_KEYS)}, got {dict(variant)!r}"
        )
    update: dict[str, Any] = {}
    if "init_kwargs" in variant:
        if not isinstance(variant["init_kwargs"], Mapping):
            raise ValueError(
                f"variants[{name!r}]: init_kwargs must be a mapping, got {variant['init_kwargs']!r}"
            )
        update["init_kwargs"] = {**base.spec.init_kwargs, **variant["init_kwargs"]}
    if "data_path" in variant:
        update["data_path"] = None if variant["data_path"] is None else str(variant["data_path"])
    return resolve_policy(base.spec.model_copy(update=update), name)


def daf_policy_ablation(
    base_policy: PolicyInput,
    variants: Mapping[str, PolicyInput | Mapping[str, Any]],
    missions: Sequence[MissionInput],
    episodes_per_mission: int = 5,
    *,
    base_name: str | None = None,
    seed: int = 0,
    max_parallel_jobs: int = 1,
    significance_level: float = 0.05,
    output_dir: str | Path | None = None,
    name: str = "ablation",
    show_progress: bool = True,
) -> ComparisonReport:
    """Evaluate the full policy and each variant on the same seeds; compare each variant to the full one.

    A variant is a policy with something changed: ``{"init_kwargs": {...}}`` or ``{"data_path": ...}``
    overrides of the base spec (a knob turned, another checkpoint), or any full policy - e.g. the same
    class with a component switched off, or ``noop`` as "every component off". Comparisons are variant vs
    base only (difference = variant - base), Holm-corrected across all variants and missions.
    """
    from daf_core.evaluation import resolve_policy  # noqa: PLC0415 - see daf_core.comparison.runner

    base = resolve_policy(base_policy, base_name)
    if not isinstance(variants, Mapping) or not variants:
        raise ValueError(
            f"variants: expected a non-empty {{variant_name: policy or overrides}} mapping, got {variants!r}"
        )
    if base.name in variants:
        raise ValueError(
            f"variants: variant name {base.name!r} is the base policy's name; rename the variant"
        )
    resolved = [base] + [ablation_variant(base, str(n), v) for n, v in variants.items()]
    for variant in resolved[1:]:
        if variant.fingerprint() == base.fingerprint():
            logger.warning("Ablation variant %r is identical to the base policy %r", variant.name, base.name)
    return run_comparison(
        "ablation",
        name,
        resolved,
        resolve_missions(missions),
        check_episodes(episodes_per_mission),
        seed=seed,
        max_parallel_jobs=max_parallel_jobs,
        significance_level=significance_level,
        output_dir=output_dir,
        show_progress=show_progress,
        baseline=base.name,
        extra_metadata={
            "variants": {n: v if isinstance(v, Mapping) else str(v) for n, v in variants.items()}
        },
    )


# --------------------------------------------------------------------------------------------------
# Benchmark suites (re-exported)
