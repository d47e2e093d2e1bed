"""The ``gpu`` pool for real: an instance made from the repository's dagster.yaml gives the pool one slot,
and two runs of a step in that pool, started at once, run one after the other (the second waits for
the first's slot). docker/dagster.yaml sets the same pool limit beside its run queue (checked through
Dagster's own reading of it: that instance needs PostgreSQL)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
from dagster._core.instance.config import ConcurrencyConfig, dagster_instance_config
from dagster._core.instance.ref import InstanceRef
from dagster._core.run_coordinator import QueuedRunCoordinator

from daf_dagster.assets.training import GPU_POOL

REPO = Path(__file__).resolve().parents[2]
HOLD_S = 1.5


#: One run of a step in the gpu pool (as training_checkpoints is) that records when it held the slot;
#: each run is its own process, as runs are.
GPU_STEP_RUN = """
import json, sys, time
import dagster as dg
from daf_dagster.assets.training import GPU_POOL

partition, log, hold = sys.argv[1], sys.argv[2], float(sys.argv[3])

@dg.asset(pool=GPU_POOL, partitions_def=dg.StaticPartitionsDefinition(["a", "b"]))
def gpu_work(context: dg.AssetExecutionContext) -> None:
    started = time.time()
    time.sleep(hold)
    with open(log, "a") as out:
        out.write(json.dumps([context.partition_key, started, time.time()]) + "\\n")

with dg.DagsterInstance.get() as instance:
    assert dg.materialize([gpu_work], instance=instance, partition_key=partition).success
"""


def test_repo_instance_serialises_the_gpu_pool(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        instance.get_runs()  # the databases made once, not by two runs racing to make them
    log = tmp_path / "held.jsonl"
    env = {**os.environ, "DAGSTER_HOME": str(home), "OMP_NUM_THREADS": "1"}
    runs = [
        subprocess.Popen(
            [sys.executable, "-W", "ignore", "-c", GPU_STEP_RUN, key, str(log), str(HOLD_S)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for key in ("a", "b")
    ]
    try:
        outputs = [run.communicate(timeout=120)[0] for run in runs]
    finally:
        for run in runs:
            run.kill()
    assert [run.returncode for run in runs] == [0, 0], [out[-3000:] for out in outputs]

    spans = sorted((start, end) for _, start, end in map(json.loads, log.read_text().splitlines()))
    assert len(spans) == 2 and spans[1][0] >= spans[0][1]  # the second started after the first ended
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        pools = instance.get_concurrency_config().pool_config
        assert pools.default_pool_limit == 1 and pools.pool_granularity.value == "op"
        info = instance.event_log_storage.get_concurrency_info(GPU_POOL)
        assert info.slot_count == 1 and info.active_slot_count == 0  # one slot, released by both runs


def test_docker_instance_limits_the_gpu_pool_beside_its_queue():
    config, _ = dagster_instance_config(str(REPO / "docker"))  # validates the whole instance schema
    settings = ConcurrencyConfig.from_concurrency_settings(
        config["concurrency"],
        QueuedRunCoordinator(**config["run_coordinator"].get("config", {})).get_run_queue_config(),
    )
    assert settings.pool_config.default_pool_limit == 1
    assert settings.pool_config.pool_granularity.value == "op"
    assert settings.run_queue_config.max_concurrent_runs == 4
