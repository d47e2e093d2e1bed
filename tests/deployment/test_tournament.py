"""The cogames tournament target: the dry run shows exactly what cogames' own client then sends.

cogames' tournament server cannot be reached from here, so a small HTTP server on a loopback port plays
its part (the endpoints cogames 0.27.3's ``TournamentServerClient`` calls, and the presigned storage URL)
and records every request. The real submission runs through cogames' client; its requests are compared
with the dry run's list.
"""

import hashlib
import json
import socket
import threading
import uuid
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from daf_core.config import DAFDeploymentConfig
from daf_core.deployment import daf_deploy_policy, daf_submit_to_tournament
from daf_core.deployment.tournament import POLICY_VERSION_ID, PRESIGNED_UPLOAD_URL, REDACTED, UPLOAD_ID

TOKEN = "cogames-token-123"


class FakeTournament(BaseHTTPRequestHandler):
    """Answers like the tournament server and its storage; records (method, path, headers, body)."""

    def log_message(self, *args):  # keep the test output clean
        pass

    def _reply(self, status: int, body: dict | None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self) -> bytes:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append((self.command, self.path, dict(self.headers), body))
        return body

    def do_POST(self):
        self._record()
        base = f"http://127.0.0.1:{self.server.server_port}"
        if self.path == "/observatory/stats/policies/submit/presigned-url":
            self._reply(
                200,
                {"upload_url": f"{base}/storage/upload-1", "s3_key": "k", "upload_id": self.server.upload_id},
            )
        elif self.path == "/observatory/stats/policies/submit/complete":
            self._reply(200, {"id": self.server.version_id, "name": "walker", "version": 3})
        elif self.path.startswith("/observatory/tournament/seasons/"):
            self._reply(200, {"pools": ["qualifiers"]})
        else:
            self._reply(404, {"detail": "not found"})

    def do_PUT(self):
        self._record()
        self._reply(200, None)


@pytest.fixture
def tournament():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeTournament)
    server.seen, server.upload_id, server.version_id = [], str(uuid.uuid4()), str(uuid.uuid4())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def bundle(tmp_path):
    path = tmp_path / "walker.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("policy_spec.json", json.dumps({"class_path": "mettagrid.policy.lstm.LSTMPolicy"}))
    return path


def test_the_dry_run_lists_the_requests_cogames_then_sends(tournament, bundle):
    url = f"http://127.0.0.1:{tournament.server_port}"
    planned = daf_submit_to_tournament("walker", bundle, url, TOKEN, season="beta", dry_run=True)
    assert planned.status == "dry_run" and not planned.ok
    assert tournament.seen == []  # a dry run sends nothing
    assert TOKEN not in json.dumps(planned.details)  # nor shows the token

    sent = daf_submit_to_tournament("walker", bundle, url, TOKEN, season="beta", dry_run=False)
    assert sent.status == "success", sent.message
    assert sent.deployment_id == "walker:v3"
    assert sent.details["pools"] == ["qualifiers"]

    filled = {
        PRESIGNED_UPLOAD_URL: f"{url}/storage/upload-1",
        UPLOAD_ID: tournament.upload_id,
        POLICY_VERSION_ID: sent.details["policy_version_id"],
        REDACTED: TOKEN,
    }
    plan = planned.details["requests"]
    assert len(plan) == len(tournament.seen) == 4
    for expected, (method, path, headers, body) in zip(plan, tournament.seen, strict=True):
        assert method == expected["method"]
        assert f"http://127.0.0.1:{tournament.server_port}{path}" == filled.get(
            expected["url"], expected["url"]
        )
        for name, value in expected["headers"].items():
            assert headers.get(name) == filled.get(value, value)
        if method == "PUT":
            assert "X-Auth-Token" not in headers  # the presigned URL is the credential
            assert len(body) == expected["body"]["bytes"]
            assert hashlib.sha256(body).hexdigest() == expected["body"]["sha256"] == sha256(bundle)
        elif expected["json"] is not None:
            assert json.loads(body) == {k: filled.get(v, v) for k, v in expected["json"].items()}


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_config_chooses_the_tournament_target_and_its_dry_run(tournament, bundle):
    url = f"http://127.0.0.1:{tournament.server_port}"
    config = DAFDeploymentConfig(
        policy_name="walker",
        policy_class_path="lstm",
        deployment_endpoint=url,
        version="0.1.0",
        target="cogames_tournament",
        dry_run=True,
    )
    result = daf_deploy_policy("walker", bundle, url, TOKEN, config=config)
    assert result.status == "dry_run"
    assert result.details["target"] == "cogames_tournament"
    assert [r["url"] for r in result.details["requests"]][0].endswith(
        "/observatory/stats/policies/submit/presigned-url"
    )
    assert tournament.seen == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_tournament_server_is_a_failed_deployment_naming_it(bundle):
    url = f"http://127.0.0.1:{free_port()}"
    result = daf_submit_to_tournament("walker", bundle, url, TOKEN, dry_run=False)
    assert result.status == "deployment_failed"
    assert url in result.message


def test_a_submission_without_a_token_is_refused_before_sending(tournament, bundle, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.metta/cogames.yaml login here
    url = f"http://127.0.0.1:{tournament.server_port}"
    result = daf_submit_to_tournament("walker", bundle, url, None, dry_run=False)
    assert result.status == "deployment_failed"
    assert "cogames auth login" in result.message
    assert tournament.seen == []
