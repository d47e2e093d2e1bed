"""Real comparison outputs for the report tests, run once per test session and shared by its modules.

:func:`tiny_walk_comparison` runs ``daf_compare_policies`` (real mettagrid episodes) into a folder under
the session's base temporary directory; a second call in the same session finds the episodes recorded
there and reuses them (the evaluator's resume: same policies, missions and seed), so each test module
gets the real report and only the first pays for the episodes. :func:`tiny_walk_page` does the same for
its HTML report, written beside the records the first time it is asked for.
"""

from __future__ import annotations

from pathlib import Path

from daf_core.comparison import ComparisonReport, daf_compare_policies
from daf_core.visualization.html_report import daf_export_comparison_html

POLICIES = ["random", "noop", "lstm"]
MISSION = "tiny_walk"
EPISODES = 4
SEED = 0
NAME = "tiny_walk_3"


def comparison_dir(base: Path) -> Path:
    """Where the session's comparison is saved: ``report.json`` and ``episodes.parquet``/``.csv``."""
    return base / "comparisons" / NAME


def tiny_walk_comparison(base: Path) -> ComparisonReport:
    """Three policies on tiny_walk, four episodes each on the same seeds, saved under ``base``."""
    return daf_compare_policies(
        POLICIES,
        [MISSION],
        EPISODES,
        seed=SEED,
        output_dir=comparison_dir(base),
        name=NAME,
        show_progress=False,
    )


def tiny_walk_page(base: Path) -> tuple[ComparisonReport, Path]:
    """The comparison and its HTML report, ``report.html`` beside ``report.json`` and the records."""
    report = tiny_walk_comparison(base)
    path = comparison_dir(base) / "report.html"
    if not path.exists():
        daf_export_comparison_html(report, path)
    return report, path
