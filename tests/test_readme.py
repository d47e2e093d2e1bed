"""The README cannot drift from the code: its examples run here, and its layout is the tree.

Fences mean: ```python examples run, in order, as one script; ```shell examples run line by line
afterwards, in the same fresh directory (with a copy of ``configs/``); ```bash blocks are the set-up
commands of the README's first section (``make demo``, ``make test``, ``make install ...``), which CI and
the Dagster tests run themselves, so they hold nothing but ``make`` lines.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
BLOCKS = [(lang, body) for lang, body in FENCE.findall(README)]

pytestmark = pytest.mark.slow


def blocks(lang: str) -> list[str]:
    return [body for kind, body in BLOCKS if kind == lang]


def test_every_fence_is_an_example_or_a_setup_command():
    assert {lang for lang, _ in BLOCKS} <= {"python", "shell", "bash", "text"}
    for body in blocks("bash"):
        commands = [line.split("#")[0].strip() for line in body.splitlines()]
        assert all(not c or c.startswith("make ") for c in commands), body


@pytest.mark.slow(seconds=90)
def test_the_python_and_shell_examples_run(tmp_path):
    shutil.copytree(REPO / "configs", tmp_path / "configs")
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "OMP_NUM_THREADS": "1",
        "COLUMNS": "100",
    }
    script = "\n\n".join(blocks("python"))
    assert script, "the README has no Python examples"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, (
        f"README Python examples failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    )
    for body in blocks("shell"):
        for line in (line.strip() for line in body.splitlines()):
            if not line or line.startswith("#"):
                continue
            done = subprocess.run(
                line, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
            )
            assert done.returncode == 0, f"README shell example {line!r} failed:\n{done.stderr[-5000:]}"


def layout_entries() -> dict[str, str]:
    """The README's layout tree: path (relative to the repo) -> its description."""
    section = README.split("## Layout", 1)[1]
    tree = FENCE.search(section).group(2)
    entries: dict[str, str] = {}
    parents: list[tuple[int, str]] = []
    for line in tree.splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        name, _, description = line.strip().partition(" ")
        while parents and parents[-1][0] >= indent:
            parents.pop()
        path = "/".join([p for _, p in parents] + [name.rstrip("/")])
        entries[path] = description.strip()
        if name.endswith("/"):
            parents.append((indent, name.rstrip("/")))
    return entries


def test_the_layout_section_is_the_tree():
    entries = layout_entries()
    missing = sorted(path for path in entries if not (REPO / path).exists())
    assert missing == [], f"the README's layout names what does not exist: {missing}"
    package = REPO / "daf_core"
    parts = [*package.rglob("*.py"), *(p for p in package.rglob("*") if p.is_dir())]
    actual = {
        str(path.relative_to(REPO))
        for path in parts
        if path.name != "__init__.py" and "__pycache__" not in path.parts
    }
    unlisted = sorted(path for path in actual if path not in entries)
    assert unlisted == [], f"daf_core has parts the README's layout does not describe: {unlisted}"
