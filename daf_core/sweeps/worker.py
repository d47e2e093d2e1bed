"""The sweep worker loop: ask a trial, train and evaluate it, tell Optuna; until the sweep is done.

Any number of these loops, in any processes on any machines sharing the storage, cooperate on one sweep.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daf_core._internal.atomic import atomic_write_json, atomic_write_text
from daf_core._internal.threads import limit_threads
from daf_core.config import DAFConfig, DAFSweepConfig, configure_logging
from daf_core.sweeps.liveness import Heartbeat, fail_and_retry, reap_dead_trials, worker_identity
from daf_core.sweeps.logical import (
    ATTR_DISCARDED,
    ATTR_DURATION,
    ATTR_ERROR,
    ATTR_HYPERPARAMETERS,
    ATTR_METRICS,
    ATTR_RUN_DIRS,
    ATTR_WORKER,
    first_attempt,
)
from daf_core.sweeps.plan import SweepPlan, claim_checkpoint_root, plan_sweep, sweep_daf_config
from daf_core.sweeps.results import SweepResult, json_safe
from daf_core.sweeps.study import SweepStudy, discard_reason, open_study, tally_trials, write_results
from daf_core.sweeps.trial import TrialOutcome, TrialPruned, run_trial
from daf_core.tracking import log_sweep_trial

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)

#: How often an idle worker looks for retried trials while the last trials run elsewhere.
POLL_INTERVAL_S = 1.0
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


# --------------------------------------------------------------------------------------------------
# A worker process
# --------------------------------------------------------------------------------------------------


def run_worker_process(config_path: str | Path, daf_config_path: str | Path | None = None) -> int:
    """What a worker process runs, started as ``python -m daf_core.sweeps --config C --worker`` or forked
    by the launcher: trials until the sweep is done (see :func:`run_as_process` for the exit status)."""

    def work() -> SweepResult:
        config = DAFSweepConfig.from_file(config_path)
        config = config.model_copy(update={"output_dir": Path(config.output_dir).absolute()})
        daf_config = DAFConfig.from_file(daf_config_path) if daf_config_path else None
        return run_sweep_worker(config, daf_config=daf_config)

    return run_as_process(work, lambda result: print(json.dumps(result.status(), indent=2, default=str)))


def run_as_process(work: Callable[[], SweepResult], report: Callable[[SweepResult], None]) -> int:
    """Run a sweep command in this process: 0 done (``report`` shows the result), 130 interrupted, 1
    failed (the reason on stderr, a worker's log file). SIGTERM stops it as Ctrl-C does: a worker
    requeues its running trial, a launcher stops its workers, which requeue theirs."""
    log_to_stderr()

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        result = work()
    except KeyboardInterrupt:
        print("sweep interrupted; rerun the same command to continue it", file=sys.stderr)
        return 130
    except (RuntimeError, ValueError, FileNotFoundError) as err:
        print(f"sweep failed: {err}", file=sys.stderr)
        return 1
    report(result)
    return 0


def log_to_stderr() -> None:
    """DAF's progress lines on stderr (a worker's log file), and only there: a forked worker drops the
    launcher's handlers. The handler goes on DAF's own logger, so ``configure_logging`` (the launcher and
    the worker loop apply the DAFConfig) adds no second one."""
    daf_logger = logging.getLogger("daf_core")
    daf_logger.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    daf_logger.addHandler(handler)
    daf_logger.setLevel(logging.INFO)


# --------------------------------------------------------------------------------------------------
# The worker loop
# --------------------------------------------------------------------------------------------------


def run_sweep_worker(
    config: DAFSweepConfig,
    plan: SweepPlan | None = None,
    study: SweepStudy | None = None,
    *,
    daf_config: DAFConfig | None = None,
) -> SweepResult:
    """Run trials of the sweep's study until it holds ``num_trials`` finished trials.

    Any number of these loops, in any processes on any machines sharing the storage, cooperate on one
    sweep. A loop with nothing left to ask waits for the other workers' trials (and retries those whose
    workers die) rather than leaving early. Without a ``plan``, the loop plans the sweep under
    ``daf_config`` (see :func:`daf_core.sweeps.plan.sweep_daf_config`) and configures DAF's logging
    with it, as a worker process does.
    """
    if plan is None:
        daf_config = sweep_daf_config(config, daf_config)
        configure_logging(daf_config)
        plan = plan_sweep(config, daf_config)
    sweep = study or open_study(plan)
    claim_checkpoint_root(plan)
    plan.sweep_dir.mkdir(parents=True, exist_ok=True)
    logger.info("sweep %s: worker pid %d on %s starts", config.name, os.getpid(), socket.gethostname())
    while True:
        reap_dead_trials(sweep)
        tally = tally_trials(sweep)
        if tally.done(plan.num_trials):
            break
        if not tally.may_ask(plan.num_trials):
            time.sleep(POLL_INTERVAL_S)
            continue
        logger.debug("sweep %s: worker pid %d asks for a trial", config.name, os.getpid())
        trial = sweep.study.ask(plan.distributions())
        trial.set_user_attr(ATTR_WORKER, worker_identity(trial.number))
        reason = discard_reason(sweep, trial.number)
        if reason is not None:
            _discard(sweep, trial, reason)
            continue
        _run_optuna_trial(sweep, trial)
    return write_results(sweep)


def _discard(sweep: SweepStudy, trial: optuna.Trial, reason: str) -> None:
    """Close a trial that must not run; its slot or parameters belong to an earlier trial."""
    from optuna.trial import TrialState  # noqa: PLC0415

    logger.info("trial %d discarded (%s): an earlier trial has its slot or parameters", trial.number, reason)
    trial.set_user_attr(ATTR_DISCARDED, reason)
    sweep.study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)


# --------------------------------------------------------------------------------------------------
# One trial
# --------------------------------------------------------------------------------------------------


def _run_optuna_trial(sweep: SweepStudy, trial: optuna.Trial) -> None:
    from optuna.trial import TrialState  # noqa: PLC0415

    # Phase 1: the trial's values and directories (a retry works where its first attempt did, so its
    # training resumes there), announced in results.json.
    plan, name = sweep.plan, sweep.plan.config.name
    hyperparameters = plan.hyperparameters(trial.params)
    trial.set_user_attr(ATTR_HYPERPARAMETERS, hyperparameters)
    root = first_attempt(sweep.storage.get_trial(sweep.trial_id(trial.number)))
    trial_dir, checkpoint_dir = plan.trial_dir(root), plan.trial_checkpoint_dir(root)
    trial_dir.mkdir(parents=True, exist_ok=True)
    write_results(sweep)
    logger.info("sweep %s: trial %d starts: %s", name, trial.number, hyperparameters)

    # Phase 2: train and evaluate it; every way it can end becomes attributes and a state for Optuna.
    started = time.monotonic()
    tell: dict[str, Any]
    try:
        outcome = _run_with_heartbeat(sweep, trial, hyperparameters, trial_dir, checkpoint_dir)
    except TrialPruned as pruned:
        logger.info("sweep %s: trial %d %s", name, trial.number, pruned)
        attrs = _outcome_attrs(pruned.outcome, started)
        tell = {"state": TrialState.PRUNED}
    except KeyboardInterrupt:
        _requeue(sweep, trial)
        with contextlib.suppress(Exception):  # the requeue is what matters; results follow on the rerun
            write_results(sweep)
        raise
    except Exception as err:  # noqa: BLE001 - a failed trial is recorded; the sweep goes on
        message = f"{type(err).__name__}: {err}"
        atomic_write_text(trial_dir / "error.txt", traceback.format_exc())
        logger.warning("sweep %s: trial %d failed: %s", name, trial.number, message)
        attrs = {ATTR_ERROR: message, ATTR_DURATION: time.monotonic() - started}
        tell = {"state": TrialState.FAIL}
    else:
        metric = plan.config.objective_metric
        logger.info("sweep %s: trial %d: %s = %.4g", name, trial.number, metric, outcome.objective)
        attrs = _outcome_attrs(outcome, started)
        tell = {"values": outcome.objective, "state": TrialState.COMPLETE}

    # Phase 3: tell Optuna, then rewrite results.json and the trial's own trial.json, and log the trial
    # to TensorBoard and MLflow (DAFConfig).
    _finish(sweep, trial, attrs, **tell)
    result = write_results(sweep)
    for record in result.trials:
        if record.trial_id == trial.number:
            atomic_write_json(trial_dir / "trial.json", json_safe(record.to_dict()))
            log_sweep_trial(
                plan.daf_config,
                plan.sweep_dir,
                name,
                record.trial_id,
                state=record.state,
                objective=record.primary_metric,
                metrics=record.all_metrics,
                hyperparameters=record.hyperparameters,
            )


def _outcome_attrs(outcome: TrialOutcome, started: float) -> dict[str, Any]:
    return {
        ATTR_METRICS: outcome.metrics,
        ATTR_RUN_DIRS: outcome.run_dirs,
        ATTR_DURATION: time.monotonic() - started,
    }


def _run_with_heartbeat(
    sweep: SweepStudy,
    trial: optuna.Trial,
    hyperparameters: Mapping[str, Any],
    trial_dir: Path,
    checkpoint_dir: Path,
) -> TrialOutcome:
    """The trial with its heartbeat running (which also reaps other workers' dead trials) and one torch
    thread: parallel workers must not oversubscribe a small machine, and a result must not depend on
    whether it ran in the caller's process or a worker."""

    def report(chunk: int, value: float) -> bool:
        trial.report(value, chunk)
        return trial.should_prune()

    on_reaped: Callable[[], Any] = lambda: write_results(sweep)  # noqa: E731 - results show the retries
    restore_threads = limit_threads(1)
    try:
        with Heartbeat(sweep, sweep.trial_id(trial.number), on_reaped):
            return run_trial(sweep.plan, hyperparameters, trial_dir, checkpoint_dir, report)
    finally:
        restore_threads()


def _finish(sweep: SweepStudy, trial: optuna.Trial, attrs: Mapping[str, Any], **tell: Any) -> None:
    """Record the trial's attributes and tell Optuna how it ended.

    If another worker already failed this trial (it missed heartbeats for the whole grace period), its
    retry is queued and will redo the work; this worker's result is dropped with a warning.
    """
    import optuna  # noqa: PLC0415

    try:
        for key, value in attrs.items():
            trial.set_user_attr(key, json_safe(value))
        told = sweep.study.tell(trial, skip_if_finished=True, **tell).state == tell["state"]
    except optuna.exceptions.UpdateFinishedTrialError:
        told = False
    if not told:
        logger.warning("trial %d was failed by another worker meanwhile; its retry will run it", trial.number)


def _requeue(sweep: SweepStudy, trial: optuna.Trial) -> None:
    """An interrupted trial is failed and queued again with the same parameters (as a dead one would be)."""
    try:
        fail_and_retry(sweep, trial.number)
    except Exception as err:  # noqa: BLE001 - the heartbeat will catch it if this fails
        logger.warning("could not requeue interrupted trial %d: %s", trial.number, err)
