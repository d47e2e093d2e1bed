"""The shape of daf_core, checked: layers, no import cycles, light packages stay light, imports stay polite.

These are the boundaries of ../shared/design.md made executable: a lower layer never imports a higher
one, no module imports itself through a cycle, the packages a Dagster code location or a report reader
needs load neither mettagrid nor torch, and mettagrid/PufferLib (which reconfigure the root logger and
the SIGINT handler when imported) are only ever imported behind DAF's process-state guard.
"""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "daf_core"

#: Each top-level part of daf_core and its layer: a module may import its own layer or lower ones only.
LAYERS = {
    "_internal": 0,
    "records": 1,
    "stats": 1,
    "tracking": 1,
    "config": 2,
    "missions": 3,
    "environment_checks": 3,
    "evaluation": 4,
    "comparison": 5,
    "crossplay": 5,
    "training": 5,
    "distributed_training": 6,
    "sweeps": 6,
    "deployment": 6,
    "server": 7,
    "cli": 8,
    "demo": 7,
    "orchestrators": 8,
    "visualization": 7,
}
#: Packages whose ``__init__`` imports mettagrid/PufferLib behind the guard; their modules may import it.
GUARDED = ("missions", "evaluation", "training")
SIDE_EFFECT_IMPORTS = ("mettagrid", "pufferlib", "cogames")
#: What must stay importable without the simulator or torch (Dagster definitions, report readers).
LIGHT = [
    "daf_core",
    "daf_core._internal.atomic",
    "daf_core._internal.checkpoint_files",
    "daf_core.stats",
    "daf_core.records",
    "daf_core.config",
    "daf_core.tracking",
    "daf_core.comparison",
    "daf_core.crossplay",
    "daf_core.sweeps",
    "daf_core.environment_checks",
    "daf_core.visualization",
    "daf_core.deployment",
    "daf_core.server",
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def part_of(module: str) -> str:
    return module.split(".")[1] if module.count(".") >= 1 else ""


def is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports(module: str) -> list[tuple[str, bool]]:
    """(imported module, only under TYPE_CHECKING) for every import statement in the module, at any depth.

    ``from pkg import name`` counts as importing ``pkg.name`` when that is a module, else ``pkg``.
    """
    tree = ast.parse(MODULES[module].read_text())
    package = module if MODULES[module].name == "__init__.py" else module.rsplit(".", 1)[0]
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, typing_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            guarded = typing_only or is_type_checking_block(child)
            if isinstance(child, ast.Import):
                found.extend((alias.name, guarded) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - child.level + 1] + [base])
                for alias in child.names:
                    candidate = f"{base}.{alias.name}"
                    found.append((candidate if candidate in MODULES else base, guarded))
            visit(child, guarded)

    visit(tree, False)
    return found


def daf_imports(module: str) -> set[str]:
    return {name for name, _ in imports(module) if name.split(".")[0] == "daf_core" and name != module}


def test_every_part_of_daf_core_has_a_layer():
    parts = {part_of(m) for m in MODULES if m != "daf_core"}
    assert parts <= set(LAYERS), f"give these a layer in LAYERS: {sorted(parts - set(LAYERS))}"


def test_lower_layers_never_import_higher_ones():
    upward = [
        f"{module} (layer {LAYERS[part_of(module)]}) imports {target} (layer {LAYERS[part_of(target)]})"
        for module in MODULES
        if module != "daf_core"
        for target in daf_imports(module)
        if target != "daf_core" and LAYERS[part_of(target)] > LAYERS[part_of(module)]
    ]
    assert upward == []


def test_there_is_no_import_cycle():
    graph = {module: daf_imports(module) & set(MODULES) for module in MODULES}
    cycles: list[list[str]] = []
    state: dict[str, str] = {}

    def walk(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                cycles.append(path[path.index(target) :] + [target])
            elif target not in state:
                walk(target, [*path, target])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            walk(module, [module])
    assert cycles == []


def test_daf_core_never_imports_dagster():
    assert [m for m in MODULES for name, _ in imports(m) if name.split(".")[0] == "dagster"] == []


def test_simulator_packages_are_imported_only_behind_the_process_state_guard():
    """mettagrid configures the root logger and PufferLib replaces the SIGINT handler when first imported.

    Only the guarded packages (whose ``__init__`` imports them through ``import_preserving_process_state``
    before anything else) import them directly; elsewhere they are reached through those packages or
    the guard function, or named for type checkers only.
    """
    direct = [
        f"{module} imports {name}"
        for module in MODULES
        if part_of(module) not in GUARDED
        for name, typing_only in imports(module)
        if name.split(".")[0] in SIDE_EFFECT_IMPORTS and not typing_only
    ]
    assert direct == []
    for package in GUARDED:
        calls = [
            node
            for node in ast.parse(MODULES[f"daf_core.{package}"].read_text()).body[:4]
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
        ]
        guarded = {
            c.value.args[0].value for c in calls if c.value.func.id == "import_preserving_process_state"
        }
        assert "mettagrid" in guarded, f"daf_core.{package} must import mettagrid behind the guard first"


def loaded_after_import(module: str) -> dict:
    """Import ``module`` in a fresh interpreter; report heavy packages loaded and process state changed."""
    probe = f"""
import json, logging, signal, sys
root = logging.getLogger()
before = (list(root.handlers), root.level, signal.getsignal(signal.SIGINT), sys.excepthook)
import {module}
after = (list(root.handlers), root.level, signal.getsignal(signal.SIGINT), sys.excepthook)
print(json.dumps({{
    "heavy": sorted(m for m in ("mettagrid", "torch", "cogames", "pufferlib", "dagster") if m in sys.modules),
    "changed": [name for name, a, b in zip(("handlers", "level", "sigint", "excepthook"), before, after)
                if a != b],
}}))
"""
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", LIGHT)
def test_light_packages_load_neither_the_simulator_nor_torch(module):
    assert loaded_after_import(module) == {"heavy": [], "changed": []}


@pytest.mark.parametrize("module", ["daf_core.missions", "daf_core.evaluation", "daf_core.training"])
def test_importing_a_simulator_package_leaves_the_callers_process_as_it_was(module):
    assert loaded_after_import(module)["changed"] == []
