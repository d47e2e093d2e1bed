"""Hyperparameter sweeps: launch one, run its workers, or run it from the command line.

A sweep is one Optuna study driven through its ask/tell interface, whatever the strategy: ``grid`` uses
``GridSampler``, ``random`` ``RandomSampler`` and ``bayesian`` ``TPESampler``. Optuna does the searching;
DAF decides what a trial *is* (train with DAF's trainer, then measure with DAF's evaluation engine) and
keeps the study honest when workers die. The parts, each in its own module:

* :mod:`daf_core.search_space`: search spaces (choices, ranges, fixed values), grid and random draws.
* :mod:`daf_core.sweep_plan`: where each parameter goes (PPO, trainer, mission, policy) and every check
  made before the first trial.
* :mod:`daf_core.sweep_trials`: one trial: train, evaluate, score; early stopping in chunks.
* :mod:`daf_core.sweep_results`: ``SweepResult``, ``results.json``, status and best configuration.
* :mod:`daf_core.sweep_study`: the Optuna study: storage, samplers, heartbeats, retrying dead workers'
  trials, counting trials.
* this module: the worker loop, :func:`daf_launch_sweep`, worker processes and the command line
  (``python -m daf_core.sweeps --config sweep.yaml [--worker]``). The reference API is importable from
  here.

How a sweep runs:

* **Workers.** ``max_parallel_jobs`` worker processes (``python -m daf_core.sweeps --config ... --worker``,
  one thread each) loop ask -> train -> evaluate -> tell until the study holds ``num_trials`` finished
  trials; with one job the loop runs in the calling process. Workers coordinate only through the
  storage, so the same command started on several machines shares one PostgreSQL study. Two workers can
  ask in the same instant; the trial numbers the storage hands out decide who keeps a slot (and, for a
  grid, a grid point), and the later trial is discarded (told FAIL, marked ``daf_discarded``, left out of
  every result), so no parameter set runs twice and no more than ``num_trials`` trials count.
* **Resuming.** Re-running a sweep continues its study: finished trials are never run again, and a trial
  whose worker died is retried with the same parameters in its own directory, resuming its checkpoint
  (see :mod:`daf_core.sweep_study`).
* **Failures.** A trial that raises is recorded (FAIL, its error in the results) and the sweep goes on;
  such a trial counts as finished and is not retried (the same parameters would fail the same way). A
  sweep whose every trial failed raises ``RuntimeError`` listing each error.
* **Reproducibility.** Every trial trains with the same ``training_seeds`` and is evaluated on the same
  episodes (seeds from ``evaluation_seed``), so trials differ only by their hyperparameters. The sampler
  is seeded from ``seed`` and the trial number, so a sweep run with one worker draws the same values
  every time, also when it is resumed. A trial that resumes from a checkpoint after its worker died is
  not bit-identical to an uninterrupted one (the environments restart).

Layout under ``<output_dir>/<name>/``::

    sweep_config.yaml     the config the workers run
    study.db              the Optuna study (default storage)
    results.json          SweepResult, rewritten atomically whenever a trial starts or ends
    logs/worker-N.log     output of worker processes
    trials/trial_NNNN/    one per trial (a retry reuses the directory of the trial it retries):
        missions/           mission files built with the trial's mission parameters (if any)
        checkpoints/seedS/  DAF training run per training seed (checkpoints, metrics.jsonl)
        evaluation/         episodes.parquet/.csv of the final evaluation (evaluation_chunkK/ before)
        trial.json          this trial's SweepTrialResult; error.txt holds a failed trial's traceback
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daf_core.config import DAFConfig, DAFSweepConfig
from daf_core.io import atomic_write_json, atomic_write_text
from daf_core.search_space import ParamSpec, daf_grid_search, daf_random_search, parse_search_space
from daf_core.sweep_plan import DESTINATIONS, SweepPlan, plan_sweep
from daf_core.sweep_results import (
    SweepResult,
    SweepTrialResult,
    daf_sweep_best_config,
    daf_sweep_status,
    json_safe,
)
from daf_core.sweep_study import (
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
from daf_core.sweep_trials import TrialPruned, run_trial, single_threaded_torch

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)

__all__ = [
    "DESTINATIONS",
    "ParamSpec",
    "SweepResult",
    "SweepTrialResult",
    "daf_grid_search",
    "daf_launch_sweep",
    "daf_random_search",
    "daf_sweep_best_config",
    "daf_sweep_status",
    "parse_search_space",
    "plan_sweep",
    "run_sweep_worker",
]

CONFIG_FILE = "sweep_config.yaml"
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
        with Heartbeat(study._storage, trial._trial_id), single_threaded_torch():
            outcome = run_trial(plan, hyperparameters, trial_dir, report)
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


# --------------------------------------------------------------------------------------------------
# Launching
# --------------------------------------------------------------------------------------------------


def daf_launch_sweep(
    sweep_config: DAFSweepConfig | str | Path, daf_config: DAFConfig | None = None
) -> SweepResult:
    """Run (or continue) a sweep to ``num_trials`` finished trials and return its results.

    Everything is validated before the first trial. With ``max_parallel_jobs`` > 1 the trials run in
    that many worker processes; otherwise in this process. The sweep is recorded in the experiments
    log of ``daf_config.output_dir`` (default: the sweep's ``output_dir``). Raises ``RuntimeError`` when
    every trial failed (listing each error) or when the workers stopped before the sweep finished.
    """
    config = (
        sweep_config if isinstance(sweep_config, DAFSweepConfig) else DAFSweepConfig.from_file(sweep_config)
    )
    config = config.model_copy(update={"output_dir": Path(config.output_dir).absolute()})
    plan = plan_sweep(config)
    plan.sweep_dir.mkdir(parents=True, exist_ok=True)
    config_path = config.to_yaml(plan.sweep_dir / CONFIG_FILE)
    study = open_study(plan)
    reap_dead_trials(study)
    tally = tally_trials(study)
    remaining = plan.num_trials - tally.finished
    workers = max(1, min(config.max_parallel_jobs, remaining))
    logger.info(
        "sweep %s: %d of %d trials finished; %d to run on %d worker(s)",
        config.name,
        tally.finished,
        plan.num_trials,
        max(remaining, 0),
        workers,
    )
    if remaining <= 0:
        result = write_results(study, plan)
    elif workers == 1:
        result = run_sweep_worker(config, plan, study)
    else:
        problems = _run_worker_processes(config_path, workers, plan.sweep_dir)
        result = write_results(study, plan)
        if not result.is_finished:
            raise RuntimeError(
                f"sweep {config.name!r}: the workers stopped with {result.status()['finished_trials']} of "
                f"{plan.num_trials} trials finished:\n" + "\n".join(problems)
            )
    if remaining > 0:  # a rerun of a finished sweep is not a new experiment
        _record(config, daf_config, result, plan)
    counts = result.counts()
    if counts["complete"] == 0 and counts["pruned"] == 0 and counts["failed"] > 0:
        raise RuntimeError(
            f"sweep {config.name!r}: all {counts['failed']} trials failed:\n"
            + "\n".join(f"  - {line}" for line in result.errors())
        )
    return result


def _record(
    config: DAFSweepConfig, daf_config: DAFConfig | None, result: SweepResult, plan: SweepPlan
) -> None:
    from daf_core.experiments import record_experiment  # noqa: PLC0415

    if daf_config is not None and not daf_config.track_experiments:
        return
    best = result.get_best_trial()
    record_experiment(
        daf_config.output_dir if daf_config is not None else config.output_dir,
        "sweep",
        config.name,
        config.to_dict(),
        {
            **{k: v for k, v in result.status().items() if k != "best_hyperparameters"},
            "best_hyperparameters": best.hyperparameters if best else None,
        },
        {"sweep_dir": str(plan.sweep_dir), "results": str(plan.results_path)},
    )


def worker_command(config_path: str | Path) -> list[str]:
    """The command line of one sweep worker (what to start on other machines sharing the storage)."""
    return [sys.executable, "-m", "daf_core.sweeps", "--config", str(config_path), "--worker"]


def _run_worker_processes(config_path: Path, workers: int, sweep_dir: Path) -> list[str]:
    """Start the workers, wait for all of them; returns a line per worker that exited abnormally."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        # The same imports as here (policy classes given by module path, e.g. from a test package).
        "PYTHONPATH": os.pathsep.join(dict.fromkeys(p for p in [os.getcwd(), *sys.path] if p)),
    }
    logs = sweep_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    processes = []
    for index in range(workers):
        log_path = logs / f"worker-{index}.log"
        with open(log_path, "ab") as log:
            processes.append(
                (log_path, subprocess.Popen(worker_command(config_path), stdout=log, stderr=log, env=env))
            )
    try:
        codes = [process.wait() for _, process in processes]
    except BaseException:
        for _, process in processes:  # Ctrl-C: workers requeue their trials and stop
            process.send_signal(signal.SIGINT)
        for _, process in processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        raise
    problems = []
    for (log_path, _), code in zip(processes, codes, strict=True):
        if code != 0:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
            problems.append(f"worker log {log_path} (exit status {code}):\n{tail}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a DAF hyperparameter sweep, or one worker of it.")
    parser.add_argument("--config", required=True, help="DAFSweepConfig YAML/JSON")
    parser.add_argument(
        "--worker",
        action="store_true",
        help="run trials of the sweep's study until it is done (start one per core, on any machine "
        "that reaches the storage)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)  # a stopped worker requeues its trial
    config = DAFSweepConfig.from_file(args.config)
    try:
        if args.worker:
            config = config.model_copy(update={"output_dir": Path(config.output_dir).absolute()})
            result = run_sweep_worker(config)
            print(json.dumps(result.status(), indent=2, default=str))
            return 0
        result = daf_launch_sweep(config)
    except KeyboardInterrupt:
        print("sweep interrupted; rerun the same command to continue it", file=sys.stderr)
        return 130
    except (RuntimeError, ValueError, FileNotFoundError) as err:
        print(f"sweep failed: {err}", file=sys.stderr)
        return 1
    result.print_summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())
