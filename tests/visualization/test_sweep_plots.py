"""Sweep figures from a real small sweep: objective, best so far, log axes, importance, trial states."""

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import optuna
import pytest

from daf_core.config import DAFSweepConfig
from daf_core.sweeps import SweepResult, SweepTrialResult, daf_launch_sweep
from daf_core.visualization.sweep_plots import daf_plot_sweep_results, sweep_figures
from tests.visualization.figure_files import assert_png_and_svg_of

FIGURES = {"objective_history", "parameters", "importance", "parallel_coordinates"}
SEARCH_SPACE = {
    "learning_rate": {"low": 1e-4, "high": 1e-2, "log": True},
    "ent_coef": {"low": 0.0, "high": 0.1},
    "gamma": [0.9, 0.99],
}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> SweepResult:
    """Three real trials of 2048 agent steps on tiny_walk, evaluated on 2 episodes each."""
    config = DAFSweepConfig(
        name="viz",
        missions=["tiny_walk"],
        search_space=SEARCH_SPACE,
        strategy="random",
        num_trials=3,
        episodes_per_trial=2,
        training_steps=2048,
        vector_num_envs=4,
        output_dir=tmp_path_factory.mktemp("sweeps"),
    )
    return daf_launch_sweep(config)


@pytest.fixture(scope="module")
def figures(sweep) -> dict:
    return sweep_figures(sweep)


def with_trials(result: SweepResult, *trials: SweepTrialResult) -> SweepResult:
    """A copy of a real result with more trials (pruned and failed ones need early stopping or a crash)."""
    copy = dataclasses.replace(result, trials=list(result.trials))
    for trial in trials:
        copy.add_trial(trial)
    return copy


def test_every_figure_is_saved_titled_and_labelled(sweep, figures, tmp_path):
    written = daf_plot_sweep_results(sweep, tmp_path)
    assert_png_and_svg_of(FIGURES, written)
    for name, fig in figures.items():
        assert fig.get_suptitle(), name
        for ax in fig.axes:
            if ax.get_label() == "<colorbar>":
                assert ax.get_ylabel() == "objective: mean_reward (higher is better)"
                continue
            assert ax.get_xlabel() and ax.get_ylabel(), name


def test_the_objective_per_trial_is_drawn_with_the_best_so_far(sweep, figures):
    ax = figures["objective_history"].axes[0]
    assert ax.get_xlabel() == "trial number"
    assert ax.get_ylabel() == "objective: mean_reward (higher is better)"
    (complete,) = [c for c in ax.collections if c.get_label() == "complete"]
    offsets = complete.get_offsets()
    np.testing.assert_array_equal(offsets[:, 0], [t.trial_id for t in sweep.trials])
    np.testing.assert_allclose(offsets[:, 1], [t.primary_metric for t in sweep.trials])
    (best,) = [line for line in ax.get_lines() if line.get_label() == "best so far (complete trials)"]
    np.testing.assert_allclose(
        best.get_ydata(), np.maximum.accumulate([t.primary_metric for t in sweep.trials])
    )


def test_each_parameter_is_drawn_against_the_objective_on_its_own_scale(sweep, figures):
    panels = {ax.get_title(): ax for ax in figures["parameters"].axes if ax.get_title()}
    assert list(panels) == list(SEARCH_SPACE)
    assert panels["learning_rate"].get_xscale() == "log"
    assert panels["learning_rate"].get_xlim() == pytest.approx((1e-4, 1e-2))
    assert panels["ent_coef"].get_xscale() == "linear"
    assert [t.get_text() for t in panels["gamma"].get_xticklabels()] == ["0.9", "0.99"]
    (points,) = [c for c in panels["learning_rate"].collections if c.get_label() == "complete"]
    np.testing.assert_allclose(
        points.get_offsets()[:, 0], [t.hyperparameters["learning_rate"] for t in sweep.trials]
    )


