"""``DAFComparisonConfig``: which policies to compare on which missions, and what to write."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, Field

from daf_core.config.base import ConfigPath, DAFConfigBase, NonEmptyStr, PositiveInt, reject_bool


class DAFComparisonConfig(DAFConfigBase):
    """Which policies to compare on which missions, with how many episodes and what outputs."""

    name: NonEmptyStr
    policies: Annotated[list[NonEmptyStr], Field(min_length=1)]
    missions: Annotated[list[NonEmptyStr], Field(min_length=1)]
    episodes_per_mission: PositiveInt = 5
    generate_html_report: bool = True
    save_raw_results: bool = True
    seed: Annotated[int, BeforeValidator(reject_bool)] = 42
    significance_level: Annotated[float, BeforeValidator(reject_bool), Field(gt=0.0, lt=1.0)] = 0.05
    output_dir: ConfigPath = Path("./daf_output/comparisons")
