"""The GPU training job's executor, pool and code location, checked through the real libraries: the
docker executor is built from its config as a run builds it, its container settings merged with the
docker deployment's run launcher and the GPU service's container context the way dagster-docker merges
them, and turned by docker-py into the request the Docker engine would receive (no engine runs here).
Then the job for real on this machine's CPU, in process, saying so in its metadata."""

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
from dagster._core.definitions.job_base import InMemoryJob
from dagster._core.executor.init import InitExecutorContext
from dagster._core.instance.config import dagster_instance_config
from dagster._core.instance.ref import InstanceRef
from dagster_docker import DockerRunLauncher
from dagster_docker.container_context import DockerContainerContext
from docker.models.containers import _create_container_args

import docker
from daf_dagster.assets.training import GPU_EXECUTOR_NAME, GPU_POOL, PER_GPU, training_checkpoints
from daf_dagster.gpu import GPU_COUNT_ENV, GPU_IMAGE_ENV, GpuSettings, gpu_executor, gpu_training_job
from daf_dagster.resources import DAFResource

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
DAGSTER = Path(sys.executable).with_name("dagster")
IMAGE = "registry.example.com/daf-gpu:cu128"


def compose() -> dict:
    return yaml.safe_load((DOCKER / "docker-compose.yaml").read_text())


def interpolate(text: str, env: dict[str, str]) -> str:
    """docker compose's ``${NAME:-default}`` substitution (the only form the compose file uses)."""
    return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m.group(1)) or m.group(2), text)


def resolved_job(settings: GpuSettings) -> dg.JobDefinition:
    defs = dg.Definitions(
        assets=[training_checkpoints], jobs=[gpu_training_job(settings)], resources={"daf": DAFResource()}
    )
    return defs.resolve_job_def("gpu_training_job")


def step_container_kwargs(settings: GpuSettings, container_context: dict | None) -> dict:
    """What the GPU step's container is created with: the executor as a run initialises it, its
    context merged after the docker deployment's run launcher's and the code location's (the order of
    ``DockerContainerContext.create_for_run`` then ``DockerStepHandler``), as docker-py's create() args."""
    job = resolved_job(settings)
    executor_def = job.executor_def
    processed = executor_def.config_schema.resolve_config({})
    assert processed.success, processed.errors
    executor = executor_def.executor_creation_fn(
        InitExecutorContext(
            job=InMemoryJob(job),
            executor_def=executor_def,
            executor_config=processed.value["config"],
            instance=dg.DagsterInstance.ephemeral(),
        )
    )
    handler = executor._step_handler
    config, _ = dagster_instance_config(str(DOCKER))
    launcher_config = process_config(DockerRunLauncher.config_type(), config["run_launcher"]["config"]).value
    launcher = DockerRunLauncher(**launcher_config)
    context = DockerContainerContext(
        registry=launcher.registry,
        env_vars=launcher.env_vars,
        networks=launcher.networks,
        container_kwargs=launcher.container_kwargs,
    )
    if container_context:
        context = context.merge(DockerContainerContext.create_from_config(container_context))
    merged = context.merge(handler._container_context)
    env = dict(item.split("=", 1) if "=" in item else (item, "") for item in merged.env_vars)
    args = _create_container_args(
        {
            "image": handler._image,
            "command": ["dagster", "api", "execute_step"],
            "environment": env,
            "network": merged.networks[0],
            "version": "1.47",
            **merged.container_kwargs,
        }
    )
    return {"image": handler._image, "env": env, "networks": merged.networks, **args}


def test_docker_gpu_executor_asks_for_the_configured_gpus_and_image(monkeypatch):
    monkeypatch.setenv(GPU_IMAGE_ENV, IMAGE)
    monkeypatch.setenv(GPU_COUNT_ENV, "2")
    settings = GpuSettings.from_env("docker")
    job = resolved_job(settings)
    assert job.executor_def.name == GPU_EXECUTOR_NAME
    assert job.tags["daf/executor"] == "docker" and job.tags["daf/gpu_count"] == "2"

    created = step_container_kwargs(settings, None)
    assert created["image"] == IMAGE
    host = created["host_config"]
    # What `docker run --gpus 2` sends: two NVIDIA GPUs with the gpu capability.
    assert host["DeviceRequests"] == [
        docker.types.DeviceRequest(driver="nvidia", count=2, capabilities=[["gpu"]])
    ]
    assert host["DeviceRequests"][0]["Count"] == 2 and host["DeviceRequests"][0]["Driver"] == "nvidia"
    # Network, env vars and volumes: those of docker/dagster.yaml's run launcher, written once there.
    launcher = yaml.safe_load((DOCKER / "dagster.yaml").read_text())["run_launcher"]["config"]
    assert created["networks"] == [launcher["network"]] and host["NetworkMode"] == launcher["network"]
    assert set(host["Binds"]) == set(launcher["container_kwargs"]["volumes"])
    assert set(launcher["env_vars"]) <= set(created["env"])


