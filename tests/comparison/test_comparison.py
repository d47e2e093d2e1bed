"""Policy comparison reports, ablations and benchmark suites.

The first half builds reports from hand-made rewards with known answers and checks every number against
``daf_core.stats`` directly; the second half runs real mettagrid episodes (tiny missions, few episodes).
"""

from __future__ import annotations

import dataclasses
import io
import json

import numpy as np
import pandas as pd
import pytest
from mettagrid.policy.lstm import LSTMPolicy
from mettagrid.policy.policy import PolicySpec
from mettagrid.policy.policy_env_interface import PolicyEnvInterface
from rich.console import Console

from daf_core.comparison import (
    BENCHMARK_SUITES,
    BenchmarkSuite,
    ComparisonReport,
    PolicyComparisonResult,
    ablation_variant,
    daf_benchmark_suite,
    daf_compare_policies,
    daf_policy_ablation,
)
from daf_core.config import DAFComparisonConfig
from daf_core.evaluation import load_records, resolve_policy
from daf_core.missions import BUILTIN_MISSIONS, load_mission, save_mission
from daf_core.orchestrators import daf_compare_from_config
from daf_core.stats import compare_across_missions, compare_samples, holm_bonferroni

# Welch's t-test gives p = 0.034 for these two samples: significant at 0.05, not at 0.01.
STRONGER = [3.0, 4.0, 5.0, 6.0, 7.0, 5.5]
WEAKER = [1.0, 2.5, 3.0, 4.5, 5.0, 2.0]


