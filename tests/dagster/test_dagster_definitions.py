"""The Dagster layer: every definition loads, the demo job runs for real (in process and through the
`dagster job execute` CLI), the code location stays light to import, and the instance, workspace and
docker deployment files are valid (the docker ones statically: no Docker engine runs here)."""

import importlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config, storage_config_schema
from dagster._core.instance.ref import InstanceRef
from dagster._core.run_coordinator import DefaultRunCoordinator
from dagster._core.workspace.config_schema import ensure_workspace_config

from daf_dagster.assets.environment import environment_report
from daf_dagster.assets.evaluation import baseline_evaluation
from daf_dagster.definitions import defs

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
HEAVY_MODULES = (
    "torch",
    "cogames",
    "mettagrid",
    "pufferlib",
    "daf_core.evaluation",
    "daf_core.environment_checks",
    "daf_core.missions",
)
# noop never leaves its spawn cell: 0.01 for the one cell each of tiny_walk's 2 agents visits. mettagrid
# rewards are float32, so the mean is 0.019999999552965164, not the double 0.02.
NOOP_TINY_WALK_REWARD = 0.02


def small_run_config(root: Path, min_available_gb: float = 0.01) -> dict:
    return {
        "ops": {
            "environment_report": {
                "config": {
                    "missions": ["tiny_walk"],
                    "checkpoint_dir": str(root / "checkpoints"),
                    "min_available_gb": min_available_gb,
                }
            },
            "baseline_evaluation": {
                "config": {"missions": ["tiny_walk"], "episodes": 2, "output_dir": str(root / "evaluation")}
            },
        }
    }


def metadata_values(result: dg.ExecuteInProcessResult, node: str) -> dict:
    (materialization,) = result.asset_materializations_for_node(node)
    return {key: value.value for key, value in materialization.metadata.items()}


# -- definitions -------------------------------------------------------------------------------------


def test_every_definition_loads_and_demo_job_resolves():
    dg.Definitions.validate_loadable(defs)
    job = defs.resolve_job_def("demo_job")
    assert job.executor_def is dg.in_process_executor
    assert {key.to_user_string() for key in job.asset_layer.selected_asset_keys} == {
        "environment_report",
        "baseline_evaluation",
    }
    assert defs.resolve_assets_def("baseline_evaluation").asset_deps[dg.AssetKey("baseline_evaluation")] == {
        dg.AssetKey("environment_report")
    }
    # Every run config shipped for Dagster (configs/dagster/<job name>.yaml) is valid for its job.
    configs = sorted((REPO / "configs" / "dagster").glob("*.yaml"))
    assert configs
    for path in configs:
        dg.validate_run_config(defs.resolve_job_def(path.stem), yaml.safe_load(path.read_text()))


