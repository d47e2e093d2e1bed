"""The report's statistics, settings, files and printed tables (hand-made rewards, and one real run)."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import re

import numpy as np
import pytest
from mettagrid.policy.policy import PolicySpec
from rich.console import Console

from daf_core.comparison import ComparisonReport, PolicyComparisonResult, daf_compare_policies
from daf_core.missions import load_mission
from daf_core.stats import PairwiseTest, compare_across_missions

SEEDED = {
    "a": {"m1": {0: 3.0, 1: 4.5, 2: 5.0, 3: 6.0, 4: 2.0}, "m2": {0: 30.0, 1: 45.0, 2: 50.0, 3: 62.0}},
    "b": {"m1": {0: 1.0, 1: 4.0, 2: 3.0, 3: 4.5, 4: 2.5}, "m2": {0: 10.0, 1: 40.0, 2: 35.0, 3: 61.0}},
}


def seeded_report(**kwargs) -> ComparisonReport:
    report = ComparisonReport("seeded", **kwargs)
    for policy, rewards in SEEDED.items():
        report.add_policy_results(policy, rewards)
    return report


def brute_force_poi(a, b):
    wins = sum(1.0 if x > y else 0.5 if x == y else 0.0 for x in a for y in b)
    return wins / (len(a) * len(b))


# ---------------------------------------------------------------------------------------------------
# Settings: checked when the report is built, and each one changes what it names
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("confidence", 1.5),
        ("confidence", 0.0),
        ("confidence", 1.0),
        ("confidence", float("nan")),
        ("confidence", "0.95"),
        ("confidence", True),
        ("n_resamples", 0),
        ("n_resamples", -5),
        ("n_resamples", 2.5),
        ("n_resamples", True),
        ("seed", -1),
        ("seed", 1.5),
        ("significance_level", 1.5),
        ("baseline", ""),
    ],
)
def test_report_settings_are_refused_when_the_report_is_built(setting, value):
    with pytest.raises(ValueError, match=rf"{setting}.*{re.escape(repr(value))}"):
        ComparisonReport("bad", **{setting: value})


def test_confidence_sets_the_level_of_every_interval():
    wide, narrow = seeded_report(confidence=0.95), seeded_report(confidence=0.5)
    for key in ("ci", "iqm_ci"):
        w, n = wide.summary_statistics["a"]["m1"], narrow.summary_statistics["a"]["m1"]
        assert n[f"{key}_high"] - n[f"{key}_low"] < w[f"{key}_high"] - w[f"{key}_low"]
    for w, n in zip(wide.comparisons, narrow.comparisons, strict=True):
        assert n.mean_diff_ci_high - n.mean_diff_ci_low < w.mean_diff_ci_high - w.mean_diff_ci_low
        assert (n.confidence, w.confidence) == (0.5, 0.95)
    assert (
        narrow.summary_statistics["a"]["overall"]["mean_ci_high"]
        < wide.summary_statistics["a"]["overall"]["mean_ci_high"]
    )


def test_n_resamples_and_seed_drive_the_bootstraps_and_the_permutation_test():
    rng = np.random.default_rng(0)
    rewards = {
        p: {m: {s: float(v) for s, v in enumerate(rng.exponential(1.0 + i, 12))} for m in ("m1", "m2")}
        for i, p in enumerate("ab")
    }

    def noisy_report(**kwargs) -> ComparisonReport:
        report = ComparisonReport("noisy", **kwargs)
        for policy, per_mission in rewards.items():
            report.add_policy_results(policy, per_mission)
        return report

    base = noisy_report(n_resamples=500, seed=1)
    fewer = noisy_report(n_resamples=400, seed=1)
    reseeded = noisy_report(n_resamples=500, seed=2)
    m1 = [r.summary_statistics["a"]["m1"]["iqm_ci_low"] for r in (base, fewer, reseeded)]
    overall = [r.summary_statistics["a"]["overall"]["iqm_ci_low"] for r in (base, fewer, reseeded)]
    aggregate = [r.comparisons[-1].p_value_nonparametric for r in (base, fewer, reseeded)]
    for values in (m1, overall, aggregate):
        assert values[0] != values[1] and values[0] != values[2]
    assert base.comparisons[-1].test_name == "stratified_t"
    assert noisy_report(n_resamples=500, seed=1).summary_statistics == base.summary_statistics


# ---------------------------------------------------------------------------------------------------
# What the statistics are
# ---------------------------------------------------------------------------------------------------


def test_probability_of_improvement_is_over_all_pairs_and_averaged_over_missions():
    results = {r.mission: r for r in seeded_report().comparisons}
    per_mission = {}
    for mission in ("m1", "m2"):
        a, b = list(SEEDED["a"][mission].values()), list(SEEDED["b"][mission].values())
        assert results[mission].paired
        per_mission[mission] = brute_force_poi(a, b)
        assert results[mission].probability_of_improvement == pytest.approx(per_mission[mission])
        wins = np.mean([1.0 if x > y else 0.5 if x == y else 0.0 for x, y in zip(a, b, strict=True)])
        assert results[mission].paired_win_rate == pytest.approx(wins)
    assert results["m1"].probability_of_improvement != pytest.approx(results["m1"].paired_win_rate)
    assert results["all"].probability_of_improvement == pytest.approx(np.mean(list(per_mission.values())))


def test_the_aggregate_weighs_every_mission_the_same():
    report = seeded_report()
    aggregate = report.comparisons[-1]
    strata = {m: (report.rewards("a", m), report.rewards("b", m), True) for m in ("m1", "m2")}
    expected = compare_across_missions(strata, names=("a", "b"), n_resamples=2000, seed=0)
    assert aggregate.mission == "all" and aggregate.test_name == "stratified_t"
    assert aggregate.mean_diff == pytest.approx(np.mean([x.mean() - y.mean() for x, y, _ in strata.values()]))
    assert aggregate.avg_reward_a == pytest.approx(report.summary_statistics["a"]["overall"]["mean"])
    assert (aggregate.p_value, aggregate.mean_diff_ci_low, aggregate.mean_diff_ci_high) == pytest.approx(
        (expected.p_value, expected.mean_diff_ci_low, expected.mean_diff_ci_high)
    )


def test_summary_intervals_are_the_t_interval_and_the_iqm_bootstrap():
    stats = seeded_report().summary_statistics["a"]
    m1 = stats["m1"]
    assert (m1["ci_method"], m1["iqm_ci_method"]) == ("student_t", "percentile")
    assert m1["iqm_ci_low"] < m1["iqm"] < m1["iqm_ci_high"]
    values = list(SEEDED["a"]["m1"].values())
    sd = np.std(values, ddof=1)
    half = 2.7764451051977987 * sd / math.sqrt(5)  # t_{0.975, 4}
    assert (m1["ci_low"], m1["ci_high"]) == pytest.approx((np.mean(values) - half, np.mean(values) + half))
    assert stats["overall"]["mean_ci_method"] == "welch_satterthwaite_t"
    assert stats["overall"]["iqm_ci_low"] <= stats["overall"]["iqm"] <= stats["overall"]["iqm_ci_high"]


# ---------------------------------------------------------------------------------------------------
# The result type and the files
# ---------------------------------------------------------------------------------------------------


def test_a_comparison_result_is_the_stats_result_under_the_reference_names():
    result = seeded_report().comparisons[0]
    assert isinstance(result, PairwiseTest)
    # No field of its own: every number lives once, in the stats result.
    assert [f.name for f in dataclasses.fields(PolicyComparisonResult)] == [
        f.name for f in dataclasses.fields(PairwiseTest)
    ]
    assert (result.policy_a_name, result.policy_b_name) == (result.policy_a, result.policy_b) == ("a", "b")
    assert (result.avg_reward_a, result.avg_reward_b) == (result.mean_a, result.mean_b)
    assert result.is_significant is result.significant
    assert (result.p_value_adjusted, result.significance_level) == (result.p_adjusted, result.alpha)
    assert (result.effect_size_ci_low, result.effect_size_ci_high) == (
        result.effect_ci_low,
        result.effect_ci_high,
    )
    assert result.summary_string().startswith("m1: a vs b: ")


def test_report_json_round_trips_in_format_version_2(tmp_path):
    report = seeded_report()
    report.save_json(tmp_path / "report.json")
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["format_version"] == 2
    assert set(saved["comparisons"][0]) == {f.name for f in dataclasses.fields(PairwiseTest)}
    loaded = ComparisonReport.load_json(tmp_path / "report.json")
    assert loaded.comparisons == report.comparisons
    assert loaded.summary_statistics == report.summary_statistics


def test_a_version_1_report_is_refused_with_a_way_forward(tmp_path):
    saved = seeded_report().to_dict()
    saved["format_version"] = 1
    (tmp_path / "old.json").write_text(json.dumps(saved))
    with pytest.raises(
        ValueError, match=r"format_version.*reads comparison reports of version 2, got 1.*from_records"
    ):
        ComparisonReport.load_json(tmp_path / "old.json")


# ---------------------------------------------------------------------------------------------------
# print_summary in an 80-column terminal
# ---------------------------------------------------------------------------------------------------


def num(value) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def interval(low, high) -> str:
    return "n/a" if low is None or high is None else f"[{num(low)}, {num(high)}]"


def p_text(value) -> str:
    return "n/a" if value is None else f"{value:.2g}" if value < 1e-3 else f"{value:.3f}"


def printed_at_80_columns(report: ComparisonReport) -> list[str]:
    console = Console(width=80, file=io.StringIO(), record=True)
    report.print_summary(console)
    return console.export_text().splitlines()


def assert_on_one_line(lines: list[str], cells: list[str]) -> None:
    """The cells appear in order on a single line: the row was not wrapped, nor any cell in it."""
    pattern = re.compile(r"(?:^|\s)" + r"\s+".join(re.escape(c) for c in cells) + r"(?:\s|$)")
    assert any(pattern.search(line) for line in lines), f"no single line holds {cells}"


def assert_readable_at_80_columns(report: ComparisonReport) -> None:
    lines = printed_at_80_columns(report)
    too_long = [line for line in lines if len(line) > 80]
    assert not too_long, too_long
    assert not any("…" in line for line in lines)  # nothing truncated either
    for policy, per_mission in report.summary_statistics.items():
        assert any(line.strip() == policy for line in lines)  # the policy's heading row
        for mission, s in per_mission.items():
            if mission == "overall":
                if s["missions"] > 1:
                    assert_on_one_line(
                        lines,
                        ["overall", str(s["episodes"]), num(s["mean"]),
                         interval(s["mean_ci_low"], s["mean_ci_high"]), num(s["iqm"]),
                         interval(s["iqm_ci_low"], s["iqm_ci_high"])],
                    )  # fmt: skip
                continue
            assert_on_one_line(
                lines,
                [mission, str(s["n"]), num(s["mean"]), interval(s["ci_low"], s["ci_high"]), num(s["iqm"]),
                 interval(s["iqm_ci_low"], s["iqm_ci_high"]), num(s["std"])],
            )  # fmt: skip
    for c in report.comparisons:
        assert any(line.strip() == f"{c.policy_a_name} vs {c.policy_b_name}" for line in lines)
        verdict = "no test" if c.p_value is None else "n.s." if not c.is_significant else (
            "a better" if c.mean_diff > 0 else "b better"
        )  # fmt: skip
        effect = {"hedges_g": "g", "cohens_dz": "dz", "mean_hedges_g": "g", "mean_cohens_dz": "dz"}
        assert_on_one_line(
            lines,
            [c.mission, f"{c.mean_diff:+.3g}", interval(c.mean_diff_ci_low, c.mean_diff_ci_high),
             f"{effect[c.effect_size_name]} {num(c.effect_size)}", f"{c.probability_of_improvement:.2f}",
             p_text(c.p_value), p_text(c.p_value_adjusted), verdict],
        )  # fmt: skip
        if c.is_significant:
            assert any(f"{c.better_policy} better on" in line for line in lines)


@pytest.fixture(scope="module")
def real_report() -> ComparisonReport:
    """Three policies on two missions, real episodes; vibe actions enabled so ``vibe_action_p`` matters."""
    missions = []
    for name, mission in (("walk", "tiny_walk"), ("explore", "explore")):
        env_cfg = load_mission(mission)
        env_cfg.game.actions.change_vibe.enabled = True
        missions.append((name, env_cfg))
    policies = {
        "random": "random",
        "noop": "noop",
        "mostly_vibing": PolicySpec(class_path="random", init_kwargs={"vibe_action_p": 0.9}),
    }
    return daf_compare_policies(policies, missions, episodes_per_mission=5, show_progress=False)


def test_print_summary_of_a_real_report_fits_80_columns(real_report):
    assert len(real_report.policies) == 3 and len(real_report.missions) == 2
    assert len(real_report.comparisons) == 9  # 3 pairs x (2 missions + all)
    assert any(c.is_significant for c in real_report.comparisons)
    assert_readable_at_80_columns(real_report)


def test_print_summary_with_degenerate_rows_and_longer_names_fits_80_columns():
    rng = np.random.default_rng(3)
    report = ComparisonReport("mixed")
    for shift, policy in enumerate(["trained", "untrained", "random"]):
        report.add_policy_results(
            policy,
            {
                "explore_large": {s: float(v) for s, v in enumerate(rng.normal(20 + 3 * shift, 3.0, 6))},
                "tiny_walk": list(rng.normal(0.4 - 0.1 * shift, 0.05, 5)),
                "unsolved": [0.0, 0.0, 0.0],
                "lonely": [float(shift)],
            },
        )
    comparisons = report.comparisons
    assert any(c.p_value is None for c in comparisons) and any(c.effect_size is None for c in comparisons)
    assert report.summary_statistics["random"]["overall"]["mean_ci_low"] is None  # one-episode mission
    assert_readable_at_80_columns(report)
