"""``CrossPlayReport``: the cross-play matrix, ratings and values over replacement of one study, and
its files.

The data is :meth:`CrossPlayReport.to_dict` (issue 15's shared shape, which
:class:`~daf_core.comparison.ComparisonReport` stores under ``"cross_play"`` and the visualisation
renders); the records of every episode behind it are kept beside it, so each number can be checked.

Files (``save(output_dir)``)::

    output_dir/
      cross_play.json    to_dict(): metadata, matrix, ratings, value over replacement
      episodes.parquet   every episode's record (agent_policies, agent_rewards, lineup...): exact types
      episodes.csv       the same, lists as JSON
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from daf_core._internal.atomic import atomic_write_json
from daf_core.crossplay.matrix import cross_play_matrix
from daf_core.crossplay.printing import print_cross_play
from daf_core.crossplay.ratings import bradley_terry_ratings
from daf_core.crossplay.vor import value_over_replacement
from daf_core.records import RECORDS_STEM, load_report_dir, save_records

if TYPE_CHECKING:
    from rich.console import Console

REPORT_FILE = "cross_play.json"
KIND = "cross_play"
_KEYS = ("kind", "policies", "missions", "splits", "episodes", "seed", "confidence", "matrix", "ratings",
         "value_over_replacement")  # fmt: skip


@dataclass
class CrossPlayReport:
    """One cross-play study: who played, how, and what came out (see :meth:`to_dict` for the fields).

    ``records`` are the episodes behind every number (None for a report read from ``cross_play.json``
    alone).
    """

    policies: list[str]
    missions: list[str]
    splits: list[str]
    episodes: int
    seed: int
    confidence: float
    matrix: list[dict[str, Any]]
    ratings: list[dict[str, Any]] = field(default_factory=list)
    value_over_replacement: list[dict[str, Any]] = field(default_factory=list)
    records: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_records(
        cls,
        records: pd.DataFrame,
        *,
        policies: Sequence[str],
        splits: Sequence[str],
        episodes: int,
        seed: int = 0,
        confidence: float = 0.95,
        n_resamples: int = 1000,
        replacement: Mapping[str, str] | None = None,
    ) -> CrossPlayReport:
        """Analyse lineup episodes: the matrix over ``policies`` (cells restricted to ``splits``), their
        Bradley-Terry ratings (bootstrap seeded with ``seed``), and, for each ``{candidate: replacement}``
        in ``replacement``, the candidate's value over replacement."""
        policies = list(policies)
        vor = [
            value_over_replacement(
                _scenarios_of(records, candidate, splits), candidate, baseline, confidence=confidence
            )
            for candidate, baseline in (replacement or {}).items()
        ]
        return cls(
            policies=policies,
            missions=list(dict.fromkeys(records["mission"])),
            splits=list(splits),
            episodes=episodes,
            seed=seed,
            confidence=confidence,
            matrix=cross_play_matrix(records, policies=policies, splits=splits, confidence=confidence),
            ratings=bradley_terry_ratings(
                records, policies, confidence=confidence, n_resamples=n_resamples, seed=seed
            ),
            value_over_replacement=vor,
            records=records,
        )

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": "cross_play", "policies", "missions", "splits", "episodes", "seed", "confidence",
        "matrix", "ratings", "value_over_replacement"}``, strict-JSON ready."""
        return json.loads(
            json.dumps({"kind": KIND, **{k: getattr(self, k) for k in _KEYS[1:]}}, allow_nan=False)
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], records: pd.DataFrame | None = None) -> CrossPlayReport:
        """Rebuild a report from :meth:`to_dict` output (numbers kept as saved)."""
        if not isinstance(data, Mapping) or data.get("kind") != KIND:
            kind = data.get("kind") if isinstance(data, Mapping) else type(data).__name__
            raise ValueError(f"kind: not a cross-play result (expected {KIND!r}, got {kind!r})")
        missing = [k for k in _KEYS if k not in data]
        if missing:
            raise ValueError(f"cross-play result: missing field(s) {missing}")
        return cls(**{k: data[k] for k in _KEYS[1:]}, records=records)

    def save(self, output_dir: str | Path) -> dict[str, Path]:
        """Write ``cross_play.json`` and, when the report has them, the episodes, each atomically."""
        output_dir = Path(output_dir)
        paths = {"report": atomic_write_json(output_dir / REPORT_FILE, self.to_dict())}
        if self.records is not None:
            paths["parquet"], paths["csv"] = save_records(self.records, output_dir / RECORDS_STEM)
        return paths

    @classmethod
    def load(cls, output_dir: str | Path) -> CrossPlayReport:
        """Read what :meth:`save` wrote (the episodes too, when they are there)."""
        return cls.from_dict(*load_report_dir(output_dir, REPORT_FILE, "cross-play"))

    def print_summary(self, console: Console | None = None) -> None:
        """The matrix per mission, the ratings and the values over replacement as rich tables."""
        print_cross_play(self.to_dict(), console)


def _scenarios_of(records: pd.DataFrame, candidate: str, splits: Sequence[str]) -> pd.DataFrame:
    """The episodes of the candidate's VOR scenarios: the candidate's ``k`` agents in one of ``splits``
    (``"kvm"``), and those without the candidate (the baseline). A round robin also plays the candidate
    alone (``"nv0"``), which counts only when it is one of the splits, as in cogames pickup."""
    counts = records["agent_policies"].map(lambda agents: (sum(a == candidate for a in agents), len(agents)))
    keep = counts.map(lambda c: c[0] == 0 or f"{c[0]}v{c[1] - c[0]}" in set(splits))
    return records[keep.to_numpy(dtype=bool)]
