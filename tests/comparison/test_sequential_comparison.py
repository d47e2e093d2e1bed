"""Comparisons that stop when decided (``stop_when="decided"``), on real mettagrid episodes.

tiny_walk (2 agents, 100 steps): ``random`` visibly out-walks ``noop``, so the comparison is decided
after a few rounds; two names for the very same policy play identical episodes (common random
numbers), which must never read as "better". The default, ``stop_when="fixed"``, is today's report.
"""

from __future__ import annotations

import io
import json
import logging

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from daf_core.comparison import BenchmarkSuite, ComparisonReport, daf_benchmark_suite, daf_compare_policies
from daf_core.comparison.sequential import (
    SequentialSettings,
    comparison_family,
    family_design,
    paired_differences,
)
from daf_core.evaluation import load_records
from daf_core.stats import compare_samples, sequential_decisions

TINY = BenchmarkSuite(name="tiny", version="1", missions=("tiny_walk",), episodes_per_mission=20)


@pytest.mark.slow(seconds=8)
def test_random_against_noop_is_decided_early_and_records_its_design(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="daf_core")
    report = daf_compare_policies(
        ["random", "noop"],
        ["tiny_walk"],
        stop_when="decided",
        max_episodes=20,
        output_dir=tmp_path,
        show_progress=False,
    )

    [result] = report.comparisons
    sequential = report.metadata["sequential"]
    # Decided "better" at the second look: 10 of the 20 episodes the fixed run would have played.
    assert result.sequential["decision"] == "better" and result.sequential["episodes"] == 10
    assert result.is_significant and result.better_policy == "random" and result.p_value_adjusted is None
    assert result.sequential["rci_low"] > 0 and result.sequential["alpha"] == pytest.approx(0.05)
    assert "random better, decided after 10 episodes" in result.summary_string()
    console = Console(file=io.StringIO(), width=80)
    report.print_summary(console)
    assert "a better" in console.file.getvalue()
    assert (sequential["looks_taken"], sequential["episodes_used"]) == (2, 10)
    assert sequential["design"]["looks"] == [5, 10, 15, 20]
    assert sequential["design"]["spending"] == "lan_demets_obrien_fleming"
    assert sequential["stopped"] == "every comparison decided" and sequential["family_size"] == 1
    assert len(report.records) == 2 * 10 and report.metadata["episodes_per_mission"] == 10

    # Round 2 reused round 1's episodes from the output directory instead of running them again.
    assert any("Reusing 10 recorded episodes" in r.getMessage() for r in caplog.records)
    assert len(load_records(tmp_path / "episodes.parquet")) == 20

    # The decision is saved and loaded with the report: the verdict fields and the design's record.
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["metadata"]["sequential"]["comparisons"][0]["decision"] == "better"
    again = ComparisonReport.from_dir(tmp_path)
    assert again.comparisons == report.comparisons and again.comparisons[0].is_significant
    assert again.comparisons[0].note.startswith("sequential: better after 10 paired episodes")
    assert again.metadata["sequential"] == sequential
    # Reloaded or recomputed, the verdicts stay the design's: never a fixed-n test after optional stopping.
    assert again.comparisons[0].verdict() == result.verdict()
    assert again.compute_pairwise_comparisons() == report.comparisons
    assert again.to_dict()["metadata"]["multiple_comparisons"].startswith("sequential")


def test_two_missions_share_their_looks_and_split_the_level_with_the_aggregate():
    """tiny_walk and explore (4 agents, 200 steps): three comparisons - one per mission and the
    aggregate over both, which pairs by seed across missions - each at 0.05 / 3."""
    report = daf_compare_policies(
        ["random", "noop"],
        ["tiny_walk", "explore"],
        stop_when="decided",
        max_episodes=15,
        show_progress=False,
    )
    sequential = report.metadata["sequential"]
    assert (sequential["family_size"], sequential["alpha_per_comparison"]) == (3, pytest.approx(0.05 / 3))
    assert [c.mission for c in report.comparisons] == ["tiny_walk", "explore", "all"]
    assert all(c.sequential["decision"] == "better" and c.is_significant for c in report.comparisons)
    assert sequential["episodes_used"] == 10 and len(report.records) == 2 * 2 * 10
    assert "Bonferroni: significance level 0.05 split over the 3 comparison(s)" in sequential["multiplicity"]


def test_two_names_for_one_policy_never_decide_better():
    """Identical episodes: every paired difference is 0. Without a margin that is never a difference
    (undecided after all 20 episodes); with a margin the sign-flip rule calls it equivalent at 10."""
    same = {"random_a": "random", "random_b": "random"}
    undecided = daf_compare_policies(
        same, ["tiny_walk"], stop_when="decided", max_episodes=20, show_progress=False
    )
    [result] = undecided.comparisons
    assert result.sequential["decision"] == "undecided" and not result.is_significant
    assert result.better_policy is None and result.sequential["episodes"] == 20
    assert undecided.metadata["sequential"]["stopped"] == "last planned look (20 episodes)"

    equivalent = daf_compare_policies(
        same,
        ["tiny_walk"],
        stop_when="decided",
        max_episodes=20,
        equivalence_margin=0.05,
        show_progress=False,
    )
    [result] = equivalent.comparisons
    assert result.sequential["decision"] == "equivalent" and result.sequential["episodes"] == 10
    assert not result.is_significant and "equivalent within +-0.05" in result.verdict()