def strict_json_roundtrip(report: ComparisonReport, path) -> dict:
    """Save, then parse refusing NaN/Infinity - what any other JSON reader would do."""
    report.save_json(path)

    def refuse(constant):
        raise AssertionError(f"non-finite number {constant} in report JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def by_key(results: list[PolicyComparisonResult]) -> dict[tuple[str, str, str], PolicyComparisonResult]:
    return {(r.mission, r.policy_a_name, r.policy_b_name): r for r in results}


# ---------------------------------------------------------------------------------------------------
# Reports from known rewards
# ---------------------------------------------------------------------------------------------------


def test_a_comparison_carries_exactly_what_stats_compare_samples_computes():
    report = ComparisonReport("known")
    report.add_policy_results("strong", {"explore": STRONGER})
    report.add_policy_results("weak", {"explore": WEAKER})

    [result] = report.compute_pairwise_comparisons()
    expected = compare_samples(STRONGER, WEAKER, names=("strong", "weak"), mission="explore")

    assert (result.policy_a_name, result.policy_b_name, result.mission) == ("strong", "weak", "explore")
    assert result.avg_reward_a == pytest.approx(np.mean(STRONGER))
    assert result.avg_reward_b == pytest.approx(np.mean(WEAKER))
    assert result.test_name == "welch_t" and not result.paired  # lists carry no seeds: unpaired
    assert result.p_value == pytest.approx(expected.p_value)
    assert result.p_value_adjusted == pytest.approx(expected.p_value)  # a family of one
    assert result.nonparametric_test == "mann_whitney_u"
    assert result.p_value_nonparametric == pytest.approx(expected.p_value_nonparametric)
    assert result.effect_size_name == "hedges_g"
    assert result.effect_size == pytest.approx(expected.effect_size)
    assert (result.effect_size_ci_low, result.effect_size_ci_high) == pytest.approx(
        (expected.effect_ci_low, expected.effect_ci_high)
    )
    assert result.probability_of_improvement == pytest.approx(expected.probability_of_improvement)
    assert (result.mean_diff_ci_low, result.mean_diff_ci_high) == pytest.approx(
        (expected.mean_diff_ci_low, expected.mean_diff_ci_high)
    )
    assert "unpaired: episode seeds unknown" in result.note


def test_episodes_are_paired_exactly_when_both_policies_have_the_same_seeds():
    report = ComparisonReport("pairing")
    # Seeds given out of order: pairing must match seed to seed, not position to position.
    report.add_policy_results(
        "a", {"same_seeds": {2: 5.0, 0: 3.0, 1: 4.5, 3: 6.0}, "other_seeds": {0: 1.0, 1: 2.0}}
    )
    report.add_policy_results(
        "b", {"same_seeds": {0: 1.0, 1: 4.0, 2: 3.0, 3: 4.5}, "other_seeds": {5: 1.5, 6: 0.5}}
    )

    results = by_key(report.compute_pairwise_comparisons())
    paired = results[("same_seeds", "a", "b")]
    expected = compare_samples([3.0, 4.5, 5.0, 6.0], [1.0, 4.0, 3.0, 4.5], paired=True)
    assert (
        paired.paired
        and paired.test_name == "paired_t"
        and paired.nonparametric_test == "wilcoxon_signed_rank"
    )
    assert paired.effect_size_name == "cohens_dz"
    assert paired.p_value == pytest.approx(expected.p_value)
    assert paired.effect_size == pytest.approx(expected.effect_size)

    unpaired = results[("other_seeds", "a", "b")]
    assert not unpaired.paired and unpaired.test_name == "welch_t"
    assert "not run on the same seeds" in unpaired.note


def test_holm_correction_runs_over_every_pair_and_mission_together():
    rng = np.random.default_rng(0)
    report = ComparisonReport("family")
    for shift, policy in enumerate(["p0", "p1", "p2"]):
        report.add_policy_results(
            policy,
            {
                mission: {s: float(v) for s, v in enumerate(rng.normal(shift, 1.0, 8))}
                for mission in ("m1", "m2")
            },
        )

    results = report.compute_pairwise_comparisons(significance_level=0.05)

    # 3 pairs x (2 missions + the aggregate across missions) = 9 tests in one family.
    assert len(results) == 9
    assert {r.mission for r in results} == {"m1", "m2", "all"}
    adjusted, reject = holm_bonferroni([r.p_value for r in results], alpha=0.05)
    assert [r.p_value_adjusted for r in results] == pytest.approx(adjusted)
    assert [r.is_significant for r in results] == reject
    # Holm only ever raises p-values.
    assert all(r.p_value_adjusted >= r.p_value for r in results)

    # The aggregate pairs episodes on (mission, seed) and weighs every mission the same: the stratified
    # comparison of the per-mission samples, not a test on the episodes pooled across missions.
    aggregate = by_key(results)[("all", "p0", "p2")]
    strata = {m: (report.rewards("p0", m), report.rewards("p2", m), True) for m in ("m1", "m2")}
    assert aggregate.paired and "paired on (mission, seed)" in aggregate.note
    assert aggregate.p_value == pytest.approx(compare_across_missions(strata).p_value)


def test_the_configured_significance_level_decides_significance():
    report = ComparisonReport("level")
    report.add_policy_results("strong", {"explore": STRONGER})
    report.add_policy_results("weak", {"explore": WEAKER})

    [at_5] = report.compute_pairwise_comparisons(significance_level=0.05)
    assert 0.01 < at_5.p_value < 0.05
    assert at_5.is_significant and at_5.better_policy == "strong"
    assert at_5.summary_string().endswith("-> strong better, significant at 0.05")

    [at_1] = report.compute_pairwise_comparisons(significance_level=0.01)
    assert not at_1.is_significant and at_1.better_policy is None
    assert at_1.summary_string().endswith("-> no significant difference at 0.01")
    assert report.significance_level == 0.01  # and it is what the saved report says it used

    with pytest.raises(ValueError, match="significance_level.*1.5"):
        report.compute_pairwise_comparisons(significance_level=1.5)


def test_identical_policies_are_reported_as_no_significant_difference():
    report = ComparisonReport("twins")
    report.add_policy_results("a", {"explore": {0: 1.0, 1: 2.0, 2: 3.0}})
    report.add_policy_results("b", {"explore": {0: 1.0, 1: 2.0, 2: 3.0}})

    [result] = report.compute_pairwise_comparisons()
    assert result.p_value == 1.0 and result.effect_size == 0.0 and not result.is_significant
    assert "no significant difference at 0.05" in result.summary_string()


def test_zero_variance_and_single_episodes_never_leak_nan(tmp_path):
    report = ComparisonReport("degenerate")
    report.add_policy_results("always_one", {"flat": [1.0, 1.0, 1.0], "lonely": [2.0]})
    report.add_policy_results("always_zero", {"flat": [0.0, 0.0, 0.0], "lonely": [1.0]})

    results = by_key(report.compute_pairwise_comparisons())
    flat = results[("flat", "always_one", "always_zero")]
    # Two different constants: t is infinite, so the exact Mann-Whitney p-value is used and said so.
    assert flat.test_name == "mann_whitney_u" and flat.effect_size is None
    assert "exact Mann-Whitney" in flat.note
    lonely = results[("lonely", "always_one", "always_zero")]
    assert lonely.p_value is None and lonely.p_value_adjusted is None and not lonely.is_significant
    assert "too few samples" in lonely.note
    assert "no test possible" in lonely.summary_string()

    stats = report.summary_statistics["always_one"]
    assert (
        stats["flat"]["ci_low"] == stats["flat"]["ci_high"] == 1.0
        and "zero variance" in stats["flat"]["note"]
    )
    assert stats["lonely"]["note"] == "single sample, no interval"

    saved = strict_json_roundtrip(report, tmp_path / "report.json")
    assert saved["comparisons"][0]["effect_size"] is None


def test_a_saved_report_loads_back_with_its_numbers_and_raw_episodes(tmp_path):
    report = ComparisonReport("roundtrip", seed=3)
    report.add_policy_results("strong", {"m1": {0: 3.0, 1: 4.0, 2: 5.5}, "m2": STRONGER})
    report.add_policy_results("weak", {"m1": {0: 1.0, 1: 2.5, 2: 3.0}, "m2": WEAKER})
    report.compute_pairwise_comparisons(significance_level=0.1)

    saved = strict_json_roundtrip(report, tmp_path / "report.json")
    assert saved["metadata"]["significance_level"] == 0.1 and saved["metadata"]["seed"] == 3
    assert len(saved["episodes"]) == 2 * (3 + 6)  # the raw data travels with the summary

    loaded = ComparisonReport.load_json(tmp_path / "report.json")
    assert loaded.comparisons == report.comparisons
    assert loaded.summary_statistics == report.summary_statistics
    pd.testing.assert_frame_equal(loaded.records, report.records)
    assert loaded.rewards("strong", "m1").tolist() == [3.0, 4.0, 5.5]

    with pytest.raises(FileNotFoundError):
        ComparisonReport.load_json(tmp_path / "missing.json")


def test_summary_statistics_describe_each_mission_and_the_aggregate():
    report = ComparisonReport("summary")
    report.add_policy_results("p", {"m1": [1.0, 2.0, 3.0, 4.0], "m2": [10.0, 10.0, 10.0, 14.0]})

    stats = report.summary_statistics["p"]
    assert stats["m1"]["mean"] == 2.5 and stats["m1"]["iqm"] == 2.5 and stats["m1"]["n"] == 4
    assert stats["m1"]["ci_low"] < 2.5 < stats["m1"]["ci_high"]
    overall = stats["overall"]
    assert overall["mean"] == pytest.approx((2.5 + 11.0) / 2)  # mean of per-mission means
    assert overall["mean_ci_low"] <= overall["mean"] <= overall["mean_ci_high"]
    assert overall["missions"] == 2 and overall["episodes"] == 8


def test_print_summary_shows_statistics_and_verdicts():
    report = ComparisonReport("printed")
    report.add_policy_results("strong", {"explore": STRONGER})
    report.add_policy_results("weak", {"explore": WEAKER})
    buffer = io.StringIO()

    report.print_summary(Console(file=buffer, width=200))

    text = buffer.getvalue()
    assert "strong vs weak" in text and "strong better" in text and "Welch" in text
    assert "unpaired: episode seeds unknown" in text


@pytest.mark.parametrize(
    ("policy", "rewards", "message"),
    [
        ("p", {"m": [1.0, float("nan")]}, "finite"),
        ("p", {"m": []}, "no rewards"),
        ("p", {}, "mission_rewards"),
        ("p", {"all": [1.0]}, "reserved"),
        ("p", {"m": {"seed0": 1.0}}, "seeds must be integers"),
        ("", {"m": [1.0]}, "policy_name"),
        ("existing", {"m": [1.0]}, "already has results"),
    ],
)
def test_bad_results_are_refused_with_the_argument_named(policy, rewards, message):
    report = ComparisonReport("bad")
    report.add_policy_results("existing", {"m": [1.0, 2.0]})
    with pytest.raises(ValueError, match=message):
        report.add_policy_results(policy, rewards)
    assert len(report.records) == 2  # nothing half-added


# ---------------------------------------------------------------------------------------------------
# Real episodes
# ---------------------------------------------------------------------------------------------------


def test_random_beats_noop_on_tiny_walk_and_the_report_is_saved_beside_its_episodes(tmp_path):
    report = daf_compare_policies(
        ["random", "noop"], ["tiny_walk"], episodes_per_mission=6, output_dir=tmp_path, show_progress=False
    )

    [result] = report.comparisons
    assert result.paired  # common random numbers: both policies played seeds 0..5
    assert result.is_significant and result.better_policy == "random"
    assert result.avg_reward_b == pytest.approx(0.02)  # noop: 2 agents x 1 visited cell x 0.01
    assert "random better, significant at 0.05" in result.summary_string()

    assert {"report.json", "episodes.parquet", "episodes.csv"} <= {p.name for p in tmp_path.iterdir()}
    episodes = load_records(tmp_path / "episodes.parquet")
    assert len(episodes) == 12 and "agent_rewards" in episodes  # every column the evaluator recorded
    # The rewards summarised are the environment's, nothing else.
    random_rewards = episodes.query("policy == 'random'")["reward"]
    assert report.summary_statistics["random"]["tiny_walk"]["mean"] == pytest.approx(random_rewards.mean())

    again = ComparisonReport.from_dir(tmp_path)
    assert again.comparisons == report.comparisons
    assert again.metadata["policy_specs"]["random"]["class_path"].endswith("RandomMultiAgentPolicy")
    assert (
        ComparisonReport.load_json(tmp_path / "report.json").summary_statistics == report.summary_statistics
    )


def test_policy_specs_and_mission_configs_are_accepted_as_in_the_reference_example():
    env_cfg = load_mission("tiny_walk", max_steps=50)
    policies = [PolicySpec(class_path="random"), PolicySpec(class_path="mettagrid.policy.noop.NoopPolicy")]

    report = daf_compare_policies(
        policies, [("short_walk", env_cfg)], episodes_per_mission=3, show_progress=False
    )

    assert report.policies == ["random", "NoopPolicy"]  # PolicySpec.name
    assert report.missions == ["short_walk"]
    assert set(report.records["steps"]) == {50}


def test_comparison_from_config_uses_its_seed_level_and_output_dir(tmp_path):
    config = DAFComparisonConfig(
        name="cfg_run",
        policies=["random", "noop"],
        missions=["tiny_walk"],
        episodes_per_mission=3,
        seed=11,
        significance_level=0.01,
        output_dir=tmp_path,
        generate_html_report=False,
    )

    report = daf_compare_from_config(config, show_progress=False)

    assert sorted(set(report.records["seed"])) == [11, 12, 13]
    saved = json.loads((tmp_path / "cfg_run" / "report.json").read_text())
    assert saved["metadata"]["significance_level"] == 0.01 and saved["metadata"]["name"] == "cfg_run"


def test_comparison_from_config_stops_when_decided_and_plays_cross_play(tmp_path):
    config = DAFComparisonConfig(
        name="cfg_sequential",
        policies=["random", "noop"],
        missions=["tiny_walk"],
        episodes_per_mission=20,
        stop_when="decided",
        round_episodes=4,
        cross_play=True,
        cross_play_splits=["1v1"],
        cross_play_replacement="noop",
        output_dir=tmp_path,
        generate_html_report=False,
    )

    report = daf_compare_from_config(config, show_progress=False)

    sequential = report.metadata["sequential"]
    assert sequential["design"]["looks"] == [4, 8, 12, 16, 20] and sequential["episodes_used"] < 20
    assert report.comparisons[0].sequential["decision"] == "better"
    assert report.cross_play["splits"] == ["1v1"]
    assert report.cross_play["value_over_replacement"][0]["replacement"] == "noop"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"max_episodes": 10}, "max_episodes: only used with stop_when: decided, got 10"),
        ({"round_episodes": 3}, "round_episodes: only used with stop_when: decided, got 3"),
        (
            {"stop_when": "decided", "round_episodes": 6},
            r"max_episodes: must be >= round_episodes \(6\), got 5",
        ),
        ({"cross_play_replacement": "noop"}, "cross_play_replacement: only used with cross_play: true"),
        ({"cross_play": True, "cross_play_splits": ["2-2"]}, "cross_play_splits: '2-2' is not a split"),
        ({"cross_play": True, "cross_play_replacement": "lstm"}, "cross_play_replacement: 'lstm' is not one"),
    ],
)
def test_comparison_config_refuses_settings_that_would_not_act(fields, message):
    with pytest.raises(ValueError, match=message):
        DAFComparisonConfig(name="c", policies=["random", "noop"], missions=["tiny_walk"], **fields)


