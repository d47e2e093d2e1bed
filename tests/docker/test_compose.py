"""docker/docker-compose.yaml, statically (no Docker engine runs here): valid for the Compose CLI, which
validates it against the compose specification's JSON schema and checks its model; secrets only from
the environment; and every service agreeing with docker/dagster.yaml, docker/workspace.yaml, the
Dockerfile and DAF's code: hosts, ports, location names, variable names, volumes."""

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml
from sqlalchemy.engine import make_url

from tests.docker.deployment import (
    DOCKER,
    DOCKER_SOCKET,
    POSTGRES,
    REPO,
    REQUIRED_ENV,
    USER_CODE,
    compose_env,
    dagster_home,
    dockerfile_stages,
    instance,
    mounts,
    parse_command,
    raw_compose,
    resolved,
    run_compose,
    short_mounts,
    workspace,
)

LOCATIONS = {"daf": "daf_dagster.locations.cpu", "daf_gpu": "daf_dagster.locations.gpu"}
DAGSTER_SERVICES = (*USER_CODE, "daf_webserver", "daf_daemon")
SECRET = re.compile(r"PASSWORD|TOKEN|SECRET", re.I)


# -- the file itself ------------------------------------------------------------------------------------


def test_compose_file_is_valid_against_the_compose_specification(tmp_path):
    proc = run_compose("config", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # not even a warning (e.g. a variable defaulting to blank)
    services = resolved()["services"]
    assert set(services) == {POSTGRES, *DAGSTER_SERVICES, "daf_policy_server"}

    # The check is real: the same CLI refuses the file with a value the schema does not allow.
    broken = raw_compose()
    broken["services"]["daf_webserver"]["ports"] = "3000:3000"
    (tmp_path / "docker-compose.yaml").write_text(yaml.safe_dump(broken))
    proc = run_compose("config", "--quiet", file=tmp_path / "docker-compose.yaml")
    assert proc.returncode != 0 and "services.daf_webserver.ports must be a array" in proc.stderr


def test_secrets_come_only_from_the_environment(tmp_path):
    proc = run_compose("config", "--variables", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    variables = json.loads(proc.stdout)
    for name in REQUIRED_ENV:  # required, no default: compose refuses to start without them
        assert variables[name]["Required"] and variables[name]["DefaultValue"] == "", name
    secrets = {name for name in variables if SECRET.search(name)}
    assert secrets == {"DAGSTER_PG_PASSWORD", "DAF_POLICY_SERVER_TOKEN"}
    assert variables["DAF_POLICY_SERVER_TOKEN"]["DefaultValue"] == ""  # optional: no token, no header

    unset = run_compose("config", "--quiet", env=compose_env())
    assert unset.returncode != 0
    for name in REQUIRED_ENV:
        assert f"required variable {name} is missing a value" in unset.stderr

    # Every secret a container gets is the one given, or empty: none is written in the file.
    for name, service in resolved()["services"].items():
        for key, value in service.get("environment", {}).items():
            if SECRET.search(key):
                assert value in (REQUIRED_ENV["DAGSTER_PG_PASSWORD"], ""), (name, key)
    example = dict(
        line.split("=", 1)
        for line in (DOCKER / ".env.example").read_text().splitlines()
        if re.match(r"\w+=", line)
    )
    assert example == dict.fromkeys(REQUIRED_ENV, "")

    # docker/.env, where they go, is read by compose wherever it runs, kept out of git and of images.
    copy = tmp_path / "docker"
    copy.mkdir()
    for name in ("docker-compose.yaml", "postgres-init.sh"):
        shutil.copy(DOCKER / name, copy / name)
    (copy / ".env").write_text("".join(f"{k}={v}\n" for k, v in REQUIRED_ENV.items()))
    proc = run_compose(
        "config", "--format", "json", env=compose_env(), cwd=tmp_path, file=copy / "docker-compose.yaml"
    )
    assert proc.returncode == 0, proc.stderr
    env = json.loads(proc.stdout)["services"]["daf_daemon"]["environment"]
    assert env["DAGSTER_PG_PASSWORD"] == REQUIRED_ENV["DAGSTER_PG_PASSWORD"]
    ignored = subprocess.run(["git", "check-ignore", "-q", "docker/.env"], cwd=REPO)
    assert ignored.returncode == 0, "docker/.env is not git-ignored"
    assert "**/.env" in (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()


# -- services against the workspace and the instance ------------------------------------------------------


def test_workspace_locations_are_the_grpc_services():
    services = resolved()["services"]
    entries = workspace()
    assert {e["location_name"]: e["host"] for e in entries} == {
        "daf": "daf_user_code",
        "daf_gpu": "daf_gpu_user_code",
    }
    assert len({e["port"] for e in entries}) == len(entries)
    for entry in entries:
        service = services[entry["host"]]
        assert service["container_name"] == entry["host"]
        path, params = parse_command(service["command"])
        assert path == ["api", "grpc"]
        assert (params["host"], params["port"]) == ("0.0.0.0", entry["port"])
        assert params["module_name"] == LOCATIONS[entry["location_name"]]
        check = service["healthcheck"]["test"]
        assert check[0] == "CMD" and parse_command(check[1:]) == (
            ["api", "grpc-health-check"],
            {"port": entry["port"], "socket": None, "host": "localhost", "use_ssl": False},
        )
        for name in ("daf_webserver", "daf_daemon"):  # they load the code from it once it answers
            assert services[name]["depends_on"][entry["host"]]["condition"] == "service_healthy"
            assert set(services[name]["networks"]) & set(service["networks"])

    # The webserver and the daemon read the workspace the image ships in $DAGSTER_HOME.
    home = dagster_home()
    assert "docker/dagster.yaml docker/workspace.yaml ${DAGSTER_HOME}/" in dockerfile_stages()["base"].args(
        "COPY"
    )
    assert parse_command(services["daf_webserver"]["command"])[1]["workspace"] == (f"{home}/workspace.yaml",)
    path, params = parse_command(services["daf_daemon"]["command"])
    assert path == ["run"] and params["workspace"] == (f"{home}/workspace.yaml",)
    assert parse_command(services["daf_daemon"]["healthcheck"]["test"][1:])[0] == ["liveness-check"]


def test_every_dagster_service_uses_the_instance_storage():
    storage = instance()["storage"]["postgres"]["postgres_db"]
    names = {field: value["env"] for field, value in storage.items() if isinstance(value, dict)}
    services = resolved()["services"]
    postgres = services[POSTGRES]["environment"]
    expected = {
        "hostname": POSTGRES,
        "username": postgres["POSTGRES_USER"],
        "password": postgres["POSTGRES_PASSWORD"],
        "db_name": postgres["POSTGRES_DB"],
    }
    assert storage["port"] == 5432 and services[POSTGRES]["image"].startswith("postgres:")
    assert postgres["POSTGRES_PASSWORD"] == REQUIRED_ENV["DAGSTER_PG_PASSWORD"]
    for name in DAGSTER_SERVICES:
        env = services[name]["environment"]
        assert {field: env[variable] for field, variable in names.items()} == expected, name
        assert services[name]["depends_on"][POSTGRES]["condition"] == "service_healthy", name
    assert "pg_isready" in " ".join(services[POSTGRES]["healthcheck"]["test"])
    assert instance()["run_coordinator"]["class"] == "QueuedRunCoordinator"  # drained by daf_daemon


def test_run_containers_get_what_the_code_servers_have():
    launcher = instance()["run_launcher"]["config"]
    compose = resolved()
    services = compose["services"]
    # Network: the compose one, by the fixed name the launcher uses outside compose; every service on it.
    assert compose["networks"][launcher["network"]]["name"] == launcher["network"]
    for name, service in services.items():
        assert launcher["network"] in service["networks"], name

    # Environment: what the daemon (which launches runs) has, equal to what the code servers have, and
    # every DAF, PostgreSQL and storage variable of the code servers passed on.
    daemon = services["daf_daemon"]["environment"]
    names = {item.split("=", 1)[0] for item in launcher["env_vars"]}
    for server in USER_CODE:
        env = services[server]["environment"]
        assert {k for k in env if k.startswith(("DAF_", "PG", "DAGSTER_PG_"))} - {
            "DAF_GPU_IMAGE",
            "DAF_GPU_COUNT",
        } <= names
        for variable in names:
            assert daemon[variable] == env[variable], (server, variable)
        # Runs start from the image of the server that serves their location.
        assert env["DAGSTER_CURRENT_IMAGE"] == services[server]["image"], server

    # Volumes: the same named volumes at the same paths as the code servers, each with a fixed name.
    runs = short_mounts(launcher["container_kwargs"]["volumes"])
    for server in USER_CODE:
        assert mounts(services[server]) == runs, server
    for source in runs.values():
        assert compose["volumes"][source]["name"] == source

    # The GPU location's container context: its settings, and the run launcher's volumes plus the
    # Docker socket (container_kwargs replace the launcher's key by key), in the socket's group, so the
    # run container's docker executor can start GPU step containers.
    gpu = services["daf_gpu_user_code"]
    context = json.loads(gpu["environment"]["DAGSTER_CONTAINER_CONTEXT"])["docker"]
    values = dict(item.split("=", 1) for item in context["env_vars"])
    assert values == {
        "DAF_DEPLOYMENT": "docker",
        "DAF_GPU_IMAGE": gpu["image"],
        "DAF_GPU_COUNT": gpu["environment"]["DAF_GPU_COUNT"],
    }
    kwargs = context["container_kwargs"]
    assert kwargs["volumes"] == [*launcher["container_kwargs"]["volumes"], f"{DOCKER_SOCKET}:{DOCKER_SOCKET}"]
    assert kwargs["group_add"] == [REQUIRED_ENV["DOCKER_GID"]]
    assert set(kwargs) == {"volumes", "group_add"}  # device requests are the executor's (daf_dagster.gpu)


def test_docker_socket_only_where_containers_are_started():
    services = resolved()["services"]
    with_socket = {name for name, s in services.items() if mounts(s).get(DOCKER_SOCKET) == DOCKER_SOCKET}
    assert with_socket == {"daf_webserver", "daf_daemon"}  # start (daemon) and stop (webserver) runs
    for name in with_socket:
        assert services[name]["group_add"] == [REQUIRED_ENV["DOCKER_GID"]], name
    launcher = instance()["run_launcher"]["config"]
    assert DOCKER_SOCKET not in short_mounts(launcher["container_kwargs"]["volumes"])  # not CPU runs


def test_volumes_are_where_daf_and_dagster_write():
    from daf_dagster.resources import CHECKPOINT_ROOT_ENV, DOCKER_OUTPUT_ROOT

    compose = resolved()
    services = compose["services"]
    home = dagster_home()
    user_code = mounts(services["daf_user_code"])
    env = services["daf_user_code"]["environment"]
    assert user_code[DOCKER_OUTPUT_ROOT] == "daf_output"  # artifacts: DAF's results root under docker
    assert user_code[env[CHECKPOINT_ROOT_ENV]] == "daf_checkpoints"  # training runs
    assert user_code[f"{home}/storage"] == "daf_dagster_storage"  # compute logs
    for name in ("daf_webserver", "daf_daemon"):
        assert mounts(services[name])[f"{home}/storage"] == "daf_dagster_storage", name
    server = services["daf_policy_server"]
    store_dir = parse_command(server["command"])[1]["store_dir"]
    assert mounts(server) == {str(store_dir): "daf_policy_store"}
    assert mounts(services[POSTGRES])["/var/lib/postgresql/data"] == "daf_postgres_data"
    for service in services.values():
        for volume in service.get("volumes", []):
            assert volume["type"] == "bind" or volume["source"] in compose["volumes"]

    # Every directory a named volume mounts on in the images exists there, owned by the image's user,
    # so a fresh volume starts owned by it.
    (setup,) = [run for run in dockerfile_stages()["base"].args("RUN") if "useradd" in run]
    setup = setup.replace("${DAGSTER_HOME}", home).replace('"', "")
    mkdir = re.search(r"mkdir -p ([^&]+)", setup).group(1).split()
    chown = re.search(r"chown daf:daf ([^&]+)", setup).group(1).split()
    for name in (*DAGSTER_SERVICES, "daf_policy_server"):
        for target, source in mounts(services[name]).items():
            if source != DOCKER_SOCKET:
                assert target in mkdir and target in chown, (name, target)


def test_policy_server_shares_the_database_server():
    from daf_core.server.settings import ServerSettings

    compose = resolved()
    services = compose["services"]
    server = services["daf_policy_server"]
    path, params = parse_command(server["command"])
    assert path == ["serve"] and params["host"] == "0.0.0.0"
    settings = ServerSettings(
        store_dir=params["store_dir"], database_url=params["database_url"], port=params["port"]
    )
    url = make_url(settings.resolved_database_url)
    postgres = services[POSTGRES]["environment"]
    # Its own database on the same PostgreSQL, no password in the URL: libpq reads PGUSER/PGPASSWORD.
    assert (url.host, url.port, url.username, url.password) == (POSTGRES, 5432, None, None)
    assert url.database == postgres["DAF_SERVER_DB"] != postgres["POSTGRES_DB"]
    assert server["environment"]["PGUSER"] == postgres["POSTGRES_USER"]
    assert server["environment"]["PGPASSWORD"] == postgres["POSTGRES_PASSWORD"]
    assert url.get_dialect().import_dbapi() is not None  # the driver the URL names is installed
    assert server["depends_on"][POSTGRES]["condition"] == "service_healthy"

    # Health: the server's own /health (no token needed), on its port; published on the bind address.
    check = server["healthcheck"]["test"]
    assert check[:3] == ["CMD", "python", "-c"]
    compile(check[3], "healthcheck", "exec")
    assert f"http://127.0.0.1:{settings.port}/health" in check[3]
    assert '@app.get("/health"' in (REPO / "daf_core" / "server" / "app.py").read_text()
    assert [(p["target"], p["published"], p["host_ip"]) for p in server["ports"]] == [
        (settings.port, str(settings.port), "127.0.0.1")
    ]
    # Runs (promotions, rollbacks) reach it by its service name.
    url = services["daf_user_code"]["environment"]["DAF_POLICY_SERVER_URL"]
    assert url == f"http://daf_policy_server:{settings.port}"


def test_postgres_makes_the_server_and_sweep_databases():
    service = resolved()["services"][POSTGRES]
    (init,) = [v for v in service["volumes"] if v["target"].startswith("/docker-entrypoint-initdb.d/")]
    assert init["type"] == "bind" and init["read_only"] and init["target"].endswith(".sh")
    script = DOCKER / "postgres-init.sh"
    assert init["source"] == str(script) and script.stat().st_mode & 0o111
    assert subprocess.run(["sh", "-n", str(script)]).returncode == 0
    text = script.read_text()
    env = service["environment"]
    for variable in ("DAF_SERVER_DB", "DAF_SWEEP_DB", "POSTGRES_USER", "POSTGRES_DB"):
        assert "${" + variable in text and env[variable], variable
    assert len({env["POSTGRES_DB"], env["DAF_SERVER_DB"], env["DAF_SWEEP_DB"]}) == 3
    assert 'CREATE DATABASE :"db";' in text


def test_ui_and_health_checks():
    services = resolved()["services"]
    webserver = services["daf_webserver"]
    path, params = parse_command(webserver["command"])
    assert params["host"] == "0.0.0.0"
    assert [(p["target"], p["published"], p["host_ip"]) for p in webserver["ports"]] == [
        (params["port"], str(params["port"]), "127.0.0.1")
    ]  # http://localhost:3000
    check = webserver["healthcheck"]["test"]
    compile(check[3], "healthcheck", "exec")
    assert f"http://127.0.0.1:{params['port']}/server_info" in check[3]
    spec = importlib.util.find_spec("dagster_webserver")
    routes = (Path(spec.submodule_search_locations[0]) / "webserver.py").read_text()
    assert 'Route("/server_info"' in routes  # the installed webserver serves the path checked
    published = {name for name, s in services.items() if s.get("ports")}
    assert published == {"daf_webserver", "daf_policy_server"}  # PostgreSQL and gRPC stay inside
    for name, service in services.items():
        assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name


def test_every_daf_variable_is_one_the_code_reads():
    compose = resolved()
    services = {name: s for name, s in compose["services"].items() if name != POSTGRES}  # its own DB names
    names = {key for s in services.values() for key in s.get("environment", {})}
    names |= {item.split("=", 1)[0] for item in instance()["run_launcher"]["config"]["env_vars"]}
    source = "\n".join(p.read_text() for d in ("daf_core", "daf_dagster") for p in (REPO / d).rglob("*.py"))
    daf = sorted(n for n in names if n.startswith("DAF_"))
    assert daf and all(f'"{name}"' in source for name in daf), [n for n in daf if f'"{n}"' not in source]


def test_each_image_is_built_one_way():
    """Services that share an image tag build it the same way (the webserver and the daemon; the CPU
    location and the policy server), so whichever compose builds first, the tag is the same image."""
    builds = {}
    for name, service in resolved()["services"].items():
        if "build" in service:
            builds.setdefault(service["image"], []).append(
                (name, json.dumps(service["build"], sort_keys=True))
            )
    assert set(builds) == {"daf:latest", "daf-gpu:latest", "daf-dagster:latest"}
    for image, variants in builds.items():
        assert len({build for _name, build in variants}) == 1, (image, variants)
    assert {name for name, _ in builds["daf-dagster:latest"]} == {"daf_webserver", "daf_daemon"}
    assert {name for name, _ in builds["daf:latest"]} == {"daf_user_code", "daf_policy_server"}
