"""The comparison assets, materialized in process on real episodes: per-mission partitions, a range run,
the report that combines them, its refusals and its checks.

Policies ``random`` and ``noop`` on the built-in ``tiny_walk`` and ``explore`` missions, 3 episodes each
(a second or two per evaluation).
"""

import json

import dagster as dg
import pandas as pd
import pytest

from daf_core.comparison import ComparisonReport
from daf_core.comparison.report import CORE_COLUMNS
from daf_core.evaluation import evaluate_policies
from daf_dagster.assets.comparison import (
    ASSET_CHECKS,
    ASSETS,
    ComparisonEpisodesConfig,
    ComparisonReportConfig,
    comparison_episodes,
    comparison_report,
    episodes_asset,
    report_asset,
)
from daf_dagster.io_managers import ParquetIOManager
from daf_dagster.resources import DAFResource

MISSIONS = ["tiny_walk", "explore"]  # consecutive keys of daf_dagster.partitions.MISSIONS
POLICIES = ["random", "noop"]
EPISODES = 3
DEFS = [*ASSETS, *ASSET_CHECKS]


def resources(root) -> dict:
    return {
        "daf": DAFResource(output_root=str(root)),
        "parquet_io_manager": ParquetIOManager(base_dir=str(root / "io")),
    }


def episodes_config(**overrides) -> dict:
    config = {"policies": POLICIES, "episodes_per_mission": EPISODES, "seed": 0, **overrides}
    return {"ops": {"comparison_episodes": {"config": config}}}


def report_config(**overrides) -> dict:
    return {"ops": {"comparison_report": {"config": {"name": "duel", "missions": MISSIONS, **overrides}}}}


def materialize(root, instance, selection, run_config=None, **kwargs) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        DEFS,
        selection=selection,
        resources=resources(root),
        instance=instance,
        run_config=run_config or {},
        **kwargs,
    )


def checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def materialization(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(asset)]
    return event.materialization.metadata


@pytest.fixture(scope="module")
def combined(tmp_path_factory):
    """Each mission materialized as its own partition, then the report over both (checks included)."""
    root = tmp_path_factory.mktemp("comparison")
    instance = dg.DagsterInstance.ephemeral()
    for mission in MISSIONS:
        result = materialize(root, instance, [comparison_episodes], episodes_config(), partition_key=mission)
        assert result.success
    report = materialize(root, instance, [comparison_report], report_config())
    assert report.success
    return root, instance, report


def test_partitions_store_one_file_per_mission_with_what_ran(combined):
    root, _, _ = combined
    for mission in MISSIONS:
        records = pd.read_parquet(root / "io" / "comparison_episodes" / f"{mission}.parquet")
        assert set(records["mission"]) == {mission}
        assert records.groupby("policy").size().to_dict() == {"noop": EPISODES, "random": EPISODES}
        assert list(dict.fromkeys(records["policy"])) == POLICIES  # the config's order
        assert records["policy_class_path"].str.contains("Random|Noop", case=False).all()
        assert records["policy_fingerprint"].notna().all() and records["mission_fingerprint"].nunique() == 1


def test_report_holds_exactly_the_episodes_evaluate_policies_gives(combined):
    root, _, result = combined
    direct = evaluate_policies(POLICIES, MISSIONS, EPISODES, seed=0, show_progress=False)
    report = ComparisonReport.from_dir(root / "comparisons" / "duel")
    key = ["policy", "mission", "seed"]
    mine = report.records[CORE_COLUMNS].sort_values(key).reset_index(drop=True)
    theirs = direct[CORE_COLUMNS].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, theirs, check_dtype=False)  # the report keeps seeds nullable
    assert report.policies == POLICIES and report.missions == MISSIONS
    assert report.metadata["episodes_per_mission"] == EPISODES
    assert set(report.metadata["policy_specs"]) == set(POLICIES)
    assert set(report.metadata["mission_fingerprints"]) == set(MISSIONS)


