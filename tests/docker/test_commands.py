"""Every command a container starts exists and parses: the console script is installed (for the
webserver/daemon image, by a package of its requirements), its subcommand and options are the CLI's
own (parsed by click without running anything), and every module it loads is in the package,
found without importing torch or the training stack."""

import importlib.metadata
import json
import subprocess
import sys

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.docker.deployment import (
    DOCKER,
    POSTGRES,
    REPO,
    dockerfile_stages,
    exec_form,
    instance,
    parse_command,
    resolved,
)

HEAVY = ("torch", "cogames", "mettagrid", "pufferlib", "pandas", "matplotlib", "daf_core.training")


def argvs() -> dict[str, list[list[str]]]:
    """service -> the command lines its container runs: the command and the health check's."""
    found = {}
    for name, service in resolved()["services"].items():
        if name == POSTGRES:
            continue
        check = service["healthcheck"]["test"]
        assert check[0] == "CMD", name
        found[name] = [service["command"], check[1:]]
    return found


def console_scripts() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group="console_scripts")}


def test_every_command_parses_with_the_installed_cli():
    scripts = console_scripts()
    for name, commands in argvs().items():
        for argv in commands:
            if argv[0] == "python":
                assert argv[1] == "-c", (name, argv)
                compile(argv[2], f"{name} healthcheck", "exec")
                continue
            assert argv[0] in scripts, (name, argv[0])
            parse_command(argv)  # click's UsageError on a wrong subcommand or option
    for stage in ("user_code", "dagster"):  # the images' own default commands too
        (cmd,) = dockerfile_stages()[stage].args("CMD")
        parse_command(exec_form(cmd))


def test_every_module_a_container_starts_is_in_the_package():
    modules = set()
    scripts = console_scripts()
    for commands in argvs().values():
        for argv in commands:
            if argv[0] in scripts:
                modules.add(scripts[argv[0]].module)
            if "--module-name" in argv:
                modules.add(argv[argv.index("--module-name") + 1])
    assert {"daf_dagster.locations.cpu", "daf_dagster.locations.gpu", "daf_core.cli"} <= modules
    # In a fresh interpreter: each is found (its parents imported, not it), and nothing heavy comes in.
    code = (
        "import importlib.util, json, sys\n"
        f"specs = {{m: importlib.util.find_spec(m) for m in {sorted(modules)!r}}}\n"
        "print(json.dumps([{m: s.origin if s else None for m, s in specs.items()},\n"
        f"    [m for m in {HEAVY!r} if m in sys.modules]]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    origins, heavy = json.loads(out.stdout.strip().splitlines()[-1])
    assert heavy == []
    for module, origin in origins.items():
        assert origin, f"{module} not found"
        if module.startswith(("daf_core", "daf_dagster")):
            assert origin.startswith(str(REPO)), (module, origin)  # DAF's own sources, as the image copies


def test_dagster_image_has_what_its_services_and_instance_load():
    """The webserver and the daemon run in the Dagster-only image: their scripts and the modules their
    instance (docker/dagster.yaml) loads come from the packages of requirements-dagster.txt."""
    lines = (DOCKER / "requirements-dagster.txt").read_text().splitlines()
    shipped = {
        canonicalize_name(Requirement(line).name) for line in lines if line and not line.startswith("#")
    }
    scripts = console_scripts()
    services = resolved()["services"]
    for name in ("daf_webserver", "daf_daemon"):
        assert services[name]["build"]["target"] == "dagster", name
        for argv in argvs()[name]:
            if argv[0] != "python":
                assert canonicalize_name(scripts[argv[0]].dist.name) in shipped, (name, argv[0])
    config = instance()
    providers = importlib.metadata.packages_distributions()
    modules = {config["run_coordinator"]["module"], config["run_launcher"]["module"], "dagster_postgres"}
    assert "postgres" in config["storage"]
    for module in modules:
        top = module.split(".")[0]
        assert {canonicalize_name(d) for d in providers[top]} & shipped, module