def test_importing_definitions_does_not_import_torch_or_cogames():
    code = (
        "import json, sys, dagster as dg\n"
        "from daf_dagster.definitions import defs\n"
        "dg.Definitions.validate_loadable(defs)\n"
        "defs.resolve_job_def('demo_job')\n"
        f"print(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


# -- real runs ---------------------------------------------------------------------------------------


def test_materialize_both_assets(tmp_path):
    result = dg.materialize(
        [environment_report, baseline_evaluation],
        instance=dg.DagsterInstance.ephemeral(),
        run_config=small_run_config(tmp_path),
    )
    assert result.success

    report = metadata_values(result, "environment_report")
    assert report["num_failed"] == 0
    assert report["num_checks"] == report["report"]["num_checks"] > 0
    assert report["report"]["healthy"] is True
    assert "mission:tiny_walk" in report["summary"] and "HEALTHY" in report["summary"]

    evaluation = metadata_values(result, "baseline_evaluation")
    assert evaluation["num_episodes"] == 2 * 2
    assert set(evaluation["mean_reward"]) == {"random", "noop"}
    assert evaluation["mean_reward"]["noop"]["tiny_walk"] == pytest.approx(NOOP_TINY_WALK_REWARD, abs=1e-6)
    assert evaluation["mean_reward"]["random"]["tiny_walk"] > NOOP_TINY_WALK_REWARD
    assert "| noop | 0.0200 |" in evaluation["mean_reward_table"]
    for key in ("records_parquet", "records_csv"):
        assert Path(evaluation[key]).is_file()
        assert Path(evaluation[key]).parent == tmp_path / "evaluation"


def test_unhealthy_environment_fails_the_run(tmp_path):
    unhealthy = small_run_config(tmp_path, min_available_gb=1e9)["ops"]["environment_report"]
    with pytest.raises(dg.Failure, match="UNHEALTHY") as failure:
        dg.materialize(
            [environment_report],
            instance=dg.DagsterInstance.ephemeral(),
            run_config={"ops": {"environment_report": unhealthy}},
        )
    assert "disk_space" in failure.value.description
    assert failure.value.metadata["num_failed"].value >= 1


def test_dagster_job_execute_cli(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    config_path = tmp_path / "run_config.yaml"
    config_path.write_text(yaml.safe_dump(small_run_config(tmp_path)))
    env = {**os.environ, "DAGSTER_HOME": str(home), "OMP_NUM_THREADS": "1"}

    dagster_cli = Path(sys.executable).with_name("dagster")
    command = [str(dagster_cli), "job", "execute", "-m", "daf_dagster.definitions", "-j", "demo_job"]
    proc = subprocess.run(
        [*command, "-c", str(config_path)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "evaluation" / "episodes.parquet").is_file()

    # The run and its materializations were recorded in SQLite under DAGSTER_HOME.
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        (run,) = instance.get_runs()
        assert run.job_name == "demo_job" and run.status == dg.DagsterRunStatus.SUCCESS
        for key in ("environment_report", "baseline_evaluation"):
            assert instance.get_latest_materialization_event(dg.AssetKey(key)) is not None
    assert (home / "history" / "runs.db").is_file()


def test_bare_webserver_launches_a_run_without_a_daemon(tmp_path):
    """The repo's workspace.yaml and dagster.yaml as `dagster-webserver -w workspace.yaml` uses them."""
    from dagster_graphql import DagsterGraphQLClient

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    webserver = Path(sys.executable).with_name("dagster-webserver")
    server = subprocess.Popen(
        [str(webserver), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO,
        env={**os.environ, "DAGSTER_HOME": str(home), "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the webserver's children go with it
    )
    try:
        deadline = time.monotonic() + 90
        while True:  # the webserver loads the code location before it serves
            assert server.poll() is None, "dagster-webserver exited"
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "dagster-webserver did not come up"
                time.sleep(0.5)
        client = DagsterGraphQLClient("127.0.0.1", port_number=port)
        client.submit_job_execution("demo_job", run_config=small_run_config(tmp_path))
        done = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE)
        deadline = time.monotonic() + 120
        with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
            while (run := instance.get_runs()[0]).status not in done:
                # A QUEUED run here would mean it waits for a daemon: the wrong run coordinator.
                assert time.monotonic() < deadline, f"run still {run.status.value}"
                time.sleep(0.5)
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert (tmp_path / "evaluation" / "episodes.parquet").is_file()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


# -- instance and workspace files ---------------------------------------------------------------------


def test_repo_instance_launches_runs_without_a_daemon(tmp_path):
    config, custom_class = dagster_instance_config(str(REPO))
    assert custom_class is None and "storage" not in config  # SQLite under the instance home, the default
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(tmp_path), config_dir=str(REPO))) as instance:
        assert isinstance(instance.run_coordinator, DefaultRunCoordinator)
        assert not instance.telemetry_enabled
        assert instance.run_storage.__class__.__name__ == "SqliteRunStorage"
    assert (tmp_path / "history" / "runs.db").is_file()


def test_workspaces_point_at_the_code_location():
    (local,) = ensure_workspace_config(
        yaml.safe_load((REPO / "workspace.yaml").read_text()), "workspace.yaml"
    )["load_from"]
    assert local["python_module"]["module_name"] == "daf_dagster.definitions"
    assert importlib.import_module(local["python_module"]["module_name"]).defs is defs

    compose = yaml.safe_load((DOCKER / "docker-compose.yaml").read_text())
    (remote,) = ensure_workspace_config(
        yaml.safe_load((DOCKER / "workspace.yaml").read_text()), "workspace.yaml"
    )["load_from"]
    server = remote["grpc_server"]
    user_code = compose["services"][server["host"]]
    command = user_code["command"]
    assert command[:3] == ["dagster", "api", "grpc"]
    assert command[command.index("--port") + 1] == str(server["port"])
    assert command[command.index("--module-name") + 1] == "daf_dagster.definitions"


# -- docker deployment (static) -----------------------------------------------------------------------


def test_docker_instance_config_is_valid(monkeypatch):
    config, _ = dagster_instance_config(str(DOCKER))  # the whole instance schema, postgres storage included
    for key, expected in (("run_coordinator", "QueuedRunCoordinator"), ("run_launcher", "DockerRunLauncher")):
        entry = config[key]
        klass = getattr(importlib.import_module(entry["module"]), entry["class"])
        assert klass.__name__ == expected
        processed = process_config(klass.config_type(), entry.get("config") or {})
        assert processed.success, processed.errors
        klass(**processed.value)  # constructors check more (e.g. network vs networks); neither connects

    # Storage reads DAGSTER_PG_* from the environment; every run container gets them from the launcher.
    from dagster_postgres.utils import pg_url_from_config

    compose_env = yaml.safe_load((DOCKER / "docker-compose.yaml").read_text())["x-dagster-env"]
    storage_env = {
        v["env"] for v in config["storage"]["postgres"]["postgres_db"].values() if isinstance(v, dict)
    }
    assert storage_env == {"DAGSTER_PG_HOST", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"}
    assert storage_env <= set(config["run_launcher"]["config"]["env_vars"])
    assert storage_env <= set(compose_env)
    for name in storage_env:
        monkeypatch.setenv(name, "x" + name.lower())
    processed = process_config(storage_config_schema().config_type, config["storage"])
    assert processed.success, processed.errors
    url = pg_url_from_config(processed.value["postgres"])
    assert url == "postgresql://xdagster_pg_user:xdagster_pg_password@xdagster_pg_host:5432/xdagster_pg_db"


def test_docker_compose_is_consistent():
    compose = yaml.safe_load((DOCKER / "docker-compose.yaml").read_text())
    instance = yaml.safe_load((DOCKER / "dagster.yaml").read_text())
    services = compose["services"]
    assert {"daf_postgres", "daf_user_code", "daf_webserver", "daf_daemon"} <= set(services)

    dagster_services = {name: s for name, s in services.items() if name != "daf_postgres"}
    for name, service in dagster_services.items():
        build = service["build"]
        assert (DOCKER / build["context"] / build["dockerfile"]).resolve() == DOCKER / "Dockerfile", name
        assert service["image"] == "daf:latest", name
        assert {"DAGSTER_PG_HOST", "DAGSTER_PG_PASSWORD"} <= set(service["environment"]), name
        assert service["environment"]["DAGSTER_PG_HOST"] == "daf_postgres"
        assert services["daf_postgres"]["healthcheck"] and service["depends_on"]["daf_postgres"] == {
            "condition": "service_healthy"
        }
    for name, service in services.items():
        assert set(service.get("depends_on", {})) <= set(services), name
        assert set(service["networks"]) <= set(compose["networks"]), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source.startswith("/") or source in compose["volumes"], (name, volume)

    # Run containers: the user code's image, on the compose network (by its fixed name), with the same
    # named volumes (results, Dagster's compute logs) as the services.
    launcher = instance["run_launcher"]["config"]
    assert services["daf_user_code"]["environment"]["DAGSTER_CURRENT_IMAGE"] == "daf:latest"
    assert compose["networks"][launcher["network"]]["name"] == launcher["network"]
    for volume in launcher["container_kwargs"]["volumes"]:
        source = volume.split(":")[0]
        assert compose["volumes"][source]["name"] == source
        for name in dagster_services:
            assert volume in services[name]["volumes"], (name, volume)
    # The daemon starts run containers and the webserver stops them: both need the Docker socket.
    for name in ("daf_daemon", "daf_webserver"):
        assert "/var/run/docker.sock:/var/run/docker.sock" in services[name]["volumes"]
        assert "/opt/dagster/dagster_home/workspace.yaml" in services[name]["command"]


def test_dockerfile_installs_with_make_and_ships_the_instance():
    text = (DOCKER / "Dockerfile").read_text()
    instructions = [
        line for line in re.sub(r"\\\n", " ", text).splitlines() if line and not line.startswith("#")
    ]
    assert instructions[0] == "FROM python:3.11-slim"
    assert any(line.startswith("RUN ") and "make install" in line for line in instructions)
    for line in instructions:
        if line.startswith("COPY "):
            *sources, _target = line.split()[1:]
            for source in sources:
                assert (REPO / source).exists(), f"COPY source {source} missing from the repository"
    assert "COPY docker/dagster.yaml docker/workspace.yaml ${DAGSTER_HOME}/" in instructions
    assert any("DAGSTER_HOME=/opt/dagster/dagster_home" in line for line in instructions)
    # The build context is the repository root: its ignore file keeps the venv and results out.
    ignored = (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
    assert {".venv", "daf_output", ".git"} <= set(ignored)
