"""DAF's workflows run from their configs: what sits above every domain package and ties them together.

:func:`daf_compare_from_config` runs a :class:`~daf_core.config.DAFComparisonConfig`: it evaluates and
compares (:mod:`daf_core.comparison`) and, when the config asks for it, writes the interactive HTML
report (:mod:`daf_core.visualization`), which is why it lives above both.
"""

from __future__ import annotations

import logging
from pathlib import Path

from daf_core.comparison import ComparisonReport, daf_compare_policies
from daf_core.config import DAFComparisonConfig
from daf_core.visualization import daf_export_comparison_html

logger = logging.getLogger(__name__)

__all__ = ["daf_compare_from_config"]


def daf_compare_from_config(
    config: DAFComparisonConfig, *, max_parallel_jobs: int = 1, show_progress: bool = True
) -> ComparisonReport:
    """Run a :class:`DAFComparisonConfig`; with ``save_raw_results`` files go to ``output_dir/name``.

    With ``generate_html_report`` the interactive HTML report goes to ``output_dir/name/report.html``,
    beside ``report.json`` and the raw episodes it links (without ``save_raw_results`` it stands alone).
    """
    folder = Path(config.output_dir) / config.name
    output_dir = folder if config.save_raw_results else None
    report = daf_compare_policies(
        config.policies,
        config.missions,
        config.episodes_per_mission,
        seed=config.seed,
        max_parallel_jobs=max_parallel_jobs,
        significance_level=config.significance_level,
        output_dir=output_dir,
        name=config.name,
        show_progress=show_progress,
    )
    if config.generate_html_report:
        path = daf_export_comparison_html(report, folder / "report.html")
        logger.info("HTML report of %r: %s", config.name, path)
    return report
