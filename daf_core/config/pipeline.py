"""``DAFPipelineConfig``: an ordered workflow of DAF stages."""

from __future__ import annotations

import difflib
from collections import Counter
from typing import Annotated

from pydantic import Field, field_validator

from daf_core.config.base import DAFConfigBase, NonEmptyStr
from daf_core.config.limits import short_repr

#: Stage names a :class:`DAFPipelineConfig` may list, in the order a full pipeline would run them.
PIPELINE_STAGES: tuple[str, ...] = (
    "environment_check",
    "train",
    "evaluate",
    "sweep",
    "compare",
    "benchmark",
    "package",
    "validate",
    "deploy",
)


class DAFPipelineConfig(DAFConfigBase):
    """An ordered workflow of DAF stages (see :data:`PIPELINE_STAGES`)."""

    name: NonEmptyStr
    stages: Annotated[list[NonEmptyStr], Field(min_length=1)]
    stop_on_failure: bool = True
    parallel_stages: bool = False

    @field_validator("stages")
    @classmethod
    def _known_stages(cls, stages: list[str]) -> list[str]:
        """An unknown stage would otherwise only fail when the pipeline reaches it, hours in."""
        for stage in stages:
            if stage not in PIPELINE_STAGES:
                close = difflib.get_close_matches(stage[:100], PIPELINE_STAGES, n=1, cutoff=0.5)
                hint = f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(PIPELINE_STAGES)}"
                raise ValueError(f"unknown stage {short_repr(stage)}; {hint}")
        duplicates = sorted(stage for stage, count in Counter(stages).items() if count > 1)
        if duplicates:
            raise ValueError(f"stage {duplicates[0]!r} is listed more than once; each stage runs once")
        return stages
