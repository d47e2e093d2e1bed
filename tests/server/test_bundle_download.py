"""Downloading a stored bundle: ``GET /v1/policies/{p}/versions/{v}/bundle`` and the client's
``download_bundle``/``fetch_active_bundle``, against the real server (SQLite and PostgreSQL stores).

The client keeps only bytes whose SHA-256 is the one the server recorded at upload, so a damaged store
is caught by the client, not served on as a working policy.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from daf_core.deployment import PolicyServerClient, PolicyServerError, fetch_active_bundle
from daf_core.deployment.client import BUNDLE_SHA256_HEADER
from tests.server.running_server import RunningServer


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stored_file(server: RunningServer, policy_name: str, version: str) -> Path:
    """The bundle file the server keeps for a version (``<store>/bundles/<policy>/<version>-<id>.zip``)."""
    (found,) = (server.store_dir / "bundles" / policy_name).glob(f"{version}-*.zip")
    return found


def test_a_version_downloads_as_the_bytes_that_were_uploaded(server: RunningServer, test_bundles, tmp_path):
    bundle = test_bundles.lstm
    server.upload_ok("download-exact", bundle)
    with server.client(server.act_token) as http:  # any valid token may read
        response = http.get("/v1/policies/download-exact/versions/1.0.0/bundle")
    assert response.status_code == 200, response.text
    assert response.content == bundle.read_bytes()
    assert response.headers[BUNDLE_SHA256_HEADER] == sha256(bundle)
    assert response.headers["content-type"] == "application/zip"
    assert 'filename="download-exact-1.0.0.zip"' in response.headers["content-disposition"]

    with PolicyServerClient(server.url, server.act_token) as client:
        path = client.download_bundle("download-exact", "1.0.0", tmp_path / "fetched")
    assert path == tmp_path / "fetched" / "download-exact-1.0.0.zip"
    assert path.read_bytes() == bundle.read_bytes()
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no partial file left


def test_unknown_rejected_and_unauthorised_downloads_are_refused(
    server: RunningServer, test_bundles, tmp_path
):
    server.upload_ok("download-refused", test_bundles.lstm)
    rejected = server.upload("download-refused", test_bundles.noop, version="2.0.0")
    assert rejected.status_code == 422, rejected.text  # a policy that only emits no-ops fails validation
    with PolicyServerClient(server.url, server.admin_token) as client:
        with pytest.raises(PolicyServerError, match="has no version '9.9.9'") as unknown_version:
            client.download_bundle("download-refused", "9.9.9", tmp_path)
        with pytest.raises(PolicyServerError, match="'nobody' is not known") as unknown_policy:
            client.download_bundle("nobody", "1.0.0", tmp_path)
        with pytest.raises(
            PolicyServerError, match="was rejected: the bundle of a version that failed"
        ) as gone:
            client.download_bundle("download-refused", "2.0.0", tmp_path)
    assert (
        unknown_version.value.status_code == unknown_policy.value.status_code == gone.value.status_code == 404
    )
    with PolicyServerClient(server.url) as anonymous:
        with pytest.raises(PolicyServerError) as no_token:
            anonymous.download_bundle("download-refused", "1.0.0", tmp_path)
    assert no_token.value.status_code == 401
    assert list(tmp_path.iterdir()) == []


def test_a_damaged_stored_bundle_is_refused_naming_both_digests(
    server: RunningServer, test_bundles, tmp_path
):
    bundle = test_bundles.lstm
    server.upload_ok("download-damaged", bundle)
    stored = stored_file(server, "download-damaged", "1.0.0")
    damaged = bytearray(stored.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    stored.write_bytes(bytes(damaged))
    dest = tmp_path / "fetched"
    with PolicyServerClient(server.url, server.admin_token) as client:
        with pytest.raises(PolicyServerError) as mismatch:
            client.download_bundle("download-damaged", "1.0.0", dest)
    message = str(mismatch.value)
    assert sha256(bundle) in message and hashlib.sha256(damaged).hexdigest() in message
    assert mismatch.value.detail == {
        "recorded_sha256": sha256(bundle),
        "received_sha256": hashlib.sha256(damaged).hexdigest(),
    }
    assert list(dest.iterdir()) == []  # neither the target nor the partial file

    stored.unlink()
    with PolicyServerClient(server.url, server.admin_token) as client:
        with pytest.raises(PolicyServerError, match="the stored bundle file is missing") as missing:
            client.download_bundle("download-damaged", "1.0.0", dest)
    assert missing.value.status_code == 500


def test_fetch_active_bundle_follows_the_active_version(server: RunningServer, test_bundles, tmp_path):
    policy = "download-active"
    assert fetch_active_bundle(server.url, server.act_token, policy, tmp_path) is None  # unknown policy
    server.upload_ok(policy, test_bundles.lstm)
    server.upload_ok(policy, test_bundles.lstm, version="1.1.0+nightly.3")
    assert fetch_active_bundle(server.url, server.act_token, policy, tmp_path) is None  # none activated
    with PolicyServerClient(server.url, server.admin_token) as admin:
        admin.activate(policy, "1.1.0+nightly.3", reason="test")
    version, path = fetch_active_bundle(server.url, server.act_token, policy, tmp_path)
    assert (version, path.name) == ("1.1.0+nightly.3", f"{policy}-1.1.0+nightly.3.zip")
    assert path.read_bytes() == test_bundles.lstm.read_bytes()
    with PolicyServerClient(server.url, server.admin_token) as admin:
        admin.activate(policy, "1.0.0", reason="test")
    assert fetch_active_bundle(server.url, server.act_token, policy, tmp_path)[0] == "1.0.0"
    with pytest.raises(PolicyServerError) as forbidden:
        fetch_active_bundle(server.url, "not-a-token", policy, tmp_path)
    assert forbidden.value.status_code in (401, 403)
