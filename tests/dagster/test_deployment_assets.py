"""``deployment_package``: a trained run packaged as a cogames bundle (path, manifest, sha256), validated
in a fresh interpreter by the blocking check ``package_validation``, which stops what is downstream when
the bundle fails."""

import hashlib
import zipfile
from pathlib import Path

import dagster as dg
import pytest

from daf_dagster.assets.deployment import deployment_package
from daf_dagster.assets.training import training_checkpoints
from daf_dagster.partitions import TRAINING_RUNS
from daf_dagster.resources import DAFResource

pytestmark = pytest.mark.slow

RUN = "collect_tiny"


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """An output root holding the training run collect_tiny (2 epochs of lstm on collect)."""
    root = tmp_path_factory.mktemp("deployment")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(TRAINING_RUNS.name, [RUN])
    config = {"num_steps": 4096, "device": "cpu"}
    dg.materialize(
        [training_checkpoints],
        partition_key=RUN,
        instance=instance,
        resources={"daf": DAFResource(output_root=str(root))},
        run_config={"ops": {"training_checkpoints": {"config": config}}},
    )
    return root


@dg.asset(deps=[deployment_package])
def served_version() -> None:
    """Stands for what follows a package (a deployment): it must not run after a failed validation."""


def package(root: Path, *assets: dg.AssetsDefinition, **config) -> dg.ExecuteInProcessResult:
    config = {"policy": f"training_run:{RUN}", "validation_episodes": 1, **config}
    return dg.materialize(
        [deployment_package, *assets],
        instance=dg.DagsterInstance.ephemeral(),
        resources={"daf": DAFResource(output_root=str(root))},
        run_config={"ops": {"deployment_package": {"config": config}}},
        raise_on_error=False,
    )


def test_package_of_a_training_run_passes_its_validation(root):
    result = package(root, served_version, version="1.2.0")
    assert result.success
    (materialization,) = result.asset_materializations_for_node("deployment_package")
    values = {key: value.value for key, value in materialization.metadata.items()}
    bundle = Path(values["bundle"])
    assert bundle == root / "packages" / f"{RUN}-1.2.0.zip"
    assert values["sha256"] == hashlib.sha256(bundle.read_bytes()).hexdigest()
    assert values["size_bytes"] == bundle.stat().st_size
    assert (values["policy_name"], values["version"]) == (RUN, "1.2.0")
    assert values["class_path"] == "mettagrid.policy.lstm.LSTMPolicy"
    manifest = values["manifest"]
    assert manifest["source"]["training_run"] == RUN and manifest["source"]["checkpoint"] == "model_000002.pt"
    with zipfile.ZipFile(bundle) as archive:
        assert {"policy_spec.json", "daf_manifest.json", "model_000002.pt"} <= set(archive.namelist())
    assert values["config"]["policy"] == f"training_run:{RUN}" and values["config"]["version"] == "1.2.0"
    assert "torch" in values["versions"]

    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "package_validation" and check.passed and check.blocking
    assert check.metadata["missions"].value == ["collect"]  # from the run: it trained there
    assert check.metadata["episodes"].value == 1 and check.metadata["p99_action_ms"].value < 250
    assert "validation passed" in check.description
    assert result.asset_materializations_for_node("served_version")


def test_failing_validation_fails_the_check_and_stops_downstream(root):
    result = package(root, served_version, min_mean_reward=1000.0)
    assert not result.success
    (check,) = result.get_asset_check_evaluations()
    assert not check.passed
    assert "below" in check.metadata["reasons"].value[0] and "1000" in check.metadata["reasons"].value[0]
    assert result.asset_materializations_for_node("deployment_package")  # the bundle exists, unvalidated
    assert not result.asset_materializations_for_node("served_version")
    started = [e.step_key for e in result.all_events if e.event_type_value == "STEP_START"]
    assert started == ["deployment_package"]  # the blocking check failed its step: nothing after it ran


@pytest.mark.parametrize(
    ("config", "error", "message"),
    [
        ({"version": "1.0"}, ValueError, "version"),
        ({"validation_episodes": 0}, ValueError, "validation_episodes"),
        ({"policy": "training_run:missing"}, FileNotFoundError, "'missing'.*training_checkpoints"),
        ({"policy_class_path": "random"}, ValueError, "policy_class_path"),
    ],
)
def test_bad_config_fails_naming_the_field(root, config, error, message):
    with pytest.raises(error, match=message):
        dg.materialize(
            [deployment_package],
            instance=dg.DagsterInstance.ephemeral(),
            resources={"daf": DAFResource(output_root=str(root))},
            run_config={
                "ops": {"deployment_package": {"config": {"policy": f"training_run:{RUN}"} | config}}
            },
        )
