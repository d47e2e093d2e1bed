"""daf_package_policy: a cogames submission zip that loads as it is, byte-identical for the same inputs,
with a manifest that says what it holds and which training run it came from."""

import hashlib
import importlib.metadata
import json
import os
import zipfile
from pathlib import Path

import pytest
import torch
from mettagrid.policy.loader import initialize_or_load_policy
from mettagrid.policy.lstm import LSTMPolicy
from mettagrid.policy.policy_env_interface import PolicyEnvInterface
from mettagrid.util.uri_resolvers.schemes import policy_spec_from_uri

from daf_core.config import DAFTrainingConfig
from daf_core.deployment import (
    MANIFEST_FILENAME,
    DeploymentResult,
    daf_package_policy,
    daf_validate_deployment,
    read_manifest,
    safe_extract,
    verify_bundle,
)
from daf_core.evaluation import evaluate_policies
from daf_core.missions import load_mission
from daf_core.training import train

# tiny_walk: 2 agents x 16 environments x BPTT 64 = 2048 agent steps per epoch (see tests/training).
EPOCH = 2048


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A real DAF training run of one epoch: model_000001.pt, policy_spec.json, config.yaml and
    trainer_state.pt, as daf_core.training writes them."""
    root = tmp_path_factory.mktemp("training")
    config = DAFTrainingConfig(
        missions=["tiny_walk"], num_steps=EPOCH, checkpoint_dir=root / "checkpoints", device="cpu"
    )
    return train(config, show_progress=False).run_dir


def tiny_walk_interface() -> PolicyEnvInterface:
    return PolicyEnvInterface.from_mg_cfg(load_mission("tiny_walk"))


def test_a_training_run_packages_into_a_bundle_cogames_loads_and_plays(run_dir, tmp_path):
    result = daf_package_policy("lstm", run_dir, output_dir=tmp_path / "packages")
    assert isinstance(result, DeploymentResult) and result.ok
    assert result.package_path == tmp_path / "packages" / f"{run_dir.name}-0.1.0.zip"

    # cogames' loader takes the zip as it is, and the spec carries what a server needs to build it.
    spec = policy_spec_from_uri(str(result.package_path))
    assert spec.class_path == "mettagrid.policy.lstm.LSTMPolicy"
    assert Path(spec.data_path).name == "model_000001.pt"
    assert spec.policy_env_interface == tiny_walk_interface()
    policy = initialize_or_load_policy(spec.policy_env_interface, spec)
    trained = torch.load(run_dir / "model_000001.pt", map_location="cpu")
    loaded = policy.network().state_dict()
    assert loaded.keys() == trained.keys() and all(torch.equal(loaded[k], trained[k]) for k in trained)
    records = evaluate_policies(
        {"bundle": result.package_path}, ["tiny_walk"], episodes=1, show_progress=False
    )
    assert len(records) == 1 and records.iloc[0]["steps"] > 0

    manifest = read_manifest(result.package_path)
    with zipfile.ZipFile(result.package_path) as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    assert manifest.files == {
        name: hashlib.sha256(data).hexdigest() for name, data in contents.items() if name != MANIFEST_FILENAME
    }
    assert set(manifest.files) == {"model_000001.pt", "policy_spec.json", "training_config.yaml"}
    assert manifest.name == run_dir.name and manifest.version == "0.1.0"
    assert manifest.versions == {
        "daf": importlib.metadata.version("daf"),
        "cogames": importlib.metadata.version("cogames"),
        "mettagrid": importlib.metadata.version("mettagrid"),
        "torch": torch.__version__,
    }
    # Where it came from: the run, its config (shipped in the bundle) and the checkpoint's step.
    assert manifest.source.training_run == run_dir.name
    assert contents[manifest.source.config] == (run_dir / "config.yaml").read_bytes()
    assert (manifest.source.checkpoint, manifest.source.checkpoint_step) == ("model_000001.pt", EPOCH)
    assert verify_bundle(result.package_path) == manifest


def test_the_same_inputs_give_byte_identical_zips(run_dir, tmp_path):
    first = daf_package_policy("lstm", run_dir, output_dir=tmp_path / "a").package_path
    os.utime(run_dir / "model_000001.pt", (1e9, 1e9))  # file times must not leak into the zip
    second = daf_package_policy("mettagrid.policy.lstm.LSTMPolicy", run_dir, output_dir=tmp_path / "b")
    assert first.read_bytes() == second.package_path.read_bytes()
    assert second.details["sha256"] == hashlib.sha256(first.read_bytes()).hexdigest()

    with zipfile.ZipFile(first) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}

    other_version = daf_package_policy("lstm", run_dir, version="0.2.0", output_dir=tmp_path / "c")
    assert other_version.package_path.read_bytes() != first.read_bytes()
    assert read_manifest(other_version.package_path).version == "0.2.0"


def test_a_weights_file_with_a_mission_and_extra_files(tmp_path):
    torch.manual_seed(0)
    weights = tmp_path / "untrained.pt"
    LSTMPolicy(tiny_walk_interface()).save_policy_data(str(weights))
    notes = tmp_path / "notes"
    (notes / "__pycache__").mkdir(parents=True)
    (notes / "README.md").write_text("how this policy was made\n")
    (notes / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"cache")  # machine-specific: left out
    result = daf_package_policy(
        "lstm",
        weights,
        [notes],
        policy_name="walker",
        version="1.2.3-rc.1",
        output_dir=tmp_path / "out",
        mission="tiny_walk",
    )
    manifest = read_manifest(result.package_path)
    assert result.package_path.name == "walker-1.2.3-rc.1.zip"
    assert set(manifest.files) == {"untrained.pt", "notes/README.md", "policy_spec.json"}
    assert manifest.source.training_run is None and manifest.source.checkpoint_step is None
    spec = policy_spec_from_uri(str(result.package_path))
    assert spec.policy_env_interface == tiny_walk_interface()

    # A changed, added or removed file no longer matches the manifest.
    unpacked = safe_extract(result.package_path, tmp_path / "unpacked")
    (unpacked / "notes" / "README.md").write_text("edited\n")
    with pytest.raises(ValueError, match="notes/README.md does not match its SHA-256"):
        verify_bundle(unpacked)
    (unpacked / "notes" / "README.md").unlink()
    with pytest.raises(ValueError, match="notes/README.md is listed .* but not in the bundle"):
        verify_bundle(unpacked)
    (unpacked / "notes" / "README.md").write_text("how this policy was made\n")
    assert verify_bundle(unpacked) == manifest
    (unpacked / "extra.py").write_text("import os\n")
    with pytest.raises(ValueError, match="extra.py is in the bundle but not listed"):
        verify_bundle(unpacked)


def test_bad_inputs_are_refused_naming_what_is_wrong(run_dir, tmp_path):
    weights = run_dir / "model_000001.pt"
    out = {"output_dir": tmp_path / "out"}
    with pytest.raises(ValueError, match="version: '1.0'"):
        daf_package_policy("lstm", run_dir, version="1.0", **out)
    with pytest.raises(ValueError, match="policy_class_path: .*RandomMultiAgentPolicy.* differs"):
        daf_package_policy("random", run_dir, **out)
    with pytest.raises(ValueError, match="policy_class_path: 'no.such.Policy' is neither importable"):
        daf_package_policy("no.such.Policy", weights, mission="tiny_walk", **out)
    with pytest.raises(ValueError, match="mission: needed"):
        daf_package_policy("lstm", weights, **out)
    with pytest.raises(ValueError, match="mission: .*no such mission"):
        daf_package_policy("lstm", weights, mission="no_such_mission", **out)
    with pytest.raises(ValueError, match="policy_name: '../escape'"):
        daf_package_policy("lstm", run_dir, policy_name="../escape", **out)
    with pytest.raises(FileNotFoundError, match="weights_path"):
        daf_package_policy("lstm", tmp_path / "missing.pt", mission="tiny_walk", **out)
    spec_copy = tmp_path / "policy_spec.json"
    spec_copy.write_text(json.dumps({"class_path": "x"}))
    with pytest.raises(ValueError, match="additional_files: 'policy_spec.json' clashes"):
        daf_package_policy("lstm", run_dir, [spec_copy], **out)
    assert not (tmp_path / "out").exists()  # nothing was written for any of them


def test_a_training_run_validates_on_the_missions_it_trained_on(run_dir):
    result = daf_validate_deployment("lstm", run_dir, validation_episodes=1, validation_max_steps=5)
    assert result.status == "success", result.message
    assert result.details["validation"]["settings"]["missions"] == ["tiny_walk"]  # from the run's config
    assert result.details["manifest"]["source"]["checkpoint_step"] == EPOCH