@pytest.fixture(scope="module")
def vibe_walk():
    """tiny_walk with mettagrid's vibe-change actions enabled: random's ``vibe_action_p`` then matters."""
    env_cfg = load_mission("tiny_walk")
    env_cfg.game.actions.change_vibe.enabled = True
    return ("vibe_walk", env_cfg)


def test_an_ablation_compares_each_variant_with_the_full_policy_on_the_same_seeds(vibe_walk):
    report = daf_policy_ablation(
        "random",
        {
            # A knob turned: 90% of actions spent changing vibe instead of moving.
            "mostly_vibing": {"init_kwargs": {"vibe_action_p": 0.9}},
            # Every component switched off.
            "switched_off": "noop",
        },
        [vibe_walk],
        episodes_per_mission=5,
        seed=100,
        show_progress=False,
    )

    seeds = report.records.groupby("policy")["seed"].apply(list)
    assert seeds.to_dict() == {
        p: [100, 101, 102, 103, 104] for p in ("random", "mostly_vibing", "switched_off")
    }
    results = by_key(report.comparisons)
    assert set(results) == {("vibe_walk", "mostly_vibing", "random"), ("vibe_walk", "switched_off", "random")}
    assert all(r.paired for r in results.values())
    assert results[("vibe_walk", "mostly_vibing", "random")].mean_diff < 0
    assert results[("vibe_walk", "switched_off", "random")].is_significant
    assert report.metadata["policy_specs"]["mostly_vibing"]["init_kwargs"] == {"vibe_action_p": 0.9}
    assert report.metadata["kind"] == "ablation" and report.baseline == "random"


