"""Isolated validation: a fresh, limited interpreter plays the bundle and fails it, with reasons, when it
cannot load, only emits no-ops, is too slow, scores too little, or overruns its time or memory."""

import json
import os
import resource
import zipfile
from pathlib import Path

import pytest
import torch
from mettagrid.policy.lstm import LSTMPolicy
from mettagrid.policy.policy_env_interface import PolicyEnvInterface

from daf_core.config import DAFDeploymentConfig
from daf_core.deployment import (
    MANIFEST_FILENAME,
    daf_package_policy,
    daf_validate_deployment,
    deterministic_zip,
    read_manifest,
    validate_bundle,
    validate_bundle_config,
)
from daf_core.deployment.manifest import sha256_bytes
from daf_core.missions import load_mission

REPO = Path(__file__).resolve().parents[2]
FAST = {"episodes": 1, "max_steps": 20}


def deployment_config(**validation) -> DAFDeploymentConfig:
    return DAFDeploymentConfig(
        policy_name="walker",
        policy_class_path="random",
        deployment_endpoint="http://127.0.0.1:9",
        version="1.0.0",
        **validation,
    )


@pytest.fixture(scope="module")
def lstm_weights(tmp_path_factory) -> Path:
    """Weights of an (untrained) LSTM for tiny_walk: a real network, every action computed."""
    torch.manual_seed(0)
    weights = tmp_path_factory.mktemp("lstm") / "lstm.pt"
    LSTMPolicy(PolicyEnvInterface.from_mg_cfg(load_mission("tiny_walk"))).save_policy_data(str(weights))
    return weights


@pytest.fixture(scope="module")
def lstm_bundle(lstm_weights) -> Path:
    return daf_package_policy(
        "lstm", lstm_weights, output_dir=lstm_weights.parent, mission="tiny_walk"
    ).package_path


def repackaged(bundle: Path, out: Path, **spec_changes) -> Path:
    """The bundle with fields of policy_spec.json changed and its manifest made to match (a bundle
    someone else built, consistent but broken)."""
    with zipfile.ZipFile(bundle) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    spec = {**json.loads(files["policy_spec.json"]), **spec_changes}
    files["policy_spec.json"] = json.dumps(spec).encode()
    manifest = read_manifest(bundle)
    files[MANIFEST_FILENAME] = manifest.model_copy(
        update={
            "class_path": spec["class_path"],
            "files": {name: sha256_bytes(data) for name, data in files.items() if name != MANIFEST_FILENAME},
        }
    ).to_json_bytes()
    out.write_bytes(deterministic_zip(files))
    return out


def test_a_policy_that_only_emits_noops_fails():
    result = daf_validate_deployment(
        "noop", validation_missions=["tiny_walk"], validation_episodes=1, validation_max_steps=10
    )
    assert result.status == "validation_failed" and not result.ok
    assert "only emits no-ops (all 20 actions were mettagrid's noop)" in result.message
    assert result.details["validation"]["noop_fraction"] == 1.0


def test_every_validation_setting_of_the_config_takes_effect(lstm_weights):
    strict = deployment_config(
        validation_missions=["tiny_walk", "explore"],
        validation_episodes=2,
        validation_max_steps=7,
        min_mean_reward=1e6,  # far above anything scored in 7 steps
        max_action_ms=0.001,  # no network answers in a microsecond
    )
    failed = daf_validate_deployment("lstm", lstm_weights, config=strict)
    report = failed.details["validation"]
    assert failed.status == "validation_failed" and not failed.ok
    assert "below min_mean_reward=1e+06" in failed.message
    assert "over max_action_ms=0.001" in failed.message
    assert set(report["episode_rewards"]) == {"tiny_walk", "explore"}  # validation_missions
    assert [len(r) for r in report["episode_rewards"].values()] == [2, 2]  # validation_episodes
    assert report["steps"] == 2 * 2 * 7  # validation_max_steps: 2 missions x 2 episodes x 7 steps
    assert report["actions"] == 2 * 7 * 2 + 2 * 7 * 4  # tiny_walk has 2 agents, explore 4

    # The same bundle and missions pass once those two thresholds are out of its way.
    lenient = strict.model_copy(update={"min_mean_reward": -1.0, "max_action_ms": 250.0})
    passed = daf_validate_deployment("lstm", lstm_weights, config=lenient)
    report = passed.details["validation"]
    assert passed.status == "success" and passed.ok and report["reasons"] == [], passed.message
    assert 0 < report["p50_ms"] <= report["p99_ms"] <= report["max_ms"] <= 250
    assert report["warmup_ms"] > 0  # the first action, timed apart
    assert 0 <= report["noop_fraction"] < 1 and report["mean_reward"] >= -1.0
    assert passed.policy_name == "walker" and passed.version == "1.0.0"  # the config's name and version
    print(
        f"lstm validation: wall {report['wall_s']:.1f} s, p50 {report['p50_ms']:.3f} ms, "
        f"p99 {report['p99_ms']:.3f} ms, max {report['max_ms']:.3f} ms"
    )


def test_time_and_memory_limits_fail_the_bundle(lstm_weights):
    slow = daf_validate_deployment(
        "lstm",
        lstm_weights,
        config=deployment_config(validation_missions=["tiny_walk"], validation_timeout_s=0.5),
    )
    report = slow.details["validation"]
    assert slow.status == "validation_failed"
    assert "wall-clock limit of 0.5 s (validation_timeout_s)" in slow.message
    assert report["wall_s"] < 5 and report["p50_ms"] is None  # killed, not waited for

    tight = daf_validate_deployment(
        "lstm",
        lstm_weights,
        config=deployment_config(validation_missions=["tiny_walk"], validation_memory_mb=300),
    )
    assert tight.status == "validation_failed"
    assert "exceeded the memory limit of 300 MiB (validation_memory_mb)" in tight.message


