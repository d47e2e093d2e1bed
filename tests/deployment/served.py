"""Helpers for the tests that deploy to a real policy server: weights, bundles and a server to start.

The weights are an lstm network for ``tiny_walk`` made here in two flavours: ``untrained`` (the network as
mettagrid initialises it, seeded: it moves about like a random walker) and ``lazy`` (the same network with
its action head pinned to prefer noop: about 7% of its actions move, so it visits far fewer cells and
scores clearly less - a worse version that still passes validation, which refuses only-noop bundles).
"""

from __future__ import annotations

import socket
from pathlib import Path

from daf_core._internal.process_state import import_preserving_process_state
from daf_core._internal.seeding import seed_everything
from daf_core.deployment import daf_package_policy

MISSION = "tiny_walk"


def lstm_weights(path: Path, *, lazy: bool = False, seed: int = 0) -> Path:
    """An lstm state dict for :data:`MISSION`; ``lazy`` makes it choose noop ~93% of the time."""
    torch = import_preserving_process_state("torch")
    lstm = import_preserving_process_state("mettagrid.policy.lstm")
    missions = import_preserving_process_state("daf_core.missions")
    interface_module = import_preserving_process_state("mettagrid.policy.policy_env_interface")
    interface = interface_module.PolicyEnvInterface.from_mg_cfg(missions.load_mission(MISSION))
    seed_everything(seed)
    policy = lstm.LSTMPolicy(interface)
    net = policy.network()
    if lazy:
        with torch.no_grad():
            head = net._action_head
            head.weight.zero_()
            head.bias.zero_()
            head.bias[interface.action_names.index("noop")] = 4.0
    policy.save_policy_data(str(path))
    return path


def lstm_bundle(tmp_path: Path, version: str, *, lazy: bool = False, name: str = "walker") -> Path:
    """A DAF bundle of the lstm for :data:`MISSION` as ``<name>-<version>.zip``."""
    weights = lstm_weights(tmp_path / f"{name}-{version}.pt", lazy=lazy)
    result = daf_package_policy(
        "lstm", weights, policy_name=name, version=version, output_dir=tmp_path / "packages", mission=MISSION
    )
    assert result.ok, result.message
    return result.package_path


def free_port() -> int:
    """A loopback port nothing listens on (for the unreachable-endpoint cases)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
