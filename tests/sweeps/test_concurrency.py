"""Workers sharing a study, and sweeps killed and resumed: every trial gets parameters of its own, and the
sequence of draws is the one an uninterrupted sweep makes."""

import contextlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from daf_core.config import DAFSweepConfig
from daf_core.sweeps import SweepResult, daf_launch_sweep, daf_sweep_status, run_sweep_worker
from tests.sweeps.helpers import drawn_in_order, file_times, load_study, sweep_config, worker_env

pytestmark = pytest.mark.slow

WORKERS = 3
#: Search spaces of the race: a continuous one, and a finite one the six trials exhaust exactly.
RACE_SPACES = {
    "continuous": {"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}, "ent_coef": [0.0, 0.05]},
    "finite": {"ent_coef": [0.0, 0.02, 0.05], "gamma": [0.9, 0.99]},
}
#: The sweeps of the race: each strategy once, each space once. Each sweep releases its six trials' asks
#: in (at least) two rounds of three, so four forced races in all.
RACES = [("random", "finite"), ("bayesian", "continuous")]


def _worker_asking_with_the_others(config_paths: list[str], barrier) -> None:
    """A sweep worker (in a process of its own) whose every ``ask`` waits until all workers ask, so that
    they ask in the same instant, through each sweep in turn."""
    import optuna  # noqa: PLC0415

    ask = optuna.study.Study.ask

    def ask_together(self, *args, **kwargs):
        with contextlib.suppress(threading.BrokenBarrierError):  # the others have left: ask alone
            barrier.wait(timeout=120)
        return ask(self, *args, **kwargs)

    optuna.study.Study.ask = ask_together
    try:
        for path in config_paths:
            run_sweep_worker(DAFSweepConfig.from_file(path))
    finally:
        barrier.abort()  # nobody waits for a worker that has finished


def test_workers_asking_together_never_run_the_same_parameters(tmp_path, postgres_url, monkeypatch):
    # Three worker processes share one PostgreSQL study; a barrier releases all of their asks at once, for
    # random and Bayesian search over a continuous and a finite space, round after round. Before the fix every
    # worker seeded its sampler from the trials it had seen before asking, so workers asking together
    # drew the same values.
    configs = [
        sweep_config(
            tmp_path,
            name=f"race_{strategy}_{space}",
            strategy=strategy,
            search_space=RACE_SPACES[space],
            num_trials=6,
            storage=postgres_url,
            training_steps=512,
            episodes_per_trial=1,
            base_hyperparameters={"mission.max_steps": 10},
        )
        for strategy, space in RACES
    ]
    paths = [str(config.to_yaml(tmp_path / f"{config.name}.yaml")) for config in configs]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WORKERS)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # inherited by the spawned workers
    workers = [
        context.Process(target=_worker_asking_with_the_others, args=(paths, barrier)) for _ in range(WORKERS)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=900)
    assert [w.exitcode for w in workers] == [0] * WORKERS

    for config in configs:
        trials = load_study(config).trials
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        assert len(complete) == 6, config.name
        assert len({json.dumps(t.params, sort_keys=True) for t in complete}) == 6, config.name
        assert all(t.user_attrs.get("daf_discarded") for t in trials if t.state != TrialState.COMPLETE)
        # The first three asks were released together, one per worker: the race really happened.
        assert len({t.user_attrs["daf_worker"]["pid"] for t in trials[:WORKERS]}) == WORKERS, config.name
        result = SweepResult.load_json(Path(config.output_dir) / config.name / "results.json")
        assert result.is_finished and result.counts()["complete"] == 6
    for config in configs:
        if "finite" in config.name:  # six distinct trials over six points: the whole space
            trials = [t for t in load_study(config).trials if t.state == TrialState.COMPLETE]
            assert {(t.params["ent_coef"], t.params["gamma"]) for t in trials} == {
                (e, g) for e in (0.0, 0.02, 0.05) for g in (0.9, 0.99)
            }


@pytest.mark.parametrize("strategy", ["random", "bayesian"])
def test_a_killed_sweep_resumes_with_the_draws_of_an_uninterrupted_one(tmp_path, strategy):
    # The objective is the episode length, set by a swept mission parameter: it does not depend on
    # training, so a Bayesian search sees the same history whether a trial resumed from a checkpoint or
    # not, and the draws of the two sweeps can be compared exactly.
    settings = {
        "strategy": strategy,
        "num_trials": 4,
        "training_steps": 1024,
        "episodes_per_trial": 1,
        "objective_metric": "steps",
        "search_space": {
            "learning_rate": {"low": 1e-4, "high": 1e-2, "log": True},
            "mission.max_steps": {"low": 10, "high": 40, "int": True},
        },
    }
    uninterrupted = daf_launch_sweep(sweep_config(tmp_path / "uninterrupted", **settings))

    config = sweep_config(tmp_path / "killed", **settings)
    config_path = config.to_yaml(tmp_path / "sweep.yaml")
    results_path = Path(config.output_dir) / config.name / "results.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "daf_core.sweeps", "--config", str(config_path)],
        env=worker_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    running_status = None
    try:
        deadline = time.monotonic() + 200
        while time.monotonic() < deadline and process.poll() is None:
            if results_path.exists():
                status = daf_sweep_status(results_path)
                if status["completed"] >= 2 and status["running"] == 1:
                    running_status = status
                    break
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert running_status is not None, "the sweep never showed two finished trials and a running one"
    assert running_status["state"] == "running" and running_status["remaining"] >= 1

    killed = [t for t in load_study(config).trials if t.state == TrialState.RUNNING]
    assert len(killed) == 1, "the kill did not land inside a trial"
    finished_before = {
        t.trial_id: t for t in SweepResult.load_json(results_path).trials if t.state == "complete"
    }
    times_before = {n: file_times(t.run_dir) for n, t in finished_before.items()}

    result = daf_launch_sweep(config)

    assert [t.state for t in result.trials] == ["complete"] * 4
    assert drawn_in_order(result) == drawn_in_order(uninterrupted)  # the same draws, in the same order
    by_id = {t.trial_id: t for t in result.trials}
    for number, before in finished_before.items():  # finished trials are kept, not rerun
        assert by_id[number].hyperparameters == before.hyperparameters
        assert by_id[number].primary_metric == before.primary_metric
        assert file_times(by_id[number].run_dir) == times_before[number]
    retry = next(t for t in result.trials if t.retry_of is not None)
    assert retry.retry_of == killed[0].number
    assert retry.hyperparameters == {**killed[0].params}
    assert Path(retry.run_dir).parent.name == f"trial_{killed[0].number:04d}"  # resumed in place
    states = [t.state for t in load_study(config).trials]
    assert states.count(TrialState.COMPLETE) == 4 and states.count(TrialState.FAIL) == 1
