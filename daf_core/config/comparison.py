"""``DAFComparisonConfig``: which policies to compare on which missions, and what to write."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BeforeValidator, Field, model_validator

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
    #: fixed: ``episodes_per_mission`` episodes. decided: rounds of ``round_episodes`` until every
    #: comparison's repeated confidence interval decides it, at most ``max_episodes`` (default
    #: ``episodes_per_mission``); the level holds under the repeated looks (group-sequential design).
    stop_when: Literal["fixed", "decided"] = "fixed"
    max_episodes: Annotated[int, BeforeValidator(reject_bool), Field(ge=2)] | None = None
    round_episodes: Annotated[int, BeforeValidator(reject_bool), Field(ge=2)] = 5
    #: decided: a comparison whose interval lies inside +-margin (reward scale) is "equivalent".
    equivalence_margin: (
        Annotated[float, BeforeValidator(reject_bool), Field(gt=0.0, allow_inf_nan=False)] | None
    ) = None
    #: Also play the policies in mixed teams (every pair in every split): cross-play matrix, ratings.
    cross_play: bool = False
    #: The splits of the cross-play ("1v3" = 1 agent of the row policy, 3 of its partner's); None: the
    #: tournament's k v n-k of each mission's n agents.
    cross_play_splits: Annotated[list[NonEmptyStr], Field(min_length=1)] | None = None
    #: One of ``policies``: every other policy's value over replacement, from the cross-play's episodes.
    cross_play_replacement: NonEmptyStr | None = None

    @model_validator(mode="after")
    def _settings_that_act(self) -> Self:
        """A sequential or cross-play setting given without its switch would be silently ignored."""
        if self.stop_when == "fixed":
            for field in ("max_episodes", "equivalence_margin"):
                if getattr(self, field) is not None:
                    raise ValueError(
                        f"{field}: only used with stop_when: decided, got {getattr(self, field)!r}"
                    )
            if self.round_episodes != 5:
                raise ValueError(
                    f"round_episodes: only used with stop_when: decided, got {self.round_episodes!r}"
                )
        elif (self.max_episodes or self.episodes_per_mission) < self.round_episodes:
            raise ValueError(
                f"max_episodes: must be >= round_episodes ({self.round_episodes}), "
                f"got {self.max_episodes or self.episodes_per_mission}"
            )
        if not self.cross_play:
            for field in ("cross_play_splits", "cross_play_replacement"):
                if getattr(self, field) is not None:
                    raise ValueError(
                        f"{field}: only used with cross_play: true, got {getattr(self, field)!r}"
                    )
        for split in self.cross_play_splits or []:
            if not re.fullmatch(r"[1-9]\d*v\d+", split):
                raise ValueError(f"cross_play_splits: {split!r} is not a split such as '1v3'")
        if self.cross_play_replacement is not None and self.cross_play_replacement not in self.policies:
            raise ValueError(
                f"cross_play_replacement: {self.cross_play_replacement!r} is not one of the policies "
                f"{self.policies}"
            )
        return self
