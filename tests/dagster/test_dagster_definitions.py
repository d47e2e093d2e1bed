"""The Dagster layer's definitions: every one loads and validates (also through `dagster definitions
validate`), each workflow has its job and shipped run config, the partitions match DAF's catalogs, the
code location stays light to import, the pre-flight asset runs for real, and the instance, workspace and
docker deployment files are valid (the docker ones statically: no Docker engine runs here). The jobs
themselves run through `dagster job execute` in test_jobs_cli.py."""

import importlib
import json
import os
import re
import subprocess
import sys
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
from daf_dagster.definitions import defs
from daf_dagster.partitions import BENCHMARK_SUITES, MISSIONS, TRAINING_RUNS
from daf_dagster.resources import DAFResource

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
HEAVY_MODULES = (
    "torch",
    "cogames",
    "mettagrid",
    "pufferlib",
    "pandas",
    "matplotlib",
    "daf_core.evaluation",
    "daf_core.environment_checks",
    "daf_core.missions",
    "daf_core.training",
)
JOBS = {
    "training_job": {"training_checkpoints"},
    "sweep_job": {"sweep_results", "sweep_best_checkpoint"},
    "comparison_job": {"comparison_episodes", "comparison_report"},
    "benchmark_job": {"benchmark_results"},
    "deployment_job": {"deployment_package"},
    "checkpoint_validation_job": {"checkpoint_package"},
    "promotion_job": {"policy_promotion"},
    "rollback_job": set(),  # an op job: it changes the policy server, it makes no asset
    "gpu_training_job": {"training_checkpoints"},  # in process here: DAF_DEPLOYMENT is not docker
    "quickstart_job": {
        "environment_report",
        "quickstart_policy",
        "quickstart_episodes",
        "quickstart_report",
        "quickstart_package",
    },
}
BLOCKING_CHECKS = {
    ("deployment_package", "package_validation"),
    ("checkpoint_package", "package_validation"),
    ("quickstart_package", "package_validation"),
}


# -- definitions -------------------------------------------------------------------------------------


def test_every_definition_loads_and_each_workflow_has_its_job():
    dg.Definitions.validate_loadable(defs)
    for name, assets in JOBS.items():
        job = defs.resolve_job_def(name)
        assert job.executor_def is dg.in_process_executor, name
        assert {key.to_user_string() for key in job.asset_layer.selected_asset_keys} == assets, name
    assert {job.name for job in defs.jobs} == set(JOBS)
    assert defs.resolve_job_def("training_job").tags["dagster/partition"] == "collect_lstm"
    assert defs.resolve_job_def("benchmark_job").tags["dagster/partition"] == "quick"
    assert {schedule.name for schedule in defs.schedules} == {
        "nightly_benchmark_schedule",
        "quick_benchmark_schedule",
    }
    comparison_tags = defs.resolve_job_def("comparison_job").tags
    assert (
        comparison_tags["dagster/asset_partition_range_start"],
        comparison_tags["dagster/asset_partition_range_end"],
    ) == (
        "tiny_walk",
        "collect",
    )

    # Every asset records a code version; the packages' validations block what follows them.
    specs = defs.resolve_all_asset_specs()
    assert all(spec.code_version for spec in specs), [s.key for s in specs if not s.code_version]
    checks = {(k.asset_key.to_user_string(), k.name): spec for k, spec in _check_specs().items()}
    assert {key for key, spec in checks.items() if spec.blocking} == BLOCKING_CHECKS
    assert {("training_checkpoints", "training_finite"), ("quickstart_policy", "training_finite")} <= set(
        checks
    )

    # Each job's shipped run config (configs/dagster/<job name>.yaml) is valid for it.
    shipped = sorted((REPO / "configs" / "dagster").glob("*.yaml"))
    assert {path.stem for path in shipped} == set(JOBS)
    for path in shipped:
        dg.validate_run_config(defs.resolve_job_def(path.stem), yaml.safe_load(path.read_text()))


def _check_specs() -> dict:
    graph = defs.resolve_asset_graph()
    return {key: graph.get_check_spec(key) for key in graph.asset_check_keys}


def test_partitions_are_the_catalogs():
    from daf_core.comparison import BENCHMARK_SUITES as SUITES
    from daf_core.missions import BUILTIN_MISSIONS

    assert MISSIONS.get_partition_keys() == list(BUILTIN_MISSIONS)
    assert BENCHMARK_SUITES.get_partition_keys() == list(SUITES)
    assert TRAINING_RUNS.name == "training_runs"
    assert defs.resolve_assets_def("training_checkpoints").partitions_def == TRAINING_RUNS
    assert defs.resolve_assets_def("checkpoint_package").partitions_def == TRAINING_RUNS
    assert defs.resolve_assets_def("comparison_episodes").partitions_def == MISSIONS
    assert defs.resolve_assets_def("benchmark_results").partitions_def == BENCHMARK_SUITES


