"""The comparison report as one interactive HTML file: design, leaderboard, tests, figures, notes, raw data.

:func:`daf_export_comparison_html` reads a :class:`~daf_core.comparison.ComparisonReport` (it never runs
an episode) and writes a page a reader can judge a comparison from without any other file:

* **Design**: each policy's class path, checkpoint and fingerprint, each mission's fingerprint, the seeds
  and episodes, the statistical settings and the DAF/cogames/mettagrid versions (``report.metadata``,
  written by :func:`~daf_core.comparison.runner.run_comparison`; what a hand-built report lacks is said).
* **Leaderboard** (:func:`~daf_core.visualization.leaderboard.leaderboard_rows`, so it ranks exactly as
  the Markdown one), sortable by any column.
* **Estimates**: per-mission means with their intervals as an inline chart whose points show their
  value and interval on hover.
* **Missions**: per mission, each policy's summary and every comparison with its raw and Holm-adjusted
  p-values, its rank test and its effect size with interval; the aggregates across missions last.
* **Cross-play** (only when ``report.cross_play`` holds a result): the cross-play matrix as a heatmap
  table with intervals, the ratings with their intervals and rank intervals, and value over replacement
  overall and per split (:mod:`~daf_core.visualization.html_crossplay`); the leaderboard then shows each
  policy's rating beside its score.
* **Figures**: :func:`~daf_core.visualization.comparison_plots.comparison_figures`, embedded as SVG.
* **Notes** on degenerate cases (the summaries' and comparisons' notes), and **raw data**: relative links
  to ``episodes.parquet`` / ``episodes.csv`` / ``report.json`` when they sit beside the page.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daf_core.comparison import formatting as fmt
from daf_core.comparison.constants import AGGREGATE_MISSION, OVERALL_KEY, REWARD_DEFINITION
from daf_core.visualization import html_page as hp
from daf_core.visualization.html_chart import Estimate, interval_chart
from daf_core.visualization.html_crossplay import cross_play_body
from daf_core.visualization.leaderboard import (
    AGGREGATES,
    TIE_BEHIND,
    TIE_TIED,
    TIE_UNKNOWN,
    aggregate_description,
    check_aggregate,
    check_report,
    leaderboard_rows,
    rating_text,
    vor_text,
)
from daf_core.visualization.style import color

if TYPE_CHECKING:
    import pandas as pd

    from daf_core.comparison import ComparisonReport, PolicyComparisonResult

#: Files :meth:`ComparisonReport.save` writes; linked from the page when they are beside it.
RAW_FILES = {
    "episodes.parquet": "every per-episode record, all columns (Parquet)",
    "episodes.csv": "the same records as CSV",
    "report.json": "metadata, statistics, comparisons and core records (JSON)",
}
#: Metadata shown in the design section's own places; any other key is listed as recorded.
_DESIGN_KEYS = {
    "kind",
    "episodes_per_mission",
    "reward",
    "policy_specs",
    "mission_fingerprints",
    "versions",
    "created_at",
    "suite",
}
_NOT_RECORDED = '<span class="note">not recorded</span>'


def daf_export_comparison_html(
    comparison_report: ComparisonReport, output_path: str | Path = "report.html", *, aggregate: str = "iqm"
) -> Path:
    """Write the report as one self-contained, interactive HTML file (atomically); returns its path.

    ``aggregate`` ("iqm" or "mean") is what the leaderboard ranks by and the chart across missions shows.
    Refuses (ValueError) a report with no episodes; a report with one policy gets a page that says it
    has no comparisons.
    """
    aggregate = check_aggregate(aggregate)
    report = check_report(comparison_report)
    output_path = Path(output_path)
    from daf_core.visualization.comparison_plots import comparison_figures  # noqa: PLC0415 - matplotlib

    colors = {policy: color(i) for i, policy in enumerate(report.policies)}
    sections = [
        hp.Section("summary", "Summary", _summary(report, aggregate)),
        hp.Section("design", "Design", _design(report)),
        hp.Section("leaderboard", "Leaderboard", _leaderboard(report, aggregate, colors)),
        hp.Section("estimates", "Estimates", _estimates(report, aggregate, colors)),
        hp.Section("missions", "Missions", _missions(report)),
    ]
    cross_play = getattr(report, "cross_play", None)
    if cross_play is not None:
        sections.append(hp.Section("cross-play", "Cross-play", cross_play_body(cross_play)))
    sections += [
        hp.Section("figures", "Figures", hp.figures(comparison_figures(report), "figure")),
        hp.Section("notes", "Notes", _notes(report)),
        hp.Section("raw-data", "Raw data", _raw_data(report, output_path.parent)),
    ]
    subtitle = (
        f"{len(report.policies)} policies on {len(report.missions)} mission(s), "
        f"{len(report.records)} episodes; {REWARD_DEFINITION}"
    )
    return hp.write_page(output_path, hp.page(f"Comparison report: {report.name}", subtitle, sections))


# --------------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------------


def _summary(report: ComparisonReport, aggregate: str) -> str:
    rows = leaderboard_rows(report, aggregate)
    leader = rows[0]
    tied = [r.policy for r in rows if r.tie == TIE_TIED]
    unknown = [r.policy for r in rows if r.tie == TIE_UNKNOWN]
    label = AGGREGATES[aggregate]["label"]
    text = (
        f"<p>Leader by {hp.esc(label)}: <strong>{hp.esc(leader.policy)}</strong> "
        f"({hp.esc(fmt.number(leader.score))}, {report.confidence:.0%} CI "
        f"{hp.esc(fmt.interval(leader.ci_low, leader.ci_high))})."
    )
    if tied:
        text += f" Not separated from it by the intervals: {hp.esc(', '.join(tied))}."
    if unknown:
        text += f" Undefined interval, so not compared with it: {hp.esc(', '.join(unknown))}."
    text += "</p>"
    comparisons = report.comparisons
    if comparisons:
        significant = sum(c.is_significant for c in comparisons)
        text += (
            f"<p>{significant} of {len(comparisons)} comparisons are significant at "
            f"{report.significance_level:g} after Holm-Bonferroni correction over all of them.</p>"
        )
    else:
        text += hp.callout(_no_comparisons(report), missing=True)
    return text


def _design(report: ComparisonReport) -> str:
    meta = report.metadata
    records = report.records
    versions = meta.get("versions") or {}
    settings = [
        ("Name", hp.esc(report.name)),
        ("Kind", hp.esc(meta["kind"]) if "kind" in meta else _NOT_RECORDED),
        ("Created", hp.esc(meta.get("created_at", "")) or _NOT_RECORDED),
        ("Reward", hp.esc(meta.get("reward", REWARD_DEFINITION))),
        ("Episodes per mission", hp.esc(_episodes_per_mission(report))),
        (
            "Seeds",
            "episode k of every policy uses the same seed, so comparisons are paired"
            if _all_paired(report)
            else "not the same for every policy: those comparisons are unpaired",
        ),
        (
            "Significance level",
            hp.esc(f"{report.significance_level:g} (Holm-Bonferroni over all comparisons)"),
        ),
        (
            "Intervals",
            hp.esc(
                f"{report.confidence:.0%}; bootstraps of {report.n_resamples} resamples, seed {report.seed}"
            ),
        ),
        ("Baseline", hp.esc(report.baseline) if report.baseline else "none: every pair is compared"),
    ]
    for package in ("daf", "cogames", "mettagrid"):
        settings.append(
            (f"{package} version", hp.esc(versions[package]) if versions.get(package) else _NOT_RECORDED)
        )
    if meta.get("suite"):
        settings.append(("Benchmark suite", f"<code>{hp.esc(json.dumps(meta['suite'], default=str))}</code>"))
    other = {k: v for k, v in meta.items() if k not in _DESIGN_KEYS}
    if other:
        settings.append(("Also recorded", f"<code>{hp.esc(json.dumps(other, default=str))}</code>"))
    return (
        hp.facts(settings)
        + "<h3>Policies</h3>"
        + _policies_table(report)
        + "<h3>Missions</h3>"
        + _missions_table(report, records)
    )


def _policies_table(report: ComparisonReport) -> str:
    specs = report.metadata.get("policy_specs") or {}
    rows = []
    for policy in report.policies:
        spec = specs.get(policy) or {}
        rows.append(
            [
                hp.Cell(policy),
                _code_cell(spec.get("class_path")),
                _code_cell(
                    spec.get("data_path"),
                    missing="none (no weights)" if "data_path" in spec else "not recorded",
                ),
                _code_cell(
                    json.dumps(spec["init_kwargs"]) if spec.get("init_kwargs") else None,
                    missing="none" if "init_kwargs" in spec else "not recorded",
                ),
                _code_cell(spec.get("fingerprint")),
            ]
        )
    columns = [hp.Column(c) for c in ("Policy", "Class path", "Checkpoint", "Init kwargs", "Fingerprint")]
    return hp.table(columns, rows, label="Policies")


def _missions_table(report: ComparisonReport, records: pd.DataFrame) -> str:
    fingerprints = report.metadata.get("mission_fingerprints") or {}
    rows = []
    for mission in report.missions:
        on_mission = records[records["mission"] == mission]
        per_policy = on_mission.groupby("policy").size()
        episodes = (
            str(per_policy.iloc[0])
            if per_policy.nunique() == 1
            else "differs: " + ", ".join(f"{p} {n}" for p, n in per_policy.items())
        )
        rows.append(
            [
                hp.Cell(mission),
                _code_cell(fingerprints.get(mission)),
                hp.Cell(episodes, kind="num"),
                hp.Cell(_seeds_text(on_mission["seed"])),
            ]
        )
    columns = [
        hp.Column("Mission"),
        hp.Column("Fingerprint"),
        hp.Column("Episodes per policy", True),
        hp.Column("Seeds"),
    ]
    return hp.table(columns, rows, label="Missions")


def _leaderboard(report: ComparisonReport, aggregate: str, colors: dict[str, str]) -> str:
    ranked = leaderboard_rows(report, aggregate)
    by_policy = {a: {r.policy: r for r in leaderboard_rows(report, a)} for a in AGGREGATES}
    pct = f"{report.confidence:.0%}"
    columns = [hp.Column("Rank", True), hp.Column("Policy")]
    for name in AGGREGATES:
        columns += [
            hp.Column(AGGREGATES[name]["label"], True),
            hp.Column(f"{AGGREGATES[name]['label']} {pct} CI", True),
        ]
    columns += [hp.Column("Missions", True), hp.Column("Episodes", True), hp.Column("vs leader")]
    rated = any(row.rating is not None for row in ranked)
    if rated:
        columns += [hp.Column("Rating", True), hp.Column("Rating CI", True), hp.Column("Rank interval", True)]
    valued = any(row.vor is not None for row in ranked)
    if valued:
        columns += [hp.Column("VOR", True), hp.Column("VOR CI", True)]
    rows = []
    for row in ranked:
        cells = [
            hp.number_cell(row.rank, str(row.rank)),
            hp.Cell(row.policy, markup=_swatch(colors[row.policy]) + hp.esc(row.policy)),
        ]
        for name in AGGREGATES:
            other = by_policy[name][row.policy]
            cells += [
                hp.number_cell(other.score, fmt.number(other.score)),
                hp.Cell(fmt.interval(other.ci_low, other.ci_high), sort=_sort_key(other.ci_low), kind="ci"),
            ]
        cells += [
            hp.number_cell(row.missions, str(row.missions)),
            hp.number_cell(row.episodes, str(row.episodes)),
            hp.Cell(row.tie, markup="" if row.tie == TIE_BEHIND else hp.tag(row.tie, row.tie)),
        ]
        if rated:
            cells += _rating_cells(row.rating)
        if valued:
            value, interval = vor_text(row.vor)
            cells += [
                hp.number_cell(None if row.vor is None else row.vor["vor"], value),
                hp.Cell(
                    interval, sort=_sort_key(None if row.vor is None else row.vor.get("ci_low")), kind="ci"
                ),
            ]
        rows.append(cells)
    caption = (
        f"Ranked by {aggregate_description(report, aggregate)}. tied: the interval overlaps the leader's "
        "(a reading aid, not a test: the Missions section's Holm-corrected comparisons decide). "
        "Click a column header to sort."
    )
    return (
        '<div id="leaderboard-table">'
        + hp.table(columns, rows, caption=caption, label="Leaderboard")
        + "</div>"
    )


def _estimates(report: ComparisonReport, aggregate: str, colors: dict[str, str]) -> str:
    summary = report.summary_statistics
    pct = f"{report.confidence:.0%}"
    charts = []
    for mission in report.missions:
        estimates = []
        for policy in report.policies:
            s = summary[policy].get(mission)
            if s is None:
                continue
            tip = (
                f"{policy} on {mission}\nmean {fmt.number(s['mean'])}, {pct} CI "
                f"{fmt.interval(s['ci_low'], s['ci_high'])}\nIQM {fmt.number(s['iqm'])}, {pct} CI "
                f"{fmt.interval(s['iqm_ci_low'], s['iqm_ci_high'])}\nn = {s['n']} episodes"
            )
            estimates.append(Estimate(policy, s["mean"], s["ci_low"], s["ci_high"], colors[policy], tip))
        charts.append(_chart_block(f"{mission}: mean episode reward", estimates, f"mean reward ({pct} t CI)"))
    if len(report.missions) > 1:
        label = AGGREGATES[aggregate]["label"]
        estimates = [
            Estimate(
                row.policy,
                row.score,
                row.ci_low,
                row.ci_high,
                colors[row.policy],
                f"{row.policy} across missions\n{label} {fmt.number(row.score)}, {pct} CI "
                f"{fmt.interval(row.ci_low, row.ci_high)}\n"
                f"{row.episodes} episodes on {row.missions} missions",
            )
            for row in leaderboard_rows(report, aggregate)
        ]
        charts.append(_chart_block(f"All missions: {label}", estimates, f"{label} of reward ({pct} CI)"))
    legend = "".join(f"<span>{_swatch(c)}{hp.esc(p)}</span>" for p, c in colors.items())
    return (
        '<p class="note">Points are estimates, bars their intervals; hover over, focus or tap a point for '
        f'its numbers.</p><div class="legend">{legend}</div><div class="charts">{"".join(charts)}</div>'
    )


def _missions(report: ComparisonReport) -> str:
    comparisons = report.comparisons
    parts = []
    for mission in report.missions:
        parts.append(f'<h3 id="mission-{hp.slug(mission)}">{hp.esc(mission)}</h3>')
        parts.append(_mission_summary_table(report, mission))
        on_mission = [c for c in comparisons if c.mission == mission]
        parts.append(_comparisons_table(report, on_mission, f"Comparisons on {mission}"))
    aggregates = [c for c in comparisons if c.mission == AGGREGATE_MISSION]
    if aggregates:
        parts.append(f'<h3 id="mission-{AGGREGATE_MISSION}">Across missions ({AGGREGATE_MISSION})</h3>')
        parts.append(
            '<p class="note">Mean over missions of per-mission mean differences (each mission weighs the '
            "same), stratified t with a stratified permutation test beside it; effect size and P(a&gt;b) "
            "are means over missions.</p>"
        )
        parts.append(_comparisons_table(report, aggregates, "Comparisons across missions"))
    if not comparisons:
        parts.insert(0, hp.callout(_no_comparisons(report), missing=True))
    return "".join(parts)


def _mission_summary_table(report: ComparisonReport, mission: str) -> str:
    summary = report.summary_statistics
    pct = f"{report.confidence:.0%}"
    columns = [
        hp.Column("Policy"),
        hp.Column("n", True),
        hp.Column("Mean", True),
        hp.Column(f"{pct} CI (t)", True),
        hp.Column("Std", True),
        hp.Column("Median", True),
        hp.Column("IQM", True),
        hp.Column(f"IQM {pct} CI (bootstrap)", True),
        hp.Column("Min", True),
        hp.Column("Max", True),
        hp.Column("Note"),
    ]
    rows = []
    for policy in report.policies:
        s = summary[policy].get(mission)
        if s is None:
            continue
        rows.append(
            [
                hp.Cell(policy),
                hp.number_cell(s["n"], str(s["n"])),
                hp.number_cell(s["mean"], fmt.number(s["mean"])),
                hp.Cell(fmt.interval(s["ci_low"], s["ci_high"]), sort=_sort_key(s["ci_low"]), kind="ci"),
                hp.number_cell(s["std"], fmt.number(s["std"])),
                hp.number_cell(s["median"], fmt.number(s["median"])),
                hp.number_cell(s["iqm"], fmt.number(s["iqm"])),
                hp.Cell(
                    fmt.interval(s["iqm_ci_low"], s["iqm_ci_high"]),
                    sort=_sort_key(s["iqm_ci_low"]),
                    kind="ci",
                ),
                hp.number_cell(s["min"], fmt.number(s["min"])),
                hp.number_cell(s["max"], fmt.number(s["max"])),
                hp.Cell(s["note"], kind="note"),
            ]
        )
    return hp.table(
        columns, rows, caption=f"Episode reward per policy on {mission}", label=f"{mission} summary"
    )


def _comparisons_table(
    report: ComparisonReport, comparisons: list[PolicyComparisonResult], caption: str
) -> str:
    if not comparisons:
        return f'<p class="note">{hp.esc(caption)}: none.</p>'
    pct = f"{report.confidence:.0%}"
    columns = [
        hp.Column("a"),
        hp.Column("b"),
        hp.Column("Mean a", True),
        hp.Column("Mean b", True),
        hp.Column("a − b", True),
        hp.Column(f"{pct} CI", True),
        hp.Column("Test"),
        hp.Column("p", True),
        hp.Column("Holm p", True),
        hp.Column("Verdict"),
        hp.Column("Rank test"),
        hp.Column("Rank test p", True),
        hp.Column("Effect size"),
        hp.Column("Effect", True),
        hp.Column(f"Effect {pct} CI", True),
        hp.Column("P(a>b)", True),
        hp.Column("Paired win rate", True),
        hp.Column("Note"),
    ]
    rows = []
    for c in comparisons:
        rows.append(
            [
                hp.Cell(c.policy_a_name),
                hp.Cell(c.policy_b_name),
                hp.number_cell(c.avg_reward_a, fmt.number(c.avg_reward_a)),
                hp.number_cell(c.avg_reward_b, fmt.number(c.avg_reward_b)),
                hp.number_cell(c.mean_diff, fmt.signed(c.mean_diff)),
                hp.Cell(
                    fmt.interval(c.mean_diff_ci_low, c.mean_diff_ci_high),
                    sort=_sort_key(c.mean_diff_ci_low),
                    kind="ci",
                ),
                hp.Cell(fmt.TEST_LABELS.get(c.test_name, c.test_name) + (" (paired)" if c.paired else "")),
                hp.number_cell(c.p_value, fmt.p_value(c.p_value)),
                hp.number_cell(c.p_value_adjusted, fmt.p_value(c.p_value_adjusted)),
                hp.Cell(c.verdict(), markup=_verdict_tag(c)),
                hp.Cell(fmt.TEST_LABELS.get(c.nonparametric_test, c.nonparametric_test)),
                hp.number_cell(c.p_value_nonparametric, fmt.p_value(c.p_value_nonparametric)),
                hp.Cell(fmt.EFFECT_LABELS.get(c.effect_size_name, c.effect_size_name)),
                hp.number_cell(c.effect_size, fmt.number(c.effect_size)),
                hp.Cell(
                    fmt.interval(c.effect_size_ci_low, c.effect_size_ci_high),
                    sort=_sort_key(c.effect_size_ci_low),
                    kind="ci",
                ),
                hp.number_cell(c.probability_of_improvement, f"{c.probability_of_improvement:.2f}"),
                hp.number_cell(
                    c.paired_win_rate, "n/a" if c.paired_win_rate is None else f"{c.paired_win_rate:.2f}"
                ),
                hp.Cell(c.note, kind="note"),
            ]
        )
    full = (
        f"{caption}. Differences are a − b. p: the primary test's raw p-value; Holm p: adjusted over all "
        f"{len(report.comparisons)} comparisons of this report; verdict at {report.significance_level:g}."
    )
    return hp.table(columns, rows, caption=full, label=caption)


def _notes(report: ComparisonReport) -> str:
    items = []
    for policy, per_mission in report.summary_statistics.items():
        for mission, s in per_mission.items():
            if s.get("note"):
                where = "across missions" if mission == OVERALL_KEY else f"on {mission}"
                items.append(
                    f"<li><strong>{hp.esc(policy)}</strong> {hp.esc(where)}: {hp.esc(s['note'])}</li>"
                )
    for c in report.comparisons:
        if c.note:
            items.append(
                f"<li><strong>{hp.esc(c.policy_a_name)} vs {hp.esc(c.policy_b_name)}</strong> on "
                f"{hp.esc(c.mission)}: {hp.esc(c.note)}</li>"
            )
    if not report.comparisons:
        items.append(f"<li>{_no_comparisons(report)}</li>")
    if not items:
        return "<p>None: every interval and every test of this report is defined.</p>"
    return (
        '<p class="note">How each number was reached where that is not the default: undefined or point '
        "intervals (one episode, zero variance), unpaired seeds, rank tests standing in for infinite t "
        "statistics, and what the aggregates across missions are.</p><ul>"
        + "".join(dict.fromkeys(items))
        + "</ul>"
    )


def _raw_data(report: ComparisonReport, folder: Path) -> str:
    present = [(name, what) for name, what in RAW_FILES.items() if (folder / name).is_file()]
    count = f"<p>{len(report.records)} episodes in this report.</p>"
    if not present:
        return count + hp.callout(
            "The raw episodes are not beside this file. <code>ComparisonReport.save(folder)</code> writes "
            "<code>episodes.parquet</code>, <code>episodes.csv</code> and <code>report.json</code>; a report "
            "written into that folder links them here.",
            missing=True,
        )
    links = "".join(
        f'<li><a href="{hp.esc(name)}">{hp.esc(name)}</a>: {hp.esc(what)}</li>' for name, what in present
    )
    return count + f"<ul>{links}</ul>"


# --------------------------------------------------------------------------------------------------
# Small parts
# --------------------------------------------------------------------------------------------------


def _no_comparisons(report: ComparisonReport) -> str:
    return (
        f"No pairwise comparisons: this report has {len(report.policies)} "
        f"polic{'y' if len(report.policies) == 1 else 'ies'} ({hp.esc(', '.join(report.policies))}); "
        "a comparison needs two policies with episodes on the same mission."
    )


def _chart_block(title: str, estimates: list[Estimate], axis_label: str) -> str:
    chart = interval_chart(title, estimates, axis_label)
    return f'<div class="chart-block"><h3>{hp.esc(title)}</h3>{chart}</div>'


def _rating_cells(rating: dict[str, Any] | None) -> list[hp.Cell]:
    """The policy's cross-play rating, its interval and its rank interval (n/a when it was not rated)."""
    value, interval, ranks = rating_text(rating)
    if rating is None:
        return [hp.number_cell(None, value), hp.Cell(interval, sort="", kind="ci"), hp.Cell(ranks, sort="")]
    return [
        hp.number_cell(rating["rating"], value),
        hp.Cell(interval, sort=_sort_key(rating.get("ci_low")), kind="ci"),
        hp.Cell(ranks, sort=_sort_key(rating.get("rank_low"))),
    ]


