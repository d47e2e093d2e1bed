"""The sweep worker loop: ask a trial, train and evaluate it, tell Optuna; until the sweep is done.

Any number of these loops, in any processes on any machines sharing the storage, cooperate on one sweep.
"""

from __future__ import annotations

import contextlib
import logging
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daf_core._internal.atomic import atomic_write_json, atomic_write_text
from daf_core._internal.threads import limit_threads
from daf_core.config import DAFSweepConfig
from daf_core.sweeps.plan import SweepPlan, plan_sweep
from daf_core.sweeps.results import SweepResult, json_safe
from daf_core.sweeps.study import (
    ATTR_DISCARDED,
    ATTR_DURATION,
    ATTR_ERROR,
    ATTR_HYPERPARAMETERS,
    ATTR_METRICS,
    ATTR_RUN_DIRS,
    ATTR_WORKER,
    Heartbeat,
    discard_reason,
    open_study,
    quiet_optuna,
    reap_dead_trials,
    sampler_for_trial,
    tally_trials,
    trial_retry_callback,
    worker_identity,
    write_results,
)
from daf_core.sweeps.trial import TrialPruned, run_trial

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)

#: How often an idle worker looks for retried trials while the last trials run elsewhere.
POLL_INTERVAL_S = 1.0


# --------------------------------------------------------------------------------------------------
# The worker loop
# --------------------------------------------------------------------------------------------------


def run_sweep_worker(
    config: DAFSweepConfig, plan: SweepPlan | None = None, study: optuna.Study | None = None
) -> SweepResult:
    """Run trials of the sweep's study until it holds ``num_trials`` finished trials.

    Any number of these loops, in any processes on any machines sharing the storage, cooperate on one
    sweep. A loop with nothing left to ask waits for the other workers' trials (and retries those whose
    workers die) rather than leaving early.
    """
    plan = plan or plan_sweep(config)
    study = study or open_study(plan)
    plan.sweep_dir.mkdir(parents=True, exist_ok=True)
    while True:
        reap_dead_trials(study)
        tally = tally_trials(study)
        if tally.done(plan.num_trials):
            break
        if not tally.may_ask(plan.num_trials):
            time.sleep(POLL_INTERVAL_S)
            continue
        study.sampler = sampler_for_trial(plan, len(study.get_trials(deepcopy=False)))
        with quiet_optuna():
            trial = study.ask(plan.distributions())
        trial.set_user_attr(ATTR_WORKER, worker_identity(trial.number))
        reason = discard_reason(study, plan, trial.number)
        if reason is not None:
            _discard(study, trial, reason)
            continue
        _run_optuna_trial(study, plan, trial)
    return write_results(study, plan)


def _discard(study: optuna.Study, trial: optuna.Trial, reason: str) -> None:
    """Close a trial that must not run. Its grid point is released (``GridSampler`` counts every
    finished trial holding a ``grid_id`` as having visited that point) so that it can still be asked."""
    from optuna.trial import TrialState  # noqa: PLC0415

    logger.info("trial %d discarded (%s): another worker took its slot", trial.number, reason)
    trial.set_user_attr(ATTR_DISCARDED, reason)
    study._storage.set_trial_system_attr(trial._trial_id, "grid_id", None)
    study.tell(trial, state=TrialState.FAIL)


def _trial_dir(plan: SweepPlan, study: optuna.Study, number: int) -> Path:
    """A retry works in the directory of the trial it retries, so its training resumes from there."""
    frozen = next(t for t in study.get_trials(deepcopy=False) if t.number == number)
    root = frozen.system_attrs.get("failed_trial", number)
    return plan.sweep_dir / "trials" / f"trial_{int(root):04d}"