def test_the_default_is_the_fixed_report_of_today():
    report = daf_compare_policies(["random", "noop"], ["tiny_walk"], 5, show_progress=False)
    assert "sequential" not in report.metadata
    [result] = report.comparisons
    assert result.sequential is None
    records = report.records
    expected = compare_samples(
        records.query("policy == 'random'").sort_values("seed")["reward"],
        records.query("policy == 'noop'").sort_values("seed")["reward"],
        paired=True,
        names=("random", "noop"),
        mission="tiny_walk",
    )
    assert result.p_value == expected.p_value and result.mean_diff_ci_low == expected.mean_diff_ci_low
    assert result.p_value_adjusted == expected.p_value and len(records) == 10


def test_a_benchmark_suite_stops_when_decided():
    report = daf_benchmark_suite(["random", "noop"], TINY, stop_when="decided", show_progress=False)
    sequential = report.metadata["sequential"]
    assert sequential["max_episodes"] == 20  # the suite's episode count bounds the run
    assert sequential["episodes_used"] == 10 and report.comparisons[0].sequential["decision"] == "better"
    assert report.metadata["suite"]["fingerprint"] == TINY.fingerprint()  # the same exam


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stop_when": "sometimes"}, "stop_when: must be 'fixed' or 'decided', got 'sometimes'"),
        (
            {"stop_when": "decided", "max_episodes": 3},
            r"max_episodes: must be >= round_episodes \(5\), got 3",
        ),
        ({"stop_when": "decided", "round_episodes": 1}, "round_episodes: must be an integer >= 2, got 1"),
        ({"stop_when": "decided", "equivalence_margin": 0}, "equivalence_margin.*got 0"),
        ({"max_episodes": 20}, "max_episodes: only used with stop_when='decided', got 20"),
        ({"equivalence_margin": 0.1}, "equivalence_margin: only used with stop_when='decided'"),
        ({"round_episodes": 10}, "round_episodes: only used with stop_when='decided', got 10"),
    ],
)
def test_bad_sequential_settings_fail_before_any_episode(kwargs, message):
    with pytest.raises(ValueError, match=message):
        daf_compare_policies(["random", "noop"], ["tiny_walk"], 10, show_progress=False, **kwargs)


def test_a_lone_policy_has_nothing_to_decide():
    with pytest.raises(ValueError, match="stop_when: 'decided' needs comparisons to decide"):
        daf_benchmark_suite(["random"], TINY, stop_when="decided", show_progress=False)
    with pytest.raises(ValueError, match="stop_when.*'always'"):
        daf_benchmark_suite(["random", "noop"], TINY, stop_when="always", show_progress=False)


# ---------------------------------------------------------------------------------------------------
# The family (no episodes: hand-made records and simulated rewards)
# ---------------------------------------------------------------------------------------------------


def test_the_family_is_the_reports_and_the_aggregate_pairs_by_seed():
    assert comparison_family(["a", "b"], ["m1"], None) == [("m1", "a", "b")]
    assert len(comparison_family(["a", "b", "c"], ["m1", "m2"], None)) == 3 * 3  # 2 missions + "all"
    assert comparison_family(["a", "b", "c"], ["m1"], "a") == [("m1", "b", "a"), ("m1", "c", "a")]
    records = pd.DataFrame(
        {
            "policy": ["a"] * 4 + ["b"] * 4,
            "mission": ["m1", "m1", "m2", "m2"] * 2,
            "seed": [0, 1, 0, 1] * 2,
            "reward": [3.0, 4.0, 10.0, 20.0, 1.0, 1.0, 10.0, 10.0],
        }
    )
    np.testing.assert_allclose(paired_differences(records, ("m1", "a", "b")), [2.0, 3.0])
    np.testing.assert_allclose(paired_differences(records, ("all", "a", "b")), [1.0, 6.5])


def test_bonferroni_over_the_family_keeps_the_family_wise_error():
    """Three equal policies on two missions: 9 comparisons (3 pairs x 2 missions and their aggregates)
    looked at every 5 seeds up to 20. A false "better"/"worse" anywhere in the family happens in at
    most 5% of simulated reports (measured 2.7% of 5000; 25.3% without the split)."""
    rng = np.random.default_rng(15)
    simulations, seeds = 5000, 20
    family = comparison_family(["a", "b", "c"], ["m1", "m2"], None)
    settings = SequentialSettings(round_episodes=5, max_episodes=seeds, equivalence_margin=None)
    design = family_design(settings, 0.05, len(family))
    assert design.alpha == pytest.approx(0.05 / 9)
    seed_effect = rng.normal(0, 1, (simulations, 1, seeds, 1))
    rewards = seed_effect + rng.exponential(1.0, (simulations, 3, seeds, 2))  # [sim, policy, seed, mission]
    index = {"a": 0, "b": 1, "c": 2}
    wrong = {True: np.zeros(simulations, bool), False: np.zeros(simulations, bool)}
    unsplit = family_design(settings, 0.05, 1)
    for mission, a, b in family:
        d = rewards[:, index[a]] - rewards[:, index[b]]
        d = d.mean(axis=2) if mission == "all" else d[:, :, int(mission[1]) - 1]
        for split, used in ((True, design), (False, unsplit)):
            wrong[split] |= np.isin(sequential_decisions(d, used).decision, [0, 1])
    assert wrong[True].mean() <= 0.05 and wrong[False].mean() > 0.08
