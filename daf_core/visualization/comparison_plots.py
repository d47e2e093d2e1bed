"""Figures of a policy comparison, drawn from a :class:`~daf_core.comparison.ComparisonReport`'s own numbers.

Every interval drawn is one the report computed (the mean's t interval, the IQM's bootstrap interval,
Holm-adjusted verdicts) or, for the probability of improvement and the performance profiles, one from
:mod:`daf_core.stats.score_distributions` with the report's confidence, resample count and seed. Nothing
is re-run: the figures read the report's records and statistics.

The figures (:func:`comparison_figures`; names are the files :func:`daf_plot_policy_comparison` writes):

* ``mission_means`` - each policy's mean episode reward per mission with its t interval, and the mean
  of per-mission means with its Welch-Satterthwaite interval when there are several missions.
* ``iqm`` - the interquartile mean per mission with its bootstrap interval, and the IQM of all episodes
  pooled with its stratified bootstrap interval when there are several missions.
* ``episode_scores`` - every episode of every policy on every mission (points over a box plot).
* ``effect_sizes`` - per mission (and across missions): the effect size of the row policy against the
  column policy, cells that stay significant after Holm's correction marked with ``*`` and a border.
* ``probability_of_improvement`` - P(a > b) for every compared pair, per mission, with its interval.
* ``performance_profiles`` - only with two or more missions: the fraction of episodes scoring above
  each threshold, scores min-max normalised per mission over all policies' episodes, with a band.

Bad input: a report without episodes raises ``ValueError``; a report without pairwise comparisons
(one policy) still gets the per-policy figures, and ``effect_sizes`` and
``probability_of_improvement`` become figures that say no comparison was made.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.patches import Rectangle

from daf_core.comparison.constants import AGGREGATE_MISSION, OVERALL_KEY
from daf_core.stats.score_distributions import performance_profile, probability_of_improvement_interval
from daf_core.visualization import style

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from daf_core.comparison import ComparisonReport, PolicyComparisonResult
    from daf_core.stats.intervals import IntervalEstimate

__all__ = ["comparison_figures", "daf_plot_policy_comparison"]

REWARD_LABEL = "episode reward (sum over agents)"
NORMALISED_LABEL = "normalised score tau (min-max per mission over all policies' episodes)"
#: Thresholds of the performance profiles on the normalised scale.
PROFILE_TAUS = np.linspace(0.0, 1.0, 101)


def comparison_figures(report: ComparisonReport) -> dict[str, Figure]:
    """Every comparison figure of ``report``, by name (see the module docstring for the names).

    Raises ``ValueError`` when the report has no episodes. Without pairwise comparisons (a single
    policy) ``effect_sizes`` and ``probability_of_improvement`` are figures that say so;
    ``performance_profiles`` is present only when the report has two or more missions.
    """
    if not report.policies:
        raise ValueError(f"comparison report {report.name!r} has no episodes: there is nothing to plot")
    summary = report.summary_statistics
    comparisons = report.comparisons
    records = report.records
    played = set(zip(records["policy"], records["mission"], strict=True))
    with style.styled():
        figures = {
            "mission_means": _interval_figure(report, summary, "mean"),
            "iqm": _interval_figure(report, summary, "iqm"),
            "episode_scores": _episode_scores_figure(report, played),
            "effect_sizes": _effect_size_figure(report, comparisons),
            "probability_of_improvement": _improvement_figure(report, comparisons, played),
        }
        if len(report.missions) >= 2:
            figures["performance_profiles"] = _profiles_figure(report, played)
    return figures


def daf_plot_policy_comparison(
    comparison_report: ComparisonReport, output_dir: str | Path = "comparison_plots"
) -> list[Path]:
    """Save every figure of :func:`comparison_figures` as PNG and SVG in ``output_dir``; the files written."""
    written: list[Path] = []
    for name, fig in comparison_figures(comparison_report).items():
        written += style.save_figure(fig, output_dir, name)
    return written


# --------------------------------------------------------------------------------------------------
# Means and IQMs with the report's intervals
# --------------------------------------------------------------------------------------------------

_INTERVAL_KEYS = {
    # statistic: the summary's keys per mission and overall (point, low, high, method), what overall is
    "mean": (
        ("mean", "ci_low", "ci_high", "ci_method"),
        ("mean", "mean_ci_low", "mean_ci_high", "mean_ci_method"),
        "mean of mission means",
    ),
    "iqm": (
        ("iqm", "iqm_ci_low", "iqm_ci_high", "iqm_ci_method"),
        ("iqm", "iqm_ci_low", "iqm_ci_high", "iqm_ci_method"),
        "IQM of all episodes",
    ),
}


def _interval_figure(report: ComparisonReport, summary: dict[str, Any], statistic: str) -> Figure:
    """One marker per policy and mission with the report's interval as an error bar (no bar: no interval)."""
    mission_keys, overall_keys, overall_name = _INTERVAL_KEYS[statistic]
    groups = list(report.missions)
    if len(groups) >= 2:
        groups.append(OVERALL_KEY)
    fig = style.new_figure(max(6.0, 1.3 * len(groups) + 3.0), 4.5)
    ax = fig.add_subplot()
    offsets = _offsets(len(report.policies))
    undrawn: list[str] = []
    methods: set[str] = set()
    for i, policy in enumerate(report.policies):
        xs, ys, errors = [], [], []
        for g, group in enumerate(groups):
            entry = summary[policy].get(group)
            if entry is None:
                continue
            keys = overall_keys if group == OVERALL_KEY else mission_keys
            value, lo, hi, method = (entry[k] for k in keys)
            methods.add(method)
            if lo is None or hi is None:
                undrawn.append(f"{policy} on {group}")
                lo = hi = value
            xs.append(g + offsets[i])
            ys.append(value)
            errors.append((value - lo, hi - value))
        ax.errorbar(
            xs,
            ys,
            yerr=np.array(errors, dtype=float).T.reshape(2, -1),
            fmt="o",
            capsize=4,
            color=style.color(i),
            label=policy,
        )
    ax.set_xticks(range(len(groups)), [_group_label(g, overall_name) for g in groups])
    ax.set_xlabel("mission")
    ax.set_ylabel(REWARD_LABEL)
    ax.legend(title="policy", loc="best")
    what = "mean" if statistic == "mean" else "interquartile mean (IQM)"
    fig.suptitle(f"{report.name}: {what} episode reward per mission")
    caption = f"error bars: the report's {report.confidence:.0%} intervals ({', '.join(sorted(methods))})"
    if undrawn:
        caption += f"; no interval for {', '.join(undrawn)} (too few episodes)"
    ax.set_title(caption, fontsize="small")
    return fig


