"""``training_checkpoints``: a real DAF training run per partition, its metadata and its ``training_finite``
check; materializing the partition again resumes the run; bad config names the field."""

import base64
import json
import math
from pathlib import Path

import dagster as dg
import pytest

from daf_dagster.assets.training import metrics_problems, read_metrics, training_checkpoints
from daf_dagster.partitions import TRAINING_RUNS
from daf_dagster.resources import DAFResource

pytestmark = pytest.mark.slow

RUN = "collect_small"
EPOCH_STEPS = 2048  # collect: 2 agents x 16 environments x a 64-step horizon


def training_config(**overrides) -> dict:
    config = {"num_steps": 4 * EPOCH_STEPS, "device": "cpu", "checkpoint_interval": 2, **overrides}
    return {"ops": {"training_checkpoints": {"config": config}}}


def materialize(root: Path, instance: dg.DagsterInstance, partition: str = RUN, **overrides):
    instance.add_dynamic_partitions(TRAINING_RUNS.name, [partition])
    return dg.materialize(
        [training_checkpoints],
        partition_key=partition,
        instance=instance,
        resources={"daf": DAFResource(output_root=str(root))},
        run_config=training_config(**overrides),
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One 4-epoch run on collect, shared by the tests below: (output root, instance, result)."""
    root = tmp_path_factory.mktemp("training")
    instance = dg.DagsterInstance.ephemeral()
    return root, instance, materialize(root, instance)


def metadata(result: dg.ExecuteInProcessResult) -> dict:
    (materialization,) = result.asset_materializations_for_node("training_checkpoints")
    return {key: value.value for key, value in materialization.metadata.items()}


def test_a_partition_is_a_training_run_with_its_figures(trained):
    root, instance, result = trained
    values = metadata(result)
    run_dir = root / "checkpoints" / RUN
    assert values["steps"] == 4 * EPOCH_STEPS and values["epochs"] == 4 and values["resumed_from_step"] == 0
    assert values["sps"] > 0 and values["device"] == "cpu" and values["num_workers"] == 1
    assert values["run_dir"] == str(run_dir)
    assert values["checkpoint"] == str(run_dir / "model_000004.pt") and Path(values["checkpoint"]).is_file()
    # The final episode reward is the last epoch's (mean over agents), as metrics.jsonl recorded it.
    last = [row["env/per_label_rewards/collect"] for row in read_metrics(run_dir)]
    assert values["final_episode_reward/collect"] == pytest.approx(last[-1]) and last[-1] > 0

    curve = Path(values["training_curve"])
    assert curve == root / "training" / RUN / "plots" / "episode_reward.png" and curve.is_file()
    embedded = base64.b64encode(curve.read_bytes()).decode()
    assert f"data:image/png;base64,{embedded}" in values["training_curve_plot"]

    # Provenance: the config as it ran (named by the partition, under the resource's root) and versions.
    assert values["config"]["run_name"] == RUN and values["config"]["num_steps"] == 4 * EPOCH_STEPS
    assert values["config"]["checkpoint_dir"] == str(root / "checkpoints")
    assert values["config"]["missions"] == ["collect"] and values["config"]["ppo"]["learning_rate"] > 0
    assert {"daf", "cogames", "mettagrid", "torch", "dagster"} <= set(values["versions"])
    event = instance.get_latest_materialization_event(dg.AssetKey("training_checkpoints"))
    assert event.asset_materialization.partition == RUN
    assert event.asset_materialization.tags["dagster/code_version"] == "1"

    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "training_finite" and check.passed
    assert check.metadata["epochs_checked"].value == 4


def test_materializing_again_with_more_steps_resumes_the_run(trained):
    root, instance, _ = trained
    first = json.loads((root / "checkpoints" / RUN / "workers" / "rank0.json").read_text())
    values = metadata(materialize(root, instance, num_steps=6 * EPOCH_STEPS))
    assert values["resumed_from_step"] == first["training_steps"] == 4 * EPOCH_STEPS
    assert values["steps"] == 6 * EPOCH_STEPS and values["epochs"] == 6
    # One row per epoch: the resumed run continued the file instead of starting it again.
    assert [row["epoch"] for row in read_metrics(root / "checkpoints" / RUN)] == [1, 2, 3, 4, 5, 6]


def test_training_finite_names_the_epoch_and_value_that_is_not(trained):
    root, _, _ = trained
    rows = read_metrics(root / "checkpoints" / RUN)
    assert metrics_problems(rows) == []
    no_episode = [{k: v for k, v in row.items() if not k.startswith("env/")} for row in rows]
    assert metrics_problems(no_episode) == ["no episode finished: no reward recorded"]
    rows[1]["losses/value_loss"] = None  # how the trainer writes a NaN or an infinity
    rows[2]["env/per_label_rewards/collect"] = math.inf
    assert metrics_problems(rows) == [
        "epoch 2: losses/value_loss",
        "epoch 3: env/per_label_rewards/collect",
    ]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"num_steps": 0}, "invalid value for 'num_steps': 0"),
        ({"missions": []}, "invalid value for 'missions'"),
        ({"ppo": {"learnig_rate": 0.001}}, "unknown field 'ppo.learnig_rate'.*did you mean 'learning_rate'"),
        ({"ppo": {"gamma": 2.0}}, "invalid value for 'ppo.gamma': 2.0"),
        ({"vector_backend": "threads"}, "vector_backend"),
        ({"vector_num_workers": 2}, "vector_num_workers: 2 needs vector_backend='multiprocessing'"),
    ],
)
def test_bad_config_fails_naming_the_field(trained, overrides, message):
    root, instance, _ = trained
    with pytest.raises(ValueError, match=message):
        materialize(root, instance, partition="bad_config", **overrides)
    assert not (root / "checkpoints" / "bad_config").exists()  # refused before anything trained