def test_an_ablation_variant_can_swap_the_checkpoint(tmp_path):
    env_cfg = load_mission("tiny_walk", max_steps=30)
    interface = PolicyEnvInterface.from_mg_cfg(env_cfg)
    for name in ("full", "early"):
        LSTMPolicy(interface).save_policy_data(str(tmp_path / f"{name}.pt"))
    base = PolicySpec(class_path="lstm", data_path=str(tmp_path / "full.pt"))

    report = daf_policy_ablation(
        base,
        {"early_checkpoint": {"data_path": tmp_path / "early.pt"}},
        [("short", env_cfg)],
        episodes_per_mission=2,
        base_name="trained",
        show_progress=False,
    )

    assert report.metadata["policy_specs"]["early_checkpoint"]["data_path"].endswith("early.pt")
    assert report.metadata["policy_specs"]["trained"]["data_path"].endswith("full.pt")
    [result] = report.comparisons
    assert (result.policy_a_name, result.policy_b_name, result.paired) == (
        "early_checkpoint",
        "trained",
        True,
    )


def test_ablation_overrides_merge_into_the_base_spec():
    base = resolve_policy(PolicySpec(class_path="random", init_kwargs={"vibe_action_p": 0.2}), "base")
    variant = ablation_variant(base, "v", {"init_kwargs": {"extra": 1}})
    assert variant.spec.init_kwargs == {"vibe_action_p": 0.2, "extra": 1}
    assert variant.spec.class_path == base.spec.class_path
    with pytest.raises(ValueError, match="variants\\['v'\\].*init_kwargs"):
        ablation_variant(base, "v", {"init_kwarg": {}})
    with pytest.raises(FileNotFoundError):
        ablation_variant(base, "v", {"data_path": "/nonexistent/model.pt"})


