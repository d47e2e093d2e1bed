"""Training curves from real metrics.jsonl files: one line per run, resumed runs whole, torn lines skipped."""

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from daf_core._internal.threads import limit_threads
from daf_core.config import DAFConfig, DAFTrainingConfig
from daf_core.visualization.training_curves import (
    daf_plot_training_curves,
    ema,
    read_metrics,
    training_figures,
)
from tests.visualization.figure_files import assert_png_and_svg_of

FIGURES = {
    "episode_reward",
    "steps_per_second",
    "policy_loss",
    "value_loss",
    "entropy",
    "approx_kl",
    "clip_fraction",
}
# tiny_walk: 2 agents x 8 environments x BPTT 64 = 1024 agent steps per epoch.
ENVS = 8
EPOCH = 2 * ENVS * 64


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """Two real runs: "fresh", 4096 agent steps in one go; "resumed", a copy of it resumed for an epoch."""
    from daf_core.training import train  # noqa: PLC0415 - torch and the simulator, for this fixture only

    root = tmp_path_factory.mktemp("training") / "checkpoints"

    def run(name: str, steps: int) -> None:
        config = DAFTrainingConfig(
            missions=["tiny_walk"],
            num_steps=steps,
            checkpoint_dir=root,
            checkpoint_interval=1,
            device="cpu",
            run_name=name,
            vector_num_envs=ENVS,
        )
        train(config, DAFConfig(output_dir=root.parent, monitor_system_stats=False), show_progress=False)

    # One torch thread, as every DAF worker runs: a thread per core is many times slower on a busy machine.
    restore_threads = limit_threads(1)
    try:
        run("fresh", 4 * EPOCH)
        shutil.copytree(root / "fresh", root / "resumed")
        run("resumed", 5 * EPOCH)  # resumes from the copied checkpoint of epoch 4
    finally:
        restore_threads()
    return root


def rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def lines_by_label(ax) -> dict:
    """The smoothed lines (labelled with their run) and the raw ones (faint, unlabelled) of an axes."""
    labelled = {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}
    raw = [line for line in ax.get_lines() if line.get_label() == "_nolegend_"]
    return {"smoothed": labelled, "raw": raw}


def test_every_figure_is_saved_titled_and_labelled_with_units(runs, tmp_path):
    written = daf_plot_training_curves(runs, tmp_path)
    assert_png_and_svg_of(FIGURES, written)
    figures = training_figures(runs)
    expected_labels = {
        "episode_reward": "episode reward (mean over agents)",
        "steps_per_second": "steps/s (agent steps per second)",
        "entropy": "policy entropy (nats)",
    }
    for name, fig in figures.items():
        assert fig.get_suptitle(), name
        for ax in fig.axes:
            assert ax.get_xlabel() == "agent steps", name
            assert ax.get_ylabel() == expected_labels.get(name, ax.get_ylabel()) and ax.get_ylabel(), name
    assert figures["episode_reward"].axes[0].get_title() == "mission tiny_walk"


def test_each_run_is_one_line_in_the_legend_and_a_resumed_run_is_drawn_whole(runs):
    ax = training_figures(runs)["policy_loss"].axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["fresh", "resumed"]
    lines = lines_by_label(ax)
    assert set(lines["smoothed"]) == {"fresh", "resumed"}
    assert len(lines["raw"]) == 2
    resumed_rows = rows(runs / "resumed")
    assert [r["epoch"] for r in resumed_rows] == [1, 2, 3, 4, 5]  # the resume appended epoch 5 to the file
    resumed = lines["smoothed"]["resumed"]
    np.testing.assert_array_equal(resumed.get_xdata(), [k * EPOCH for k in range(1, 6)])
    raw = next(line for line in lines["raw"] if line.get_color() == resumed.get_color())
    np.testing.assert_allclose(raw.get_ydata(), [r["losses/policy_loss"] for r in resumed_rows])


def test_one_run_directory_works_on_its_own(runs):
    ax = training_figures(runs / "fresh")["steps_per_second"].axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["fresh"]
    np.testing.assert_allclose(
        lines_by_label(ax)["raw"][0].get_ydata(), [r["sps"] for r in rows(runs / "fresh")]
    )