def test_report_metadata_lists_leaderboard_files_and_scores(combined):
    root, _, result = combined
    metadata = materialization(result, "comparison_report")
    folder = root / "comparisons" / "duel"
    assert metadata["report_path"].value == str(folder / "report.json")
    for name in (
        "report.json",
        "report.html",
        "leaderboard.md",
        "episodes.parquet",
        "figures/mission_means.png",
    ):
        assert (folder / name).is_file(), name
    leaderboard = metadata["leaderboard"].value
    assert leaderboard == (folder / "leaderboard.md").read_text()
    assert "| 1 | random |" in leaderboard  # random moves and collects reward; noop does not
    summary = ComparisonReport.load_json(folder / "report.json").summary_statistics
    for policy in POLICIES:
        overall = summary[policy]["overall"]
        assert metadata[f"mean_reward/{policy}"].value == pytest.approx(overall["mean"])
        assert metadata[f"mean_reward_ci_low/{policy}"].value <= overall["mean"]
        assert metadata[f"mean_reward_ci_high/{policy}"].value >= overall["mean"]
    assert metadata["num_episodes"].value == len(POLICIES) * len(MISSIONS) * EPISODES
    assert metadata["config"].value["name"] == "duel"
    assert metadata["versions"].value["dagster"] == dg.__version__
    assert metadata["mission_means"].value.startswith("![")  # the key figure, embedded


def test_checks_pass_on_a_sound_report_and_sample_size_follows_its_setting(combined):
    root, instance, result = combined
    evaluations = checks(result)
    assert evaluations["comparison_sample_size"].passed
    assert evaluations["comparison_finite_intervals"].passed
    # The same report, checked alone, against a larger minimum than its 3 episodes.
    strict = materialize(
        root,
        instance,
        dg.AssetSelection.checks(*ASSET_CHECKS),
        {"ops": {"comparison_report_comparison_sample_size": {"config": {"min_episodes": EPISODES + 1}}}},
    )
    evaluations = checks(strict)
    assert not evaluations["comparison_sample_size"].passed
    assert evaluations["comparison_sample_size"].severity == dg.AssetCheckSeverity.ERROR
    assert evaluations["comparison_finite_intervals"].passed