def test_the_quick_benchmark_suite_runs_and_records_its_fingerprint():
    quick = BENCHMARK_SUITES["quick"]

    report = daf_benchmark_suite(["random", "noop"], "quick", episodes_per_mission=2, show_progress=False)

    assert report.missions == list(quick.missions) == ["tiny_walk", "explore"]
    assert len(report.records) == 2 * 2 * 2
    suite = report.metadata["suite"]
    assert (suite["name"], suite["version"], suite["episodes_per_mission"]) == ("quick", "1", 2)
    assert suite["episodes_overridden"]
    # Overriding the episode count makes a different exam: a different fingerprint.
    assert suite["fingerprint"] == dataclasses.replace(quick, episodes_per_mission=2).fingerprint()
    assert suite["fingerprint"] != quick.fingerprint()
    assert {r.mission for r in report.comparisons} == {"tiny_walk", "explore", "all"}

    same_exam = ComparisonReport.from_dict(report.to_dict())
    assert report.comparable_with(same_exam)
    other_exam = ComparisonReport.from_dict(report.to_dict())
    other_exam.metadata["suite"] = {**suite, "fingerprint": quick.fingerprint()}
    assert not report.comparable_with(other_exam)


def test_suite_fingerprints_are_stable_and_change_with_the_mission_definition(tmp_path):
    mission_file = tmp_path / "walk.yaml"
    save_mission(load_mission("tiny_walk"), mission_file)
    suite = BenchmarkSuite(name="mine", version="1", missions=(str(mission_file),), episodes_per_mission=3)

    first = suite.fingerprint()
    assert suite.fingerprint() == first == BenchmarkSuite(**dataclasses.asdict(suite)).fingerprint()

    save_mission(load_mission("tiny_walk", max_steps=101), mission_file)  # the mission changed on disk
    assert suite.fingerprint() != first
    assert dataclasses.replace(suite, version="2").fingerprint() != suite.fingerprint()
    assert dataclasses.replace(suite, seed=1).fingerprint() != suite.fingerprint()