def _run_optuna_trial(study: optuna.Study, plan: SweepPlan, trial: optuna.Trial) -> None:
    from optuna.trial import TrialState  # noqa: PLC0415

    hyperparameters = plan.hyperparameters(trial.params)
    trial.set_user_attr(ATTR_HYPERPARAMETERS, hyperparameters)
    trial_dir = _trial_dir(plan, study, trial.number)
    trial_dir.mkdir(parents=True, exist_ok=True)
    write_results(study, plan)
    name = plan.config.name
    logger.info("sweep %s: trial %d starts: %s", name, trial.number, hyperparameters)

    def report(chunk: int, value: float) -> bool:
        trial.report(value, chunk)
        return trial.should_prune()

    started = time.monotonic()
    try:
        outcome = _run_single_threaded(study, trial, plan, hyperparameters, trial_dir, report)
    except TrialPruned as pruned:
        logger.info("sweep %s: trial %d %s", name, trial.number, pruned)
        attrs = {
            ATTR_METRICS: pruned.outcome.metrics,
            ATTR_RUN_DIRS: pruned.outcome.run_dirs,
            ATTR_DURATION: time.monotonic() - started,
        }
        _finish(study, trial, attrs, state=TrialState.PRUNED)
    except KeyboardInterrupt:
        _requeue(study, trial)
        with contextlib.suppress(Exception):
            write_results(study, plan)
        raise
    except Exception as err:  # noqa: BLE001 - a failed trial is recorded; the sweep goes on
        message = f"{type(err).__name__}: {err}"
        atomic_write_text(trial_dir / "error.txt", traceback.format_exc())
        logger.warning("sweep %s: trial %d failed: %s", name, trial.number, message)
        attrs = {ATTR_ERROR: message, ATTR_DURATION: time.monotonic() - started}
        _finish(study, trial, attrs, state=TrialState.FAIL)
    else:
        logger.info(
            "sweep %s: trial %d: %s = %.4g",
            name,
            trial.number,
            plan.config.objective_metric,
            outcome.objective,
        )
        attrs = {
            ATTR_METRICS: outcome.metrics,
            ATTR_RUN_DIRS: outcome.run_dirs,
            ATTR_DURATION: time.monotonic() - started,
        }
        _finish(study, trial, attrs, values=outcome.objective)
    result = write_results(study, plan)
    for record in result.trials:
        if record.trial_id == trial.number:
            atomic_write_json(trial_dir / "trial.json", json_safe(record.to_dict()))


def _run_single_threaded(
    study: optuna.Study,
    trial: optuna.Trial,
    plan: SweepPlan,
    hyperparameters: Mapping[str, Any],
    trial_dir: Path,
    report: Any,
) -> Any:
    """The trial with its heartbeat running and one torch thread: parallel workers must not oversubscribe
    a small machine, and a result must not depend on whether it ran in the caller's process or a worker."""
    restore_threads = limit_threads(1)
    try:
        with Heartbeat(study._storage, trial._trial_id):
            return run_trial(plan, hyperparameters, trial_dir, report)
    finally:
        restore_threads()


def _finish(study: optuna.Study, trial: optuna.Trial, attrs: Mapping[str, Any], **tell: Any) -> None:
    """Record the trial's attributes and tell Optuna how it ended.

    If another worker already failed this trial (it missed heartbeats for the whole grace period), its
    retry is queued and will redo the work; this worker's result is dropped with a warning.
    """
    import optuna  # noqa: PLC0415

    try:
        for key, value in attrs.items():
            trial.set_user_attr(key, json_safe(value))
        study.tell(trial, **tell)
    except optuna.exceptions.UpdateFinishedTrialError:
        logger.warning("trial %d was failed by another worker meanwhile; its retry will run it", trial.number)


def _requeue(study: optuna.Study, trial: optuna.Trial) -> None:
    """An interrupted trial is failed and queued again with the same parameters (as a dead one would be)."""
    from optuna.trial import TrialState  # noqa: PLC0415

    storage = study._storage
    try:
        if storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
            with quiet_optuna():
                trial_retry_callback()(study, storage.get_trial(trial._trial_id))
    except Exception as err:  # noqa: BLE001 - the heartbeat will catch it if this fails
        logger.warning("could not requeue interrupted trial %d: %s", trial.number, err)
