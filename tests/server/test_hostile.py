"""Hostile uploads are refused and leave no trace: not in the store directory, not in the database.

Each attack starts from a good bundle (made by ``daf_package_policy``) and adds what an attacker would:
an entry escaping the store, a symbolic link, a zip bomb (by ratio, total size, entry count), a
changed file, a class shipped inside the bundle, a weights file that runs code when unpickled, or just
too many bytes. The server's limits here are the ``server`` fixture's (2 MiB uploads, 16 MiB inflated).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.server import bundles
from tests.server.conftest import MAX_UPLOAD_BYTES
from tests.server.running_server import RunningServer


def _store_files(server: RunningServer) -> set[str]:
    return {str(path.relative_to(server.store_dir)) for path in server.store_dir.rglob("*")}


def _assert_nothing_written(server: RunningServer, policy: str, files_before: set[str]) -> None:
    assert _store_files(server) == files_before
    with server.client() as admin:
        assert admin.get(f"/v1/policies/{policy}/versions").status_code == 404
        assert policy not in admin.get("/health").json()["policies"]


ATTACKS = {
    "zip_slip": (bundles.zip_slip, "'..'"),
    "symlink": (bundles.symlink, "symbolic link"),
    "ratio_bomb": (bundles.ratio_bomb, "zip bomb"),
    "size_bomb": (
        lambda good, out: bundles.size_bomb(good, out, entries=24, entry_bytes=(1 << 20) - 1),
        "max_uncompressed",
    ),
    "entry_count_bomb": (lambda good, out: bundles.entry_count_bomb(good, out, entries=300), "max_entries"),
    "tampered_weights": (lambda good, out: bundles.tampered(good, out, "walker.pt"), "SHA-256"),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_an_unsafe_or_tampered_archive_is_refused_with_400_and_nothing_written(
    server: RunningServer, test_bundles, tmp_path: Path, attack: str
):
    make, expected = ATTACKS[attack]
    hostile = make(test_bundles.lstm, tmp_path / f"{attack}.zip")
    assert hostile.stat().st_size < MAX_UPLOAD_BYTES  # refused for what it is, not for its size
    files_before = _store_files(server)
    response = server.upload(f"hostile-{attack}", hostile, version="1.0.0")
    assert response.status_code == 400, response.text
    assert expected in response.json()["detail"]
    _assert_nothing_written(server, f"hostile-{attack}", files_before)
    assert not (server.store_dir.parent / "escaped.txt").exists()


def test_a_class_shipped_inside_the_bundle_is_never_imported(server: RunningServer, tmp_path: Path):
    marker = tmp_path / "bundle_code_ran"
    package = bundles.bundled_policy_package(tmp_path / "src", marker)
    bundle = bundles.package(
        tmp_path, "shipped_policy.ShippedPolicy", additional_files=[package], policy_name="smuggler"
    )
    files_before = _store_files(server)
    response = server.upload("smuggler", bundle)
    assert response.status_code == 400, response.text
    assert "not allowed on this server" in response.json()["detail"]
    assert not marker.exists()
    _assert_nothing_written(server, "smuggler", files_before)


def test_weights_that_run_code_when_unpickled_are_refused_by_weights_only_loading(
    server: RunningServer, tmp_path: Path
):
    marker = tmp_path / "unpickling_ran"
    weights = bundles.pickle_bomb_weights(tmp_path / "walker.pt", marker)
    bundle = bundles.package(tmp_path, "lstm", weights, policy_name="pickler")
    files_before = _store_files(server)
    response = server.upload("pickler", bundle)
    assert response.status_code == 400, response.text
    assert "weights_only=True" in response.json()["detail"]
    assert not marker.exists()
    _assert_nothing_written(server, "pickler", files_before)


def test_an_oversized_upload_is_refused_with_413_declared_or_streamed(server: RunningServer, test_bundles):
    payload = test_bundles.lstm.read_bytes() + bytes(MAX_UPLOAD_BYTES)
    files_before = _store_files(server)
    declared = server.upload("bloated", payload)
    assert declared.status_code == 413, declared.text

    def stream():  # no Content-Length: the server must count while it reads
        for start in range(0, len(payload), 1 << 16):
            yield payload[start : start + (1 << 16)]

    with server.client() as admin:
        streamed = admin.post(
            "/v1/policies/bloated/versions", content=stream(), headers={"Content-Type": "application/zip"}
        )
        assert streamed.status_code == 413, streamed.text
        big_json = admin.post(
            "/v1/policies/bloated/activate",
            content=b"{" + bytes(2 << 20) + b"}",
            headers={"Content-Type": "application/json"},
        )
        assert big_json.status_code == 413
    _assert_nothing_written(server, "bloated", files_before)


def test_an_upload_that_is_not_a_zip_is_refused(server: RunningServer, test_bundles):
    with server.client() as admin:
        wrong_type = admin.post(
            "/v1/policies/typed/versions",
            content=test_bundles.lstm.read_bytes(),
            headers={"Content-Type": "text/plain"},
        )
    assert wrong_type.status_code == 415
    garbage = server.upload("typed", hashlib.sha256(b"x").digest() * 100)
    assert garbage.status_code == 400 and "not a readable zip" in garbage.json()["detail"]
