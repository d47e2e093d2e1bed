"""A 4-worker sweep on PostgreSQL against the same sweep on SQLite: trials per minute and duplicates.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_sweeps_postgres.py [--trials 48] [--steps 4096]
        [--workers 4] [--postgres postgresql+psycopg2://postgres@127.0.0.1:5432/postgres] [--reps 3]

The same sweep (random search over a continuous space, the same seed, training steps and evaluation
episodes) runs with its Optuna study in a SQLite file and in a fresh PostgreSQL database on
the server ``--postgres`` names (created here, dropped afterwards), each on ``--workers`` worker
processes sharing the study. For each: wall time, finished trials per minute, and duplicates (complete
trials whose parameters another complete trial already had; the goal is 0) and how many worker processes
ran trials; the two alternate, ``--reps`` times each. Writes bench/results/sweeps_postgres.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
from measure import add_reps_argument, figure, interleaved, machine, ratio
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from daf_core._internal.atomic import atomic_write_json
from daf_core.config import DAFConfig, DAFSweepConfig
from daf_core.sweeps import daf_launch_sweep

SPACE = {"learning_rate": {"low": 3e-4, "high": 1e-2, "log": True}, "ent_coef": {"low": 0.0, "high": 0.05}}
MISSION = "collect"
RESULTS = Path(__file__).parent / "results"
EPISODES = 2


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new database on the server of ``server_url`` (its URL), dropped on exit."""
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"daf_bench_sweeps_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run(storage: str | None, args: argparse.Namespace, out: Path) -> dict:
    name = "postgres" if storage else "sqlite"
    config = DAFSweepConfig(
        name=f"bench_{name}",
        missions=[MISSION],
        search_space=SPACE,
        strategy="random",
        num_trials=args.trials,
        episodes_per_trial=EPISODES,
        training_steps=args.steps,
        seed=0,
        max_parallel_jobs=args.workers,
        output_dir=out / name,
        storage=storage,
    )
    daf_config = DAFConfig(output_dir=out / name, max_parallel_jobs=args.workers)
    started = time.perf_counter()
    result = daf_launch_sweep(config, daf_config=daf_config)
    seconds = time.perf_counter() - started
    complete = [t for t in result.trials if t.state == "complete"]
    distinct = {json.dumps(t.hyperparameters, sort_keys=True) for t in complete}
    url = storage or f"sqlite:///{Path(config.output_dir) / config.name / 'study.db'}"
    study = optuna.load_study(study_name=config.name, storage=url)
    pids = {t.user_attrs.get("daf_worker", {}).get("pid") for t in study.get_trials(deepcopy=False)}
    return {
        "seconds": round(seconds, 1),
        "complete_trials": len(complete),
        "trials_in_study": len(result.trials),
        "trials_per_minute": round(len(complete) / seconds * 60, 2),
        "duplicates": len(complete) - len(distinct),
        "workers_that_ran_trials": len(pids - {None}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=48)
    parser.add_argument("--steps", type=int, default=4096)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--postgres", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    add_reps_argument(parser)
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).parent / "results" / "sweeps_postgres.json"
    )
    args = parser.parse_args()
    try:
        create_engine(args.postgres).connect().close()
    except Exception as err:  # noqa: BLE001 - any reason: say which server and why, then stop
        raise SystemExit(f"no PostgreSQL server answers at {make_url(args.postgres)!r}: {err}") from None
    before = machine()
    with tempfile.TemporaryDirectory() as scratch:
        fresh = iter(range(10_000))

        def on_sqlite() -> dict:
            return run(None, args, Path(scratch) / str(next(fresh)))

        def on_postgres() -> dict:
            with fresh_database(args.postgres) as url:
                return run(url, args, Path(scratch) / str(next(fresh)))

        runs = interleaved({"sqlite": on_sqlite, "postgres": on_postgres}, args.reps)
    result: dict = {
        "work": {
            "trials": args.trials,
            "training_steps": args.steps,
            "workers": args.workers,
            "mission": MISSION,
            "episodes_per_trial": EPISODES,
            "strategy": "random",
            "seed": 0,
        },
        "machine": before,
        "machine_after": machine(),
        "reps": args.reps,
        **{name: {key: figure(arm, key, 2) for key in arm[0]} for name, arm in runs.items()},
        "ratio_postgres_vs_sqlite": ratio(runs["postgres"], runs["sqlite"], "trials_per_minute"),
    }
    print(json.dumps(result, indent=2))
    atomic_write_json(args.output, result)


if __name__ == "__main__":
    main()
