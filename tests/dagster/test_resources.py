"""The resources DAF's assets run on: roots from the environment (never the working directory), DAFConfig
from a file, policy references, the policy server's endpoint and token (sent, never shown), and the
per-deployment dictionary."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest

from daf_dagster.io_managers import ParquetIOManager
from daf_dagster.resources import (
    DOCKER_OUTPUT_ROOT,
    REPO_ROOT,
    DAFResource,
    PolicyServerResource,
    resources_for,
)

TOKEN = "s3cret-token-never-shown"
ROOT_VARIABLES = ("DAF_OUTPUT_ROOT", "DAF_CHECKPOINT_ROOT", "DAF_CONFIG", "DAF_DEPLOYMENT")
SERVER_VARIABLES = ("DAF_POLICY_SERVER_URL", "DAF_POLICY_SERVER_TOKEN")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ROOT_VARIABLES + SERVER_VARIABLES:
        monkeypatch.delenv(name, raising=False)


# -- DAFResource --------------------------------------------------------------------------------------


def test_roots_default_to_the_repository_whatever_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    daf = DAFResource()
    assert daf.output_dir() == REPO_ROOT / "daf_output"
    assert daf.checkpoint_dir() == REPO_ROOT / "daf_output" / "checkpoints"
    # A relative root, from the environment or the resource, is taken from the repository too.
    monkeypatch.setenv("DAF_OUTPUT_ROOT", "elsewhere/out")
    assert DAFResource().output_dir() == REPO_ROOT / "elsewhere" / "out"
    assert DAFResource(checkpoint_root="ckpt").checkpoint_dir() == REPO_ROOT / "ckpt"


def test_roots_from_the_environment_and_overridden_by_the_resource(tmp_path, monkeypatch):
    monkeypatch.setenv("DAF_OUTPUT_ROOT", str(tmp_path / "out"))
    assert DAFResource().output_dir() == tmp_path / "out"
    assert DAFResource().checkpoint_dir() == tmp_path / "out" / "checkpoints"  # follows the output root
    monkeypatch.setenv("DAF_CHECKPOINT_ROOT", str(tmp_path / "runs"))
    assert DAFResource().checkpoint_dir() == tmp_path / "runs"
    explicit = DAFResource(output_root=str(tmp_path / "a"), checkpoint_root=str(tmp_path / "b"))
    assert (explicit.output_dir(), explicit.checkpoint_dir()) == (tmp_path / "a", tmp_path / "b")


def test_daf_config_comes_from_the_file_with_the_resource_roots(tmp_path, monkeypatch):
    config_file = tmp_path / "daf.yaml"
    config_file.write_text("max_parallel_jobs: 2\ntensorboard: false\noutput_dir: /ignored\n")
    daf = DAFResource(output_root=str(tmp_path / "out"), config_path=str(config_file))
    config = daf.daf_config()
    assert config.max_parallel_jobs == 2 and config.tensorboard is False
    assert config.output_dir == tmp_path / "out"
    assert config.checkpoint_dir == tmp_path / "out" / "checkpoints"

    # $DAF_CONFIG when the resource names no file; DAFConfig's defaults when neither does.
    monkeypatch.setenv("DAF_CONFIG", str(config_file))
    assert DAFResource().daf_config().max_parallel_jobs == 2
    monkeypatch.delenv("DAF_CONFIG")
    assert DAFResource().daf_config().max_parallel_jobs == 4

    config_file.write_text("max_parallel_jobs: 0\n")
    with pytest.raises(ValueError, match="max_parallel_jobs"):
        daf.daf_config()
    with pytest.raises(FileNotFoundError):
        DAFResource(config_path=str(tmp_path / "missing.yaml")).daf_config()


def test_output_and_checkpoint_paths_stay_under_their_roots(tmp_path):
    daf = DAFResource(output_root=str(tmp_path / "out"))
    path = daf.output_path("comparisons", "demo", "report.json")
    assert path == tmp_path / "out" / "comparisons" / "demo" / "report.json"
    assert path.parent.is_dir() and not path.exists()
    assert daf.checkpoint_path("run") == tmp_path / "out" / "checkpoints" / "run"
    for bad in ("..", "/etc", ""):
        with pytest.raises(ValueError, match="output_path"):
            daf.output_path("comparisons", bad)


def test_resolve_policy_finds_training_runs_by_name(tmp_path):
    daf = DAFResource(output_root=str(tmp_path))
    (tmp_path / "checkpoints" / "collect_lstm").mkdir(parents=True)
    assert daf.resolve_policy("training_run:collect_lstm") == str(tmp_path / "checkpoints" / "collect_lstm")
    assert daf.resolve_policy("random") == "random"
    assert daf.resolve_policy("class=lstm,data=/x.pt") == "class=lstm,data=/x.pt"
    with pytest.raises(FileNotFoundError, match="'nope'.*training_checkpoints"):
        daf.resolve_policy("training_run:nope")


# -- PolicyServerResource -----------------------------------------------------------------------------


@pytest.fixture
def header_server():
    """A loopback HTTP server answering /health like the policy server, recording each request's headers."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            seen.append(dict(self.headers))
            body = json.dumps({"status": "ok", "policies": {}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def test_policy_server_endpoint_and_token_from_the_environment(header_server, monkeypatch):
    url, seen = header_server
    assert PolicyServerResource().server_url() == "http://127.0.0.1:8000"
    monkeypatch.setenv("DAF_POLICY_SERVER_URL", url)
    monkeypatch.setenv("DAF_POLICY_SERVER_TOKEN", TOKEN)
    resource = PolicyServerResource()
    with resource.client() as client:
        assert client.health()["status"] == "ok"
    assert seen[-1]["Authorization"] == f"Bearer {TOKEN}"
    # Given in Python it is sent too, and stays out of the repr.
    explicit = PolicyServerResource(endpoint=url, token="other-token")
    with explicit.client() as client:
        client.health()
    assert seen[-1]["Authorization"] == "Bearer other-token"
    assert "other-token" not in repr(explicit) and "other-token" not in str(explicit)


def test_the_token_never_reaches_logs_or_metadata(header_server, monkeypatch, tmp_path):
    url, seen = header_server
    monkeypatch.setenv("DAF_POLICY_SERVER_TOKEN", TOKEN)

    @dg.asset
    def server_health(context: dg.AssetExecutionContext, policy_server: PolicyServerResource):
        context.log.info(f"asking {policy_server!r}")
        with policy_server.client() as client:
            return dg.MaterializeResult(metadata={"health": client.health(), "server": repr(policy_server)})

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [server_health], resources={"policy_server": PolicyServerResource(endpoint=url)}, instance=instance
    )
    assert result.success and seen[-1]["Authorization"] == f"Bearer {TOKEN}"
    records = instance.all_logs(result.run_id)
    assert records and all(TOKEN not in str(record) for record in records)
    assert any("PolicyServerResource(endpoint=" in record.user_message for record in records)


# -- per deployment -----------------------------------------------------------------------------------


def test_resources_for_each_deployment(monkeypatch, tmp_path):
    local = resources_for()
    assert set(local) == {"daf", "policy_server", "parquet_io_manager"}
    assert isinstance(local["parquet_io_manager"], ParquetIOManager)
    monkeypatch.setenv("DAF_OUTPUT_ROOT", str(tmp_path))
    assert local["daf"].output_dir() == tmp_path  # read when used, not when the definitions load
    assert local["parquet_io_manager"].root() == tmp_path / "dagster_io"

    docker = resources_for("docker")
    assert docker["daf"].output_dir() == Path(DOCKER_OUTPUT_ROOT)
    assert docker["parquet_io_manager"].root() == Path(DOCKER_OUTPUT_ROOT) / "dagster_io"
    monkeypatch.setenv("DAF_DEPLOYMENT", "docker")
    assert resources_for()["daf"].output_dir() == Path(DOCKER_OUTPUT_ROOT)
    with pytest.raises(ValueError, match="deployment.*'prod'"):
        resources_for("prod")
