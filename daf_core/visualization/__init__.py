"""Plots, HTML reports and leaderboards over results DAF has written; it reads them, never re-runs anything.

Figures (PNG and SVG, titled, labelled with units, Okabe-Ito colours): training curves from
``metrics.jsonl`` (:mod:`~.training_curves`), comparisons from a ComparisonReport
(:mod:`~.comparison_plots`), sweeps from a SweepResult and its study (:mod:`~.sweep_plots`).
Reports: one self-contained, interactive HTML file per comparison, sweep or training run
(:mod:`~.html_report`, :mod:`~.html_sweep_report`, :mod:`~.html_training_report`, over
:mod:`~.html_page` and :mod:`~.html_chart`), and a Markdown leaderboard (:mod:`~.leaderboard`).
"""

from daf_core.visualization.comparison_plots import comparison_figures, daf_plot_policy_comparison
from daf_core.visualization.html_report import daf_export_comparison_html
from daf_core.visualization.html_sweep_report import daf_export_sweep_html
from daf_core.visualization.html_training_report import daf_export_training_html
from daf_core.visualization.leaderboard import daf_generate_leaderboard
from daf_core.visualization.sweep_plots import daf_plot_sweep_results, sweep_figures
from daf_core.visualization.training_curves import daf_plot_training_curves, training_figures

__all__ = [
    "comparison_figures",
    "daf_export_comparison_html",
    "daf_export_sweep_html",
    "daf_export_training_html",
    "daf_generate_leaderboard",
    "daf_plot_policy_comparison",
    "daf_plot_sweep_results",
    "daf_plot_training_curves",
    "sweep_figures",
    "training_figures",
]
