"""Comparison reports: per-episode records of several policies and the honest statistics drawn from them.

A :class:`ComparisonReport` is a tidy table of per-episode records (one row per episode: ``policy``,
``mission``, ``episode``, ``seed``, ``reward``, plus whatever the evaluator recorded) and the statistics
derived from it. The records are the report: summaries and tests are recomputed from them, and they are
saved beside every summary, so a reader can always check a number against the episodes behind it.
This module holds the data, the statistics, the printing and the files; running the episodes that fill a
report is :mod:`daf_core.comparison`'s job, so a saved report can be read and re-analysed without running
anything.

How the statistics are chosen (the arithmetic is :mod:`daf_core.stats`, i.e. scipy.stats):

* ``reward`` is the environment's episode reward (summed over agents); nothing else is ever scored.
* Per policy and mission: n, mean, std, median, IQM, min, max and a seeded bootstrap 95% CI of the mean.
  Across missions ("overall"): the mean of per-mission means and the pooled IQM, each with a stratified
  bootstrap CI (episodes resampled within each mission, rliable-style).
* Every pair of policies on every mission is compared. Episodes are **paired** exactly when both policies
  have the same seeds on that mission - what :func:`~daf_core.evaluation.evaluate_policies` produces
  through common random numbers - and then the paired t-test and Wilcoxon signed-rank test are used,
  with Cohen's d_z as the effect size; otherwise Welch's t-test and Mann-Whitney U, with Hedges' g.
  Each result also carries the probability of improvement and a bootstrap CI of the mean difference.
* With two or more missions each pair also gets an aggregate comparison, mission ``"all"``: paired on
  (mission, seed) when every mission is paired, pooled and unpaired otherwise.
* Holm-Bonferroni corrects the primary p-values of **all** comparisons of a report together (every pair,
  every mission and the aggregates), at the report's significance level. Raw and adjusted p-values are
  both kept; the nonparametric p-value is reported raw, as a robustness check beside the primary test.
* Degenerate data (one episode, zero variance) never produce NaN or inf: undefined numbers are ``None``
  and the ``note`` of the summary or comparison says what was done.

Files (``ComparisonReport.save(output_dir)``, and every ``daf_*`` function given an ``output_dir``)::

    output_dir/
      report.json        metadata, summary statistics, comparisons and the core per-episode records
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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from daf_core import stats
from daf_core._internal.atomic import atomic_write_json
from daf_core.records import load_records, save_records

logger = logging.getLogger(__name__)

AGGREGATE_MISSION = "all"
OVERALL_KEY = "overall"
REPORT_FORMAT = "daf.comparison_report"
REPORT_FORMAT_VERSION = 1
REPORT_FILE = "report.json"
RECORDS_STEM = "episodes"
REWARD_DEFINITION = "episode reward returned by the environment, summed over agents"
CORE_COLUMNS = ["policy", "mission", "episode", "seed", "reward"]

_EFFECT_LABELS = {"hedges_g": "Hedges' g", "cohens_dz": "Cohen's d_z"}
_SHORT_EFFECT = {"hedges_g": "g", "cohens_dz": "dz"}
_SHORT_TEST = {
    "welch_t": "Welch",
    "paired_t": "paired t",
    "mann_whitney_u": "MWU",
    "wilcoxon_signed_rank": "Wilcoxon",
}
_TEST_LABELS = {
    "welch_t": "Welch t",
    "paired_t": "paired t",
    "mann_whitney_u": "Mann-Whitney U",
    "wilcoxon_signed_rank": "Wilcoxon signed-rank",
}


# --------------------------------------------------------------------------------------------------
# One comparison
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyComparisonResult:
    """Policy a against policy b on one mission (or ``"all"``, the aggregate across missions).

    Differences are a - b. ``p_value`` is the raw p-value of the primary test (``test_name``);
    ``p_value_adjusted`` is Holm-corrected over every comparison in the report, and ``is_significant``
    means ``p_value_adjusted < significance_level``. ``effect_size`` is Hedges' g (unpaired) or
    Cohen's d_z (paired), named in ``effect_size_name``. Undefined numbers are None, never NaN;
    ``note`` says why.
    """

    policy_a_name: str
    policy_b_name: str
    mission: str
    avg_reward_a: float
    avg_reward_b: float
    mean_diff: float
    mean_diff_ci_low: float | None
    mean_diff_ci_high: float | None
    p_value: float | None
    p_value_adjusted: float | None
    is_significant: bool
    significance_level: float
    effect_size: float | None
    effect_size_name: str
    effect_size_ci_low: float | None
    effect_size_ci_high: float | None
    probability_of_improvement: float
    test_name: str
    statistic: float | None
    nonparametric_test: str
    p_value_nonparametric: float | None
    paired: bool
    n_a: int
    n_b: int
    confidence: float
    note: str = ""

    @classmethod
    def from_test(
        cls, test: stats.PairwiseTest, mission: str, extra_note: str = ""
    ) -> PolicyComparisonResult:
        """Translate a (Holm-corrected) :class:`stats.PairwiseTest` into the report's vocabulary."""
        notes = [n for n in (extra_note, test.note) if n]
        return cls(
            policy_a_name=test.policy_a,
            policy_b_name=test.policy_b,
            mission=mission,
            avg_reward_a=test.mean_a,
            avg_reward_b=test.mean_b,
            mean_diff=test.mean_diff,
            mean_diff_ci_low=test.mean_diff_ci_low,
            mean_diff_ci_high=test.mean_diff_ci_high,
            p_value=test.p_value,
            p_value_adjusted=test.p_adjusted,
            is_significant=test.significant,
            significance_level=test.alpha,
            effect_size=test.effect_size,
            effect_size_name=test.effect_size_name,
            effect_size_ci_low=test.effect_ci_low,
            effect_size_ci_high=test.effect_ci_high,
            probability_of_improvement=test.probability_of_improvement,
            test_name=test.test_name,
            statistic=test.statistic,
            nonparametric_test=test.nonparametric_test,
            p_value_nonparametric=test.p_value_nonparametric,
            paired=test.paired,
            n_a=test.n_a,
            n_b=test.n_b,
            confidence=test.confidence,
            note="; ".join(notes),
        )

    @property
    def better_policy(self) -> str | None:
        """The policy with the higher mean when the difference is significant, else None."""
        if not self.is_significant or self.mean_diff == 0:
            return None
        return self.policy_a_name if self.mean_diff > 0 else self.policy_b_name

    def verdict(self) -> str:
        """The conclusion in words, at the report's significance level (after Holm)."""
        level = f"{self.significance_level:g}"
        if self.p_value is None:
            return f"no test possible (too few episodes): no significant difference at {level}"
        if self.is_significant:
            return f"{self.better_policy} better, significant at {level}"
        return f"no significant difference at {level}"

    def summary_string(self) -> str:
        """One line a reader can quote, e.g.

        ``tiny_walk: random vs noop: 0.405 vs 0.02 (diff +0.385, 95% CI [0.325, 0.438]), Cohen's d_z=4.8
        [1.97, 7.63], P(a>b)=1.00, paired t p=7.8e-05 (Wilcoxon signed-rank p=0.031), Holm-adjusted
        p=7.8e-05 -> random better, significant at 0.05``
        """
        ci = ""
        if self.mean_diff_ci_low is not None and self.mean_diff_ci_high is not None:
            ci = f", {self.confidence:.0%} CI [{_num(self.mean_diff_ci_low)}, {_num(self.mean_diff_ci_high)}]"
        effect = (
            f"{_EFFECT_LABELS.get(self.effect_size_name, self.effect_size_name)}={_num(self.effect_size)}"
        )
        if self.effect_size_ci_low is not None and self.effect_size_ci_high is not None:
            effect += f" [{_num(self.effect_size_ci_low)}, {_num(self.effect_size_ci_high)}]"
        test = _TEST_LABELS.get(self.test_name, self.test_name)
        nonparametric = _TEST_LABELS.get(self.nonparametric_test, self.nonparametric_test)
        tests = f"{test} p={_p(self.p_value)}"
        if self.nonparametric_test != self.test_name:
            tests += f" ({nonparametric} p={_p(self.p_value_nonparametric)})"
        return (
            f"{self.mission}: {self.policy_a_name} vs {self.policy_b_name}: "
            f"{_num(self.avg_reward_a)} vs {_num(self.avg_reward_b)} (diff {self.mean_diff:+.3g}{ci}), "
            f"{effect}, P(a>b)={self.probability_of_improvement:.2f}, {tests}, "
            f"Holm-adjusted p={_p(self.p_value_adjusted)} -> {self.verdict()}"
        )


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _interval(low: float | None, high: float | None) -> str:
    return "" if low is None or high is None else f"[{_num(low)}, {_num(high)}]"