def test_loading_the_definitions_is_light_and_fast():
    code = (
        "import json, sys, time\n"
        "started = time.perf_counter()\n"
        "import dagster as dg\n"
        "from daf_dagster.definitions import defs\n"
        "from daf_dagster.locations import cpu, gpu\n"
        "for d in (defs, cpu.defs, gpu.defs):\n"
        "    dg.Definitions.validate_loadable(d)\n"
        "defs.resolve_job_def('quickstart_job')\n"
        f"heavy = [m for m in {HEAVY_MODULES!r} if m in sys.modules]\n"
        "print(json.dumps([time.perf_counter() - started, heavy]))\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True, env=env
    )
    seconds, heavy = json.loads(out.stdout.strip().splitlines()[-1])
    assert heavy == []
    assert seconds < 3.0


def test_dagster_definitions_validate_cli(tmp_path):
    dagster = Path(sys.executable).with_name("dagster")
    proc = subprocess.run(
        [str(dagster), "definitions", "validate", "-m", "daf_dagster.definitions"],
        cwd=tmp_path,  # the module is found by name, wherever the command runs
        env={**os.environ, "DAGSTER_HOME": str(tmp_path), "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Validation successful" in proc.stdout + proc.stderr


# -- the pre-flight check ----------------------------------------------------------------------------


def test_environment_report_measures_the_checkpoint_root(tmp_path):
    result = dg.materialize(
        [environment_report],
        instance=dg.DagsterInstance.ephemeral(),
        resources={"daf": DAFResource(output_root=str(tmp_path))},
        run_config={
            "ops": {"environment_report": {"config": {"missions": ["tiny_walk"], "min_available_gb": 0.01}}}
        },
    )
    (materialization,) = result.asset_materializations_for_node("environment_report")
    report = {key: value.value for key, value in materialization.metadata.items()}
    assert report["num_failed"] == 0 and report["report"]["healthy"] is True
    assert report["num_checks"] == report["report"]["num_checks"] > 0
    assert "mission:tiny_walk" in report["summary"] and "HEALTHY" in report["summary"]
    disk = next(c for c in report["report"]["checks"] if c["name"] == "disk_space")
    assert str(tmp_path) in disk["info"]  # measured at the resource's checkpoint root (or its nearest parent)
    assert report["config"]["missions"] == ["tiny_walk"] and "dagster" in report["versions"]


def test_unhealthy_environment_fails_the_run(tmp_path):
    with pytest.raises(dg.Failure, match="UNHEALTHY") as failure:
        dg.materialize(
            [environment_report],
            instance=dg.DagsterInstance.ephemeral(),
            resources={"daf": DAFResource(output_root=str(tmp_path))},
            run_config={
                "ops": {
                    "environment_report": {"config": {"missions": ["tiny_walk"], "min_available_gb": 1e9}}
                }
            },
        )
    assert "disk_space" in failure.value.description
    assert failure.value.metadata["num_failed"].value >= 1


# -- instance and workspace files ---------------------------------------------------------------------


def test_repo_instance_launches_runs_without_a_daemon(tmp_path):
    config, custom_class = dagster_instance_config(str(REPO))
    assert custom_class is None and "storage" not in config  # SQLite under the instance home, the default
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(tmp_path), config_dir=str(REPO))) as instance:
        assert isinstance(instance.run_coordinator, DefaultRunCoordinator)
        assert not instance.telemetry_enabled
        assert instance.run_storage.__class__.__name__ == "SqliteRunStorage"
    assert (tmp_path / "history" / "runs.db").is_file()


def test_workspaces_point_at_the_code_locations():
    (local,) = ensure_workspace_config(
        yaml.safe_load((REPO / "workspace.yaml").read_text()), "workspace.yaml"
    )["load_from"]
    assert local["python_module"]["module_name"] == "daf_dagster.definitions"
    assert importlib.import_module(local["python_module"]["module_name"]).defs is defs

    # docker: a CPU and a GPU location, each a gRPC service of the compose file serving its module.
    compose = yaml.safe_load((DOCKER / "docker-compose.yaml").read_text())
    remote = ensure_workspace_config(
        yaml.safe_load((DOCKER / "workspace.yaml").read_text()), "workspace.yaml"
    )["load_from"]
    modules = {}
    for entry in remote:
        server = entry["grpc_server"]
        command = compose["services"][server["host"]]["command"]
        assert command[:3] == ["dagster", "api", "grpc"]
        assert command[command.index("--port") + 1] == str(server["port"])
        modules[server["location_name"]] = command[command.index("--module-name") + 1]
    assert modules == {"daf": "daf_dagster.locations.cpu", "daf_gpu": "daf_dagster.locations.gpu"}