def test_importance_is_optunas_over_the_sweeps_study(sweep, figures):
    study = optuna.load_study(study_name=sweep.sweep_name, storage=sweep.storage)
    expected = optuna.importance.get_param_importances(
        study, evaluator=optuna.importance.PedAnovaImportanceEvaluator()
    )
    for fig in (figures["importance"], sweep_figures(sweep, study=study)["importance"]):
        ax = fig.axes[0]
        bars = {
            label.get_text(): patch.get_width()
            for label, patch in zip(ax.get_yticklabels(), ax.patches, strict=True)
        }
        assert bars == pytest.approx(expected)
        assert "importance" in ax.get_xlabel() and ax.get_ylabel() == "parameter"


def test_without_the_study_or_the_config_the_figures_say_what_is_missing(sweep, tmp_path):
    moved = tmp_path / "copied"
    moved.mkdir()
    shutil.copy(Path(sweep.output_dir) / "results.json", moved / "results.json")
    result = SweepResult.load_json(moved)
    result.storage, result.output_dir = f"sqlite:///{moved / 'study.db'}", str(moved)
    figures = sweep_figures(result)
    (ax,) = figures["importance"].axes
    assert (
        "needs the sweep's Optuna study" in ax.texts[0].get_text()
        and "does not exist" in ax.texts[0].get_text()
    )
    assert not (moved / "study.db").exists()  # looking did not create an empty study
    panels = {ax.get_title(): ax for ax in figures["parameters"].axes if ax.get_title()}
    assert panels["learning_rate"].get_xscale() == "linear"
    assert "search space unknown (sweep_config.yaml not found)" in figures["parameters"].get_suptitle()


def test_a_results_file_or_the_sweep_directory_can_be_given(sweep):
    sweep_dir = Path(sweep.output_dir)
    for given in (sweep_dir, sweep_dir / "results.json", str(sweep_dir)):
        panels = {ax.get_title(): ax for ax in sweep_figures(given)["parameters"].axes if ax.get_title()}
        assert panels["learning_rate"].get_xscale() == "log"


def test_pruned_and_failed_trials_are_marked_apart(sweep):
    params = dict(sweep.trials[0].hyperparameters)
    result = with_trials(
        sweep,
        SweepTrialResult(10, params, state="pruned", intermediate_values={1: 0.05, 2: 0.07}),
        SweepTrialResult(11, params, state="failed", error="boom"),
        SweepTrialResult(12, params, state="running"),
    )
    figures = sweep_figures(result)
    ax = figures["objective_history"].axes[0]
    by_label = {c.get_label(): c.get_offsets() for c in ax.collections}
    np.testing.assert_allclose(by_label["pruned (last reported value)"], [[10, 0.07]])
    assert by_label["failed (no objective)"][:, 0].tolist() == [11]
    assert "1 pruned, 1 failed, 1 not finished" in ax.get_title()
    axes_lines = figures["parallel_coordinates"].axes[0].get_lines()
    lines = {line.get_label(): line for line in axes_lines if line.get_label().startswith("trial")}
    assert set(lines) == {f"trial {t.trial_id}" for t in sweep.trials} | {"trial 10"}
    assert lines["trial 10"].get_linestyle() == "--"
    panels = {ax.get_title(): ax for ax in figures["parameters"].axes if ax.get_title()}
    labels = {c.get_label() for c in panels["ent_coef"].collections}
    assert labels == {"complete", "pruned (last reported value)", "failed (no objective)"}


def test_a_sweep_without_any_objective_value_is_refused_clearly(sweep, tmp_path):
    nothing = dataclasses.replace(
        sweep,
        trials=[
            SweepTrialResult(0, {"learning_rate": 1e-3}, state="running"),
            SweepTrialResult(1, {"learning_rate": 2e-3}, state="failed", error="boom"),
        ],
    )
    with pytest.raises(ValueError, match=r"sweep 'viz': no trial has an objective value yet .*'failed': 1"):
        daf_plot_sweep_results(nothing, tmp_path / "plots")
    assert not (tmp_path / "plots").exists()
    with pytest.raises(FileNotFoundError, match="sweep results file not found"):
        sweep_figures(tmp_path / "no-sweep-here")