def _group_label(group: str, overall_name: str) -> str:
    return f"overall\n({overall_name})" if group == OVERALL_KEY else group


def _offsets(n: int, width: float = 0.6) -> np.ndarray:
    """x offsets that spread ``n`` policies around each mission's tick."""
    return np.zeros(1) if n == 1 else np.linspace(-width / 2, width / 2, n)


# --------------------------------------------------------------------------------------------------
# Every episode
# --------------------------------------------------------------------------------------------------


def _episode_scores_figure(report: ComparisonReport, played: set[tuple[str, str]]) -> Figure:
    """Per mission: a box plot of each policy's episodes with every episode drawn over it."""
    missions = report.missions
    fig = style.new_figure(max(6.0, 3.2 * len(missions)), 4.5)
    axes = fig.subplots(1, len(missions), squeeze=False)[0]
    jitter = np.random.default_rng(report.seed)
    for ax, mission in zip(axes, missions, strict=True):
        present = [p for p in report.policies if (p, mission) in played]
        scores = [report.rewards(p, mission) for p in present]
        boxes = ax.boxplot(scores, positions=range(len(present)), widths=0.5, showfliers=False)
        for median in boxes["medians"]:
            median.set_color("black")
        for i, (policy, values) in enumerate(zip(present, scores, strict=True)):
            ax.scatter(
                i + jitter.uniform(-0.15, 0.15, values.size),
                values,
                color=style.color(report.policies.index(policy)),
                alpha=0.7,
                zorder=3,
                label=policy,
            )
        ax.set_xticks(
            range(len(present)), [f"{p}\n(n={v.size})" for p, v in zip(present, scores, strict=True)]
        )
        ax.set_title(mission)
        ax.set_xlabel("policy (n: episodes)")
        ax.set_ylabel(REWARD_LABEL)
    fig.suptitle(f"{report.name}: every episode's reward\n(dots: episodes; boxes: quartiles; line: median)")
    return fig


# --------------------------------------------------------------------------------------------------
# Pairwise comparisons
# --------------------------------------------------------------------------------------------------