def _swatch(hex_color: str) -> str:
    return f'<span class="swatch" style="background:{hp.esc(hex_color)}"></span>'


def _verdict_tag(c: PolicyComparisonResult) -> str:
    if c.p_value is None:
        return hp.tag("no test", "unknown")
    if c.is_significant:
        return hp.tag(f"{c.better_policy} better", "sig")
    return hp.tag("n.s.", "ns")


def _code_cell(value: Any, missing: str = "not recorded") -> hp.Cell:
    if value is None or value == "":
        return hp.Cell(missing, markup=f'<span class="note">{hp.esc(missing)}</span>')
    return hp.Cell(value, markup=f"<code>{hp.esc(value)}</code>")


def _sort_key(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _episodes_per_mission(report: ComparisonReport) -> str:
    counts = report.records.groupby(["policy", "mission"]).size()
    if counts.nunique() == 1:
        return f"{int(counts.iloc[0])} per policy and mission"
    return f"differs between policies and missions ({int(counts.min())} to {int(counts.max())})"


def _all_paired(report: ComparisonReport) -> bool:
    return all(c.paired for c in report.comparisons if c.mission != AGGREGATE_MISSION) and bool(
        report.comparisons
    )


def _seeds_text(seeds: pd.Series) -> str:
    """E.g. "0-3" for consecutive seeds, "1, 5, 9" otherwise, "unknown" when the records have none."""
    known = sorted({int(s) for s in seeds.dropna()})
    if not known:
        return "unknown (the records carry no seeds)"
    if known == list(range(known[0], known[-1] + 1)) and len(known) > 2:
        return f"{known[0]}–{known[-1]} (episode k: seed {known[0]} + k)"
    return ", ".join(str(s) for s in known)
