"""daf_cross_play and daf_value_over_replacement on real mettagrid episodes, and their argument checks."""

import logging

import pytest

from daf_core.crossplay import CrossPlayReport, daf_cross_play, daf_value_over_replacement


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("episodes", 0, "episodes: must be an integer >= 1, got 0"),
        ("seed", -1, "seed: must be an integer >= 0, got -1"),
        ("max_parallel_jobs", 0, "max_parallel_jobs: must be an integer >= 1, got 0"),
        ("confidence", 1.5, r"confidence: must be a number in \(0, 1\), got 1.5"),
        ("show_progress", "yes", "show_progress: must be True or False, got 'yes'"),
        ("output_dir", 3, "output_dir: expected a path or None, got 3"),
        ("n_resamples", True, "n_resamples: must be an integer >= 1, got True"),
    ],
)
def test_every_setting_is_checked_before_anything_runs(field, value, message):
    with pytest.raises(ValueError, match=message):
        daf_cross_play(["random", "noop"], ["tiny_walk"], **{field: value})
    with pytest.raises(ValueError, match=message):
        daf_value_over_replacement("random", ["tiny_walk"], **{field: value})


def test_policies_missions_and_splits_are_checked():
    with pytest.raises(ValueError, match=r"policies: cross-play needs at least 2 policies, got \['random'\]"):
        daf_cross_play(["random"], ["tiny_walk"])
    with pytest.raises(ValueError, match="splits: '1v3' has 4 agents, mission 'tiny_walk' has 2"):
        daf_cross_play(["random", "noop"], ["tiny_walk"], splits=["1v3"])
    with pytest.raises(ValueError, match="candidate: expected one policy"):
        daf_value_over_replacement(["random", "noop"], ["tiny_walk"])
    with pytest.raises(ValueError, match="replacement: expected one policy"):
        daf_value_over_replacement("random", ["tiny_walk"], replacement=["noop", "random"])


def test_random_agents_score_more_than_noop_agents_whoever_they_play_beside(tmp_path, caplog):
    report = daf_cross_play(
        ["random", "noop"], ["tiny_walk"], episodes=4, output_dir=tmp_path, show_progress=False
    )
    cells = {(c["mission"], c["policy"], c["partner"]): c for c in report.matrix}
    for partner in ("random", "noop"):
        assert (
            cells[("tiny_walk", "random", partner)]["ci_low"]
            > cells[("tiny_walk", "noop", partner)]["ci_high"]
        )
    assert cells[("tiny_walk", "random", "noop")]["n_episodes"] == 4  # 1v1: one lineup, 4 seeds
    assert [r["policy"] for r in report.ratings] == ["random", "noop"]
    assert report.splits == ["1v1"]
    assert CrossPlayReport.load(tmp_path).to_dict() == report.to_dict()
    assert (tmp_path / "evaluation" / "2_agents" / "evaluation.json").is_file()  # the evaluator's files
    with caplog.at_level(logging.INFO, logger="daf_core.evaluation"):
        again = daf_cross_play(
            ["random", "noop"], ["tiny_walk"], episodes=4, output_dir=tmp_path, show_progress=False
        )
    assert "Reusing 12 recorded episodes" in caplog.text  # a rerun resumes: 3 lineups x 4 seeds
    assert again.to_dict() == report.to_dict()


def test_missions_of_different_sizes_are_played_in_their_own_splits():
    """tiny_walk (2 agents) plays 1v1, explore (4 agents) 1v3, 2v2 and 3v1; "all" averages the two."""
    report = daf_cross_play(["random", "noop"], ["tiny_walk", "explore"], episodes=3, show_progress=False)
    assert report.splits == ["1v1", "1v3", "2v2", "3v1"]
    cells = {(c["mission"], c["policy"], c["partner"]): c for c in report.matrix}
    assert cells[("explore", "random", "noop")]["n_episodes"] == 3 * 3
    for mission in ("tiny_walk", "explore", "all"):
        assert cells[(mission, "random", "noop")]["mean"] > cells[(mission, "noop", "random")]["mean"]
    both = (cells[("tiny_walk", "random", "noop")]["mean"] + cells[("explore", "random", "noop")]["mean"]) / 2
    assert cells[("all", "random", "noop")]["mean"] == pytest.approx(both)


def test_random_is_worth_nothing_over_itself():
    report = daf_value_over_replacement("random", ["tiny_walk"], episodes=6, show_progress=False)
    (vor,) = report.value_over_replacement
    assert vor["replacement"] == "random (replacement)"
    assert vor["ci_low"] <= 0.0 <= vor["ci_high"]
    assert [s["split"] for s in vor["splits"]] == ["1v1"]
    assert vor["n_episodes"] == 6 * 2


def test_random_is_worth_more_than_noop_in_every_split():
    report = daf_value_over_replacement(
        "random", ["explore"], episodes=3, replacement="noop", show_progress=False
    )
    (vor,) = report.value_over_replacement
    assert [s["split"] for s in vor["splits"]] == ["1v3", "2v2", "3v1"]
    assert vor["ci_low"] > 0 and all(s["ci_low"] > 0 for s in vor["splits"])
    assert vor["splits"][0]["replacement_mean"] == pytest.approx(0.01)  # noop stays on its first cell


def test_a_round_robin_with_a_replacement_gives_each_policy_the_vor_of_its_own_study():
    """The round robin plays every scenario of value over replacement: the VOR it reports for each
    policy is, number for number, the VOR of the dedicated study on the same seeds."""
    report = daf_cross_play(
        ["random", "noop"], ["explore"], episodes=3, replacement="noop", show_progress=False
    )
    (vor,) = report.value_over_replacement
    alone = daf_value_over_replacement(
        "random", ["explore"], episodes=3, replacement="noop", show_progress=False
    )
    assert vor == alone.value_over_replacement[0]
    assert {r["policy"] for r in report.ratings} == {"random", "noop"}
    with pytest.raises(
        ValueError, match=r"replacement: 'lstm' is not one of the policies \['random', 'noop'\]"
    ):
        daf_cross_play(["random", "noop"], ["explore"], replacement="lstm")


def test_a_comparison_with_cross_play_shows_it_in_its_summary_html_and_leaderboard(tmp_path):
    from rich.console import Console

    from daf_core.comparison import ComparisonReport, daf_compare_policies
    from daf_core.visualization import daf_export_comparison_html, daf_generate_leaderboard

    report = daf_compare_policies(
        ["random", "noop"],
        ["tiny_walk"],
        episodes_per_mission=3,
        cross_play=True,
        replacement="noop",
        output_dir=tmp_path,
        show_progress=False,
    )
    assert [r["policy"] for r in report.cross_play["ratings"]] == ["random", "noop"]
    (vor,) = report.cross_play["value_over_replacement"]
    assert (vor["policy"], vor["replacement"]) == ("random", "noop") and vor["ci_low"] > 0
    assert ComparisonReport.from_dir(tmp_path).cross_play == report.cross_play
    assert (tmp_path / "cross_play" / "cross_play.json").is_file()

    console = Console(record=True, width=100)
    report.print_summary(console)
    assert "Cross-play" in console.export_text()
    board = daf_generate_leaderboard(report)
    assert "| VOR | VOR 95% CI |" in board and "Rank interval" in board
    html = daf_export_comparison_html(report, tmp_path / "report.html").read_text()
    assert 'id="cross-play"' in html and "VOR CI" in html

    with pytest.raises(ValueError, match="replacement: only used with cross_play=True, got 'noop'"):
        daf_compare_policies(["random", "noop"], ["tiny_walk"], replacement="noop")
