"""A sweep re-evaluated on fresh seeds, on its page and in its figures: each best trial's sweep estimate,
fresh estimate and shrinkage with their intervals; a sweep without re-evaluation shows none of it."""

from __future__ import annotations

import json

import pytest

from daf_core.comparison import formatting as fmt
from daf_core.sweeps import FreshEvaluation, SweepResult
from daf_core.sweeps.results import still_ranked
from daf_core.visualization.html_sweep_report import daf_export_sweep_html
from daf_core.visualization.sweep_plots import sweep_figures
from tests.visualization.test_html_report import Page, sweep_on_disk, trial


def fresh(trial_id, rank, sweep, fresh_mean, half=0.1):
    return FreshEvaluation(
        trial_id=trial_id,
        rank=rank,
        sweep_estimate=sweep,
        fresh_estimate=fresh_mean,
        fresh_ci_low=fresh_mean - half,
        fresh_ci_high=fresh_mean + half,
        shrinkage=sweep - fresh_mean,
        shrinkage_ci_low=sweep - fresh_mean - half,
        shrinkage_ci_high=sweep - fresh_mean + half,
        sweep_seeds=[1000, 1004],
        fresh_seeds=[1005, 1014],
        sweep_episodes=5,
        fresh_episodes=10,
    )


@pytest.fixture
def re_evaluated(tmp_path):
    sweep_dir = sweep_on_disk(
        tmp_path, [trial(0, "complete", 0.31), trial(1, "complete", 0.42), trial(2, "complete", 0.2)]
    )
    result = SweepResult.load_json(sweep_dir)
    result.fresh_evaluations = [fresh(1, 1, 0.42, 0.3), fresh(0, 2, 0.31, 0.29)]
    result.save_json(sweep_dir / "results.json")
    return sweep_dir, result


def test_the_sweep_page_shows_each_best_trial_on_fresh_seeds(re_evaluated, tmp_path):
    sweep_dir, result = re_evaluated
    page = Page(daf_export_sweep_html(sweep_dir, tmp_path / "sweep.html").read_text())

    rows = page.table("fresh-seeds")
    assert [(r["Rank"], r["Trial"]) for r in rows] == [("1", "1"), ("2", "0")]
    best = rows[0]
    assert (best["Sweep estimate"], best["Fresh estimate"]) == ("0.42", "0.3")
    assert best["Fresh 95% CI"] == fmt.interval(0.2, 0.4)
    assert best["Shrinkage"] == fmt.signed(0.42 - 0.3) == "+0.12"
    assert best["Shrinkage 95% CI"] == fmt.interval(0.42 - 0.3 - 0.1, 0.42 - 0.3 + 0.1)
    text = page.all_text()
    assert "On fresh seeds it scores 0.3 (95% CI [0.2, 0.4]): shrinkage +0.12" in text
    assert "10 fresh seeds (1005..1014)" in text and "5 seeds (1000..1004)" in text
    assert ("figure", "fresh_seeds") in page.with_attribute("data-figure")


def test_the_fresh_seeds_figure_draws_the_sweep_estimate_beside_the_fresh_interval(re_evaluated):
    _, result = re_evaluated
    figure = sweep_figures(result)["fresh_seeds"]
    (ax,) = figure.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["trial 1\n(rank 1)", "trial 0\n(rank 2)"]
    sweep_points = ax.collections[0].get_offsets()
    assert list(sweep_points[:, 1]) == [0.42, 0.31]
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["sweep estimate (seeds 1000..1004)", "fresh estimate, 95% CI (seeds 1005..1014)"]


def test_results_json_keeps_the_fresh_evaluations(re_evaluated):
    sweep_dir, result = re_evaluated
    data = json.loads((sweep_dir / "results.json").read_text())
    assert [e["trial_id"] for e in data["fresh_evaluations"]] == [1, 0]
    assert SweepResult.load_json(sweep_dir).fresh_evaluations == result.fresh_evaluations


def test_a_sweep_not_re_evaluated_has_no_fresh_section_or_figure(tmp_path):
    sweep_dir = sweep_on_disk(tmp_path, [trial(0, "complete", 0.31), trial(1, "complete", 0.42)])
    text = daf_export_sweep_html(sweep_dir, tmp_path / "sweep.html").read_text()
    assert 'id="fresh-seeds"' not in text and "On fresh seeds" not in text
    assert "fresh_seeds" not in sweep_figures(sweep_dir)


def test_the_printed_summary_lists_the_fresh_estimates(re_evaluated):
    from rich.console import Console  # noqa: PLC0415

    _, result = re_evaluated
    console = Console(record=True, width=160)
    result.print_summary(console)
    text = console.export_text()
    assert "Best trials on fresh seeds 1005..1014 (sweep seeds 1000..1004)" in text
    assert "0.3 [0.2, 0.4]" in text and "+0.12 [0.02, 0.22]" in text


def test_a_re_evaluation_is_kept_only_while_its_trial_holds_its_rank(re_evaluated):
    _, result = re_evaluated
    assert still_ranked(result.fresh_evaluations, result) == result.fresh_evaluations

    result.add_trial(trial(3, "complete", 0.5))  # a continued sweep found a better trial
    assert still_ranked(result.fresh_evaluations, result) == []  # trial 1 is now second, trial 0 third
    result.add_trial(trial(3, "complete", 0.3))  # ranks 1 and 2 unchanged, the new trial third
    assert still_ranked(result.fresh_evaluations, result) == result.fresh_evaluations
