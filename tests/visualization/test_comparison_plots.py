"""Comparison figures: a real comparison's numbers, the report's own intervals, files saved atomically."""

import matplotlib
import numpy as np
import pytest
from matplotlib.patches import Rectangle

from daf_core.comparison import ComparisonReport, daf_compare_policies
from daf_core.stats.score_distributions import probability_of_improvement_interval
from daf_core.visualization import style
from daf_core.visualization.comparison_plots import comparison_figures, daf_plot_policy_comparison
from tests.visualization.figure_files import assert_png_and_svg_of

FIGURES = {
    "mission_means",
    "iqm",
    "episode_scores",
    "effect_sizes",
    "probability_of_improvement",
    "performance_profiles",
}


@pytest.fixture(scope="module")
def real_report(tmp_path_factory) -> ComparisonReport:
    """random against noop on two missions, 3 paired episodes each (a few seconds)."""
    return daf_compare_policies(
        ["random", "noop"],
        ["tiny_walk", "explore"],
        3,
        output_dir=tmp_path_factory.mktemp("comparison"),
        show_progress=False,
        name="real",
    )


@pytest.fixture(scope="module")
def three_policies() -> ComparisonReport:
    """strong clearly beats the others; weak and weaker are alike (some cells significant, some not)."""
    rng = np.random.default_rng(0)
    report = ComparisonReport("three", n_resamples=400)
    for name, mean in (("strong", 2.0), ("weak", 0.5), ("weaker", 0.45)):
        report.add_policy_results(
            name,
            {
                "tiny_walk": {seed: float(rng.normal(mean, 0.2)) for seed in range(8)},
                "explore": {seed: float(rng.normal(10 * mean, 2.0)) for seed in range(8)},
            },
        )
    return report


@pytest.fixture(scope="module")
def real_figures(real_report) -> dict:
    return comparison_figures(real_report)


@pytest.fixture(scope="module")
def three_figures(three_policies) -> dict:
    return comparison_figures(three_policies)


def errorbars(ax) -> dict:
    """label -> (data points, [(low, high), ...]) of every error bar container on the axes."""
    found = {}
    for container in ax.containers:
        data_line, _, (bars,) = container.lines
        axis = 1 if container.has_yerr else 0
        found[container.get_label()] = (
            data_line.get_xydata(),
            [(s[0][axis], s[1][axis]) for s in bars.get_segments()],
        )
    return found


def legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_every_figure_is_titled_labelled_and_saved_as_valid_png_and_svg(real_report, real_figures, tmp_path):
    written = daf_plot_policy_comparison(real_report, tmp_path / "plots")
    assert_png_and_svg_of(FIGURES, written)
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == sorted(p.name for p in written)
    for name, fig in real_figures.items():
        assert fig.get_suptitle(), name
        for ax in fig.axes:
            if ax.get_label() == "<colorbar>":
                assert ax.get_ylabel()
                continue
            assert ax.get_xlabel() and ax.get_ylabel(), name


@pytest.mark.parametrize(
    ("figure", "mission_keys", "overall_keys"),
    [
        ("mission_means", ("mean", "ci_low", "ci_high"), ("mean", "mean_ci_low", "mean_ci_high")),
        ("iqm", ("iqm", "iqm_ci_low", "iqm_ci_high"), ("iqm", "iqm_ci_low", "iqm_ci_high")),
    ],
)
def test_means_and_iqms_are_drawn_with_the_reports_own_intervals(
    real_report, real_figures, figure, mission_keys, overall_keys
):
    ax = real_figures[figure].axes[0]
    assert ax.get_ylabel() == "episode reward (sum over agents)"
    assert legend_texts(ax) == real_report.policies
    bars = errorbars(ax)
    summary = real_report.summary_statistics
    groups = [*real_report.missions, "overall"]
    assert [t.get_text().split("\n")[0] for t in ax.get_xticklabels()] == groups
    for policy in real_report.policies:
        points, intervals = bars[policy]
        expected = [
            [summary[policy][g][k] for k in (overall_keys if g == "overall" else mission_keys)]
            for g in groups
        ]
        np.testing.assert_allclose(points[:, 1], [e[0] for e in expected])
        np.testing.assert_allclose(intervals, [(e[1], e[2]) for e in expected])
    assert all(high > low for low, high in bars["random"][1])  # random's rewards vary: real intervals


def test_every_episode_is_drawn_per_policy_and_mission(real_report, real_figures):
    fig = real_figures["episode_scores"]
    assert [ax.get_title() for ax in fig.axes] == real_report.missions
    for ax, mission in zip(fig.axes, real_report.missions, strict=True):
        drawn = {c.get_label(): sorted(c.get_offsets()[:, 1]) for c in ax.collections}
        expected = {p: sorted(real_report.rewards(p, mission)) for p in real_report.policies}
        assert drawn.keys() == expected.keys()
        for policy in expected:
            np.testing.assert_allclose(drawn[policy], expected[policy])


def cell_texts(ax) -> dict[tuple[int, int], str]:
    return {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}


