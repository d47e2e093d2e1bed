"""``checkpoint_validation_sensor`` across repeated ticks: the exact run requests, run keys, partitions
added and cursors ("nothing new", one new checkpoint, a restart with the saved cursor, two at once, a
newer one in a known run, one still being written); then for real: a trained run's checkpoint is
requested, and the requested run packages and validates it."""

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from daf_dagster.assets.deployment import checkpoint_package
from daf_dagster.assets.training import training_checkpoints
from daf_dagster.partitions import TRAINING_RUNS
from daf_dagster.resources import DAFResource
from daf_dagster.sensors import CHECKPOINT_TAG, checkpoint_validation_sensor


def write_checkpoint(root: Path, run: str, name: str) -> None:
    """A fake checkpoint: the sensor reads only names."""
    run_dir = root / "checkpoints" / run
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / name).write_bytes(b"")


def tick(root: Path, instance: dg.DagsterInstance, cursor: str | None):
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"daf": DAFResource(output_root=str(root))}
    )
    return checkpoint_validation_sensor(context)


def requests(result: dg.SensorResult) -> list[tuple[str, str, dict]]:
    return [(r.run_key, r.partition_key, r.tags) for r in result.run_requests]


def added_partitions(result: dg.SensorResult) -> list[list[str]]:
    return [list(r.partition_keys) for r in result.dynamic_partitions_requests]


def apply(instance: dg.DagsterInstance, result: dg.SensorResult) -> None:
    """What the daemon does with the result's partition requests."""
    for request in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))


def test_sensor_requests_each_new_checkpoint_once(tmp_path):
    instance = dg.DagsterInstance.ephemeral()

    # Nothing at all: no checkpoint root yet, then runs without a (complete) model file.
    assert isinstance(tick(tmp_path, instance, None), dg.SkipReason)
    (tmp_path / "checkpoints" / "empty_run").mkdir(parents=True)
    write_checkpoint(tmp_path, "writing", ".model_000001.pt.abc123.tmp")  # an atomic write in progress
    write_checkpoint(tmp_path, "writing", "trainer_state.pt")
    skipped = tick(tmp_path, instance, None)
    assert (
        isinstance(skipped, dg.SkipReason)
        and "no new checkpoint in 0 training run(s)" in skipped.skip_message
    )

    # One new checkpoint: one request, its run added as a partition.
    write_checkpoint(tmp_path, "run_a", "model_000001.pt")
    write_checkpoint(tmp_path, "run_a", "model_000003.pt")
    first = tick(tmp_path, instance, None)
    assert requests(first) == [("run_a:model_000003.pt", "run_a", {CHECKPOINT_TAG: "model_000003.pt"})]
    assert added_partitions(first) == [["run_a"]]
    assert json.loads(first.cursor) == {"run_a": "model_000003.pt"}
    apply(instance, first)

    # A restart with the saved cursor: nothing again.
    assert isinstance(tick(tmp_path, instance, first.cursor), dg.SkipReason)

    # Two new checkpoints at once, in two new runs: two requests, both partitions added.
    write_checkpoint(tmp_path, "run_b", "model_000002.pt")
    write_checkpoint(tmp_path, "run_c", "model_000010.pt")
    second = tick(tmp_path, instance, first.cursor)
    assert requests(second) == [
        ("run_b:model_000002.pt", "run_b", {CHECKPOINT_TAG: "model_000002.pt"}),
        ("run_c:model_000010.pt", "run_c", {CHECKPOINT_TAG: "model_000010.pt"}),
    ]
    assert added_partitions(second) == [["run_b", "run_c"]]
    assert json.loads(second.cursor) == {
        "run_a": "model_000003.pt",
        "run_b": "model_000002.pt",
        "run_c": "model_000010.pt",
    }
    apply(instance, second)
    assert isinstance(tick(tmp_path, instance, second.cursor), dg.SkipReason)

    # A newer checkpoint in a known run (epochs compare as numbers): one request, no partition added.
    write_checkpoint(tmp_path, "run_a", "model_000004.pt.tmp")  # still being written: not yet
    assert isinstance(tick(tmp_path, instance, second.cursor), dg.SkipReason)
    write_checkpoint(tmp_path, "run_a", "model_000012.pt")
    third = tick(tmp_path, instance, second.cursor)
    assert requests(third) == [("run_a:model_000012.pt", "run_a", {CHECKPOINT_TAG: "model_000012.pt"})]
    assert added_partitions(third) == []
    assert json.loads(third.cursor)["run_a"] == "model_000012.pt"
    assert isinstance(tick(tmp_path, instance, third.cursor), dg.SkipReason)


