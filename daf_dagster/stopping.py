"""``StoppingConfig``: the run-config fields of ``stop_when="decided"``, shared by every asset that
compares policies on a benchmark (the benchmark results and the promotion gate), so each passes them
to daf_core the same way."""

from __future__ import annotations

from typing import Any, Literal

import dagster as dg
from pydantic import Field


class StoppingConfig(dg.Config):
    """When a benchmark's episodes stop: after a fixed count, or once every comparison is decided."""

    stop_when: Literal["fixed", "decided"] = Field(
        default="fixed",
        description="fixed: the suite's episodes (or episodes_per_mission). decided: rounds of "
        "round_episodes until every comparison is decided by its repeated confidence interval (valid "
        "under the repeated looks), at most max_episodes.",
    )
    max_episodes: int | None = Field(
        default=None,
        ge=2,
        description="decided: the most episodes (seeds) per mission; the design's last look.",
    )
    round_episodes: int = Field(
        default=5, ge=2, description="decided: episodes per mission added each round."
    )
    equivalence_margin: float | None = Field(
        default=None, gt=0.0, description="decided: an interval inside +-margin decides 'equivalent'."
    )

    def stopping(self) -> dict[str, Any]:
        """The keyword arguments of daf_core's benchmark and promotion functions these fields set."""
        return {
            "stop_when": self.stop_when,
            "max_episodes": self.max_episodes,
            "round_episodes": self.round_episodes,
            "equivalence_margin": self.equivalence_margin,
        }
