"""The Dagster instance of the scaled-out deployment, for real: docker/dagster.yaml's PostgreSQL storage
(``DAGSTER_PG_*`` pointed at a fresh database on the server at 127.0.0.1:5432, dropped afterwards), its
run queue and its concurrency pools; runs start as local subprocesses instead of containers (no Docker
engine here), the only section replaced. The storage must name psycopg2 as its driver (``scheme``; see
the first test for why).

* ``dagster job execute`` runs a job against it: the run, its events and its materialization are rows of
  that database.
* ``checkpoint_validation_sensor`` and ``promotion_sensor`` tick against it: the exact run requests,
  partitions and cursors, the partitions and package materializations read back from PostgreSQL.
* ``dagster job launch`` queues a run there, and ``dagster-daemon`` dequeues and launches it.
"""

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import psycopg2
import pytest
import yaml
from dagster._core.instance.ref import InstanceRef
from sqlalchemy.engine import make_url

from daf_dagster.partitions import TRAINING_RUNS
from daf_dagster.resources import DAFResource
from daf_dagster.sensors import CHECKPOINT_TAG, PACKAGE_TAG, checkpoint_validation_sensor, promotion_sensor
from tests.dagster.test_automation_e2e import stop_group
from tests.dagster.test_promotion_sensor import package
from tests.postgres import POSTGRES, fresh_postgres_database

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DOCKER_INSTANCE = REPO / "docker" / "dagster.yaml"
#: The quick benchmark suite, one episode per policy and mission: a real job, a few seconds of work.
BENCHMARK_CONFIG = {
    "ops": {
        "benchmark_results": {
            "config": {"policies": ["random", "noop"], "episodes_per_mission": 1, "max_parallel_jobs": 1}
        }
    }
}
RUN_TIMEOUT_S = 240


def instance_config() -> dict:
    """docker/dagster.yaml, less its Docker run launcher (the default launcher starts a subprocess)."""
    docker = yaml.safe_load(DOCKER_INSTANCE.read_text())
    assert docker["run_launcher"]["class"] == "DockerRunLauncher"
    return {key: value for key, value in docker.items() if key != "run_launcher"}


@dataclass
class PostgresDagster:
    home: Path
    output: Path
    database: str
    env: dict[str, str]
    instance: dg.DagsterInstance

    def rows(self, table: str) -> int:
        """Rows of ``table`` in the test database, read with psycopg2 (not through Dagster)."""
        with psycopg2.connect(dbname=self.database, **POSTGRES) as connection, connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - a table name of this test
            return cursor.fetchone()[0]

    def dagster(self, *args: str, timeout: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [str(BIN / "dagster"), *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
        return done


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresDagster]:
    # docker/dagster.yaml fixes the port (compose's PostgreSQL listens on 5432); the file is tested as it
    # is, so a change of port there must show here, not skip the whole module.
    assert docker_port() == POSTGRES["port"], (
        f"docker/dagster.yaml names port {docker_port()}, the test server listens on {POSTGRES['port']}"
    )
    root = tmp_path_factory.mktemp("postgres_dagster")
    home, output = root / "dagster_home", root / "daf_output"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance_config()))
    (root / "benchmark.yaml").write_text(yaml.safe_dump(BENCHMARK_CONFIG))
    with fresh_postgres_database("dagster") as url, pytest.MonkeyPatch.context() as patch:
        database = make_url(url).database
        pg_env = {
            "DAGSTER_PG_HOST": POSTGRES["host"],
            "DAGSTER_PG_USER": POSTGRES["user"],
            "DAGSTER_PG_PASSWORD": "",  # trust authentication
            "DAGSTER_PG_DB": database,
        }
        for name, value in pg_env.items():  # this process's instance reads them too
            patch.setenv(name, value)
        env = {
            **os.environ,
            **pg_env,
            "DAGSTER_HOME": str(home),
            "DAF_OUTPUT_ROOT": str(output),
            "DAF_AUTOMATION": "off",
            "OMP_NUM_THREADS": "1",
        }
        # The schema is created here, once, before the CLI and the daemon open the database.
        with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
            yield PostgresDagster(home, output, database, env, instance)


def docker_port() -> int:
    return int(yaml.safe_load(DOCKER_INSTANCE.read_text())["storage"]["postgres"]["postgres_db"]["port"])


def test_the_storage_opens_postgresql_with_psycopg2():
    # dagster-postgres 0.29.27 sends `NOTIFY run_events, :notify_id` with every event it stores. psycopg2
    # binds parameters in the client and PostgreSQL gets a literal; psycopg 3, which SQLAlchemy 2.1 opens
    # a plain postgresql:// URL with, binds them on the server, and PostgreSQL refuses a parameter there
    # (a syntax error at the first event). Without psycopg 3 installed, a plain URL does not even connect
    # ("No module named 'psycopg'"). So the deployment's storage names the driver.
    postgres_db = yaml.safe_load(DOCKER_INSTANCE.read_text())["storage"]["postgres"]["postgres_db"]
    assert postgres_db.get("scheme") == "postgresql+psycopg2", postgres_db


def test_the_instance_stores_everything_in_the_database(pg):
    instance = pg.instance
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    # The deployment's pools: every pool without a limit of its own gets one slot.
    assert instance.get_concurrency_config().pool_config.default_pool_limit == 1