def test_cpu_and_gpu_locations_split_the_definitions():
    from daf_dagster.jobs import JOBS
    from daf_dagster.locations import cpu, gpu
    from daf_dagster.sensors import SENSORS

    def materializable(location) -> set[str]:
        graph = location.defs.resolve_asset_graph()
        return {key.to_user_string() for key in graph.materializable_asset_keys}

    everything = {spec.key.to_user_string() for spec in defs.resolve_all_asset_specs()}
    assert materializable(gpu) == {"training_checkpoints"}
    assert materializable(cpu) == everything - {"training_checkpoints"}  # no asset in both
    assert {job.name for job in gpu.defs.jobs} == {"gpu_training_job"}
    # Every job of jobs.JOBS that selects no GPU asset, whoever adds it; training_job is the one.
    assert {job.name for job in cpu.defs.jobs} == {job.name for job in JOBS} - {"training_job"}
    assert {"promotion_job", "rollback_job"} <= {job.name for job in cpu.defs.jobs}
    assert [s.name for s in cpu.defs.sensors] == [s.name for s in SENSORS] and not gpu.defs.sensors
    assert {s.name for s in cpu.defs.schedules} == {s.name for s in defs.schedules}
    cpu_checks = {key for key in cpu.defs.resolve_asset_graph().asset_check_keys}
    assert {key.asset_key.to_user_string() for key in cpu_checks} <= materializable(cpu)
    for location in (cpu, gpu):
        dg.Definitions.validate_loadable(location.defs)


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
    assert (
        url
        == "postgresql+psycopg2://xdagster_pg_user:xdagster_pg_password@xdagster_pg_host:5432/xdagster_pg_db"
    )


def test_docker_compose_is_consistent():
    compose = yaml.safe_load((DOCKER / "docker-compose.yaml").read_text())
    instance = yaml.safe_load((DOCKER / "dagster.yaml").read_text())
    services = compose["services"]
    assert {"daf_postgres", "daf_user_code", "daf_gpu_user_code", "daf_webserver", "daf_daemon"} <= set(
        services
    )
    gpu_build = services["daf_gpu_user_code"]["build"]["args"]
    assert gpu_build["PUFFERLIB"] == "wheel" and "cu" in gpu_build["TORCH_INDEX_URL"]
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert all(f"ARG {arg}=" in dockerfile for arg in gpu_build)

    # The Dagster services (the policy server, `daf serve`, is checked in tests/docker).
    dagster_services = {n: s for n, s in services.items() if s.get("command", [""])[0].startswith("dagster")}
    images = {
        "daf_gpu_user_code": "${DAF_GPU_IMAGE:-daf-gpu:latest}",
        "daf_webserver": "daf-dagster:latest",  # the Dockerfile's Dagster-only target
        "daf_daemon": "daf-dagster:latest",
    }
    for name, service in dagster_services.items():
        build = service["build"]
        assert (DOCKER / build["context"] / build["dockerfile"]).resolve() == DOCKER / "Dockerfile", name
        # The GPU location's image is the same Dockerfile on the GPU route (its build args).
        assert service["image"] == images.get(name, "daf:latest"), name
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
            assert source.startswith(("/", "./")) or source in compose["volumes"], (name, volume)

    # Run containers: the user code's image, on the compose network (by its fixed name), with the same
    # named volumes (results, Dagster's compute logs) as the services.
    launcher = instance["run_launcher"]["config"]
    assert services["daf_user_code"]["environment"]["DAGSTER_CURRENT_IMAGE"] == "daf:latest"
    assert compose["networks"][launcher["network"]]["name"] == launcher["network"]
    for volume in launcher["container_kwargs"]["volumes"]:
        source = volume.split(":")[0]
        assert compose["volumes"][source]["name"] == source
        for name in ("daf_user_code", "daf_gpu_user_code"):  # the servers of the runs' code
            assert volume in services[name]["volumes"], (name, volume)
    # The daemon starts run containers and the webserver stops them: both need the Docker socket.
    for name in ("daf_daemon", "daf_webserver"):
        assert {"daf_user_code", "daf_gpu_user_code"} <= set(services[name]["depends_on"]), name
        assert "/var/run/docker.sock:/var/run/docker.sock" in services[name]["volumes"]
        assert "/opt/dagster/dagster_home/workspace.yaml" in services[name]["command"]


def test_dockerfile_installs_with_make_and_ships_the_instance():
    text = (DOCKER / "Dockerfile").read_text()
    instructions = [
        line for line in re.sub(r"\\\n", " ", text).splitlines() if line and not line.startswith("#")
    ]
    assert instructions[0].startswith("FROM python:3.11-slim")
    assert any(line.startswith("RUN ") and "make install" in line for line in instructions)
    for line in instructions:
        if line.startswith("COPY ") and "--from=" not in line:  # not a copy between stages
            *sources, _target = line.split()[1:]
            for source in sources:
                assert (REPO / source).exists(), f"COPY source {source} missing from the repository"
    assert "COPY docker/dagster.yaml docker/workspace.yaml ${DAGSTER_HOME}/" in instructions
    assert any("DAGSTER_HOME=/opt/dagster/dagster_home" in line for line in instructions)
    # The build context is the repository root: its ignore file keeps the venv and results out.
    ignored = (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
    assert {".venv", "daf_output", ".git"} <= set(ignored)
