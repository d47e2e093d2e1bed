"""DAFConfig's tracking settings: what each accepts and refuses, and that reading them stays light."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from daf_core.config import DAFConfig


@pytest.mark.parametrize(
    "uri",
    [
        "sqlite:////tmp/daf/mlflow.db",
        "sqlite:///mlflow.db",
        "file:///tmp/daf/mlruns",
        "file:./mlruns",
        "./daf_output/mlruns",
        "/tmp/daf/mlruns",
        "http://localhost:5000",
        "https://mlflow.example.org",
    ],
)
def test_local_stores_and_tracking_servers_are_accepted(uri):
    assert DAFConfig(mlflow_tracking_uri=uri).mlflow_tracking_uri == uri


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("postgres://db/mlflow", "expected a local path"),
        ("s3://bucket/mlruns", "expected a local path"),
        ("databricks", "Databricks store"),  # MLflow's word for one, not a folder
        ("sqlite://", "expected a local path"),
        ("sqlite:///", "expected a local path"),
        ("file:", "expected a local path"),
        ("http://", "expected a local path"),
        ("", "must not be empty"),
        ("   ", "must not be empty"),
    ],
)
def test_other_uris_are_refused_naming_the_field_and_value(uri, why):
    with pytest.raises(ValueError, match=f"mlflow_tracking_uri.*{uri!r}.*{why}"):
        DAFConfig(mlflow_tracking_uri=uri)


def test_a_path_store_expands_the_home_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert DAFConfig(mlflow_tracking_uri="~/mlruns").mlflow_tracking_uri == f"{tmp_path}/mlruns"


def test_the_experiment_name_is_a_non_empty_string_mlflow_accepts():
    with pytest.raises(ValueError, match="mlflow_experiment"):
        DAFConfig(mlflow_experiment="  ")
    with pytest.raises(ValueError, match="mlflow_experiment"):
        DAFConfig(mlflow_experiment="x" * 501)


def test_the_settings_survive_a_yaml_round_trip(tmp_path):
    config = DAFConfig(tensorboard=False, mlflow_tracking_uri="sqlite:///m.db", mlflow_experiment="lab")
    assert DAFConfig.from_yaml(config.to_yaml(tmp_path / "daf.yaml")) == config


def test_config_and_tracking_import_neither_tensorboard_nor_mlflow():
    probe = (
        "import json, sys; import daf_core.config, daf_core.tracking; "
        "print(json.dumps(sorted(m for m in ('mlflow', 'tensorboard', 'torch') if m in sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