def test_gpu_service_hands_its_settings_to_run_and_step_containers():
    service = compose()["services"]["daf_gpu_user_code"]
    env = {GPU_IMAGE_ENV: IMAGE, GPU_COUNT_ENV: "4"}
    context = json.loads(interpolate(service["environment"]["DAGSTER_CONTAINER_CONTEXT"], env))
    # The run container loads the location again from these values, so it picks the same executor.
    values = dict(item.split("=", 1) for item in context["docker"]["env_vars"])
    assert values == {"DAF_DEPLOYMENT": "docker", GPU_IMAGE_ENV: IMAGE, GPU_COUNT_ENV: "4"}
    settings = GpuSettings(deployment="docker", image=IMAGE, gpu_count=4)
    created = step_container_kwargs(settings, context)
    assert {key: created["env"][key] for key in values} == values
    assert created["host_config"]["DeviceRequests"][0]["Count"] == 4
    assert interpolate(service["environment"]["DAGSTER_CURRENT_IMAGE"], env) == IMAGE  # runs' image too
    assert interpolate(service["image"], env) == IMAGE


def test_local_gpu_job_trains_in_process_and_settings_are_checked(monkeypatch):
    settings = GpuSettings.from_env("local")
    job = resolved_job(settings)
    assert job.executor_def is dg.in_process_executor
    assert job.tags["daf/executor"] == "in_process" and job.tags["daf/gpu_count"] == "0"
    assert gpu_executor(settings) is dg.in_process_executor
    # The pool is on the asset, so it holds on every executor and for UI materializations too.
    assert training_checkpoints.op.pool == GPU_POOL == "gpu"
    assert {key.to_user_string() for key in job.asset_layer.selected_asset_keys} == {"training_checkpoints"}
    # One worker per visible GPU by default (a partition's run config, as the launchpad shows it), and
    # in the shipped run config.
    default = job.get_run_config_for_partition_key("any_run")
    assert default["ops"]["training_checkpoints"]["config"]["num_workers"] == PER_GPU
    shipped = yaml.safe_load((REPO / "configs" / "dagster" / "gpu_training_job.yaml").read_text())
    assert shipped["ops"]["training_checkpoints"]["config"]["num_workers"] == PER_GPU

    for value in ("0", "two", "-1"):
        monkeypatch.setenv(GPU_COUNT_ENV, value)
        with pytest.raises(ValueError, match=f"{GPU_COUNT_ENV}: expected a positive integer, got '{value}'"):
            GpuSettings.from_env("docker")
    monkeypatch.setenv(GPU_COUNT_ENV, "1")
    with pytest.raises(ValueError, match="DAF_DEPLOYMENT: expected one of local, docker, got 'k8s'"):
        GpuSettings.from_env("k8s")


def test_gpu_location_under_docker_defaults_to_the_gpu_executor(tmp_path):
    """The GPU location as its compose service loads it (DAF_DEPLOYMENT=docker), in a fresh process."""
    code = (
        "import json, dagster as dg\n"
        "from daf_dagster.locations.gpu import defs\n"
        "dg.Definitions.validate_loadable(defs)\n"
        "job = defs.resolve_job_def('gpu_training_job')\n"
        "implicit = defs.resolve_implicit_global_asset_job_def()\n"
        "print(json.dumps([job.executor_def.name, implicit.executor_def.name,\n"
        "    job.executor_def.config_schema.resolve_config({}).value['config'],\n"
        "    sorted(s.key.to_user_string() for s in defs.resolve_all_asset_specs())]))\n"
    )
    env = {**os.environ, "DAF_DEPLOYMENT": "docker", GPU_IMAGE_ENV: IMAGE, GPU_COUNT_ENV: "2"}
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env=env,
        cwd=tmp_path,
    )
    job_executor, implicit_executor, config, assets = json.loads(out.stdout.strip().splitlines()[-1])
    # A UI materialization of training_checkpoints (the implicit asset job) lands on GPU workers too.
    assert job_executor == implicit_executor == GPU_EXECUTOR_NAME
    assert config["image"] == IMAGE
    assert config["container_kwargs"]["device_requests"] == [
        {"driver": "nvidia", "count": 2, "capabilities": [["gpu"]]}
    ]
    assert assets == ["training_checkpoints"]


@pytest.mark.slow
def test_gpu_training_job_on_this_cpu_says_so(tmp_path):
    """`dagster job execute` of gpu_training_job with its shipped config (fewer steps) on a fresh
    instance: it trains in process on the CPU, one worker, and its metadata and tags say so."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    steps = tmp_path / "steps.yaml"
    steps.write_text(yaml.safe_dump({"ops": {"training_checkpoints": {"config": {"num_steps": 4096}}}}))
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAF_OUTPUT_ROOT": str(tmp_path / "out"),
        "OMP_NUM_THREADS": "1",
        "DAF_DEPLOYMENT": "local",
    }
    command = [str(DAGSTER), "job", "execute", "-m", "daf_dagster.definitions", "-j", "gpu_training_job"]
    command += ["-c", str(REPO / "configs" / "dagster" / "gpu_training_job.yaml"), "-c", str(steps)]
    command += ["--tags", json.dumps({"dagster/partition": "cpu_run"})]
    proc = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]

    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        (run,) = instance.get_runs()
        event = instance.get_latest_materialization_event(dg.AssetKey("training_checkpoints"))
    values = {key: value.value for key, value in event.asset_materialization.metadata.items()}
    assert run.job_name == "gpu_training_job" and run.tags["daf/executor"] == "in_process"
    assert values["device"] == "cpu" and values["gpu_count"] == 0 and values["gpu_names"] == []
    assert values["executor"] == "in_process" and values["num_workers"] == 1
    assert values["hardware"] == "cpu: no GPU visible to the step (in_process executor)"
    assert values["steps"] >= 4096 and values["sps"] > 0