def test_named_suites_cover_the_mission_catalog():
    assert {"quick", "standard"} <= set(BENCHMARK_SUITES)
    standard = BENCHMARK_SUITES["standard"]
    assert {"tiny_walk", "explore", "explore_large"} <= set(standard.missions)
    assert ("collect" in standard.missions) == ("collect" in BUILTIN_MISSIONS)
    assert standard.episodes_per_mission >= 10
    assert BENCHMARK_SUITES["quick"].fingerprint() == BENCHMARK_SUITES["quick"].fingerprint()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: daf_benchmark_suite(["random"], "quik"), "benchmark_name.*'quik'.*Did you mean 'quick'"),
        (lambda: daf_compare_policies([], ["tiny_walk"]), "policies"),
        (lambda: daf_compare_policies(["random"], ["tiny_walk"]), "at least two"),
        (lambda: daf_compare_policies(["random", "random"], ["tiny_walk"]), "repeated: \\['random'\\]"),
        (lambda: daf_compare_policies(["random", "noop"], []), "missions"),
        (lambda: daf_compare_policies(["random", "noop"], ["tiny_wlak"]), "tiny_wlak"),
        (lambda: daf_compare_policies(["random", "noop"], ["tiny_walk"], 0), "episodes_per_mission.*0"),
        (
            lambda: daf_compare_policies(["random", "noop"], ["tiny_walk"], 1, significance_level=0),
            "significance_level",
        ),
        (lambda: daf_policy_ablation("random", {}, ["tiny_walk"]), "variants"),
        (lambda: daf_policy_ablation("random", {"random": "noop"}, ["tiny_walk"]), "base policy's name"),
    ],
)
def test_bad_arguments_fail_before_any_episode_and_name_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()
