"""The Markdown leaderboard: ranks by the aggregate asked for, shows its interval, marks ties with the leader.

Hand-made reports give known answers (a policy whose mean and IQM disagree; intervals that overlap or
not); a real comparison on tiny_walk checks the same against what the report computed.
"""

from __future__ import annotations

import re

import pytest

from daf_core.comparison import ComparisonReport
from daf_core.comparison import formatting as fmt
from daf_core.visualization.leaderboard import daf_generate_leaderboard, leaderboard_rows
from tests.visualization.comparison_outputs import MISSION, POLICIES, tiny_walk_comparison

SEEDS = range(8)
# One large outlier: the mean ranks "spiky" first, the interquartile mean ranks "steady" first.
SPIKY = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 50.0]
STEADY = [3.0, 3.5, 4.0, 4.5, 3.0, 3.5, 4.0, 4.5]


def seeded(values):
    return dict(zip(SEEDS, values, strict=True))


def table_rows(markdown: str) -> list[list[str]]:
    """The cells of every body row of the Markdown table (header and rule dropped)."""
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines[2:]]


def policy_column(markdown: str) -> list[str]:
    return [row[1] for row in table_rows(markdown)]


@pytest.fixture(scope="module")
def real_report(tmp_path_factory):
    return tiny_walk_comparison(tmp_path_factory.getbasetemp())


def test_the_aggregate_decides_the_order():
    report = ComparisonReport("outlier")
    report.add_policy_results("spiky", {"m": seeded(SPIKY)})
    report.add_policy_results("steady", {"m": seeded(STEADY)})

    assert policy_column(daf_generate_leaderboard(report, aggregate="mean")) == ["spiky", "steady"]
    assert policy_column(daf_generate_leaderboard(report, aggregate="iqm")) == ["steady", "spiky"]
    assert policy_column(daf_generate_leaderboard(report)) == ["steady", "spiky"]  # IQM by default


def test_scores_and_intervals_are_the_reports_own_across_missions():
    report = ComparisonReport("two missions")
    report.add_policy_results("a", {"m1": seeded(STEADY), "m2": seeded([x + 1 for x in STEADY])})
    report.add_policy_results("b", {"m1": seeded(SPIKY), "m2": seeded([x * 2 for x in SPIKY])})
    overall = {p: report.summary_statistics[p]["overall"] for p in report.policies}

    for aggregate in ("iqm", "mean"):
        rows = table_rows(daf_generate_leaderboard(report, aggregate=aggregate))
        for row in rows:
            stats = overall[row[1]]
            assert row[2] == fmt.number(stats[aggregate])
            assert row[3] == fmt.interval(stats[f"{aggregate}_ci_low"], stats[f"{aggregate}_ci_high"])
            assert (row[4], row[5]) == ("2", "16")


def test_one_mission_ranks_by_that_missions_numbers():
    report = ComparisonReport("one mission")
    report.add_policy_results("a", {"m": seeded(STEADY)})
    report.add_policy_results("b", {"m": seeded(SPIKY)})
    mission = {p: report.summary_statistics[p]["m"] for p in report.policies}

    iqm = {row[1]: row for row in table_rows(daf_generate_leaderboard(report, aggregate="iqm"))}
    mean = {row[1]: row for row in table_rows(daf_generate_leaderboard(report, aggregate="mean"))}
    for policy, stats in mission.items():
        assert iqm[policy][3] == fmt.interval(stats["iqm_ci_low"], stats["iqm_ci_high"])
        assert mean[policy][3] == fmt.interval(stats["ci_low"], stats["ci_high"])  # the mission's t interval
    assert "IQM of episode reward on m, 95% percentile bootstrap CI" in daf_generate_leaderboard(report)


