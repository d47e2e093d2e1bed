"""``benchmark_results`` materialized in process: the ``quick`` suite (tiny_walk and explore) for random
and noop, with a 2-episode override so it takes seconds, and its finite-interval check."""

import dataclasses

import dagster as dg
import pandas as pd
import pytest

from daf_core.comparison import BENCHMARK_SUITES, ComparisonReport
from daf_dagster.assets.benchmarks import ASSET_CHECKS, ASSETS
from daf_dagster.io_managers import ParquetIOManager
from daf_dagster.resources import DAFResource, PolicyServerResource

EPISODES = 2
SETTINGS = {
    "policies": ["random", "noop"],
    "episodes_per_mission": EPISODES,
    "significance_level": 0.01,
    "aggregate": "mean",
}


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    root = tmp_path_factory.mktemp("benchmark")
    result = dg.materialize(
        [*ASSETS, *ASSET_CHECKS],
        partition_key="quick",
        resources={
            "daf": DAFResource(output_root=str(root)),
            "policy_server": PolicyServerResource(),
            "parquet_io_manager": ParquetIOManager(base_dir=str(root / "io")),
        },
        instance=dg.DagsterInstance.ephemeral(),
        run_config={"ops": {"benchmark_results": {"config": SETTINGS}}},
    )
    assert result.success
    (event,) = result.get_asset_materialization_events()
    return root, result, event.materialization.metadata


def test_records_of_the_suite_are_the_output_and_the_report_sits_beside_them(quick):
    root, _, metadata = quick
    records = pd.read_parquet(root / "io" / "benchmark_results" / "quick.parquet")
    suite = BENCHMARK_SUITES["quick"]
    assert sorted(set(records["mission"])) == sorted(suite.missions)
    assert records.groupby(["policy", "mission"]).size().unique().tolist() == [EPISODES]
    folder = root / "benchmarks" / "quick"
    report = ComparisonReport.from_dir(folder)
    assert report.name == "benchmark-quick-v1" and len(report.records) == len(records)
    assert report.policies == SETTINGS["policies"] and report.significance_level == 0.01
    for name in ("report.html", "leaderboard.md", "figures/mission_means.png"):
        assert (folder / name).is_file(), name
    assert metadata["report_path"].value == str(folder / "report.json")
    assert metadata["leaderboard"].value == (folder / "leaderboard.md").read_text()
    assert "| Rank | Policy | Mean |" in metadata["leaderboard"].value  # ranked as the config says
    assert metadata["num_episodes"].value == len(records) == 2 * len(suite.missions) * EPISODES
    assert metadata["mean_reward/random"].value > metadata["mean_reward/noop"].value


def test_the_override_is_recorded_and_changes_the_fingerprint(quick):
    _, _, metadata = quick
    suite = BENCHMARK_SUITES["quick"]
    assert metadata["episodes_per_mission"].value == EPISODES != suite.episodes_per_mission
    assert metadata["episodes_overridden"].value is True
    overridden = dataclasses.replace(suite, episodes_per_mission=EPISODES)
    assert metadata["suite_fingerprint"].value == overridden.fingerprint() != suite.fingerprint()
    assert metadata["suite_version"].value == suite.version
    assert metadata["config"].value["episodes_per_mission"] == EPISODES


def test_finite_interval_check_passes_on_the_quick_suite(quick):
    _, result, _ = quick
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == "benchmark_finite_intervals" and evaluation.passed
    assert evaluation.metadata["partition"].value == "quick"


def test_a_benchmark_can_stop_when_decided(tmp_path):
    result = dg.materialize(
        [*ASSETS, *ASSET_CHECKS],
        partition_key="quick",
        resources={
            "daf": DAFResource(output_root=str(tmp_path)),
            "policy_server": PolicyServerResource(),
            "parquet_io_manager": ParquetIOManager(base_dir=str(tmp_path / "io")),
        },
        instance=dg.DagsterInstance.ephemeral(),
        run_config={
            "ops": {
                "benchmark_results": {
                    "config": {"policies": ["random", "noop"], "stop_when": "decided", "max_episodes": 15}
                }
            }
        },
    )
    assert result.success
    report = ComparisonReport.from_dir(tmp_path / "benchmarks" / "quick")
    sequential = report.metadata["sequential"]
    assert sequential["design"]["looks"] == [5, 10, 15] and sequential["episodes_used"] < 15
    assert all(c.sequential["decision"] == "better" for c in report.comparisons)
