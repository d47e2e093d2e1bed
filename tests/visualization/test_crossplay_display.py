"""Cross-play in the comparison report and the leaderboard: the matrix with its intervals, ratings with
rank intervals, value over replacement overall and per split, and nothing at all without cross-play.

The cross-play result is a hand-made dict in the shape ``CrossPlayReport.to_dict()`` writes, set on a
hand-made report, so each number on the page can be checked against the dict it came from. The pages are
written without the report's figures (``comparison_figures`` returns none here): drawing them takes
seconds and they are tests/visualization/test_comparison_plots.py's subject, not this file's.
"""

from __future__ import annotations

import re

import pytest

from daf_core.comparison import formatting as fmt
from daf_core.visualization import comparison_plots
from daf_core.visualization.html_report import daf_export_comparison_html
from daf_core.visualization.leaderboard import daf_generate_leaderboard, leaderboard_rows
from tests.visualization.test_html_report import Page, hand_made
from tests.visualization.test_leaderboard import table_rows

POLICIES = ["lstm", "random", "noop"]


def cell(mission, policy, partner, mean, n=15):
    return {
        "mission": mission,
        "policy": policy,
        "partner": partner,
        "mean": mean,
        "ci_low": mean - 0.5,
        "ci_high": mean + 0.5,
        "n_episodes": n,
    }


def cross_play_result() -> dict:
    means = {("lstm", "lstm"): 3.0, ("lstm", "random"): 2.0, ("lstm", "noop"): 1.5, ("random", "lstm"): 1.0}
    means |= {("random", "random"): 0.5, ("random", "noop"): 0.25, ("noop", "lstm"): 0.0}
    means |= {("noop", "random"): 0.0, ("noop", "noop"): 0.0}
    matrix = [cell("all", p, q, m, n=30) for (p, q), m in means.items()]
    matrix += [cell("explore", p, q, m) for (p, q), m in means.items() if (p, q) != ("noop", "random")]
    return {
        "kind": "cross_play",
        "policies": POLICIES,
        "missions": ["explore", "tiny_walk"],
        "splits": ["1v3", "2v2", "3v1"],
        "episodes": 5,
        "seed": 0,
        "confidence": 0.95,
        "matrix": matrix,
        "ratings": [
            {
                "policy": "lstm",
                "rating": 1.2,
                "ci_low": 0.9,
                "ci_high": 1.5,
                "rank": 1,
                "rank_low": 1,
                "rank_high": 1,
            },
            {
                "policy": "random",
                "rating": 0.1,
                "ci_low": -0.3,
                "ci_high": 0.4,
                "rank": 2,
                "rank_low": 2,
                "rank_high": 3,
            },
            {
                "policy": "noop",
                "rating": -1.3,
                "ci_low": -1.6,
                "ci_high": -0.2,
                "rank": 3,
                "rank_low": 2,
                "rank_high": 3,
            },
        ],
        "value_over_replacement": [
            {
                "policy": "lstm",
                "replacement": "random",
                "vor": 0.8,
                "ci_low": 0.3,
                "ci_high": 1.3,
                "n_episodes": 45,
                "splits": [
                    {
                        "split": s,
                        "candidate_mean": 2.0 + i,
                        "replacement_mean": 1.0 + i,
                        "vor": 1.0,
                        "ci_low": None if s == "3v1" else 0.2,
                        "ci_high": None if s == "3v1" else 1.8,
                    }
                    for i, s in enumerate(["1v3", "2v2", "3v1"])
                ],
            }
        ],
    }


def report(**attributes):
    made = hand_made(
        "cross",
        lstm={"explore": [3, 4, 5, 4, 3, 4], "tiny_walk": [1, 2, 1, 2, 1, 2]},
        random={"explore": [1, 0, 1, 2, 1, 0], "tiny_walk": [0, 1, 0, 1, 0, 1]},
        noop={"explore": [0, 0, 0, 0, 0, 0], "tiny_walk": [0, 0, 0, 0, 0, 0]},
    )
    for name, value in attributes.items():
        setattr(made, name, value)
    return made


@pytest.fixture(scope="module", autouse=True)
def no_figures():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(comparison_plots, "comparison_figures", lambda report: {})
        yield


@pytest.fixture(scope="module")
def page(tmp_path_factory, no_figures):
    path = daf_export_comparison_html(
        report(cross_play=cross_play_result()), tmp_path_factory.mktemp("x") / "r.html"
    )
    return path, Page(path.read_text())


def matrix(parsed, index) -> dict[tuple[str, str], str]:
    """Each (policy, partner) cell's text in the section's ``index``-th matrix."""
    return {
        (row["policy \\ partner"], partner): text
        for row in parsed.table("cross-play", index)
        for partner, text in row.items()
        if partner != "policy \\ partner"
    }


def test_the_cross_play_matrix_shows_every_cell_with_its_interval_pooled_and_per_mission(page):
    _, parsed = page
    data = cross_play_result()
    pooled = matrix(parsed, 0)
    for c in (c for c in data["matrix"] if c["mission"] == "all"):
        assert (
            pooled[(c["policy"], c["partner"])]
            == f"{fmt.number(c['mean'])} {fmt.interval(c['ci_low'], c['ci_high'])}"
        )
    explore = matrix(parsed, 1)
    assert explore[("noop", "random")] == "not played" and explore[("lstm", "noop")] == "1.5 [1, 2]"
    text = parsed.all_text()
    assert "Cross-play matrix" in text and "All missions pooled" in text and "Mission explore" in text
    tips = [tip for _, tip in parsed.with_attribute("data-tip") if tip.startswith("lstm beside lstm")]
    assert tips == [
        "lstm beside lstm (self-play)\nmean 3, CI [2.5, 3.5]\nn = 30 episodes",
        "lstm beside lstm (self-play)\nmean 3, CI [2.5, 3.5]\nn = 15 episodes",
    ]


