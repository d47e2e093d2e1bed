"""Policy-server cost: act latency and throughput of ``daf serve`` on loopback, beside the same policy
called in the benchmark's own process on the same observations.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_server.py [--requests 400] [--clients 1 16] [--reps 3]

The policy is an lstm (untrained weights, seeded) packaged for ``explore`` (4 agents, 500 tokens each);
the observations are recorded from real ``explore`` episodes with random actions. Each act request
carries one step of all 4 agents. Measured:

* in process, the server's own code without HTTP (``daf_core.server.policies``: the network's batched
  forward for the 4 agents and the sampling) and mettagrid's per-agent path (``agent_policy(i).step`` for
  each agent, what ``cogames.evaluate`` does per step);
* through the server: latency per request as the client sees it (p50/p99) and requests per second, with
  1 client and with 16 concurrent clients (each its own session, requests back to back).

``ratio`` is server p50 / in-process p50 of the same computation: what HTTP, JSON and the server add.
The whole set is repeated ``--reps`` times against the same server; each figure is the median of its
repetitions (min and max beside it). Writes bench/results/server.json (atomically) and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from measure import add_reps_argument, figure, machine, ratio
from rich.console import Console
from rich.table import Table

from daf_core._internal.atomic import atomic_write_json
from daf_core._internal.process_state import import_preserving_process_state
from daf_core._internal.seeding import seed_everything
from daf_core._internal.threads import limit_threads
from daf_core.deployment import daf_deploy_policy, daf_package_policy
from daf_core.deployment.remote_policy import observation_batch
from daf_core.missions import load_mission

MISSION = "explore"
RESULTS = Path(__file__).parent / "results" / "server.json"
_LISTENING = re.compile(r"Uvicorn running on http://([\d.]+):(\d+)")


def record_observations(steps: int, seed: int) -> tuple[list[list], np.ndarray]:
    """``steps`` steps of ``explore`` with random moves: per step the agents' observation objects (for
    mettagrid's per-agent path) and the same as one (steps, agents, tokens, 3) array (for the server)."""
    simulator = import_preserving_process_state("mettagrid.simulator")
    interface_module = import_preserving_process_state("mettagrid.policy.policy_env_interface")
    env_cfg = load_mission(MISSION)
    interface = interface_module.PolicyEnvInterface.from_mg_cfg(env_cfg)
    rng = np.random.default_rng(seed)
    per_step, arrays = [], []
    episode = 0
    sim = simulator.Simulator().new_simulation(env_cfg, seed)
    while len(per_step) < steps:
        if sim.is_done():
            sim.close()
            episode += 1
            sim = simulator.Simulator().new_simulation(env_cfg, seed + episode)
        agents = sim.agents()
        observations = [agent.observation for agent in agents]
        per_step.append(observations)
        arrays.append(observation_batch(observations, tuple(interface.observation_shape)))
        for agent in agents:
            agent.set_action(simulator.Action(name=str(rng.choice(interface.action_names))))
        sim.step()
    sim.close()
    return per_step, np.stack(arrays)


def lstm_bundle(directory: Path, seed: int) -> tuple[Path, Path]:
    """An untrained, seeded lstm for ``explore``: (bundle, weights file)."""
    lstm = import_preserving_process_state("mettagrid.policy.lstm")
    interface_module = import_preserving_process_state("mettagrid.policy.policy_env_interface")
    seed_everything(seed)
    policy = lstm.LSTMPolicy(interface_module.PolicyEnvInterface.from_mg_cfg(load_mission(MISSION)))
    weights = directory / "lstm.pt"
    policy.save_policy_data(str(weights))
    packaged = daf_package_policy(
        "lstm", weights, policy_name="bench", version="0.1.0", output_dir=directory, mission=MISSION
    )
    if not packaged.ok:
        raise RuntimeError(packaged.message)
    return packaged.package_path, weights


def percentiles(latencies_s: list[float]) -> dict[str, float]:
    ms = np.asarray(latencies_s) * 1000.0
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
    }


def time_in_process(bundle: Path, per_step: list[list], arrays: np.ndarray, weights: Path) -> dict:
    """The server's compute without the server, and mettagrid's per-agent path, on the same steps."""
    policies = import_preserving_process_state("daf_core.server.policies")
    settings = import_preserving_process_state("daf_core.server.settings")
    lstm = import_preserving_process_state("mettagrid.policy.lstm")
    loaded = policies.load_policy(bundle, tuple(settings.DEFAULT_ALLOWED_CLASS_PATHS))
    player = loaded.new_player(0)
    agent_ids = list(range(arrays.shape[1]))
    batched = []
    for step in arrays:
        started = time.perf_counter()
        player.act(step, agent_ids)
        batched.append(time.perf_counter() - started)

    per_agent_policy = lstm.LSTMPolicy(loaded.env_interface)
    per_agent_policy.load_policy_data(str(weights))
    agents = [per_agent_policy.agent_policy(i) for i in agent_ids]
    for agent in agents:
        agent.reset()
    per_agent = []
    for observations in per_step:
        started = time.perf_counter()
        for agent, observation in zip(agents, observations, strict=True):
            agent.step(observation)
        per_agent.append(time.perf_counter() - started)
    return {
        "server_code_batched": percentiles(batched)
        | {"requests_per_s": round(len(batched) / sum(batched), 1)},
        "mettagrid_per_agent": percentiles(per_agent)
        | {"requests_per_s": round(len(per_agent) / sum(per_agent), 1)},
    }


