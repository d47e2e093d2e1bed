"""Comparison reports: per-episode records of several policies and the honest statistics drawn from them.

A :class:`ComparisonReport` is a tidy table of per-episode records (one row per episode: ``policy``,
``mission``, ``episode``, ``seed``, ``reward``, plus whatever the evaluator recorded) and the statistics
derived from it. The records are the report: summaries and tests are recomputed from them, and they are
saved beside every summary, so a reader can always check a number against the episodes behind it.
This module holds the data, the statistics and the files; one comparison's result is
:mod:`~daf_core.comparison.result`, the printed tables :mod:`~daf_core.comparison.printing`, and running
the episodes that fill a report :mod:`~daf_core.comparison.runner`, so a saved report can be read and
re-analysed without running anything.

How the statistics are chosen (the arithmetic is :mod:`daf_core.stats`, i.e. scipy.stats; the measured
coverage of every interval is in its docstring there):

* ``reward`` is the environment's episode reward (summed over agents); nothing else is ever scored.
* Per policy and mission: n, mean, std, median, IQM, min, max; the mean with a Student t interval, the
  IQM with a seeded percentile bootstrap interval. Across missions ("overall"): the mean of per-mission
  means with a Welch-Satterthwaite t interval (every mission weighs the same), and the IQM of all
  episodes pooled with a stratified bootstrap interval (episodes resampled within each mission,
  rliable-style).
* Every pair of policies on every mission is compared. Episodes are **paired** exactly when both policies
  have the same seeds on that mission - what :func:`~daf_core.evaluation.evaluate_policies` produces
  through common random numbers - and then the paired t-test (with the t interval of the differences)
  and the Wilcoxon signed-rank test are used, with Cohen's d_z as the effect size; otherwise Welch's
  t-test and interval and Mann-Whitney U, with Hedges' g. Each result carries the probability of
  improvement P(a > b) + P(a = b)/2 over all pairs of episodes, and, when paired, the paired win rate.
* With two or more missions each pair also gets an aggregate comparison, mission ``"all"``: the mean
  over missions of per-mission mean differences with a stratified t (Welch-Satterthwaite degrees of
  freedom) and a stratified permutation test beside it; its probability of improvement and effect size
  are means over missions (rliable's aggregates), so neither episode counts nor reward scales tip it.
* Holm-Bonferroni corrects the primary p-values of **all** comparisons of a report together (every pair,
  every mission and the aggregates), at the report's significance level. Raw and adjusted p-values are
  both kept; the nonparametric p-value is reported raw, as a robustness check beside the primary test.
* Degenerate data (one episode, zero variance) never produce NaN or inf: undefined numbers are ``None``
  and the ``note`` of the summary or comparison says what was done.

Files (``ComparisonReport.save(output_dir)``, and every ``daf_*`` function given an ``output_dir``)::

    output_dir/
      report.json        metadata, summary statistics, comparisons and the core per-episode records
                         (format_version 2: comparisons hold the fields of daf_core.stats.PairwiseTest);
                         "cross_play": a CrossPlayReport's to_dict() when the report carries one
      episodes.parquet   every per-episode record, all columns (exact types)
      episodes.csv       the same, readable anywhere
      evaluation.json    the evaluator's manifest (written by the ``daf_*`` runs: lets an interrupted run
                         resume its episodes)
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import math
import numbers
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from daf_core import stats
from daf_core._internal.atomic import atomic_write_json
from daf_core.comparison.constants import AGGREGATE_MISSION, OVERALL_KEY, REWARD_DEFINITION
from daf_core.comparison.printing import print_summary as print_report
from daf_core.comparison.result import PolicyComparisonResult
from daf_core.crossplay import CrossPlayReport
from daf_core.records import RECORDS_STEM, load_report_dir, save_records

if TYPE_CHECKING:
    from rich.console import Console

logger = logging.getLogger(__name__)

__all__ = [
    "AGGREGATE_MISSION",
    "CORE_COLUMNS",
    "OVERALL_KEY",
    "REPORT_FILE",
    "REPORT_FORMAT",
    "REPORT_FORMAT_VERSION",
    "REWARD_DEFINITION",
    "ComparisonReport",
    "PolicyComparisonResult",
    "check_name",
    "check_significance_level",
]

REPORT_FORMAT = "daf.comparison_report"
REPORT_FORMAT_VERSION = 2
REPORT_FILE = "report.json"
CORE_COLUMNS = ["policy", "mission", "episode", "seed", "reward"]


# --------------------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------------------


def check_probability(field: str, value: Any) -> float:
    """A level or confidence: a finite number strictly between 0 and 1."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(float(value))
        or not 0.0 < float(value) < 1.0
    ):
        raise ValueError(f"{field}: must be a number in (0, 1), got {value!r}")
    return float(value)