def test_repeated_or_unsorted_epochs_are_one_line_sorted_by_agent_steps_last_row_winning(runs, tmp_path):
    """An old metrics file could repeat an epoch after a resume; the curve must not double back."""
    original = rows(runs / "fresh")
    repeated = {**original[0], "sps": 12345.0}
    run_dir = tmp_path / "old-style"
    run_dir.mkdir()
    (run_dir / "metrics.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in [original[1], original[0], repeated])
    )
    frame = read_metrics(run_dir / "metrics.jsonl")
    assert frame["agent_steps"].tolist() == [EPOCH, 2 * EPOCH]
    assert frame["sps"].tolist() == [12345.0, original[1]["sps"]]


def test_smoothing_is_an_exponential_moving_average_and_zero_draws_the_raw_values(runs):
    for smoothing in (0.0, 0.9):
        lines = lines_by_label(training_figures(runs / "fresh", smoothing=smoothing)["value_loss"].axes[0])
        raw = lines["raw"][0].get_ydata()
        smoothed = lines["smoothed"]["fresh"].get_ydata()
        if smoothing == 0.0:
            np.testing.assert_allclose(smoothed, raw)
        else:  # TensorBoard's debiased EMA: point t is a weighted mean of points 0..t, weights w^(t-k)
            weights = [smoothing ** (t - np.arange(t + 1)) for t in range(raw.size)]
            expected = [np.dot(w, raw[: w.size]) / w.sum() for w in weights]
            np.testing.assert_allclose(smoothed, expected)
            assert not np.allclose(smoothed, raw)
    np.testing.assert_allclose(ema(np.array([2.0, 2.0, 2.0]), 0.99), [2.0, 2.0, 2.0])


@pytest.mark.parametrize("smoothing", [1.0, -0.1, True, float("nan"), "0.5"])
def test_a_smoothing_outside_zero_to_one_is_refused(runs, smoothing):
    with pytest.raises(ValueError, match=r"smoothing: must be a number in \[0, 1\)"):
        training_figures(runs, smoothing=smoothing)


def test_a_torn_last_line_is_skipped_with_a_warning(runs, tmp_path, caplog):
    run_dir = tmp_path / "killed"
    shutil.copytree(runs / "fresh", run_dir)
    with open(run_dir / "metrics.jsonl", "a") as handle:
        handle.write('{"epoch": 5, "agent_steps": 5120, "sps": 9')
    with caplog.at_level(logging.WARNING, logger="daf_core.visualization"):
        ax = training_figures(run_dir)["steps_per_second"].axes[0]
    assert "skipped the last line 5, cut short" in caplog.text
    steps = [r["agent_steps"] for r in rows(runs / "fresh")]
    np.testing.assert_array_equal(lines_by_label(ax)["smoothed"]["killed"].get_xdata(), steps)


def test_a_broken_line_before_the_last_is_an_error_naming_the_file_and_line(runs, tmp_path):
    run_dir = tmp_path / "corrupt"
    shutil.copytree(runs / "fresh", run_dir)
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    (run_dir / "metrics.jsonl").write_text("\n".join([lines[0][:20], lines[1]]) + "\n")
    with pytest.raises(ValueError, match=r"metrics.jsonl: line 1 is not a JSON metrics row"):
        training_figures(run_dir)


def test_a_directory_without_metrics_is_refused_clearly(tmp_path):
    (tmp_path / "empty-run").mkdir()
    with pytest.raises(ValueError, match=r"checkpoint_dir: no metrics.jsonl in .*empty-run"):
        daf_plot_training_curves(tmp_path / "empty-run", tmp_path / "plots")
    with pytest.raises(FileNotFoundError, match="checkpoint_dir: directory not found"):
        training_figures(tmp_path / "missing")
    only_torn = tmp_path / "torn-only"
    only_torn.mkdir()
    (only_torn / "metrics.jsonl").write_text('{"epoch": 1, "agent_st')
    with pytest.raises(ValueError, match="no complete metrics row"):
        training_figures(only_torn)
    assert not (tmp_path / "plots").exists()


def test_a_metric_no_run_recorded_gets_a_figure_saying_so(runs, tmp_path):
    run_dir = tmp_path / "no-clipfrac"
    run_dir.mkdir()
    kept = [{k: v for k, v in r.items() if k != "losses/clipfrac"} for r in rows(runs / "fresh")]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
    figures = training_figures(run_dir)
    (ax,) = figures["clip_fraction"].axes
    assert "No run recorded 'losses/clipfrac'" in ax.texts[0].get_text()
    assert lines_by_label(figures["entropy"].axes[0])["smoothed"].keys() == {"no-clipfrac"}
