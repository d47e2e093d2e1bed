"""Bundles for the server tests, made the way a user makes them: weights saved by torch, packaged by
``daf_package_policy``; and hostile zips made from a good bundle by adding what an attacker would."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import torch
from mettagrid.policy.lstm import LSTMPolicy
from mettagrid.policy.policy_env_interface import PolicyEnvInterface

from daf_core.deployment import daf_package_policy
from daf_core.missions import load_mission

MISSION = "tiny_walk"
#: Spread of the test LSTM's random weights: wide enough that its hidden state visibly changes its
#: actions (about one in ten differs from a state-blind replay on tiny_walk), narrow enough that it still
#: walks around (PufferLib's small default initialisation makes an untrained LSTM almost state-blind).
WEIGHT_STD = 0.2


def mission_interface() -> PolicyEnvInterface:
    return PolicyEnvInterface.from_mg_cfg(load_mission(MISSION))


def lstm_weights(path: Path, seed: int = 0) -> Path:
    """A state_dict of mettagrid's LSTM for the test mission, random but fixed by ``seed``."""
    torch.manual_seed(seed)
    network = LSTMPolicy(mission_interface()).network()
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.normal_(0.0, WEIGHT_STD)
    torch.save(network.state_dict(), path)
    return path


def package(out: Path, class_path: str, weights: Path | None = None, **kwargs) -> Path:
    result = daf_package_policy(class_path, weights, output_dir=out, mission=MISSION, **kwargs)
    assert result.ok, result.message
    return result.package_path


class _OpensAFileWhenUnpickled:
    """Unpickling this calls ``open(marker, "w")``: what a malicious weights file would do, harmlessly."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def pickle_bomb_weights(path: Path, marker: Path) -> Path:
    torch.save({"_net.0.weight": _OpensAFileWhenUnpickled(marker)}, path)
    return path


def bundled_policy_package(root: Path, marker: Path) -> Path:
    """A package ``shipped_policy`` whose import writes ``marker``: code a bundle carries."""
    package_dir = root / "shipped_policy"
    package_dir.mkdir(parents=True)
    (package_dir / "__init__.py").write_text(
        f"open({str(marker)!r}, 'w').write('imported')\n"
        "from mettagrid.policy.noop import NoopPolicy\n\n\n"
        "class ShippedPolicy(NoopPolicy):\n    pass\n"
    )
    return package_dir


def with_extra_entry(bundle: Path, out: Path, info: zipfile.ZipInfo, data: bytes) -> Path:
    """A copy of ``bundle`` with one more entry (its manifest unchanged)."""
    with zipfile.ZipFile(bundle) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            target.writestr(entry, source.read(entry))
        target.writestr(info, data)
    return out


def zip_slip(bundle: Path, out: Path) -> Path:
    return with_extra_entry(bundle, out, zipfile.ZipInfo("../../escaped.txt"), b"outside the store")


def symlink(bundle: Path, out: Path) -> Path:
    info = zipfile.ZipInfo("weights_link.pt")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return with_extra_entry(bundle, out, info, b"/etc/passwd")


def ratio_bomb(bundle: Path, out: Path, megabytes: int = 8) -> Path:
    """One entry of zeros that inflates about a thousandfold."""
    info = zipfile.ZipInfo("padding.bin")
    info.compress_type = zipfile.ZIP_DEFLATED
    return with_extra_entry(bundle, out, info, bytes(megabytes << 20))


def size_bomb(bundle: Path, out: Path, entries: int, entry_bytes: int) -> Path:
    """Many entries just under the ratio rule's threshold, adding up past the total-size limit."""
    with zipfile.ZipFile(bundle) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            target.writestr(entry, source.read(entry))
        for k in range(entries):
            target.writestr(f"padding/{k}.bin", bytes(entry_bytes))
    return out


def entry_count_bomb(bundle: Path, out: Path, entries: int) -> Path:
    with zipfile.ZipFile(bundle) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            target.writestr(entry, source.read(entry))
        for k in range(entries):
            target.writestr(f"many/{k}.txt", b"")
    return out


def tampered(bundle: Path, out: Path, member: str) -> Path:
    """A copy of ``bundle`` whose ``member`` has one byte changed (the manifest still lists the old hash)."""
    with zipfile.ZipFile(bundle) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            data = source.read(entry)
            if entry.filename == member:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            target.writestr(entry, data)
    return out
