"""Leaderboards: policies ranked by one aggregate score with its interval, ties with the leader marked.

:func:`leaderboard_rows` is the ranking (the Markdown table here and the HTML report's table both read
it, so they always agree); :func:`daf_generate_leaderboard` writes it as Markdown.

The score is a report's own number, never recomputed: ``summary_statistics[policy]["overall"]`` (the
mean of per-mission means with its Welch-Satterthwaite t interval, or the IQM of all episodes pooled with
its stratified bootstrap interval), and with a single mission that mission's own summary (the mean's t
interval, the IQM's percentile bootstrap). A policy is *tied* with the leader when its interval overlaps
the leader's. That is a reading aid, not a test: overlapping intervals can still differ significantly,
which is what the report's pairwise comparisons (Holm-corrected) decide.

When the report holds a cross-play result (``report.cross_play``) with ratings, each row also carries
its policy's cross-play rating, that rating's interval and its rank interval (:func:`cross_play_ratings`),
shown beside the score; the order stays the score's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daf_core._internal.atomic import atomic_write_text
from daf_core.comparison import formatting as fmt
from daf_core.comparison.constants import OVERALL_KEY

if TYPE_CHECKING:
    from daf_core.comparison import ComparisonReport

#: Aggregates a leaderboard can rank by, each with how its score and interval are read from a summary.
AGGREGATES: dict[str, dict[str, str]] = {
    "iqm": {"label": "IQM", "overall": "iqm", "mission": "iqm"},
    "mean": {"label": "Mean", "overall": "mean", "mission": "mean"},
}
_CI_KEYS = {
    ("iqm", "overall"): ("iqm_ci_low", "iqm_ci_high"),
    ("iqm", "mission"): ("iqm_ci_low", "iqm_ci_high"),
    ("mean", "overall"): ("mean_ci_low", "mean_ci_high"),
    ("mean", "mission"): ("ci_low", "ci_high"),
}

TIE_LEADER = "leader"
TIE_TIED = "tied"
TIE_BEHIND = "behind"
TIE_UNKNOWN = "unknown"


@dataclass(frozen=True)
class LeaderboardRow:
    """One policy's place: its score (``aggregate``), that score's interval and whether it ties the leader.

    ``tie`` is ``"leader"``, ``"tied"`` (interval overlaps the leader's), ``"behind"`` (it does not) or
    ``"unknown"`` (this policy's or the leader's interval is undefined, e.g. a mission with one episode).
    """

    rank: int
    policy: str
    score: float
    ci_low: float | None
    ci_high: float | None
    tie: str
    missions: int
    episodes: int
    note: str
    #: The policy's entry in the report's cross-play ratings (rating, ci_low, ci_high, rank, rank_low,
    #: rank_high); None without cross-play ratings or when the policy was not rated.
    rating: dict[str, Any] | None = None
    #: The policy's value over replacement in the report's cross-play result (vor, ci_low, ci_high,
    #: replacement, splits); None without one.
    vor: dict[str, Any] | None = None


def check_aggregate(aggregate: Any) -> str:
    """The aggregate a leaderboard ranks by: one of :data:`AGGREGATES`."""
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate: expected one of {sorted(AGGREGATES)}, got {aggregate!r}")
    return aggregate


def check_report(comparison_report: Any) -> ComparisonReport:
    """A :class:`~daf_core.comparison.ComparisonReport` holding episodes; anything else is refused here,
    before any table or figure is begun."""
    from daf_core.comparison import ComparisonReport  # noqa: PLC0415 - keeps this module's import light

    if not isinstance(comparison_report, ComparisonReport):
        raise ValueError(
            f"comparison_report: expected a ComparisonReport, got {type(comparison_report).__name__}"
        )
    if not comparison_report.policies:
        raise ValueError(
            f"comparison_report: report {comparison_report.name!r} has no episodes, so there is nothing "
            "to rank or draw; add results (add_policy_results, from_records) or run a comparison first"
        )
    return comparison_report


def aggregate_description(report: ComparisonReport, aggregate: str) -> str:
    """What the score is, in words (the caption of every leaderboard)."""
    level = f"{report.confidence:.0%}"
    if len(report.missions) == 1:
        if aggregate == "iqm":
            return f"IQM of episode reward on {report.missions[0]}, {level} percentile bootstrap CI"
        return f"mean episode reward on {report.missions[0]}, {level} Student t CI"
    if aggregate == "iqm":
        return (
            f"IQM of episode reward over all episodes of {len(report.missions)} missions pooled, "
            f"{level} stratified bootstrap CI"
        )
    return (
        f"mean over {len(report.missions)} missions of per-mission mean episode reward, "
        f"{level} Welch-Satterthwaite t CI"
    )


def leaderboard_rows(comparison_report: ComparisonReport, aggregate: str = "iqm") -> list[LeaderboardRow]:
    """The report's policies ranked by ``aggregate`` ("iqm" or "mean"), best first.

    Equal scores share a rank (1, 2, 2, 4); among them the report's policy order is kept.
    """
    aggregate = check_aggregate(aggregate)
    report = check_report(comparison_report)
    # Phase 1: each policy's score and interval, from the report's summary.
    summary = report.summary_statistics
    scope = "mission" if len(report.missions) == 1 else "overall"
    key = OVERALL_KEY if scope == "overall" else report.missions[0]
    low_key, high_key = _CI_KEYS[(aggregate, scope)]
    scored = []
    for policy in report.policies:
        stats, overall = summary[policy][key], summary[policy][OVERALL_KEY]
        scored.append((policy, stats[AGGREGATES[aggregate][scope]], stats[low_key], stats[high_key], overall))
    scored.sort(key=lambda item: -item[1])
    # Phase 2: ranks, and each interval against the leader's.
    _, _, lead_low, lead_high, _ = scored[0]
    ratings, vors = cross_play_ratings(report), cross_play_vor(report)
    rows: list[LeaderboardRow] = []
    for position, (policy, score, low, high, overall) in enumerate(scored):
        rank = rows[-1].rank if rows and score == rows[-1].score else position + 1
        rows.append(
            LeaderboardRow(
                rank=rank,
                policy=policy,
                score=score,
                ci_low=low,
                ci_high=high,
                tie=_tie(position, low, high, lead_low, lead_high),
                missions=int(overall["missions"]),
                episodes=int(overall["episodes"]),
                note=overall.get("note", "") if scope == "overall" else summary[policy][key].get("note", ""),
                rating=ratings.get(policy),
                vor=vors.get(policy),
            )
        )
    return rows


def cross_play_ratings(report: ComparisonReport) -> dict[str, dict[str, Any]]:
    """Each rated policy's entry in ``report.cross_play["ratings"]``, by policy; {} without them."""
    cross_play = getattr(report, "cross_play", None)
    if not cross_play:
        return {}
    return {str(entry["policy"]): dict(entry) for entry in cross_play.get("ratings") or []}


def cross_play_vor(report: ComparisonReport) -> dict[str, dict[str, Any]]:
    """Each policy's entry in ``report.cross_play["value_over_replacement"]``, by policy; {} without it."""
    cross_play = getattr(report, "cross_play", None)
    if not cross_play:
        return {}
    return {str(entry["policy"]): dict(entry) for entry in cross_play.get("value_over_replacement") or []}


def vor_text(vor: dict[str, Any] | None) -> tuple[str, str]:
    """(value over replacement, its interval) as text; "n/a" for a policy without one."""
    if vor is None:
        return "n/a", "n/a"
    return fmt.signed(vor["vor"]), fmt.interval(vor.get("ci_low"), vor.get("ci_high"))


def rating_text(rating: dict[str, Any] | None) -> tuple[str, str, str]:
    """(rating, its interval, its rank interval) as text; "n/a" for a policy without a rating."""
    if rating is None:
        return "n/a", "n/a", "n/a"
    interval = fmt.interval(rating.get("ci_low"), rating.get("ci_high"))
    return fmt.number(rating["rating"]), interval, rank_interval_text(rating)


def rank_interval_text(rating: Mapping[str, Any]) -> str:
    """A rating's rank interval: ``"1"`` when the rank is certain, else ``"1-3"``; "n/a" when undefined."""
    low, high = rating.get("rank_low"), rating.get("rank_high")
    if low is None or high is None:
        return "n/a"
    return str(low) if low == high else f"{low}-{high}"


def _tie(
    position: int, low: float | None, high: float | None, lead_low: float | None, lead_high: float | None
) -> str:
    if position == 0:
        return TIE_LEADER
    if None in (low, high, lead_low, lead_high):
        return TIE_UNKNOWN
    return TIE_TIED if low <= lead_high and high >= lead_low else TIE_BEHIND


def daf_generate_leaderboard(
    comparison_report: ComparisonReport, output_path: str | Path | None = None, aggregate: str = "iqm"
) -> str:
    """The report's leaderboard as Markdown; written atomically to ``output_path`` when given.

    Ranks by ``aggregate`` ("iqm", the default, or "mean") across missions, shows each score's interval,
    and marks the policies whose interval overlaps the leader's as tied.
    """
    rows = leaderboard_rows(comparison_report, aggregate)
    report = comparison_report
    label = AGGREGATES[aggregate]["label"]
    level = f"{report.confidence:.0%}"
    rated = any(row.rating is not None for row in rows)
    valued = [row.vor for row in rows if row.vor is not None]
    rating_level = (
        f"{float(report.cross_play.get('confidence', report.confidence)):.0%}" if rated or valued else ""
    )
    lines = [
        f"## Leaderboard: {markdown_text(report.name)}",
        "",
        f"Ranked by {markdown_text(aggregate_description(report, aggregate))}. "
        "**tied**: the interval overlaps the leader's (a reading aid, not a test; the report's pairwise "
        "comparisons, Holm-corrected, say which differences are significant)."
        + (
            f" Rating: the policy's cross-play rating with its {rating_level} interval and rank interval."
            if rated
            else ""
        )
        + (
            f" VOR: value over replacement ({markdown_text(valued[0]['replacement'])}), the change in "
            f"per-agent reward when its agents replace the replacement's, with its {rating_level} interval."
            if valued
            else ""
        ),
        "",
        f"| Rank | Policy | {label} | {level} CI | Missions | Episodes | vs leader |"
        + (f" Rating | Rating {rating_level} CI | Rank interval |" if rated else "")
        + (f" VOR | VOR {rating_level} CI |" if valued else ""),
        "|---:|---|---:|---|---:|---:|---|"
        + ("---:|---|---|" if rated else "")
        + ("---:|---|" if valued else ""),
    ]
    for row in rows:
        lines.append(
            f"| {row.rank} | {markdown_text(row.policy)} | {fmt.number(row.score)} | "
            f"{fmt.interval(row.ci_low, row.ci_high)} | {row.missions} | {row.episodes} | "
            f"{_TIE_MARKDOWN[row.tie]} |"
            + ("".join(f" {t} |" for t in rating_text(row.rating)) if rated else "")
            + ("".join(f" {t} |" for t in vor_text(row.vor)) if valued else "")
        )
    notes = [(row.policy, row.note) for row in rows if row.note]
    if notes:
        lines += ["", "Notes:", ""]
        lines += [f"- {markdown_text(policy)}: {markdown_text(note)}" for policy, note in notes]
    text = "\n".join(lines) + "\n"
    if output_path is not None:
        atomic_write_text(output_path, text)
    return text


_TIE_MARKDOWN = {
    TIE_LEADER: "**leader**",
    TIE_TIED: "**tied**",
    TIE_BEHIND: "",
    TIE_UNKNOWN: "unknown (interval undefined)",
}
#: What could start emphasis, code, a link, HTML or a new cell inside a table cell.
_MARKDOWN_SPECIAL = "\\`*_[]|<>~"


def markdown_text(text: str) -> str:
    """``text`` shown literally in a Markdown table cell: specials backslash-escaped, one line."""
    escaped = "".join(f"\\{ch}" if ch in _MARKDOWN_SPECIAL else ch for ch in str(text))
    return " ".join(escaped.split())
