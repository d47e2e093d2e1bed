"""``ComparisonReport.print_summary``: the report as tables that fit an 80-column terminal.

Laid out so that no cell wraps at 80 columns with the usual policy and mission names: the summary has one
row per policy and mission (policies as group headings, so no column repeats their names), and the
comparisons have one table per pair of policies, titled with the pair, one row per mission - so each
comparison is one line. Every number a reviewer weighs is printed: means and IQMs with their intervals,
the difference with its interval, the effect size, the probability of improvement, the raw and the
Holm-adjusted p-value and the verdict (as a/b in the row, in the policies' names in the caption).
The rest (medians, ranges, the rank tests' p-values, effect-size intervals) is in ``summary_string()``
and ``report.json``. A report that carries a cross-play result prints its tables last
(:func:`daf_core.crossplay.print_cross_play`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from daf_core.comparison import formatting as fmt
from daf_core.comparison.constants import AGGREGATE_MISSION, OVERALL_KEY, REWARD_DEFINITION
from daf_core.comparison.result import PolicyComparisonResult
from daf_core.crossplay import print_cross_play


class PrintableReport(Protocol):
    """What printing reads from a :class:`~daf_core.comparison.report.ComparisonReport` (and nothing else)."""

    name: str
    confidence: float
    significance_level: float
    metadata: dict[str, Any]
    cross_play: dict[str, Any] | None

    @property
    def policies(self) -> list[str]: ...

    @property
    def summary_statistics(self) -> dict[str, dict[str, dict[str, Any]]]: ...

    @property
    def comparisons(self) -> list[PolicyComparisonResult]: ...


def print_summary(report: PrintableReport, console: Console | None = None) -> None:
    """Print per-mission statistics, then each pair's comparisons, then every note, to ``console``."""
    console = console or Console()
    # Phase 1: an empty report says so and stops.
    if not report.policies:
        console.print(f"[bold]{escape(report.name)}[/bold]: no results")
        return
    # Phase 2: what each policy scored.
    summary = report.summary_statistics
    console.print(_summary_table(report, summary))
    notes = list(_summary_notes(summary))
    # Phase 3: every pair of policies compared, one table per pair.
    comparisons = report.comparisons
    for (a, b), results in _by_pair(comparisons).items():
        console.print(_pair_table(a, b, results))
    if comparisons:
        console.print(_comparison_legend(report, len(comparisons)), style="dim")
    notes += [f"{c.mission}, {c.policy_a_name} vs {c.policy_b_name}: {c.note}" for c in comparisons if c.note]
    # Phase 4: the notes that explain special cases, each once.
    for note in dict.fromkeys(notes):
        console.print(f"- {escape(note)}", style="dim")
    # Phase 5: the policies with their agents mixed into teams, when the report has a cross-play result.
    if report.cross_play is not None:
        print_cross_play(report.cross_play, console)


def _table(title: str, caption: str | None = None) -> Table:
    """A borderless table: a rule under the header, columns one space apart (the box's blank divider)."""
    return Table(
        title=escape(title),
        caption=escape(caption) if caption else None,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=0,
    )


def _summary_table(report: PrintableReport, summary: dict) -> Table:
    pct = f"{report.confidence:.0%}"
    table = _table(f"{report.name}: episode reward per policy and mission", REWARD_DEFINITION)
    table.add_column("Policy / mission", no_wrap=True)
    for column in ("n", "Mean", f"{pct} CI (t)", "IQM", f"{pct} CI (boot)", "Std"):
        table.add_column(column, justify="right", no_wrap=True)
    for policy, per_mission in summary.items():
        table.add_row(f"[bold]{escape(policy)}[/bold]")
        for mission, s in per_mission.items():
            if mission == OVERALL_KEY:
                continue
            table.add_row(
                f"  {escape(mission)}",
                str(s["n"]),
                fmt.number(s["mean"]),
                escape(fmt.interval(s["ci_low"], s["ci_high"])),
                fmt.number(s["iqm"]),
                escape(fmt.interval(s["iqm_ci_low"], s["iqm_ci_high"])),
                fmt.number(s["std"]),
            )
        if len(per_mission) > 2:  # missions plus "overall": an aggregate worth a row
            o = per_mission[OVERALL_KEY]
            table.add_row(
                "  [italic]overall[/italic]",
                str(o["episodes"]),
                fmt.number(o["mean"]),
                escape(fmt.interval(o["mean_ci_low"], o["mean_ci_high"])),
                fmt.number(o["iqm"]),
                escape(fmt.interval(o["iqm_ci_low"], o["iqm_ci_high"])),
                "",
            )
    return table


