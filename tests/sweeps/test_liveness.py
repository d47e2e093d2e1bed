"""Dead workers: the heartbeat interval, grace period and retry count are the sweep's settings, and a busy
worker notices a dead one while its own trial runs."""

import time

import pytest
from optuna.trial import TrialState

from daf_core.sweeps import plan_sweep, run_sweep_worker
from daf_core.sweeps import worker as worker_module
from daf_core.sweeps.liveness import Heartbeat, reap_dead_trials
from daf_core.sweeps.study import SweepStudy, collect_results, open_study
from daf_core.sweeps.trial import run_trial
from tests.sweeps.helpers import sweep_config


def _study(tmp_path, **settings) -> SweepStudy:
    return open_study(plan_sweep(sweep_config(tmp_path, **settings)))


def _vanished_worker_trial(sweep: SweepStudy):
    """A running trial (a retry when one is waiting) whose worker, on another machine, beat once and
    then vanished."""
    trial = sweep.study.ask(sweep.plan.distributions())
    worker = {"trial": trial.number, "host": "elsewhere/boot", "pid": 1, "started": 0}
    trial.set_user_attr("daf_worker", worker)
    sweep.storage.record_heartbeat(sweep.trial_id(trial.number))
    return trial


def test_a_short_grace_period_retries_a_dead_workers_trial_sooner(tmp_path):
    short = _study(tmp_path / "short", heartbeat_interval_s=1, heartbeat_grace_period_s=2)
    long = _study(tmp_path / "long", heartbeat_interval_s=1, heartbeat_grace_period_s=30)
    dead_short, dead_long = _vanished_worker_trial(short), _vanished_worker_trial(long)
    assert reap_dead_trials(short) == [] and reap_dead_trials(long) == []  # heartbeats still fresh
    time.sleep(3.5)  # SQLite timestamps have whole seconds: 3.5 s is surely over 2
    assert reap_dead_trials(short) == [dead_short.number]
    assert reap_dead_trials(long) == []  # 3 s without a heartbeat is within a 30 s grace period
    failed, retry = short.study.get_trials()
    assert (failed.state, retry.state) == (TrialState.FAIL, TrialState.WAITING)
    assert retry.params == failed.params and retry.system_attrs["failed_trial"] == failed.number
    assert [t.state for t in long.study.get_trials()] == [TrialState.RUNNING]
    assert dead_long.number == 0


def test_heartbeats_every_interval_keep_a_live_trial_from_being_retried(tmp_path):
    sweep = _study(tmp_path, heartbeat_interval_s=1, heartbeat_grace_period_s=2)
    trial = _vanished_worker_trial(sweep)
    with Heartbeat(sweep, sweep.trial_id(trial.number), on_reaped=lambda: None):
        time.sleep(4)  # twice the grace period: alive only if it beats every second
        assert reap_dead_trials(sweep) == []
    time.sleep(3.5)  # the beats stopped
    assert reap_dead_trials(sweep) == [trial.number]


@pytest.mark.parametrize(("max_retries", "attempts"), [(0, 1), (2, 3)])
def test_max_retries_bounds_how_often_a_dying_trial_is_retried(tmp_path, max_retries, attempts):
    sweep = _study(tmp_path, heartbeat_interval_s=1, heartbeat_grace_period_s=2, max_retries=max_retries)
    _vanished_worker_trial(sweep)
    runs = 1
    while True:
        time.sleep(3.5)
        assert len(reap_dead_trials(sweep)) == 1
        if not sweep.study.get_trials(states=(TrialState.WAITING,)):
            break
        _vanished_worker_trial(sweep)  # a worker takes the retry, and dies too
        runs += 1
    assert runs == attempts
    assert [t.state for t in sweep.study.get_trials()] == [TrialState.FAIL] * attempts
    (trial,) = collect_results(sweep).trials
    assert trial.state == "failed" and "retries used up" in trial.error


@pytest.mark.slow
def test_a_busy_worker_notices_a_dead_worker_during_its_own_trial(tmp_path, monkeypatch):
    config = sweep_config(
        tmp_path,
        strategy="random",
        num_trials=2,
        search_space={"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}},
        training_steps=1024,
        episodes_per_trial=1,
        heartbeat_interval_s=1,
        heartbeat_grace_period_s=2,
    )
    sweep = open_study(plan_sweep(config))
    dead = _vanished_worker_trial(sweep)

    # The busy trial holds until the dead one is failed (at most 30 s): only the heartbeat thread of the
    # running trial can fail it then, so the race is forced instead of left to how long training takes.
    def trial_that_waits_for_the_reaping(*args, **kwargs):
        deadline = time.monotonic() + 30
        while sweep.study.get_trials()[dead.number].state != TrialState.FAIL:
            assert time.monotonic() < deadline, "the dead worker's trial was not failed during this trial"
            time.sleep(0.2)
        return run_trial(*args, **kwargs)

    monkeypatch.setattr(worker_module, "run_trial", trial_that_waits_for_the_reaping)
    run_sweep_worker(config, sweep.plan, sweep)
    failed, busy, retry = sweep.study.get_trials()
    assert failed.number == dead.number and failed.state == TrialState.FAIL
    # Failed while this worker was busy with its own trial, not after it.
    assert busy.datetime_start < failed.datetime_complete < busy.datetime_complete
    assert retry.system_attrs["failed_trial"] == dead.number and retry.state == TrialState.COMPLETE
    assert busy.state == TrialState.COMPLETE