def test_a_bundle_naming_a_missing_class_fails_to_load_with_the_reason(lstm_bundle, tmp_path):
    broken = repackaged(lstm_bundle, tmp_path / "broken.zip", class_path="daf_gone.policy.GonePolicy")
    config = deployment_config(
        validation_missions=["tiny_walk"], validation_episodes=1, validation_max_steps=20
    )
    report = validate_bundle_config(broken, config)
    assert not report.passed and report.p50_ms is None and report.episodes == 0
    assert report.reasons == [
        "the policy cannot be loaded from the bundle: ModuleNotFoundError: No module named 'daf_gone'"
    ]


def test_a_mission_the_bundle_cannot_play_fails_before_any_interpreter_starts(lstm_bundle):
    report = validate_bundle(lstm_bundle, missions=["tiny_walk", "collect", "no_such_mission"], **FAST)
    assert not report.passed and report.actions == 0 and report.wall_s < 3
    assert len(report.reasons) == 2
    assert (
        "mission 'collect' does not fit the bundle's policy_env_interface: observation_shape"
        in report.reasons[0]
    )
    assert "validation mission 'no_such_mission' cannot be loaded" in report.reasons[1]


PROBE = '''
import importlib.util, json, os, resource, sys
from mettagrid.policy.policy import MultiAgentPolicy

class ProbePolicy(MultiAgentPolicy):
    """Reports what the validating interpreter lets it see, through the only channel it has: its error."""
    def __init__(self, policy_env_info, **kwargs):
        raise RuntimeError("PROBE" + json.dumps({
            "cwd_files": sorted(os.listdir(os.getcwd())),
            "module_dir": os.path.dirname(os.path.abspath(__file__)),
            "cwd": os.getcwd(),
            "pythonpath": os.environ.get("PYTHONPATH"),
            "isolated": sys.flags.isolated,
            "repo_tests_importable": importlib.util.find_spec("tests") is not None,
            "address_space": resource.getrlimit(resource.RLIMIT_AS)[0],
            "process_group": os.getpgrp(),
        }))
'''


def test_the_bundle_runs_in_a_fresh_interpreter_that_sees_only_the_bundle(tmp_path, monkeypatch):
    probe = tmp_path / "probe_policy.py"
    probe.write_text(PROBE)
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the caller's path must not reach the bundle
    result = daf_validate_deployment(
        "probe_policy.ProbePolicy",  # importable only from inside the bundle
        additional_files=[probe],
        config=deployment_config(validation_missions=["tiny_walk"], validation_memory_mb=3000),
    )
    assert result.status == "validation_failed"
    seen = json.loads(result.message.split("PROBE", 1)[1])
    assert seen["cwd_files"] == sorted([MANIFEST_FILENAME, "policy_spec.json", "probe_policy.py"])
    assert seen["module_dir"] == seen["cwd"]  # the class was imported from the extracted bundle
    assert seen["pythonpath"] is None and seen["isolated"] == 1 and not seen["repo_tests_importable"]
    assert seen["address_space"] == 3000 << 20  # validation_memory_mb
    assert seen["process_group"] != os.getpgrp()  # its own group, which a timeout kills whole
    assert resource.getrlimit(resource.RLIMIT_AS)[0] != 3000 << 20  # the caller's limit is untouched


def test_a_hostile_or_tampered_bundle_fails_without_running(lstm_bundle, tmp_path):
    slip = tmp_path / "slip.zip"
    with zipfile.ZipFile(slip, "w") as archive:
        archive.writestr("../../outside.txt", b"x")
    report = validate_bundle(slip, missions=["tiny_walk"], **FAST)
    assert not report.passed and "'../../outside.txt'" in report.reasons[0] and "'..'" in report.reasons[0]

    with zipfile.ZipFile(lstm_bundle) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    weights = bytearray(files["lstm.pt"])
    weights[len(weights) // 2] ^= 0xFF  # one flipped byte in the middle of the weights
    files["lstm.pt"] = bytes(weights)
    tampered = tmp_path / "tampered.zip"
    tampered.write_bytes(deterministic_zip(files))
    report = validate_bundle(tampered, missions=["tiny_walk"], **FAST)
    assert len(report.reasons) == 1 and "lstm.pt does not match its SHA-256" in report.reasons[0]
    assert report.wall_s < 2  # refused before any interpreter started

    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    for name, data in files.items():
        (unpacked / name).write_bytes(data)
    (unpacked / "lstm.pt").unlink()
    (unpacked / "lstm.pt").symlink_to("/etc/passwd")
    report = validate_bundle(unpacked, missions=["tiny_walk"], **FAST)  # a directory is checked the same way
    assert not report.passed and "lstm.pt is a symbolic link" in report.reasons[0]


def test_bad_validation_settings_are_refused_and_an_unpackable_policy_fails(lstm_bundle):
    with pytest.raises(ValueError, match="validation_episodes.*0"):
        daf_validate_deployment("random", validation_missions=["tiny_walk"], validation_episodes=0)
    with pytest.raises(ValueError, match="validation_episode: not a validation setting"):
        daf_validate_deployment("random", validation_missions=["tiny_walk"], validation_episode=1)
    with pytest.raises(ValueError, match="validation_missions: none given"):
        daf_validate_deployment("random")
    with pytest.raises(ValueError, match="max_action_ms"):
        validate_bundle(lstm_bundle, missions=["tiny_walk"], max_action_ms=0)

    unpackable = daf_validate_deployment("no.such.Policy", validation_missions=["tiny_walk"])
    assert unpackable.status == "validation_failed" and "cannot be packaged" in unpackable.message