def _compared_missions(report: ComparisonReport, comparisons: Sequence[PolicyComparisonResult]) -> list[str]:
    seen = {c.mission for c in comparisons}
    return [m for m in [*report.missions, AGGREGATE_MISSION] if m in seen]


def _mission_title(mission: str) -> str:
    return "all missions (mean over missions)" if mission == AGGREGATE_MISSION else mission


def _no_comparison_figure(report: ComparisonReport, what: str) -> Figure:
    return style.notice_figure(
        f"{report.name}: {what}",
        f"No pairwise comparison in this report (policies: {report.policies}); "
        "comparing needs at least two policies on a shared mission.",
    )


def _effect_size_figure(report: ComparisonReport, comparisons: Sequence[PolicyComparisonResult]) -> Figure:
    """Per mission a matrix: cell (row a, column b) is a's effect size against b; ``*``: Holm-significant."""
    if not comparisons:
        return _no_comparison_figure(report, "pairwise effect sizes")
    policies = report.policies
    missions = _compared_missions(report, comparisons)
    index = {p: i for i, p in enumerate(policies)}
    size = 1.5 + 0.9 * len(policies)
    fig = style.new_figure(max(6.0, size * len(missions) + 1.5), size + 2.0)
    axes = fig.subplots(1, len(missions), squeeze=False)[0]
    values = [c.effect_size for c in comparisons if c.effect_size is not None]
    limit = max([abs(v) for v in values] + [1.0])
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-limit, vmax=limit)
    image = None
    for ax, mission in zip(axes, missions, strict=True):
        matrix = np.full((len(policies), len(policies)), np.nan)
        for c in (c for c in comparisons if c.mission == mission):
            a, b = index[c.policy_a], index[c.policy_b]
            effect = np.nan if c.effect_size is None else c.effect_size
            matrix[a, b], matrix[b, a] = effect, -effect
            for row, col, shown in ((a, b, effect), (b, a, -effect)):
                _effect_cell(ax, row, col, shown, c.significant, dark=abs(shown) > 0.55 * limit)
        image = ax.imshow(matrix, cmap=style.DIVERGING_COLORMAP, norm=norm)
        ax.set_xticks(range(len(policies)), policies, rotation=30, ha="right")
        ax.set_yticks(range(len(policies)), policies)
        ax.set_xlabel("policy b")
        ax.set_ylabel("policy a")
        ax.set_title(_mission_title(mission))
        ax.grid(False)
    names = ", ".join(sorted({c.effect_size_name for c in comparisons}))
    fig.colorbar(image, ax=list(axes), label="effect size of a vs b (unitless)", shrink=0.8)
    fig.suptitle(
        f"{report.name}: pairwise effect sizes ({names})\n* and a border: significant after Holm "
        f"correction (alpha {report.significance_level:g}, {len(comparisons)} comparisons)"
    )
    return fig


def _effect_cell(ax: Axes, row: int, col: int, effect: float, significant: bool, dark: bool) -> None:
    """The cell's number (``n/a`` when undefined) and, when Holm-significant, a ``*`` and a thick border.

    ``dark``: the cell's colour is dark, so its text is white."""
    text = "n/a" if np.isnan(effect) else f"{effect:+.2f}"
    if significant:
        text += " *"
        ax.add_patch(
            Rectangle(
                (col - 0.5, row - 0.5), 1, 1, fill=False, linewidth=2.5, edgecolor="black", gid="significant"
            )
        )
    ax.text(
        col,
        row,
        text,
        ha="center",
        va="center",
        color="white" if dark else "black",
        fontweight="bold" if significant else "normal",
    )