def test_ratings_show_their_interval_and_rank_interval(page):
    _, parsed = page
    rows = {row["Policy"]: row for row in parsed.table("cross-play", 2)}
    assert rows["lstm"] == {
        "Rank": "1",
        "Policy": "lstm",
        "Rating": "1.2",
        "Rating 95% CI": "[0.9, 1.5]",
        "Rank 95% interval": "1",
    }
    assert rows["noop"]["Rank 95% interval"] == "2-3" and rows["random"]["Rating 95% CI"] == "[-0.3, 0.4]"


def test_value_over_replacement_shows_overall_and_each_split(page):
    _, parsed = page
    (overall,) = parsed.table("cross-play", 3)
    assert overall == {
        "Policy": "lstm",
        "Replacement": "random",
        "VOR": "+0.8",
        "VOR 95% CI": "[0.3, 1.3]",
        "Episodes": "45",
    }
    splits = {row["Split"]: row for row in parsed.table("cross-play", 4)}
    assert list(splits) == ["1v3", "2v2", "3v1"]
    assert splits["2v2"]["Candidate mean"] == "3" and splits["2v2"]["Replacement mean"] == "2"
    assert splits["1v3"]["VOR 95% CI"] == "[0.2, 1.8]" and splits["3v1"]["VOR 95% CI"] == "n/a"


def test_the_leaderboards_show_each_policys_rating_beside_its_score(page):
    _, parsed = page
    html_rows = {row["Policy"]: row for row in parsed.table("leaderboard")}
    assert (html_rows["random"]["Rating"], html_rows["random"]["Rating CI"]) == ("0.1", "[-0.3, 0.4]")
    assert html_rows["noop"]["Rank interval"] == "2-3"

    markdown = daf_generate_leaderboard(report(cross_play=cross_play_result()))
    assert "| Rating | Rating 95% CI | Rank interval |" in markdown
    by_policy = {row[1]: row for row in table_rows(markdown)}
    assert by_policy["lstm"][-5:-2] == ["1.2", "[0.9, 1.5]", "1"]
    # Value over replacement beside it, for the policies that have one.
    assert "| VOR | VOR 95% CI |" in markdown and by_policy["lstm"][-2:] == ["+0.8", "[0.3, 1.3]"]


def test_a_policy_the_cross_play_did_not_rate_says_so():
    data = cross_play_result() | {"ratings": cross_play_result()["ratings"][:1]}
    rows = {row.policy: row for row in leaderboard_rows(report(cross_play=data))}
    assert rows["lstm"].rating["rating"] == 1.2 and rows["noop"].rating is None
    by_policy = {row[1]: row for row in table_rows(daf_generate_leaderboard(report(cross_play=data)))}
    assert by_policy["noop"][-3:] == ["n/a", "n/a", "n/a"]


def test_empty_ratings_and_vor_are_said_to_be_missing(tmp_path):
    data = cross_play_result() | {"ratings": [], "value_over_replacement": []}
    text = Page(
        daf_export_comparison_html(report(cross_play=data), tmp_path / "r.html").read_text()
    ).all_text()
    assert "No ratings in this cross-play result." in text
    assert "No value-over-replacement estimates in this cross-play result." in text
    assert "Rating CI" not in text  # the leaderboard has no rating columns


def test_without_cross_play_nothing_changes(tmp_path):
    def without_timestamps(path):
        return re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+(\+\d\d:\d\d|Z)?", "", path.read_text())

    plain = daf_export_comparison_html(report(), tmp_path / "plain.html")
    none = daf_export_comparison_html(report(cross_play=None), tmp_path / "none.html")
    assert without_timestamps(plain) == without_timestamps(none)
    assert 'id="cross-play"' not in plain.read_text()
    assert daf_generate_leaderboard(report()) == daf_generate_leaderboard(report(cross_play=None))
    assert "Rating" not in daf_generate_leaderboard(report(cross_play=None))


def test_a_cross_play_result_of_another_shape_is_refused(tmp_path):
    broken = {k: v for k, v in cross_play_result().items() if k != "matrix"}
    with pytest.raises(ValueError, match=r"cross_play: missing keys \['matrix'\]"):
        daf_export_comparison_html(report(cross_play=broken), tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_the_cross_play_page_renders_in_a_browser_without_errors(page):
    from tests.visualization.test_browser import (
        CHROMIUM,
        CHROMIUM_ARGS,
        DESKTOP,
        open_offline,
        skip_without_browser,
    )

    skip_without_browser()
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    path, _ = page
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context, view, _, refused, errors = open_offline(browser, path, DESKTOP)
            target = view.locator('#cross-play td[data-policy="lstm"][data-partner="random"]').first
            target.hover()
            assert "lstm beside random" in view.locator("#tip").inner_text()
            assert view.locator("#cross-play table.heatmap").count() == 2
            context.close()
        finally:
            browser.close()
    assert errors == [] and refused == []