def test_the_effect_size_matrix_marks_exactly_the_cells_significant_after_holm(three_policies, three_figures):
    comparisons = three_policies.comparisons
    significant = [c for c in comparisons if c.significant]
    assert 0 < len(significant) < len(comparisons)  # the fixture has both kinds
    fig = three_figures["effect_sizes"]
    matrices = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert [ax.get_title() for ax in matrices] == [
        "tiny_walk",
        "explore",
        "all missions (mean over missions)",
    ]
    index = {p: i for i, p in enumerate(three_policies.policies)}
    for ax, mission in zip(matrices, ["tiny_walk", "explore", "all"], strict=True):
        texts = cell_texts(ax)
        borders = {
            (round(p.get_y() + 0.5), round(p.get_x() + 0.5))
            for p in ax.patches
            if isinstance(p, Rectangle) and p.get_gid() == "significant"
        }
        expected_borders = set()
        for c in (c for c in comparisons if c.mission == mission):
            a, b = index[c.policy_a], index[c.policy_b]
            mark = " *" if c.significant else ""
            assert texts[(a, b)] == f"{c.effect_size:+.2f}{mark}"
            assert texts[(b, a)] == f"{-c.effect_size:+.2f}{mark}"
            if c.significant:
                expected_borders |= {(a, b), (b, a)}
        assert borders == expected_borders
    assert "Holm" in fig.get_suptitle()


def test_probability_of_improvement_is_the_reports_with_a_bootstrap_interval(three_policies, three_figures):
    fig = three_figures["probability_of_improvement"]
    for ax, mission in zip(fig.axes, ["tiny_walk", "explore", "all"], strict=True):
        assert ax.get_xlabel() == "P(a > b) + P(a = b)/2"
        bars = errorbars(ax)
        for c in (c for c in three_policies.comparisons if c.mission == mission):
            (point,), ((low, high),) = bars[f"{c.policy_a} vs {c.policy_b}"]
            assert point[0] == pytest.approx(c.probability_of_improvement)
            missions = three_policies.missions if mission == "all" else [mission]
            expected = probability_of_improvement_interval(
                {
                    m: (three_policies.rewards(c.policy_a, m), three_policies.rewards(c.policy_b, m))
                    for m in missions
                },
                confidence=three_policies.confidence,
                n_resamples=three_policies.n_resamples,
                seed=three_policies.seed,
            )
            assert (low, high) == pytest.approx((expected.low, expected.high))
            assert low <= point[0] <= high


def test_performance_profiles_normalise_each_mission_over_all_policies():
    report = ComparisonReport("profiles", n_resamples=200)
    # best tops every mission and worst is at the bottom, on reward scales 100x apart.
    report.add_policy_results("best", {"small": [1.0, 1.0, 1.0], "large": [100.0, 100.0, 100.0]})
    report.add_policy_results("middle", {"small": [0.5, 0.5, 0.5], "large": [50.0, 50.0, 50.0]})
    report.add_policy_results("worst", {"small": [0.0, 0.0, 0.0], "large": [0.0, 0.0, 0.0]})
    ax = comparison_figures(report)["performance_profiles"].axes[0]
    assert "min-max per mission" in ax.get_xlabel()
    assert legend_texts(ax) == ["best", "middle", "worst"]
    lines = {line.get_label(): line for line in ax.get_lines()}
    taus = lines["best"].get_xdata()
    np.testing.assert_array_equal(lines["best"].get_ydata(), np.where(taus < 1.0, 1.0, 0.0))
    np.testing.assert_array_equal(lines["middle"].get_ydata(), np.where(taus < 0.5, 1.0, 0.0))
    np.testing.assert_array_equal(lines["worst"].get_ydata(), np.zeros_like(taus))
    assert len(ax.collections) == 3  # one bootstrap band per policy


def test_one_mission_has_no_performance_profile(three_policies):
    one = ComparisonReport.from_records(
        three_policies.records.query("mission == 'tiny_walk'"), n_resamples=200
    )
    assert set(comparison_figures(one)) == FIGURES - {"performance_profiles"}


def test_an_empty_report_is_refused_with_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no episodes"):
        daf_plot_policy_comparison(ComparisonReport("empty"), tmp_path)
    assert not tmp_path.joinpath("mission_means.png").exists()


def test_a_report_without_pairwise_results_says_so_in_those_figures():
    report = ComparisonReport("alone", n_resamples=200)
    report.add_policy_results("only", {"tiny_walk": [0.1, 0.3, 0.2], "explore": [1.0, 1.5, 1.2]})
    figures = comparison_figures(report)
    for name in ("effect_sizes", "probability_of_improvement"):
        (ax,) = figures[name].axes
        assert "No pairwise comparison" in ax.texts[0].get_text()
    assert legend_texts(figures["mission_means"].axes[0]) == ["only"]


def test_drawing_leaves_the_callers_matplotlib_settings_alone(three_policies):
    before = dict(matplotlib.rcParams)
    comparison_figures(three_policies)
    assert dict(matplotlib.rcParams) == before


def test_a_figure_that_fails_to_render_writes_neither_file_and_keeps_the_old_ones(tmp_path):
    png, svg = style.save_figure(style.notice_figure("old", "the old figure"), tmp_path, "figure")
    old_png, old_svg = png.read_bytes(), svg.read_bytes()
    fig = style.notice_figure("new", "a new figure whose SVG renderer dies")
    real_savefig = fig.savefig

    def svg_renderer_dies(target, format, **kwargs):
        if format == "png":
            return real_savefig(target, format=format, **kwargs)
        target.write(b"half a figure")
        raise RuntimeError("renderer died")

    fig.savefig = svg_renderer_dies
    with pytest.raises(RuntimeError, match="renderer died"):
        style.save_figure(fig, tmp_path, "figure")
    assert (png.read_bytes(), svg.read_bytes()) == (old_png, old_svg)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure.png", "figure.svg"]


@pytest.mark.parametrize("name", ["../outside", "a/b", "", ".hidden"])
def test_a_figure_name_that_is_not_a_plain_file_name_is_refused(tmp_path, name):
    fig = style.notice_figure("t", "m")
    with pytest.raises(ValueError, match="name: .* is not a plain file name"):
        style.save_figure(fig, tmp_path / "plots", name)
    assert not (tmp_path / "plots").exists()