def _improvement_figure(
    report: ComparisonReport, comparisons: Sequence[PolicyComparisonResult], played: set[tuple[str, str]]
) -> Figure:
    """P(a > b) for each compared pair with a stratified bootstrap interval, one panel per mission."""
    if not comparisons:
        return _no_comparison_figure(report, "probability of improvement")
    missions = _compared_missions(report, comparisons)
    pairs = list(dict.fromkeys((c.policy_a, c.policy_b) for c in comparisons))
    fig = style.new_figure(max(6.0, 3.6 * len(missions)), 2.8 + 0.5 * len(pairs))
    axes = fig.subplots(1, len(missions), squeeze=False, sharey=True)[0]
    for ax, mission in zip(axes, missions, strict=True):
        for row, (a, b) in enumerate(pairs):
            estimate = _improvement_interval(report, a, b, mission, played)
            if estimate is None:
                continue
            ax.errorbar(
                [estimate.point],
                [row],
                xerr=[[estimate.point - estimate.low], [estimate.high - estimate.point]],
                fmt="o",
                capsize=4,
                color=style.color(report.policies.index(a)),
                label=f"{a} vs {b}",
            )
        ax.axvline(0.5, color="grey", linestyle="--", linewidth=1)
        ax.set_xlim(-0.03, 1.03)
        ax.set_ylim(len(pairs) - 0.5, -0.5)
        ax.set_yticks(range(len(pairs)), [f"{a} vs {b}" for a, b in pairs])
        ax.set_xlabel("P(a > b) + P(a = b)/2")
        ax.set_ylabel("pair a vs b")
        ax.set_title(_mission_title(mission))
    fig.suptitle(
        f"{report.name}: probability of improvement of a over b\n"
        f"error bars: {report.confidence:.0%} stratified bootstrap intervals over episodes"
    )
    return fig


def _improvement_interval(
    report: ComparisonReport, a: str, b: str, mission: str, played: set[tuple[str, str]]
) -> IntervalEstimate | None:
    """a's PoI interval against b on ``mission`` (``"all"``: every mission both played); None if unshared."""
    shared = [m for m in report.missions if (a, m) in played and (b, m) in played]
    missions = shared if mission == AGGREGATE_MISSION else [m for m in shared if m == mission]
    if not missions:
        return None
    return probability_of_improvement_interval(
        {m: (report.rewards(a, m), report.rewards(b, m)) for m in missions},
        confidence=report.confidence,
        n_resamples=report.n_resamples,
        seed=report.seed,
    )


# --------------------------------------------------------------------------------------------------
# Performance profiles
# --------------------------------------------------------------------------------------------------


def _normalised_scores(
    report: ComparisonReport, played: set[tuple[str, str]]
) -> tuple[dict[str, dict[str, np.ndarray]], list[str]]:
    """Each policy's episodes min-max normalised per mission over all policies' episodes there.

    A mission where every episode of every policy scored the same cannot be normalised and is left
    out (named in the second value).
    """
    records = report.records
    scores: dict[str, dict[str, np.ndarray]] = {p: {} for p in report.policies}
    constant = []
    for mission in report.missions:
        rewards = records.loc[records.mission == mission, "reward"].to_numpy(dtype=float)
        low, high = rewards.min(), rewards.max()
        if high == low:
            constant.append(mission)
            continue
        for policy in report.policies:
            if (policy, mission) in played:
                scores[policy][mission] = (report.rewards(policy, mission) - low) / (high - low)
    return scores, constant


def _profiles_figure(report: ComparisonReport, played: set[tuple[str, str]]) -> Figure:
    """rliable's score distributions: fraction of episodes above tau, mean over missions, with a band."""
    scores, constant = _normalised_scores(report, played)
    if len(constant) == len(report.missions):
        return style.notice_figure(
            f"{report.name}: performance profiles",
            f"Every episode of every policy scored the same on each mission ({constant}): "
            "there is no score range to normalise, so no profile.",
        )
    fig = style.new_figure(7.0, 4.8)
    ax = fig.add_subplot()
    for i, policy in enumerate(report.policies):
        if not scores[policy]:
            continue
        profile = performance_profile(
            scores[policy],
            PROFILE_TAUS,
            confidence=report.confidence,
            n_resamples=report.n_resamples,
            seed=report.seed,
        )
        ax.plot(profile.taus, profile.fraction, color=style.color(i), label=policy, drawstyle="steps-post")
        ax.fill_between(
            profile.taus,
            profile.low,
            profile.high,
            color=style.color(i),
            alpha=style.FAINT_ALPHA,
            step="post",
        )
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(NORMALISED_LABEL)
    ax.set_ylabel("fraction of episodes with score > tau")
    ax.legend(title="policy", loc="best")
    used = [m for m in report.missions if m not in constant]
    caption = (
        f"mean over missions {used} (each weighs the same); bands: pointwise {report.confidence:.0%} "
        "stratified bootstrap"
    )
    if constant:
        caption += f"; left out (every episode the same score): {constant}"
    ax.set_title(caption, fontsize="small", wrap=True)
    fig.suptitle(f"{report.name}: performance profiles")
    return fig