def _p(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2g}" if value < 1e-3 else f"{value:.3f}"


# --------------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------------


def check_significance_level(value: Any) -> float:
    """A significance level must be a finite number strictly between 0 and 1."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(float(value))
        or not 0.0 < float(value) < 1.0
    ):
        raise ValueError(f"significance_level: must be a number in (0, 1), got {value!r}")
    return float(value)


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


class ComparisonReport:
    """Per-episode records of several policies on several missions, and the statistics drawn from them.

    Build one from evaluations (:func:`daf_compare_policies` and friends), from a records DataFrame
    (:meth:`from_records`), by hand (:meth:`add_policy_results`), or from disk (:meth:`load_json`,
    :meth:`from_dir`). Statistics are computed lazily and recomputed when records are added.
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
        self.seed = int(seed)
        self.confidence = confidence
        self.n_resamples = n_resamples
        # With a baseline (ablations) only baseline-vs-other comparisons are made: the family Holm
        # corrects is then exactly the comparisons the study asks about.
        self.baseline = baseline
        self.metadata: dict[str, Any] = dict(metadata or {})
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
        """``{policy: {mission: {n, mean, std, median, iqm, min, max, ci_low, ci_high, note, ...},
        "overall": {missions, episodes, mean, mean_ci_low, mean_ci_high, iqm, iqm_ci_low, iqm_ci_high,
        note}}}``.

        Per mission, the CI is a bootstrap CI of the mean. "overall" is the mean of per-mission means
        (every mission weighs the same) and the IQM of all episodes pooled, each with a stratified
        bootstrap CI (episodes resampled within missions). Rewards are used as the environment gave them,
        so a mission with a larger reward scale weighs more in the pooled IQM.
        """
        if self._summary is None or self._summary_version != self._version:
            self._summary = self._compute_summary()
            self._summary_version = self._version
        return json.loads(json.dumps(self._summary))  # a deep copy; callers may mutate it freely

    def _compute_summary(self) -> dict[str, Any]:
        boot = dict(confidence=self.confidence, n_resamples=self.n_resamples, seed=self.seed)
        all_missions = self.missions
        out: dict[str, Any] = {}
        for policy in self.policies:
            per_mission: dict[str, Any] = {}
            groups: dict[str, np.ndarray] = {}
            for mission in all_missions:
                rows = self._rows(policy, mission)
                if rows.empty:
                    continue
                groups[mission] = rows["reward"].to_numpy(dtype=float)
                per_mission[mission] = dataclasses.asdict(stats.summarize(groups[mission], **boot))
            mean = stats.stratified_bootstrap_ci(groups, "mean", **boot)
            iqm = stats.stratified_bootstrap_ci(groups, "iqm", **boot)
            notes = []
            if all(np.ptp(g) == 0 for g in groups.values()):
                notes.append("zero variance in every mission: the intervals are the point estimates")
            absent = [m for m in all_missions if m not in groups]
            if absent:
                notes.append(f"no episodes on {absent}: not comparable with other policies' overall scores")
            per_mission[OVERALL_KEY] = {
                "missions": len(groups),
                "episodes": int(sum(g.size for g in groups.values())),
                "mean": mean.point,
                "mean_ci_low": mean.low,
                "mean_ci_high": mean.high,
                "iqm": iqm.point,
                "iqm_ci_low": iqm.low,
                "iqm_ci_high": iqm.high,
                "confidence": self.confidence,
                "note": "; ".join(notes),
            }
            out[policy] = per_mission
        return out

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
        level = self.significance_level
        raw: list[tuple[stats.PairwiseTest, str, str]] = []
        for a, b in self.pairs():
            shared = [m for m in self.missions if not self._rows(a, m).empty and not self._rows(b, m).empty]
            aligned = {m: self._aligned(a, b, m) for m in shared}
            for mission in shared:
                xa, xb, paired, note = aligned[mission]
                raw.append((self._compare(xa, xb, paired, (a, b), mission), mission, note))
            if len(shared) >= 2:
                raw.append(self._aggregate(a, b, aligned))
        corrected = stats.apply_correction([t for t, _, _ in raw], alpha=level) if raw else []
        self._comparisons = [
            PolicyComparisonResult.from_test(t, mission, note)
            for t, (_, mission, note) in zip(corrected, raw, strict=True)
        ]
        self._comparisons_version = self._version
        return list(self._comparisons)

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
            n_resamples=self.n_resamples,
            seed=self.seed,
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
    ) -> tuple[stats.PairwiseTest, str, str]:
        """One test across missions: the missions are the design, so episodes pair on (mission, seed)."""
        paired = all(p for _, _, p, _ in aligned.values())
        xa = np.concatenate([x for x, _, _, _ in aligned.values()])
        xb = np.concatenate([y for _, y, _, _ in aligned.values()])
        how = (
            "paired on (mission, seed)"
            if paired
            else "unpaired (some missions lack matching seeds), so differences between missions add to the "
            "variance and the test is conservative"
        )
        note = (
            f"aggregate over missions {list(aligned)}: {how}; means pool all episodes, so a mission "
            "with more episodes or a larger reward scale weighs more"
        )
        return self._compare(xa, xb, paired, (a, b), AGGREGATE_MISSION), AGGREGATE_MISSION, note

    # ---- output ----------------------------------------------------------------------------------

    def print_summary(self, console: Console | None = None) -> None:
        """Print per-mission statistics and the pairwise comparisons as rich tables."""
        console = console or Console()
        if self._records.empty:
            console.print(f"[bold]{self.name}[/bold]: no results")
            return
        summary = self.summary_statistics
        pct = f"{self.confidence:.0%}"
        table = Table(
            title=escape(f"{self.name}: episode reward per policy and mission"), caption=REWARD_DEFINITION
        )
        for column in ("Policy", "Mission", "n", "Mean", f"{pct} CI", "Std", "IQM", "Median", "Min..Max"):
            names = column in ("Policy", "Mission")
            table.add_column(
                column, justify="left" if names else "right", overflow="fold" if names else "ellipsis"
            )
        notes: list[str] = []
        for policy, per_mission in summary.items():
            for mission, s in per_mission.items():
                if mission == OVERALL_KEY:
                    continue
                table.add_row(
                    escape(policy),
                    escape(mission),
                    str(s["n"]),
                    _num(s["mean"]),
                    escape(f"[{_num(s['ci_low'])}, {_num(s['ci_high'])}]"),
                    _num(s["std"]),
                    _num(s["iqm"]),
                    _num(s["median"]),
                    f"{_num(s['min'])}..{_num(s['max'])}",
                )
                if s["note"]:
                    notes.append(f"{policy} on {mission}: {s['note']}")
            if len(self.missions) > 1:
                o = per_mission[OVERALL_KEY]
                table.add_row(
                    escape(policy),
                    "[italic]overall[/italic]",
                    str(o["episodes"]),
                    _num(o["mean"]),
                    escape(f"[{_num(o['mean_ci_low'])}, {_num(o['mean_ci_high'])}]"),
                    "",
                    escape(f"{_num(o['iqm'])} [{_num(o['iqm_ci_low'])}, {_num(o['iqm_ci_high'])}]"),
                    "",
                    "",
                )
                if o["note"]:
                    notes.append(f"{policy} overall: {o['note']}")
        console.print(table)
        comparisons = self.comparisons
        if comparisons:
            table = Table(
                title=f"Pairwise comparisons (A - B; Holm-corrected over all {len(comparisons)})",
                caption=f"significance level {self.significance_level:g}; p: the primary test's raw p-value",
            )
            for column in (
                "Mission",
                "A vs B",
                "Diff [CI]",
                "Effect",
                "P(A>B)",
                "p (test)",
                "Holm p",
                "Result",
            ):
                table.add_column(column, overflow="fold")
            for c in comparisons:
                if c.p_value is None:
                    result = "[dim]no test"
                elif c.is_significant:
                    result = f"[green]{escape(str(c.better_policy))} better"
                else:
                    result = "[dim]no sig. diff."
                table.add_row(
                    escape(c.mission),
                    escape(f"{c.policy_a_name} vs {c.policy_b_name}"),
                    escape(
                        f"{c.mean_diff:+.3g} {_interval(c.mean_diff_ci_low, c.mean_diff_ci_high)}".strip()
                    ),
                    f"{_SHORT_EFFECT.get(c.effect_size_name, c.effect_size_name)}={_num(c.effect_size)}",
                    f"{c.probability_of_improvement:.2f}",
                    f"{_p(c.p_value)} ({_SHORT_TEST.get(c.test_name, c.test_name)})",
                    _p(c.p_value_adjusted),
                    result,
                )
                if c.note:
                    notes.append(f"{c.mission}, {c.policy_a_name} vs {c.policy_b_name}: {c.note}")
            console.print(table)
        for note in dict.fromkeys(notes):
            console.print(f"[dim]- {escape(note)}[/dim]")

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
            "multiple_comparisons": "Holm-Bonferroni over all comparisons in this report",
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
        return {
            "format": REPORT_FORMAT,
            "format_version": REPORT_FORMAT_VERSION,
            "metadata": metadata,
            "summary_statistics": self.summary_statistics,
            "comparisons": [dataclasses.asdict(c) for c in self.comparisons],
            "episodes": episodes,
        }

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
        report._comparisons = [PolicyComparisonResult(**c) for c in data["comparisons"]]
        report._comparisons_version = report._version
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
        output_dir = Path(output_dir)
        path = output_dir / REPORT_FILE
        if not path.is_file():
            raise FileNotFoundError(f"comparison report not found: {path}")
        parquet = output_dir / f"{RECORDS_STEM}.parquet"
        records = load_records(parquet) if parquet.exists() else None
        return cls.from_dict(json.loads(path.read_text()), records)


_CORE_DTYPES = {
    "policy": "object",
    "mission": "object",
    "episode": "int64",
    "seed": "Int64",
    "reward": "float64",
}