def test_a_run_known_as_a_partition_is_not_added_again(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(TRAINING_RUNS.name, ["trained_by_dagster"])
    write_checkpoint(tmp_path, "trained_by_dagster", "model_000002.pt")
    result = tick(tmp_path, instance, None)
    assert requests(result) == [
        ("trained_by_dagster:model_000002.pt", "trained_by_dagster", {CHECKPOINT_TAG: "model_000002.pt"})
    ]
    assert added_partitions(result) == []


def test_a_sensor_tick_imports_neither_torch_nor_the_simulator(tmp_path):
    write_checkpoint(tmp_path, "run_a", "model_000001.pt")
    tick(tmp_path, dg.DagsterInstance.ephemeral(), None)
    code = (  # in a fresh interpreter: other tests in this one load torch
        "import sys\nimport daf_dagster.sensors\n"
        "print([m for m in ('torch', 'mettagrid', 'pufferlib', 'daf_core.training') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_a_trained_checkpoint_is_requested_then_packaged_and_validated(tmp_path):
    run = "collect_sensor"
    instance = dg.DagsterInstance.ephemeral()
    resources = {"daf": DAFResource(output_root=str(tmp_path))}
    instance.add_dynamic_partitions(TRAINING_RUNS.name, [run])
    dg.materialize(
        [training_checkpoints],
        partition_key=run,
        instance=instance,
        resources=resources,
        run_config={"ops": {"training_checkpoints": {"config": {"num_steps": 4096, "device": "cpu"}}}},
    )
    instance.delete_dynamic_partition(TRAINING_RUNS.name, run)  # as if trained outside Dagster

    result = tick(tmp_path, instance, None)
    (request,) = result.run_requests
    assert (request.run_key, request.partition_key) == (f"{run}:model_000002.pt", run)
    assert added_partitions(result) == [[run]]
    apply(instance, result)

    packaged = dg.materialize(
        [checkpoint_package],
        partition_key=request.partition_key,
        instance=instance,
        resources=resources,
        tags=request.tags,
        # The run's class (lstm, from its config.yaml) is packaged, not the config's: a mismatch would raise.
        run_config={
            "ops": {
                "checkpoint_package": {"config": {"validation_episodes": 1, "policy_class_path": "random"}}
            }
        },
    )
    (materialization,) = packaged.asset_materializations_for_node("checkpoint_package")
    values = {key: value.value for key, value in materialization.metadata.items()}
    bundle = tmp_path / "packages" / f"{run}-0.1.2.zip"
    assert values["bundle"] == str(bundle) and bundle.is_file()
    assert (values["policy_name"], values["version"]) == (run, "0.1.2")
    spec = json.loads((tmp_path / "checkpoints" / run / "policy_spec.json").read_text())
    assert values["class_path"] == spec["class_path"]
    assert values["manifest"]["source"]["checkpoint"] == "model_000002.pt"
    (check,) = packaged.get_asset_check_evaluations()
    assert check.check_name == "package_validation" and check.passed
    assert check.metadata["missions"].value == ["collect"]
    assert isinstance(tick(tmp_path, instance, result.cursor), dg.SkipReason)