def _summary_notes(summary: dict) -> Iterable[str]:
    for policy, per_mission in summary.items():
        for mission, s in per_mission.items():
            if s["note"]:
                yield f"{policy} {'overall' if mission == OVERALL_KEY else 'on ' + mission}: {s['note']}"


def _by_pair(
    comparisons: list[PolicyComparisonResult],
) -> dict[tuple[str, str], list[PolicyComparisonResult]]:
    pairs: dict[tuple[str, str], list[PolicyComparisonResult]] = {}
    for c in comparisons:
        pairs.setdefault((c.policy_a_name, c.policy_b_name), []).append(c)
    return pairs


def _pair_table(a: str, b: str, results: list[PolicyComparisonResult]) -> Table:
    """One row per mission; the verdict column says "a"/"b" and the caption says it again in names."""
    pct = f"{results[0].confidence:.0%}"
    table = _table(f"{a} vs {b}", _verdicts_in_words(a, b, results))
    table.add_column("Mission", no_wrap=True)
    sequential = results[0].sequential is not None
    last = ("n", "RCI") if sequential else ("p", "Holm p")
    for column in ("a - b", f"{pct} CI", "Effect", "P(a>b)", *last, "Verdict"):
        table.add_column(column, justify="left" if column == "Verdict" else "right", no_wrap=True)
    for c in results:
        mission = (
            escape(c.mission) if c.mission != AGGREGATE_MISSION else f"[italic]{AGGREGATE_MISSION}[/italic]"
        )
        effect = f"{fmt.SHORT_EFFECT.get(c.effect_size_name, c.effect_size_name)} {fmt.number(c.effect_size)}"
        table.add_row(
            mission,
            fmt.signed(c.mean_diff),
            escape(fmt.interval(c.mean_diff_ci_low, c.mean_diff_ci_high)),
            effect,
            f"{c.probability_of_improvement:.2f}",
            *(
                (
                    str(c.sequential["episodes"]),
                    escape(fmt.interval(c.sequential["rci_low"], c.sequential["rci_high"])),
                )
                if sequential
                else (fmt.p_value(c.p_value), fmt.p_value(c.p_value_adjusted))
            ),
            _VERDICT_CELLS[_verdict(c)],
        )
    return table


_VERDICT_CELLS = {
    "a": "[green]a better[/green]",
    "b": "[green]b better[/green]",
    "n.s.": "[dim]n.s.[/dim]",
    "no test": "[dim]no test[/dim]",
    "equivalent": "[cyan]equivalent[/cyan]",
    "undecided": "[dim]undecided[/dim]",
}


def _verdict(c: PolicyComparisonResult) -> str:
    if c.sequential is not None:
        decision = c.sequential["decision"]
        return {"better": "a", "worse": "b", "equivalent": "equivalent"}.get(decision, "undecided")
    if c.p_value is None:
        return "no test"
    if not c.is_significant:
        return "n.s."
    return "a" if c.mean_diff > 0 else "b"


def _verdicts_in_words(a: str, b: str, results: list[PolicyComparisonResult]) -> str:
    """E.g. "random better on tiny_walk, all; no significant difference on explore"."""
    groups: dict[str, list[str]] = {}
    for c in results:
        groups.setdefault(_verdict(c), []).append(c.mission)
    words = {
        "a": f"{a} better",
        "b": f"{b} better",
        "n.s.": "no significant difference",
        "no test": "no test",
        "equivalent": "equivalent",
        "undecided": "undecided",
    }
    return "; ".join(f"{words[v]} on {', '.join(missions)}" for v, missions in groups.items())


def _comparison_legend(report: PrintableReport, count: int) -> str:
    return (
        f"a - b: difference of mean rewards, first policy minus second, with its {report.confidence:.0%} "
        "t interval (paired t on "
        "matched seeds, else Welch; 'all': mean over missions, Welch-Satterthwaite t). Effect: Cohen's "
        "d_z (paired) or Hedges' g, mean over missions for 'all'. P(a>b): probability of improvement "
        "over all pairs of episodes. p: the t test's raw p-value (a rank test's where t is infinite, see "
        f"notes). {_decision_legend(report, count)}"
    )


def _decision_legend(report: PrintableReport, count: int) -> str:
    """How the verdicts were reached: Holm at fixed n, or the sequential design's repeated intervals."""
    sequential = report.metadata.get("sequential")
    if not sequential:
        return (
            f"Holm p: adjusted over all {count} comparisons; verdict at "
            f"{report.significance_level:g}, n.s. = no significant difference."
        )
    return (
        f"Episodes ran in rounds until decided (stop_when='decided'): n: paired episodes behind the "
        f"verdict; RCI: its repeated confidence interval, valid at every look, Bonferroni over {count} "
        f"comparisons at {report.significance_level:g} (p and the CI are fixed-n descriptions only)."
    )