async def _client(
    url: str, token: str, arrays: np.ndarray, count: int, offset: int, warmup: int
) -> list[float]:
    """One session: ``warmup`` untimed requests, then ``count`` timed ones, back to back."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
        session = (await http.post("/v1/policies/bench/sessions", json={"seed": offset})).json()["session_id"]
        bodies = [
            {
                "observations": base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii"),
                "shape": list(a.shape),
                "agent_ids": None,
            }
            for a in arrays
        ]
        latencies, handler = [], []
        for k in range(warmup + count):
            body = bodies[(offset + k) % len(bodies)]
            started = time.perf_counter()
            response = await http.post(f"/v1/sessions/{session}/act", json=body)
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            if k >= warmup:
                latencies.append(elapsed)
                handler.append(response.json()["latency_ms"] / 1000.0)
        await http.delete(f"/v1/sessions/{session}")
    return latencies, handler


async def _load(url: str, token: str, arrays: np.ndarray, clients: int, requests: int, warmup: int) -> dict:
    per_client = max(1, requests // clients)
    started = time.perf_counter()
    results = await asyncio.gather(
        *(_client(url, token, arrays, per_client, 97 * c, warmup) for c in range(clients))
    )
    wall = time.perf_counter() - started
    latencies = [x for seen, _ in results for x in seen]
    handler = [x for _, inside in results for x in inside]
    # Throughput over the timed requests only: the wall clock includes each client's warm-up.
    busy = max(sum(seen) for seen, _ in results)
    return percentiles(latencies) | {
        "act_handler_p50_ms": percentiles(handler)["p50_ms"],
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / busy, 1),
        "wall_s": round(wall, 2),
    }


def start_server(store: Path) -> tuple[subprocess.Popen, str, dict[str, str], Path]:
    """``daf serve`` on a free loopback port in its own process group; (process, url, tokens, log)."""
    command = [sys.executable, "-m", "daf_core.cli"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "METTAGRID_LOG_LEVEL": "WARNING"}
    store_args = ["--store-dir", str(store)]
    tokens = {}
    for scope in ("admin", "act"):
        done = subprocess.run(
            [*command, "token", "create", "--name", scope, "--scope", scope, *store_args],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        tokens[scope] = done.stdout.strip()
    log = store / "server.log"
    validation = [
        "--validation-mission",
        MISSION,
        "--validation-episodes",
        "1",
        "--validation-max-steps",
        "20",
    ]
    with open(log, "w") as out:
        process = subprocess.Popen(
            [*command, "serve", *store_args, "--host", "127.0.0.1", "--port", "0", *validation],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daf serve exited:\n{log.read_text()}")
        found = _LISTENING.findall(log.read_text())
        if found:
            url = f"http://{found[-1][0]}:{found[-1][1]}"
            try:
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    return process, url, tokens, log
            except httpx.TransportError:
                pass
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    raise RuntimeError(f"daf serve not ready in 180 s:\n{log.read_text()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="timed act requests per load level")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--warmup", type=int, default=10, help="untimed requests per client first")
    parser.add_argument("--seed", type=int, default=0)
    add_reps_argument(parser)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    limit_threads(1)
    before = machine()

    with tempfile.TemporaryDirectory(prefix="daf_bench_server_") as tmp:
        directory = Path(tmp)
        per_step, arrays = record_observations(args.requests, args.seed)
        bundle, weights = lstm_bundle(directory, args.seed)
        process, url, tokens, _log = start_server(directory / "store")
        try:
            deployed = daf_deploy_policy("bench", bundle, url, tokens["admin"])
            if not deployed.ok:
                raise RuntimeError(deployed.message)
            reps = []
            for rep in range(args.reps):
                measured = dict(time_in_process(bundle, per_step, arrays, weights))
                for clients in args.clients:
                    measured[f"server_{clients}_clients"] = asyncio.run(
                        _load(url, tokens["act"], arrays, clients, args.requests, args.warmup)
                    )
                print(f"  rep {rep + 1}/{args.reps}: {measured}", flush=True)
                reps.append(measured)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)

    paths = {name: [rep[name] for rep in reps] for name in reps[0]}
    figures = {name: {key: figure(runs, key) for key in runs[0]} for name, runs in paths.items()}
    baseline = [rep["server_code_batched"] for rep in reps]
    result = {
        "work": {
            **{key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()},
            "mission": MISSION,
            "agents_per_request": int(arrays.shape[1]),
            "observation_shape": list(arrays.shape[2:]),
            "policy": "lstm (untrained, seeded)",
        },
        "machine": before,
        "machine_after": machine(),
        "reps": args.reps,
        "in_process": {name: figures[name] for name in ("server_code_batched", "mettagrid_per_agent")},
        **{name: figures[name] for name in paths if name.startswith("server_")},
        "ratio_server_p50_vs_in_process": {
            name: ratio(paths[name], baseline, "p50_ms") for name in paths if name.startswith("server_")
        },
    }
    atomic_write_json(args.output, result)

    table = Table(title=f"act: lstm on {MISSION}, {arrays.shape[1]} agents per request (medians)")
    for column in ("", "p50 ms", "p99 ms", "requests/s"):
        table.add_column(column, justify="right" if column else "left")
    for name, row in figures.items():
        table.add_row(
            name.replace("_", " "),
            f"{row['p50_ms']['median']:.2f}",
            f"{row['p99_ms']['median']:.2f}",
            f"{row['requests_per_s']['median']:.0f}",
        )
    Console().print(table)
    print(f"written: {args.output}")


if __name__ == "__main__":
    main()
