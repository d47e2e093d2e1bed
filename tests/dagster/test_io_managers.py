"""The Parquet IO manager as assets use it: DataFrames in and out, one atomic file per partition, a range
run split by the asset's partition column, inputs spanning partitions concatenated."""

import dagster as dg
import pandas as pd
import pytest

from daf_dagster.io_managers import ParquetIOManager
from daf_dagster.partitions import MISSIONS

RANGE = {"dagster/asset_partition_range_start": "tiny_walk", "dagster/asset_partition_range_end": "explore"}


def records(missions: list[str], reward: float = 1.0) -> pd.DataFrame:
    """Two episodes per mission."""
    return pd.DataFrame(
        {
            "mission": [m for m in missions for _ in range(2)],
            "episode": [e for _ in missions for e in range(2)],
            "reward": reward,
        }
    )


@dg.asset(
    partitions_def=MISSIONS,
    io_manager_key="parquet_io_manager",
    metadata={"partition_column": "mission"},
    backfill_policy=dg.BackfillPolicy.single_run(),
    config_schema={"reward": dg.Field(float, default_value=1.0)},
)
def episodes(context: dg.AssetExecutionContext) -> pd.DataFrame:
    return records(list(context.partition_keys), context.op_execution_context.op_config["reward"])


@dg.asset(io_manager_key="parquet_io_manager")
def totals(episodes: pd.DataFrame) -> pd.DataFrame:
    return episodes.groupby("mission", as_index=False)["reward"].sum()


@dg.asset(partitions_def=MISSIONS, io_manager_key="parquet_io_manager")
def unsplittable(context: dg.AssetExecutionContext) -> pd.DataFrame:
    return records(list(context.partition_keys))


@dg.asset(key_prefix=["daf", "records"], io_manager_key="parquet_io_manager")
def prefixed() -> pd.DataFrame:
    return records(["collect"])


def run(assets, tmp_path, instance, **kwargs) -> dg.ExecuteInProcessResult:
    manager = ParquetIOManager(base_dir=str(tmp_path / "io"))
    return dg.materialize(assets, resources={"parquet_io_manager": manager}, instance=instance, **kwargs)


def test_unpartitioned_round_trip_and_layout(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    result = run([prefixed], tmp_path, instance)
    path = tmp_path / "io" / "daf" / "records" / "prefixed.parquet"
    pd.testing.assert_frame_equal(pd.read_parquet(path), records(["collect"]))
    (materialization,) = result.asset_materializations_for_node("daf__records__prefixed")
    assert materialization.metadata["num_rows"].value == 2
    assert materialization.metadata["path"].value == str(path)
    assert not list(path.parent.glob(".*.tmp"))  # written to a temporary name, then renamed


def test_range_run_is_split_by_partition_column_and_read_back_whole(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    result = run([episodes], tmp_path, instance, tags=RANGE)
    assert sorted(m.partition for m in result.asset_materializations_for_node("episodes")) == [
        "explore",
        "tiny_walk",
    ]
    folder = tmp_path / "io" / "episodes"
    assert sorted(p.name for p in folder.iterdir()) == ["explore.parquet", "tiny_walk.parquet"]
    assert set(pd.read_parquet(folder / "explore.parquet")["mission"]) == {"explore"}

    # A later run of one partition replaces exactly that partition's rows.
    run([episodes], tmp_path, instance, partition_key="explore", run_config=_reward(5.0))
    assert list(pd.read_parquet(folder / "explore.parquet")["reward"]) == [5.0, 5.0]
    assert list(pd.read_parquet(folder / "tiny_walk.parquet")["reward"]) == [1.0, 1.0]

    # Downstream, the input spans every partition: the stored ones are concatenated, the rest logged.
    result = run([episodes, totals], tmp_path, instance, selection=[totals])
    got = pd.read_parquet(tmp_path / "io" / "totals.parquet").set_index("mission")["reward"].to_dict()
    assert got == {"tiny_walk": 2.0, "explore": 10.0}
    warnings = [
        r.user_message for r in instance.all_logs(result.run_id) if "not materialized" in r.user_message
    ]
    assert warnings and "explore_large" in warnings[0] and "collect" in warnings[0]


def test_input_with_no_stored_partition_names_asset_and_keys(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"episodes: none of the partitions \['tiny_walk'"):
        run([episodes, totals], tmp_path, dg.DagsterInstance.ephemeral(), selection=[totals])


def test_range_output_needs_a_partition_column(tmp_path):
    with pytest.raises(ValueError, match="unsplittable: one output covers partitions.*partition_column"):
        run([unsplittable], tmp_path, dg.DagsterInstance.ephemeral(), tags=RANGE)


def test_rows_outside_the_run_partitions_are_refused(tmp_path):
    @dg.asset(
        name="episodes",
        partitions_def=MISSIONS,
        io_manager_key="parquet_io_manager",
        metadata={"partition_column": "mission"},
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def stray_episodes(context: dg.AssetExecutionContext) -> pd.DataFrame:
        return records([*context.partition_keys, "collect"])

    for run_of in ({"tags": RANGE}, {"partition_key": "explore"}):  # a range, or a single partition
        with pytest.raises(ValueError, match=r"rows with mission \['collect'\] belong to none"):
            run([stray_episodes], tmp_path, dg.DagsterInstance.ephemeral(), **run_of)
    assert not (tmp_path / "io" / "episodes").exists()  # nothing half-written


def test_default_base_dir_is_under_the_output_root(tmp_path, monkeypatch):
    monkeypatch.setenv("DAF_OUTPUT_ROOT", str(tmp_path / "out"))
    monkeypatch.chdir(tmp_path)
    assert ParquetIOManager().root() == tmp_path / "out" / "dagster_io"


def _reward(value: float) -> dict:
    return {"ops": {"episodes": {"config": {"reward": value}}}}