def check_significance_level(value: Any) -> float:
    """A significance level must be a finite number strictly between 0 and 1."""
    return check_probability("significance_level", value)


def check_count(field: str, value: Any, minimum: int) -> int:
    """An integer setting (bools refused) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{field}: must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_name(kind: str, value: Any) -> str:
    """A policy, mission or report name: a non-empty string; missions may not take the aggregate's name."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{kind}: expected a non-empty string, got {value!r}")
    if kind == "mission" and value in (AGGREGATE_MISSION, OVERALL_KEY):
        raise ValueError(
            f"mission: {value!r} is reserved for the aggregate across missions; rename the mission"
        )
    return value


def _check_reward(policy: str, mission: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ValueError(
            f"mission_rewards[{mission!r}] of policy {policy!r}: rewards must be finite numbers, "
            f"got {value!r}"
        )
    return float(value)


# --------------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------------


class ComparisonReport:
    """Per-episode records of several policies on several missions, and the statistics drawn from them.

    Build one from evaluations (:func:`daf_compare_policies` and friends), from a records DataFrame
    (:meth:`from_records`), by hand (:meth:`add_policy_results`), or from disk (:meth:`load_json`,
    :meth:`from_dir`). Statistics are computed lazily and recomputed when records are added.

    Settings, each checked here: ``significance_level`` (Holm's level and every verdict),
    ``confidence`` (every interval), ``n_resamples`` (the IQM bootstraps and the aggregate's permutation
    test) and ``seed`` (their random draws).
    """

    def __init__(
        self,
        name: str = "comparison",
        *,
        significance_level: float = 0.05,
        seed: int = 0,
        confidence: float = 0.95,
        n_resamples: int = 2000,
        baseline: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ):
        self.name = check_name("name", name)
        self.significance_level = check_significance_level(significance_level)
        self.seed = check_count("seed", seed, 0)
        self.confidence = check_probability("confidence", confidence)
        self.n_resamples = check_count("n_resamples", n_resamples, 1)
        # With a baseline (ablations) only baseline-vs-other comparisons are made: the family Holm
        # corrects is then exactly the comparisons the study asks about.
        self.baseline = None if baseline is None else check_name("baseline", baseline)
        self.metadata: dict[str, Any] = dict(metadata or {})
        #: A cross-play result (``CrossPlayReport.to_dict()``) of these policies, or None: kept, saved and
        #: printed with the report; its numbers come from its own lineup episodes, not from ``records``.
        self.cross_play: dict[str, Any] | None = None
        self.metadata.setdefault("created_at", datetime.now(UTC).isoformat(timespec="seconds"))
        self._records = pd.DataFrame({c: pd.Series(dtype=t) for c, t in _CORE_DTYPES.items()})
        self._version = 0
        self._summary: dict[str, Any] | None = None
        self._summary_version = -1
        self._comparisons: list[PolicyComparisonResult] | None = None
        self._comparisons_version = -1

    def __repr__(self) -> str:
        return (
            f"ComparisonReport(name={self.name!r}, policies={self.policies}, missions={self.missions}, "
            f"episodes={len(self._records)})"
        )

    # ---- records ---------------------------------------------------------------------------------

    @property
    def records(self) -> pd.DataFrame:
        """A copy of the raw per-episode records (the data every number in the report comes from)."""
        return self._records.copy()

    @property
    def policies(self) -> list[str]:
        """Policy names in the order they were added."""
        return list(dict.fromkeys(self._records["policy"]))

    @property
    def missions(self) -> list[str]:
        """Mission names in the order they were added."""
        return list(dict.fromkeys(self._records["mission"]))

    def rewards(self, policy: str, mission: str) -> np.ndarray:
        """The per-episode rewards of one policy on one mission, in episode order."""
        rows = self._rows(policy, mission)
        if rows.empty:
            raise ValueError(f"policy {policy!r} has no episodes on mission {mission!r}")
        return rows["reward"].to_numpy(dtype=float)

    def add_policy_results(
        self, policy_name: str, mission_rewards: Mapping[str, Sequence[float] | Mapping[int, float]]
    ) -> None:
        """Add one policy's episode rewards: ``{mission: [reward, ...]}`` or ``{mission: {seed: reward}}``.

        Give seeds whenever they are known: two policies with the same seeds on a mission are compared
        episode by episode (paired), which is far more sensitive. A plain list means episodes
        0..n-1 with unknown seeds, compared unpaired.
        """
        policy_name = check_name("policy_name", policy_name)
        if not isinstance(mission_rewards, Mapping) or not mission_rewards:
            raise ValueError(
                f"mission_rewards: expected a non-empty mapping {{mission: rewards}}, got {mission_rewards!r}"
            )
        rows = []
        for mission, rewards in mission_rewards.items():
            mission = check_name("mission", mission)
            if not self._rows(policy_name, mission).empty:
                raise ValueError(
                    f"policy_name: {policy_name!r} already has results on mission {mission!r}; "
                    "policy names must be unique"
                )
            if isinstance(rewards, Mapping):
                items = []
                for seed, value in rewards.items():
                    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
                        raise ValueError(
                            f"mission_rewards[{mission!r}] of policy {policy_name!r}: "
                            f"seeds must be integers, got {seed!r}"
                        )
                    items.append((int(seed), _check_reward(policy_name, mission, value)))
                items.sort()
            else:
                if isinstance(rewards, str | bytes) or not isinstance(rewards, Sequence | np.ndarray):
                    raise ValueError(
                        f"mission_rewards[{mission!r}] of policy {policy_name!r}: expected a list of rewards "
                        f"or a {{seed: reward}} mapping, got {rewards!r}"
                    )
                items = [(None, _check_reward(policy_name, mission, v)) for v in rewards]
            if not items:
                raise ValueError(f"mission_rewards[{mission!r}] of policy {policy_name!r}: no rewards given")
            rows.extend(
                {"policy": policy_name, "mission": mission, "episode": k, "seed": seed, "reward": value}
                for k, (seed, value) in enumerate(items)
            )
        self._append(pd.DataFrame.from_records(rows))

    @classmethod
    def from_records(cls, records: pd.DataFrame, **kwargs: Any) -> ComparisonReport:
        """A report over a tidy records frame (e.g. from ``evaluate_policies`` or ``load_records``).

        Needs ``policy``, ``mission`` and ``reward`` columns; ``seed`` (for pairing) and ``episode`` are
        used when present. Other columns are kept and saved with the records. ``kwargs`` go to the
        constructor.
        """
        report = cls(**kwargs)
        report._append(records)
        return report

    def _append(self, frame: pd.DataFrame) -> None:
        missing = sorted({"policy", "mission", "reward"} - set(frame.columns))
        if missing:
            raise ValueError(f"records: missing column(s) {missing}; have {sorted(frame.columns)}")
        frame = frame.copy()
        if frame.empty:
            return
        for column in ("policy", "mission"):
            frame[column] = frame[column].astype(str)
            for value in frame[column].unique():
                check_name(column, value)
        rewards = pd.to_numeric(frame["reward"], errors="coerce").astype(float)
        bad = frame.loc[~np.isfinite(rewards.to_numpy()), ["policy", "mission"]]
        if len(bad):
            first = bad.iloc[0]
            raise ValueError(
                f"records: {len(bad)} reward(s) are missing or not finite "
                f"(first: policy {first['policy']!r}, mission {first['mission']!r})"
            )
        frame["reward"] = rewards
        if "seed" not in frame:
            frame["seed"] = pd.NA
        frame["seed"] = frame["seed"].astype("Int64")
        if "episode" not in frame:
            frame["episode"] = frame.groupby(["policy", "mission"], sort=False).cumcount()
        frame["episode"] = frame["episode"].astype("int64")
        overlap = (
            frame[["policy", "mission"]]
            .drop_duplicates()
            .merge(self._records[["policy", "mission"]].drop_duplicates())
        )
        if len(overlap):
            first = overlap.iloc[0]
            raise ValueError(
                f"records: policy {first['policy']!r} already has results on mission {first['mission']!r}; "
                "policy names must be unique"
            )
        order = CORE_COLUMNS + [c for c in frame.columns if c not in CORE_COLUMNS]
        parts = [f for f in (self._records, frame[order]) if len(f)]
        self._records = (
            pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
        )
        self._version += 1

    def _rows(self, policy: str, mission: str) -> pd.DataFrame:
        rows = self._records[(self._records["policy"] == policy) & (self._records["mission"] == mission)]
        return rows.sort_values("episode", kind="stable")

    # ---- summary statistics ----------------------------------------------------------------------

    @property
    def summary_statistics(self) -> dict[str, dict[str, dict[str, Any]]]:
        """``{policy: {mission: {n, mean, std, median, iqm, min, max, ci_low, ci_high, iqm_ci_low,
        iqm_ci_high, ci_method, iqm_ci_method, note, ...}, "overall": {missions, episodes, mean,
        mean_ci_low, mean_ci_high, mean_ci_method, iqm, iqm_ci_low, iqm_ci_high, iqm_ci_method, note}}}``.

        Per mission: the mean's Student t interval and the IQM's percentile bootstrap interval.
        "overall": the mean of per-mission means (every mission weighs the same) with a
        Welch-Satterthwaite t interval, and the IQM of all episodes pooled with a stratified bootstrap
        interval (episodes resampled within missions). Rewards are used as the environment gave them, so
        a mission with a larger reward scale weighs more in the pooled IQM.
        """
        if self._summary is None or self._summary_version != self._version:
            self._summary = self._compute_summary()
            self._summary_version = self._version
        return json.loads(json.dumps(self._summary))  # a deep copy; callers may mutate it freely

    def _compute_summary(self) -> dict[str, Any]:
        boot = dict(confidence=self.confidence, n_resamples=self.n_resamples, seed=self.seed)
        out: dict[str, Any] = {}
        for policy in self.policies:
            groups = {m: self.rewards(policy, m) for m in self.missions if not self._rows(policy, m).empty}
            per_mission: dict[str, Any] = {
                m: dataclasses.asdict(stats.summarize(g, **boot)) for m, g in groups.items()
            }
            per_mission[OVERALL_KEY] = self._overall(groups, boot)
            out[policy] = per_mission
        return out

    def _overall(self, groups: dict[str, np.ndarray], boot: dict[str, Any]) -> dict[str, Any]:
        """One policy's aggregate over the missions it played: mean of means and pooled IQM."""
        mean = stats.mean_of_means_interval(groups, confidence=self.confidence)
        iqm = stats.stratified_bootstrap_ci(groups, "iqm", method="percentile", **boot)
        notes = [mean.note]
        absent = [m for m in self.missions if m not in groups]
        if absent:
            notes.append(f"no episodes on {absent}: not comparable with other policies' overall scores")
        return {
            "missions": len(groups),
            "episodes": int(sum(g.size for g in groups.values())),
            "mean": mean.point,
            "mean_ci_low": mean.low,
            "mean_ci_high": mean.high,
            "mean_ci_method": mean.method,
            "iqm": iqm.point,
            "iqm_ci_low": iqm.low,
            "iqm_ci_high": iqm.high,
            "iqm_ci_method": "stratified_percentile_bootstrap",
            "confidence": self.confidence,
            "note": "; ".join(n for n in notes if n),
        }

    # ---- pairwise comparisons --------------------------------------------------------------------

    @property
    def comparisons(self) -> list[PolicyComparisonResult]:
        """The comparisons of the last :meth:`compute_pairwise_comparisons` (computed now if stale)."""
        if self._comparisons is None or self._comparisons_version != self._version:
            self.compute_pairwise_comparisons(self.significance_level)
        return list(self._comparisons or [])

    def pairs(self) -> list[tuple[str, str]]:
        """(a, b) pairs to compare: every pair in order added, or each policy vs the baseline."""
        if self.baseline is None:
            return list(itertools.combinations(self.policies, 2))
        if self.baseline not in self.policies:
            raise ValueError(f"baseline: {self.baseline!r} has no results; policies are {self.policies}")
        return [(p, self.baseline) for p in self.policies if p != self.baseline]

    def compute_pairwise_comparisons(
        self, significance_level: float | None = None
    ) -> list[PolicyComparisonResult]:
        """Compare every pair of policies on every mission (and across missions), Holm-corrected together.

        ``significance_level`` (default: the report's, 0.05 unless set) becomes the report's level and is
        used for Holm's procedure and every ``is_significant``. Returns the results and keeps them.
        """
        if significance_level is not None:
            self.significance_level = check_significance_level(significance_level)
        # Phase 1: every comparison of the family - each pair on each shared mission, and across them.
        family: list[PolicyComparisonResult] = []
        for a, b in self.pairs():
            shared = [m for m in self.missions if not self._rows(a, m).empty and not self._rows(b, m).empty]
            aligned = {m: self._aligned(a, b, m) for m in shared}
            for mission, (xa, xb, paired, note) in aligned.items():
                family.append(
                    PolicyComparisonResult.from_test(self._compare(xa, xb, paired, (a, b), mission), note)
                )
            if len(shared) >= 2:
                family.append(self._aggregate(a, b, aligned))
        # Phase 2: Holm over the whole family, at the report's level.
        corrected = stats.apply_correction(family, alpha=self.significance_level) if family else []
        self._comparisons = self._sequential_verdicts(corrected)
        self._comparisons_version = self._version
        return list(self._comparisons)

    def _sequential_verdicts(self, comparisons: list[PolicyComparisonResult]) -> list[PolicyComparisonResult]:
        """A report whose episodes stopped when decided (``stop_when="decided"``) keeps the design's verdicts
        however often it is recomputed or reloaded: a fixed-n test after optional stopping would not hold
        its level. The fixed-n numbers stay beside them as descriptions."""
        sequential = self.metadata.get("sequential")
        if not sequential:
            return comparisons
        decisions = {(c["mission"], c["policy_a"], c["policy_b"]): c for c in sequential["comparisons"]}
        return [
            c.with_sequential(decisions[(c.mission, c.policy_a, c.policy_b)], sequential["family_size"])
            if (c.mission, c.policy_a, c.policy_b) in decisions
            else c
            for c in comparisons
        ]

    def _compare(
        self, xa: np.ndarray, xb: np.ndarray, paired: bool, names: tuple[str, str], mission: str
    ) -> stats.PairwiseTest:
        return stats.compare_samples(
            xa,
            xb,
            paired=paired,
            names=names,
            mission=mission,
            alpha=self.significance_level,
            confidence=self.confidence,
        )

    def _aligned(self, a: str, b: str, mission: str) -> tuple[np.ndarray, np.ndarray, bool, str]:
        """Both policies' rewards on a mission; ordered by seed and paired when the seeds match exactly."""
        rows_a, rows_b = self._rows(a, mission), self._rows(b, mission)
        seeds_a, seeds_b = rows_a["seed"], rows_b["seed"]
        if seeds_a.isna().any() or seeds_b.isna().any():
            note = "unpaired: episode seeds unknown"
        elif not (seeds_a.is_unique and seeds_b.is_unique) or set(seeds_a) != set(seeds_b):
            note = "unpaired: the policies were not run on the same seeds"
        else:
            xa = rows_a.sort_values("seed")["reward"].to_numpy(dtype=float)
            xb = rows_b.sort_values("seed")["reward"].to_numpy(dtype=float)
            return xa, xb, True, ""
        return rows_a["reward"].to_numpy(dtype=float), rows_b["reward"].to_numpy(dtype=float), False, note

    def _aggregate(
        self, a: str, b: str, aligned: Mapping[str, tuple[np.ndarray, np.ndarray, bool, str]]
    ) -> PolicyComparisonResult:
        """One comparison across missions, each mission weighing the same (stats.compare_across_missions)."""
        test = stats.compare_across_missions(
            {m: (xa, xb, paired) for m, (xa, xb, paired, _) in aligned.items()},
            names=(a, b),
            mission=AGGREGATE_MISSION,
            alpha=self.significance_level,
            confidence=self.confidence,
            n_resamples=self.n_resamples,
            seed=self.seed,
        )
        unpaired = [m for m, (_, _, paired, _) in aligned.items() if not paired]
        how = "paired on (mission, seed)" if not unpaired else f"unpaired on {unpaired}"
        note = (
            f"aggregate over missions {list(aligned)}: mean over missions of per-mission differences, "
            f"{how}; PoI and effect size are means over missions"
        )
        return PolicyComparisonResult.from_test(test, note)

    # ---- output ----------------------------------------------------------------------------------

    def print_summary(self, console: Console | None = None) -> None:
        """Print per-mission statistics and each pair's comparisons as tables that fit 80 columns."""
        print_report(self, console)

    def comparable_with(self, other: ComparisonReport) -> bool:
        """True when both reports ran the same benchmark suite definition (same fingerprint)."""
        mine, theirs = self.metadata.get("suite"), other.metadata.get("suite")
        return bool(mine and theirs and mine.get("fingerprint") == theirs.get("fingerprint"))

    def to_dict(self) -> dict[str, Any]:
        """Everything in the report as strict-JSON-ready data (comparisons computed if needed)."""
        counts = self._records.groupby(["policy", "mission"]).size()
        metadata = {
            **self.metadata,
            "name": self.name,
            "seed": self.seed,
            "significance_level": self.significance_level,
            "confidence": self.confidence,
            "n_resamples": self.n_resamples,
            "baseline": self.baseline,
            "policies": self.policies,
            "missions": self.missions,
            "episodes_per_mission": self.metadata.get(
                "episodes_per_mission", int(counts.iloc[0]) if len(counts) and counts.nunique() == 1 else None
            ),
            "total_episodes": len(self._records),
            "multiple_comparisons": (
                "sequential: repeated confidence intervals, Bonferroni over all comparisons in this report"
                if self.metadata.get("sequential")
                else "Holm-Bonferroni over all comparisons in this report"
            ),
        }
        episodes = [
            {
                "policy": r.policy,
                "mission": r.mission,
                "episode": int(r.episode),
                "seed": None if pd.isna(r.seed) else int(r.seed),
                "reward": float(r.reward),
            }
            for r in self._records[CORE_COLUMNS].itertuples(index=False)
        ]
        data = {
            "format": REPORT_FORMAT,
            "format_version": REPORT_FORMAT_VERSION,
            "metadata": metadata,
            "summary_statistics": self.summary_statistics,
            "comparisons": [dataclasses.asdict(c) for c in self.comparisons],
            "episodes": episodes,
        }
        if self.cross_play is not None:  # checked on the way out: a malformed slot fails here, not on load
            data["cross_play"] = CrossPlayReport.from_dict(self.cross_play).to_dict()
        return data

    def save_json(self, path: str | Path) -> Path:
        """Write the report (metadata, statistics, comparisons, core per-episode records) atomically.

        The JSON is strict (no NaN/inf), and holds the records each statistic came from, so it can be
        reloaded with :meth:`load_json` and checked without any other file.
        """
        return atomic_write_json(path, self.to_dict())

    def save(self, output_dir: str | Path) -> dict[str, Path]:
        """Write ``report.json`` and the full raw records (``episodes.parquet`` and ``.csv``) side by side."""
        output_dir = Path(output_dir)
        parquet, csv = save_records(self._records, output_dir / RECORDS_STEM)
        report = self.save_json(output_dir / REPORT_FILE)
        logger.info("Saved comparison report %r to %s", self.name, output_dir)
        return {"report": report, "parquet": parquet, "csv": csv}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], records: pd.DataFrame | None = None) -> ComparisonReport:
        """Rebuild a report from :meth:`to_dict` output; saved statistics are kept as they were saved."""
        if data.get("format") != REPORT_FORMAT:
            raise ValueError(f"not a DAF comparison report (format={data.get('format')!r})")
        version = data.get("format_version")
        if version != REPORT_FORMAT_VERSION:
            raise ValueError(
                f"format_version: this DAF reads comparison reports of version {REPORT_FORMAT_VERSION}, "
                f"got {version!r}. Older reports used other statistics; re-analyse their episodes with "
                "ComparisonReport.from_records(pd.DataFrame(data['episodes'])) (or from episodes.parquet)"
            )
        meta = dict(data["metadata"])
        report = cls(
            meta.pop("name"),
            significance_level=meta.pop("significance_level"),
            seed=meta.pop("seed"),
            confidence=meta.pop("confidence"),
            n_resamples=meta.pop("n_resamples"),
            baseline=meta.pop("baseline", None),
        )
        for derived in ("policies", "missions", "total_episodes", "multiple_comparisons"):
            meta.pop(derived, None)
        report.metadata = meta
        frame = records if records is not None else pd.DataFrame(data["episodes"], columns=CORE_COLUMNS)
        report._append(frame)
        report._summary, report._summary_version = data["summary_statistics"], report._version
        report._comparisons = report._sequential_verdicts(
            [PolicyComparisonResult(**c) for c in data["comparisons"]]
        )
        report._comparisons_version = report._version
        if data.get("cross_play") is not None:
            report.cross_play = CrossPlayReport.from_dict(data["cross_play"]).to_dict()
        return report

    @classmethod
    def load_json(cls, path: str | Path) -> ComparisonReport:
        """Read a report written by :meth:`save_json`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"comparison report not found: {path}")
        return cls.from_dict(json.loads(path.read_text()))

    @classmethod
    def from_dir(cls, output_dir: str | Path) -> ComparisonReport:
        """Read ``report.json`` and the full records (``episodes.parquet``) written by :meth:`save`."""
        return cls.from_dict(*load_report_dir(output_dir, REPORT_FILE, "comparison"))


_CORE_DTYPES = {
    "policy": "object",
    "mission": "object",
    "episode": "int64",
    "seed": "Int64",
    "reward": "float64",
}
