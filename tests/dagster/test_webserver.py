"""The Dagster UI as a user meets it: `dagster-webserver -w workspace.yaml` on loopback with a fresh
DAGSTER_HOME, a job launched through GraphQL with the same `launchRun` mutation the UI's Launchpad sends,
then the asset's page opened in headless Chromium, where the materialization's metadata must be shown.

The repo's dagster.yaml (default run coordinator: no daemon needed) is copied into the temporary home,
and DAF_OUTPUT_ROOT points the run's files into tmp_path. The screenshot is kept under tmp_path; the
README's copy (docs/images/dagster_asset.png) is written when missing or when DAF_UPDATE_SCREENSHOTS=1.
"""

import json
import os
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
from dagster._core.instance.ref import InstanceRef

from tests.visualization.test_browser import CHROMIUM_ARGS, skip_without_browser

REPO = Path(__file__).resolve().parents[2]
README_SCREENSHOT = REPO / "docs" / "images" / "dagster_asset.png"
JOB = "comparison_job"
ASSET = "comparison_report"
LAUNCH_RUN = """
mutation LaunchRun($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message stack }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
  }
}"""
LOCATIONS = """
{ workspaceOrError { ... on Workspace { locationEntries { name
    locationOrLoadError { __typename ... on RepositoryLocation { repositories { name } }
                          ... on PythonError { message } } } } } }"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
    assert "errors" not in body, body["errors"]
    return body["data"]


def wait_until_serving(server: subprocess.Popen, port: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while True:  # the webserver loads the code location before it serves
        assert server.poll() is None, "dagster-webserver exited"
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5).close()
            return
        except OSError:
            assert time.monotonic() < deadline, "dagster-webserver did not come up"
            time.sleep(0.5)


@pytest.fixture
def webserver(tmp_path):
    """The repo's workspace served on a free loopback port; the whole process group stopped afterwards."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    port = free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAF_OUTPUT_ROOT": str(tmp_path / "daf_output"),
        "OMP_NUM_THREADS": "1",
    }
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster-webserver")), "-w", "workspace.yaml"]
        + ["-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the run subprocesses go with it
    )
    try:
        wait_until_serving(server, port)
        yield port, home
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def wait_for_run(home: Path, run_id: str, timeout_s: float = 240) -> dg.DagsterRun:
    done = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
    deadline = time.monotonic() + timeout_s
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        while (run := instance.get_run_by_id(run_id)).status not in done:
            # A QUEUED run here would mean it waits for a daemon: the wrong run coordinator.
            assert time.monotonic() < deadline, f"run still {run.status.value}"
            time.sleep(0.5)
        materialization = instance.get_latest_materialization_event(dg.AssetKey(ASSET))
    assert run.status == dg.DagsterRunStatus.SUCCESS, run.status
    assert materialization is not None and materialization.run_id == run_id
    return materialization.asset_materialization.metadata


@pytest.mark.slow
def test_a_job_launched_like_the_ui_shows_its_metadata_on_the_asset_page(webserver, tmp_path):
    skip_without_browser()
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only this test needs it

    port, home = webserver
    (entry,) = graphql(port, LOCATIONS)["workspaceOrError"]["locationEntries"]
    location = entry["locationOrLoadError"]
    assert location["__typename"] == "RepositoryLocation", location
    (repository,) = location["repositories"]

    run_config = yaml.safe_load((REPO / "configs" / "dagster" / f"{JOB}.yaml").read_text())
    launched = graphql(
        port,
        LAUNCH_RUN,
        {
            "executionParams": {
                "selector": {
                    "repositoryLocationName": entry["name"],
                    "repositoryName": repository["name"],
                    "jobName": JOB,
                },
                "runConfigData": run_config,
                "executionMetadata": {"tags": []},
            }
        },
    )["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    metadata = wait_for_run(home, launched["run"]["runId"])
    floats = {key: value.value for key, value in metadata.items() if isinstance(value, dg.FloatMetadataValue)}
    assert floats, f"{ASSET} recorded no float metadata: {sorted(metadata)}"

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(f"http://127.0.0.1:{port}/assets/{ASSET}", wait_until="load")
            for key in metadata:  # every key the materialization recorded is listed on the page
                page.get_by_text(key, exact=True).first.wait_for(timeout=60_000)
            key, value = next(iter(floats.items()))
            row = page.locator("tr", has=page.get_by_text(key, exact=True)).first
            assert f"{value:.3f}"[:4] in row.inner_text(), row.inner_text()
            skip = page.get_by_role("button", name="Skip")  # the UI's first-visit newsletter dialog
            if skip.count():
                skip.click()
                skip.wait_for(state="detached")
            screenshot = tmp_path / "dagster_asset.png"
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert screenshot.stat().st_size > 10_000
    if not README_SCREENSHOT.exists() or os.environ.get("DAF_UPDATE_SCREENSHOTS") == "1":
        README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, README_SCREENSHOT)