def test_a_range_run_in_two_workers_stores_the_same_records_as_one_partition_at_a_time(combined, tmp_path):
    separately, _, _ = combined
    instance = dg.DagsterInstance.ephemeral()
    tags = {
        "dagster/asset_partition_range_start": MISSIONS[0],
        "dagster/asset_partition_range_end": MISSIONS[1],
    }
    result = materialize(
        tmp_path, instance, [comparison_episodes], episodes_config(max_parallel_jobs=2), tags=tags
    )
    assert {e.step_key for e in result.get_step_success_events()} == {"comparison_episodes"}  # one step
    core = [*CORE_COLUMNS, "policy_fingerprint", "mission_fingerprint"]
    for mission in MISSIONS:
        in_range = pd.read_parquet(tmp_path / "io" / "comparison_episodes" / f"{mission}.parquet")
        alone = pd.read_parquet(separately / "io" / "comparison_episodes" / f"{mission}.parquet")
        pd.testing.assert_frame_equal(in_range[core], alone[core])
    # The report's settings: Holm's level and what the leaderboard ranks by.
    report = materialize(
        tmp_path, instance, [comparison_report], report_config(significance_level=0.01, aggregate="mean")
    )
    metadata = materialization(report, "comparison_report")
    assert "| Rank | Policy | Mean |" in metadata["leaderboard"].value
    saved = ComparisonReport.load_json(tmp_path / "comparisons" / "duel" / "report.json")
    assert saved.significance_level == 0.01 and {c.alpha for c in saved.comparisons} == {0.01}


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    """The failed step's error and its causes, as the UI shows them."""
    (event,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    error, messages = event.step_failure_data.error, []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    return "\n".join(messages)


def test_report_refuses_missing_partitions_and_partitions_of_another_config(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    materialize(tmp_path, instance, [comparison_episodes], episodes_config(), partition_key="tiny_walk")
    materialize(
        tmp_path,
        instance,
        [comparison_episodes],
        episodes_config(episodes_per_mission=2),
        partition_key="explore",
    )
    # The default report covers every mission partition; two were never materialized.
    result = materialize(tmp_path, instance, [comparison_report], raise_on_error=False)
    assert not result.success
    message = failure_message(result)
    assert "no episodes on mission(s) ['explore_large', 'collect']" in message
    assert "materialize comparison_episodes for partition(s) ['explore_large', 'collect']" in message
    # The two that exist ran with different episode counts: which ones differ, and what to redo.
    result = materialize(
        tmp_path,
        instance,
        [comparison_report],
        report_config(),
        raise_on_error=False,
    )
    message = failure_message(result)
    assert "episodes per policy 2 (others 3)" in message or "episodes per policy 3 (others 2)" in message
    assert "Materialize comparison_episodes for partition(s)" in message


def test_one_episode_fails_both_checks(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    materialize(
        tmp_path,
        instance,
        [comparison_episodes],
        episodes_config(episodes_per_mission=1),
        partition_key="explore",
    )
    result = materialize(tmp_path, instance, [comparison_report], report_config(missions=["explore"]))
    assert result.success  # the checks warn, they do not block
    evaluations = checks(result)
    assert not evaluations["comparison_sample_size"].passed
    assert "fewer than 2 episodes" in evaluations["comparison_sample_size"].description
    assert not evaluations["comparison_finite_intervals"].passed
    assert evaluations["comparison_finite_intervals"].metadata["num_undefined"].value > 0


def test_factories_build_an_unpartitioned_pair_with_their_own_defaults(tmp_path):
    episodes = episodes_asset(
        "duel_episodes",
        default_config=ComparisonEpisodesConfig(missions=["explore"], episodes_per_mission=2, seed=7),
    )
    report, report_checks = report_asset(
        "duel_report", episodes="duel_episodes", default_config=ComparisonReportConfig(name="my_duel")
    )
    result = dg.materialize(
        [episodes, report, *report_checks],
        resources=resources(tmp_path),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    saved = json.loads((tmp_path / "comparisons" / "my_duel" / "report.json").read_text())
    assert saved["metadata"]["missions"] == ["explore"]
    assert {e["seed"] for e in saved["episodes"]} == {7, 8}
    assert saved["metadata"]["seed"] == 7
    assert all(e.passed for e in result.get_asset_check_evaluations())


def test_a_partitioned_asset_refuses_missions_in_its_config(tmp_path):
    result = materialize(
        tmp_path,
        dg.DagsterInstance.ephemeral(),
        [comparison_episodes],
        episodes_config(missions=["explore"]),
        partition_key="explore",
        raise_on_error=False,
    )
    assert "missions: comparison_episodes is partitioned by mission" in failure_message(result)


def test_policy_names_rename_the_policies_they_name_and_refuse_others(tmp_path):
    renamed = {"noop": "standing_still"}
    result = materialize(
        tmp_path,
        dg.DagsterInstance.ephemeral(),
        [comparison_episodes],
        episodes_config(policy_names=renamed),
        partition_key="tiny_walk",
    )
    records = result.output_for_node("comparison_episodes")
    assert list(dict.fromkeys(records["policy"])) == ["random", "standing_still"]

    result = materialize(
        tmp_path,
        dg.DagsterInstance.ephemeral(),
        [comparison_episodes],
        episodes_config(policy_names={"lstm": "untrained"}),
        partition_key="tiny_walk",
        raise_on_error=False,
    )
    assert "policy_names: ['lstm'] are not among policies ['random', 'noop']" in failure_message(result)