def test_policies_whose_interval_overlaps_the_leaders_are_tied():
    report = ComparisonReport("ties")
    report.add_policy_results("best", {"m": seeded([10.0, 11, 12, 10, 11, 12, 10, 11])})
    report.add_policy_results("close", {"m": seeded([9.5, 10.5, 11.5, 9.5, 10.5, 11.5, 9.5, 10.5])})
    report.add_policy_results("far", {"m": seeded([1.0, 2, 3, 1, 2, 3, 1, 2])})
    rows = {row.policy: row for row in leaderboard_rows(report, "mean")}
    # The premise, from the report's own intervals: close overlaps best, far does not.
    assert rows["close"].ci_high >= rows["best"].ci_low and rows["far"].ci_high < rows["best"].ci_low

    marks = {row[1]: row[6] for row in table_rows(daf_generate_leaderboard(report, aggregate="mean"))}
    assert marks == {"best": "**leader**", "close": "**tied**", "far": ""}


def test_an_undefined_interval_leaves_the_tie_unknown():
    report = ComparisonReport("single episode")
    report.add_policy_results("a", {"m1": {0: 3.0}, "m2": seeded(STEADY)})
    report.add_policy_results("b", {"m1": {0: 1.0}, "m2": seeded(SPIKY)})

    marks = [row[6] for row in table_rows(daf_generate_leaderboard(report, aggregate="mean"))]
    assert marks[0] == "**leader**" and marks[1] == "unknown (interval undefined)"
    assert r"single episode on \['m1'\]" in daf_generate_leaderboard(report, aggregate="mean")  # the note


def test_equal_scores_share_a_rank():
    report = ComparisonReport("equal")
    for policy in ("x", "y", "z"):
        report.add_policy_results(policy, {"m": seeded(STEADY if policy != "z" else SPIKY)})
    ranks = [row[0] for row in table_rows(daf_generate_leaderboard(report, aggregate="iqm"))]
    assert ranks == ["1", "1", "3"]


def test_names_are_escaped_so_the_table_keeps_its_columns():
    report = ComparisonReport("names | with * specials")
    report.add_policy_results("a|b*c", {"m": seeded(STEADY)})
    report.add_policy_results("<em>d</em>", {"m": seeded(SPIKY)})
    markdown = daf_generate_leaderboard(report)

    assert all(len(row) == 7 for row in table_rows(markdown))
    assert r"a\|b\*c" in markdown and r"\<em\>d\</em\>" in markdown and "<em>" not in markdown


def test_written_to_output_path_as_returned(tmp_path):
    report = ComparisonReport("file")
    report.add_policy_results("a", {"m": seeded(STEADY)})
    report.add_policy_results("b", {"m": seeded(SPIKY)})
    target = tmp_path / "boards" / "leaderboard.md"

    markdown = daf_generate_leaderboard(report, output_path=target)

    assert target.read_text() == markdown
    assert [p.name for p in target.parent.iterdir()] == ["leaderboard.md"]  # no temporary file left behind


def test_bad_input_is_refused_by_name():
    report = ComparisonReport("ok")
    report.add_policy_results("a", {"m": seeded(STEADY)})
    with pytest.raises(ValueError, match=r"aggregate: expected one of \['iqm', 'mean'\], got 'median'"):
        daf_generate_leaderboard(report, aggregate="median")
    with pytest.raises(ValueError, match="comparison_report: report 'empty' has no episodes"):
        daf_generate_leaderboard(ComparisonReport("empty"))
    with pytest.raises(ValueError, match="comparison_report: expected a ComparisonReport, got dict"):
        daf_generate_leaderboard({"policies": ["a"]})


def test_one_policy_is_its_own_leader():
    report = ComparisonReport("alone")
    report.add_policy_results("only", {"m": seeded(STEADY)})
    assert table_rows(daf_generate_leaderboard(report))[0][:2] == ["1", "only"]


def test_a_real_comparison_is_ranked_by_its_iqm(real_report):
    markdown = daf_generate_leaderboard(real_report)
    iqm = {p: real_report.summary_statistics[p][MISSION]["iqm"] for p in POLICIES}

    assert sorted(policy_column(markdown)) == sorted(POLICIES)
    assert policy_column(markdown) == sorted(POLICIES, key=lambda p: -iqm[p])
    assert table_rows(markdown)[0][6] == "**leader**"
    # noop scores the same in every episode: its point interval is explained under the table.
    assert "noop: zero variance" in markdown