def test_dagster_job_execute_runs_against_postgres(pg):
    pg.dagster(
        "job", "execute", "-m", "daf_dagster.definitions", "-j", "benchmark_job",
        "-c", str(pg.home.parent / "benchmark.yaml"), "--tags", json.dumps({"daf/test": "execute"}),
    )  # fmt: skip
    (run,) = pg.instance.get_runs(dg.RunsFilter(tags={"daf/test": "execute"}))
    assert run.status == dg.DagsterRunStatus.SUCCESS
    event = pg.instance.get_latest_materialization_event(dg.AssetKey("benchmark_results"))
    assert event is not None and event.run_id == run.run_id
    assert event.asset_materialization.partition == "quick"
    # In this database, not in a SQLite file beside it.
    assert pg.rows("runs") >= 1 and pg.rows("event_logs") > 10
    assert not list(pg.home.glob("**/*.db"))


def write_checkpoint(root: Path, run: str, name: str) -> None:
    """A fake checkpoint: the sensor reads only names."""
    run_dir = root / "checkpoints" / run
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / name).write_bytes(b"")


def test_the_checkpoint_sensor_ticks_against_postgres(pg):
    resources = {"daf": DAFResource(output_root=str(pg.output))}

    def tick(cursor: str | None):
        return checkpoint_validation_sensor(
            dg.build_sensor_context(instance=pg.instance, cursor=cursor, resources=resources)
        )

    write_checkpoint(pg.output, "pg_run_a", "model_000003.pt")
    first = tick(None)
    assert [(r.run_key, r.partition_key, r.tags) for r in first.run_requests] == [
        ("pg_run_a:model_000003.pt", "pg_run_a", {CHECKPOINT_TAG: "model_000003.pt"})
    ]
    assert [list(r.partition_keys) for r in first.dynamic_partitions_requests] == [["pg_run_a"]]
    assert json.loads(first.cursor) == {"pg_run_a": "model_000003.pt"}
    for request in first.dynamic_partitions_requests:  # what the daemon does with them
        pg.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    assert pg.instance.get_dynamic_partitions(TRAINING_RUNS.name) == ["pg_run_a"]
    assert pg.rows("dynamic_partitions") == 1

    assert isinstance(tick(first.cursor), dg.SkipReason)  # a restarted daemon: nothing again
    write_checkpoint(pg.output, "pg_run_a", "model_000012.pt")
    write_checkpoint(pg.output, "pg_run_b", "model_000001.pt")
    second = tick(first.cursor)
    assert [r.run_key for r in second.run_requests] == [
        "pg_run_a:model_000012.pt",
        "pg_run_b:model_000001.pt",
    ]
    # pg_run_a is a partition in PostgreSQL already: only pg_run_b is added.
    assert [list(r.partition_keys) for r in second.dynamic_partitions_requests] == [["pg_run_b"]]


def test_the_promotion_sensor_ticks_against_postgres(pg):
    def tick(cursor: str | None):
        return promotion_sensor(dg.build_sensor_context(instance=pg.instance, cursor=cursor))

    empty = tick(None)
    assert isinstance(empty, dg.SkipReason)
    passed = package(pg.instance, "pg_run_a", "a1", passed=True)
    failed = package(pg.instance, "pg_run_b", "b1", passed=False)
    assert failed > passed
    result = tick(None)
    assert [(r.run_key, r.partition_key, r.run_config, r.tags) for r in result.run_requests] == [
        (
            "promote:pg_run_a:a1",
            "pg_run_a",
            {"ops": {"policy_promotion": {"config": {"bundle": "/packages/pg_run_a-a1.zip"}}}},
            {PACKAGE_TAG: str(passed)},
        )
    ]
    assert json.loads(result.cursor) == {"storage_id": failed}  # past the one that failed validation
    assert isinstance(tick(result.cursor), dg.SkipReason)


def test_the_daemon_launches_a_queued_run_from_postgres(pg):
    log_path = pg.home.parent / "daemon.log"
    with open(log_path, "w") as log:
        daemon = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
            cwd=REPO, env=pg.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        pg.dagster(
            "job", "launch", "-w", "workspace.yaml", "-j", "benchmark_job",
            "-c", str(pg.home.parent / "benchmark.yaml"), "--tags", json.dumps({"daf/test": "queued"}),
        )  # fmt: skip
        (queued,) = pg.instance.get_runs(dg.RunsFilter(tags={"daf/test": "queued"}))
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while time.monotonic() < deadline:
            run = pg.instance.get_run_by_id(queued.run_id)
            if run.is_finished:
                break
            assert daemon.poll() is None, log_path.read_text()[-4000:]
            time.sleep(1)
        assert run.status == dg.DagsterRunStatus.SUCCESS, (run.status, log_path.read_text()[-4000:])
        statuses = [
            e.dagster_event.event_type_value
            for e in pg.instance.all_logs(run.run_id)
            if e.dagster_event and e.dagster_event.event_type_value.startswith("PIPELINE_")
        ]
        assert statuses == ["PIPELINE_ENQUEUED", "PIPELINE_STARTING", "PIPELINE_START", "PIPELINE_SUCCESS"]
        heartbeats = pg.instance.get_daemon_heartbeats()
        assert "QUEUED_RUN_COORDINATOR" in heartbeats, sorted(heartbeats)
    finally:
        stop_group(daemon)
