"""``daf serve``'s flags are ServerSettings fields: a bad value stops the command, naming field and value."""

from __future__ import annotations

import pytest

from daf_core.config import DAFDeploymentConfig
from daf_core.server.settings import DEFAULT_ALLOWED_CLASS_PATHS, ServerSettings
from tests.server.running_server import daf


@pytest.mark.parametrize(
    "field, value",
    [
        ("port", 70000),
        ("database_url", "mysql://db/x"),
        ("allowed_class_paths", ["lstm"]),
        ("authentication_server", "auth.example:8080"),
        ("max_upload_bytes", 0),
        ("max_compression_ratio", -1.0),
        ("validation_missions", []),
    ],
)
def test_a_bad_setting_is_a_value_error_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        ServerSettings(**{field: value})


def test_defaults_store_everything_under_store_dir(tmp_path):
    settings = ServerSettings(store_dir=tmp_path / "srv")
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'srv' / 'server.db'}"
    assert settings.bundle_dir == tmp_path / "srv" / "bundles"
    assert settings.allowed_class_paths == list(DEFAULT_ALLOWED_CLASS_PATHS)
    assert ServerSettings(database_url="postgresql://u@h/db").resolved_database_url == "postgresql://u@h/db"


def test_daf_serve_refuses_a_bad_flag_before_starting(tmp_path):
    done = daf("serve", "--store-dir", str(tmp_path), "--database-url", "mysql://db/x", timeout=60)
    assert done.returncode == 2
    assert "database_url" in done.stderr and "mysql://db/x" in done.stderr
    assert not (tmp_path / "bundles").exists()


def test_an_unknown_validation_mission_stops_the_server_from_starting(tmp_path):
    from daf_core.server import create_app

    with pytest.raises(ValueError, match="validation_missions: mission 'tiny_wlak'"):
        create_app(ServerSettings(store_dir=tmp_path, validation_missions=["tiny_wlak"]))


def test_a_deployment_config_gives_the_server_its_gate_and_authentication_server_and_flags_win():
    config = DAFDeploymentConfig(
        policy_name="walker",
        policy_class_path="lstm",
        deployment_endpoint="http://127.0.0.1:8765",
        version="1.0.0",
        authentication_server="http://127.0.0.1:9000/introspect",
        validation_missions=["explore"],
        validation_episodes=3,
        min_mean_reward=0.5,
        max_action_ms=40.0,
    )
    settings = ServerSettings.from_deployment_config(config, max_action_ms=100.0)
    assert (
        settings.validation_kwargs() | {"max_action_ms": 40.0}
        == ServerSettings(
            validation_missions=["explore"], validation_episodes=3, min_mean_reward=0.5, max_action_ms=40.0
        ).validation_kwargs()
    )
    assert settings.max_action_ms == 100.0  # the flag wins over the config
    assert settings.authentication_server == "http://127.0.0.1:9000/introspect"
    no_missions = config.model_copy(update={"validation_missions": []})
    assert ServerSettings.from_deployment_config(no_missions).validation_missions == ["tiny_walk"]


def test_daf_serve_refuses_a_bad_deployment_config_naming_the_field(tmp_path):
    (tmp_path / "deployment.yaml").write_text("policy_name: x\npolicy_class_path: lstm\n")
    config = str(tmp_path / "deployment.yaml")
    done = daf("serve", "--config", config, "--store-dir", str(tmp_path), timeout=60)
    assert done.returncode == 2 and "deployment_endpoint" in done.stderr
    assert not (tmp_path / "bundles").exists()
