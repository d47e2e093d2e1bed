"""CrossPlayReport: the shared dict shape, its files, its tables, and its place in a ComparisonReport."""

import json

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from daf_core.comparison import ComparisonReport
from daf_core.crossplay import CrossPlayReport, default_splits, replacement_lineups, round_robin_lineups

from .synthetic import normal_rewards, play

CELL_KEYS = {"mission", "policy", "partner", "mean", "ci_low", "ci_high", "n_episodes"}
RATING_KEYS = {"policy", "rating", "ci_low", "ci_high", "rank", "rank_low", "rank_high"}
VOR_KEYS = {"policy", "replacement", "vor", "ci_low", "ci_high", "n_episodes", "splits"}
SPLIT_KEYS = {"split", "candidate_mean", "replacement_mean", "vor", "ci_low", "ci_high"}


@pytest.fixture
def report() -> CrossPlayReport:
    rng = np.random.default_rng(0)
    rewards = normal_rewards({"lstm": 1.0, "random": 0.5, "noop": 0.0}, seed_sd=0.3, noise_sd=0.3, rng=rng)
    lineups = round_robin_lineups(["lstm", "random", "noop"], default_splits(4))
    lineups += [
        lineup for lineup in replacement_lineups("lstm", "random", default_splits(4)) if lineup not in lineups
    ]
    records = play(lineups, ["explore"], range(5), rewards)
    return CrossPlayReport.from_records(
        records,
        policies=["lstm", "random", "noop"],
        splits=["1v3", "2v2", "3v1"],
        episodes=5,
        n_resamples=200,
        replacement={"lstm": "random"},
    )


def test_to_dict_is_the_shared_shape(report):
    data = report.to_dict()
    assert list(data) == [
        "kind", "policies", "missions", "splits", "episodes", "seed", "confidence", "matrix", "ratings",
        "value_over_replacement",
    ]  # fmt: skip
    assert data["kind"] == "cross_play" and data["missions"] == ["explore"] and data["confidence"] == 0.95
    assert all(set(c) == CELL_KEYS for c in data["matrix"]) and len(data["matrix"]) == 2 * 9
    assert all(set(r) == RATING_KEYS for r in data["ratings"])
    assert [r["policy"] for r in data["ratings"]] == ["lstm", "random", "noop"]
    (vor,) = data["value_over_replacement"]
    assert set(vor) == VOR_KEYS and all(set(s) == SPLIT_KEYS for s in vor["splits"])
    assert vor["vor"] > 0
    json.dumps(data, allow_nan=False)


def test_save_and_load_keep_every_number_and_the_episodes(report, tmp_path):
    paths = report.save(tmp_path)
    assert sorted(p.name for p in paths.values()) == ["cross_play.json", "episodes.csv", "episodes.parquet"]
    loaded = CrossPlayReport.load(tmp_path)
    assert loaded.to_dict() == report.to_dict()
    assert loaded.records["agent_policies"].tolist() == report.records["agent_policies"].tolist()
    with pytest.raises(FileNotFoundError, match="cross-play report not found"):
        CrossPlayReport.load(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="kind: not a cross-play result"):
        CrossPlayReport.from_dict({"kind": "comparison"})


def test_the_tables_show_matrix_ratings_and_vor(report):
    console = Console(record=True, width=120)
    report.print_summary(console)
    text = console.export_text()
    assert "Cross-play, mission explore" in text
    assert "mean over missions" not in text  # one mission: "all" would repeat it
    assert "Bradley-Terry ratings" in text and "Value over replacement: lstm replacing random" in text
    assert "overall" in text


def test_a_comparison_report_carries_saves_and_prints_a_cross_play_result(report, tmp_path):
    comparison = ComparisonReport.from_records(
        pd.DataFrame(
            {
                "policy": ["a", "a", "b", "b"],
                "mission": "explore",
                "seed": [0, 1, 0, 1],
                "reward": [1.0, 2, 0, 1],
            }
        )
    )
    assert comparison.cross_play is None and "cross_play" not in comparison.to_dict()
    comparison.cross_play = report.to_dict()
    comparison.save(tmp_path)
    assert json.loads((tmp_path / "report.json").read_text())["cross_play"] == report.to_dict()
    assert ComparisonReport.from_dir(tmp_path).cross_play == report.to_dict()
    assert ComparisonReport.load_json(tmp_path / "report.json").cross_play == report.to_dict()
    console = Console(record=True, width=120)
    ComparisonReport.from_dir(tmp_path).print_summary(console)
    assert "Bradley-Terry ratings" in console.export_text()
    comparison.cross_play = {"kind": "something else"}
    with pytest.raises(ValueError, match="kind: not a cross-play result"):
        comparison.to_dict()
