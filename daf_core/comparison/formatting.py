"""How the report writes numbers and names tests: one place, so a line and a table say the same thing."""

from __future__ import annotations

EFFECT_LABELS = {
    "hedges_g": "Hedges' g",
    "cohens_dz": "Cohen's d_z",
    "mean_hedges_g": "mean Hedges' g",
    "mean_cohens_dz": "mean Cohen's d_z",
}
SHORT_EFFECT = {"hedges_g": "g", "cohens_dz": "dz", "mean_hedges_g": "g", "mean_cohens_dz": "dz"}
TEST_LABELS = {
    "welch_t": "Welch t",
    "paired_t": "paired t",
    "mann_whitney_u": "Mann-Whitney U",
    "wilcoxon_signed_rank": "Wilcoxon signed-rank",
    "stratified_t": "stratified t",
    "stratified_permutation": "stratified permutation",
}


def number(value: float | None) -> str:
    """Three significant digits; "n/a" for an undefined value."""
    return "n/a" if value is None else f"{value:.3g}"


def signed(value: float) -> str:
    """A difference: three significant digits with its sign."""
    return f"{value:+.3g}"


def interval(low: float | None, high: float | None) -> str:
    """``[low, high]``, or "n/a" where the interval is undefined."""
    return "n/a" if low is None or high is None else f"[{number(low)}, {number(high)}]"


def p_value(value: float | None) -> str:
    """Three decimals, or two significant digits below 0.001; "n/a" where no test was possible."""
    if value is None:
        return "n/a"
    return f"{value:.2g}" if value < 1e-3 else f"{value:.3f}"
