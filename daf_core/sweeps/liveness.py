"""Who is alive: heartbeats of running trials, and failing and retrying the trials of dead workers.

A trial whose worker died (SIGKILL, OOM, a lost machine) is failed and queued again with the same
parameters by Optuna's own ``RetryHeartbeatStaleTrialCallback``, at most ``max_retries`` times; the
retry trains in the directories of the trial it replaces, so it resumes that trial's checkpoint.

When a dead worker is noticed:

* **On the same machine** at once: its process is gone (the trial records its host, pid and process
  start time, so a reused pid is not mistaken for it).
* **On another machine** after ``heartbeat_grace_period_s`` without a heartbeat (the storage's clock:
  SQLite keeps whole seconds, so up to one second more); a running trial's worker beats every
  ``heartbeat_interval_s``.
* **By whom.** Every worker looks before each trial it asks for, and, while it runs a trial, at every
  heartbeat (:class:`Heartbeat`), so a busy worker notices a dead one within one heartbeat interval
  (plus the grace period for another machine), not only when its own trial ends. An idle worker waiting
  for the last trials looks every second. The retry runs when some worker next asks for a trial.
"""

from __future__ import annotations

import datetime
import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from daf_core.sweeps.logical import ATTR_WORKER, is_discarded
from daf_core.sweeps.study import SweepStudy

logger = logging.getLogger(__name__)


def _host_id() -> str:
    """Hostname plus boot id: a pid means something only on the same machine since the same boot."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""
    return f"{socket.gethostname()}/{boot}"


def worker_identity(trial_number: int) -> dict[str, Any]:
    """What a worker writes on the trial it runs, so that others can tell whether it is still alive."""
    import psutil  # noqa: PLC0415

    return {
        "trial": trial_number,
        "host": _host_id(),
        "pid": os.getpid(),
        "started": psutil.Process().create_time(),
    }


def _worker_gone(worker: Mapping[str, Any]) -> bool:
    """True when the worker ran on this machine and its process no longer exists (or is a zombie)."""
    import psutil  # noqa: PLC0415

    if worker.get("host") != _host_id():
        return False  # another machine: its heartbeat decides
    try:
        process = psutil.Process(int(worker["pid"]))
        if abs(process.create_time() - float(worker["started"])) > 1.0:
            return True  # the pid was reused by another process
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def reap_dead_trials(sweep: SweepStudy) -> list[int]:
    """Fail running trials whose worker is dead and queue a retry of each; returns their numbers.

    Heartbeat-stale trials (any machine) go through ``optuna.storages.fail_stale_trials``; trials of a
    dead process on this machine are failed at once the same way (state FAIL, then the storage's retry
    callback), instead of waiting out the grace period. Failing a trial locks it in the storage, so when
    several workers reap at once exactly one of them fails and retries each trial.
    """
    import optuna  # noqa: PLC0415
    from optuna.trial import TrialState  # noqa: PLC0415

    grace = sweep.plan.config.heartbeat_grace_period_s
    running = {t.number for t in sweep.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    optuna.storages.fail_stale_trials(sweep.study)
    reaped = [
        t.number
        for t in sweep.study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
        if t.number in running
    ]
    for number in reaped:
        logger.warning("trial %d: no heartbeat for %ds; it will be retried", number, grace)
    now = datetime.datetime.now()
    for trial in sweep.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get(ATTR_WORKER)
        if worker and worker.get("trial") == trial.number:
            if not _worker_gone(worker):
                continue
        elif trial.datetime_start and (now - trial.datetime_start).total_seconds() < grace:
            continue  # just asked; its worker has not written its name yet
        if fail_and_retry(sweep, trial.number):
            reaped.append(trial.number)
            logger.warning("trial %d: its worker died; it will be retried", trial.number)
    return reaped


def fail_and_retry(sweep: SweepStudy, number: int) -> bool:
    """Fail a running trial and queue its retry (the storage's retry callback, unless it was discarded).

    Returns False when another worker failed or finished it first: the storage locks the trial while
    changing its state, so exactly one caller fails and retries it.
    """
    import optuna  # noqa: PLC0415
    from optuna.trial import TrialState  # noqa: PLC0415

    storage, trial_id = sweep.storage, sweep.trial_id(number)
    try:
        if not storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
            return False
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    callback = (
        storage.get_heartbeat_stale_trial_callback()
        if hasattr(storage, "get_heartbeat_stale_trial_callback")
        else storage.get_failed_trial_callback()  # optuna < 4.9
    )
    failed = storage.get_trial(trial_id)
    if callback is not None and not is_discarded(failed):
        callback(sweep.study, failed)
    return True


class Heartbeat:
    """While a trial runs: record its heartbeat every ``heartbeat_interval_s`` in a background thread,
    and at each beat fail other workers' dead trials (``on_reaped`` is called when some were)."""

    def __init__(self, sweep: SweepStudy, trial_id: int, on_reaped: Callable[[], Any]):
        self.sweep, self.trial_id, self.on_reaped = sweep, trial_id, on_reaped
        self.interval_s = sweep.plan.config.heartbeat_interval_s
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"sweep-heartbeat-{trial_id}", daemon=True)

    def _beat(self) -> None:
        while not self.stop.wait(self.interval_s):
            try:
                self.sweep.storage.record_heartbeat(self.trial_id)
                if reap_dead_trials(self.sweep):
                    self.on_reaped()
            except Exception as err:  # noqa: BLE001 - logged; a missed beat must not kill the trial
                logger.warning("heartbeat of trial id %d failed: %s", self.trial_id, err)

    def __enter__(self) -> Heartbeat:
        self.sweep.storage.record_heartbeat(self.trial_id)
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join()
