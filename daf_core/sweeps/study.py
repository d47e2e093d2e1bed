"""The Optuna study behind a sweep: storage, samplers, heartbeats, dead workers' trials, counts, results.

* **Persistence.** The study lives in an Optuna RDB storage: ``<output_dir>/<name>/study.db`` (SQLite)
  unless ``storage`` names a database, e.g. PostgreSQL, which workers on several machines can share.
  Re-running a sweep continues its study: finished trials are never run again; a trial whose worker died
  (SIGKILL, OOM, a lost machine) is failed and re-queued with the same parameters by Optuna's own
  ``RetryHeartbeatStaleTrialCallback``. A dead worker is noticed at once on the same machine (its process
  is gone) and after :data:`GRACE_PERIOD_S` without a heartbeat elsewhere. A retried trial trains in
  the directory of the trial it replaces, so it resumes that trial's checkpoint.
* **Counting.** Retried attempts and trials discarded as surplus or duplicate are left out of every count
  and every result: the study's logical trials are what ``num_trials`` and ``results.json`` refer to.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import inspect
import logging
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from daf_core.config import DAFSweepConfig
from daf_core.sweeps.plan import SweepPlan
from daf_core.sweeps.results import SweepResult, SweepTrialResult, TrialStateName, now_isoformat

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)

#: Seconds between a running trial's heartbeats in the storage.
HEARTBEAT_INTERVAL_S = 10
#: A running trial with no heartbeat for this long belongs to a dead worker (on any machine).
GRACE_PERIOD_S = 60
#: A trial whose worker keeps dying is given up (left FAIL) after this many retries.
MAX_RETRIES = 3

# User attributes DAF keeps on Optuna trials.
ATTR_WORKER = "daf_worker"
ATTR_HYPERPARAMETERS = "daf_hyperparameters"
ATTR_ERROR = "daf_error"
ATTR_METRICS = "daf_metrics"
ATTR_RUN_DIRS = "daf_run_dirs"
ATTR_DURATION = "daf_duration_s"
ATTR_DISCARDED = "daf_discarded"
_STUDY_ATTR_CONFIG = "daf_sweep_config"


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna flags heartbeats outside ``optimize`` and its retry callback as experimental; we use both
    on purpose (ask/tell needs them to survive dead workers), so their warnings are noise here."""
    import optuna  # noqa: PLC0415

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
        yield


def trial_retry_callback() -> Callable[..., None]:
    import optuna  # noqa: PLC0415

    with quiet_optuna():
        retry = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
        if retry is None:  # optuna < 4.9
            retry = optuna.storages.RetryFailedTrialCallback
        return retry(max_retry=MAX_RETRIES)


def open_storage(url: str, attempts: int = 5) -> optuna.storages.RDBStorage:
    """An RDB storage with heartbeats and retries of heartbeat-stale trials (Optuna's own mechanism)."""
    import optuna  # noqa: PLC0415

    url = _with_installed_driver(url)
    if url.startswith("sqlite:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs: dict[str, Any] = {"connect_args": {"timeout": 60}}
    else:
        engine_kwargs = {"pool_pre_ping": True}
    callback_arg = (
        "heartbeat_stale_trial_callback"
        if "heartbeat_stale_trial_callback" in inspect.signature(optuna.storages.RDBStorage).parameters
        else "failed_trial_callback"
    )
    for attempt in range(1, attempts + 1):
        try:
            with quiet_optuna():
                return optuna.storages.RDBStorage(
                    url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=HEARTBEAT_INTERVAL_S,
                    grace_period=GRACE_PERIOD_S,
                    **{callback_arg: trial_retry_callback()},
                )
        except ImportError as err:
            raise ImportError(
                f"the sweep storage {_redact(url)} needs a database driver that is not installed "
                "(PostgreSQL: pip install psycopg2-binary)"
            ) from err
        except Exception as err:  # noqa: BLE001 - workers starting together race to create the tables
            if attempt == attempts:
                raise RuntimeError(f"cannot open the sweep storage {_redact(url)}: {err}") from err
            logger.debug("opening storage failed (%s); retrying", err)
            time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


def _with_installed_driver(url: str) -> str:
    """``postgresql://`` means psycopg 3 to SQLAlchemy 2.1, but DAF installs psycopg2: name the driver
    that is there, so the URL users know (the one psql and Dagster take) works unchanged."""
    import importlib.util  # noqa: PLC0415

    scheme, sep, rest = url.partition("://")
    if scheme in ("postgresql", "postgres") and importlib.util.find_spec("psycopg") is None:
        if importlib.util.find_spec("psycopg2") is not None:
            return f"postgresql+psycopg2{sep}{rest}"
    return url


def _redact(url: str) -> str:
    """A URL without its password, for logs and results files."""
    from urllib.parse import urlsplit, urlunsplit  # noqa: PLC0415

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _config_identity(config: DAFSweepConfig) -> dict[str, Any]:
    """What makes two runs the same sweep (budget, parallelism and where files go may change)."""
    return config.model_dump(
        mode="json", exclude={"num_trials", "max_parallel_jobs", "output_dir", "storage"}
    )


def open_study(plan: SweepPlan, storage: optuna.storages.RDBStorage | None = None) -> optuna.Study:
    """Create the sweep's study or load it; a study created by a different sweep config is refused."""
    import optuna  # noqa: PLC0415

    config = plan.config
    storage = storage or open_storage(plan.storage_url)
    pruner = (
        optuna.pruners.SuccessiveHalvingPruner(
            min_resource=1, reduction_factor=config.early_stopping_reduction_factor, min_early_stopping_rate=0
        )
        if config.early_stopping
        else optuna.pruners.NopPruner()
    )
    with quiet_optuna():
        study = optuna.create_study(
            study_name=config.name,
            storage=storage,
            sampler=sampler_for_trial(plan, 0),
            pruner=pruner,
            direction=config.optimize_direction,
            load_if_exists=True,
        )
    identity = _config_identity(config)
    stored = study.user_attrs.get(_STUDY_ATTR_CONFIG)
    if stored is None:
        study.set_user_attr(_STUDY_ATTR_CONFIG, identity)
    elif stored != identity:
        changed = sorted(k for k in {*stored, *identity} if stored.get(k) != identity.get(k))
        raise ValueError(
            f"sweep {config.name!r}: the study in {_redact(plan.storage_url)} was created by a different "
            f"configuration (changed: {changed}); continuing it would mix incomparable trials. Use a new "
            "name, output_dir or storage, or restore the original settings."
        )
    if list(study.directions) != [optuna.study.StudyDirection[config.optimize_direction.upper()]]:
        raise ValueError(f"sweep {config.name!r}: the stored study optimizes in another direction")
    return study


@functools.cache
def _grid_sampler_class() -> type[Any]:
    import optuna  # noqa: PLC0415

    class AskTellGridSampler(optuna.samplers.GridSampler):
        """``GridSampler`` minus its ``study.stop()`` call, which only works inside ``study.optimize``
        (under ask/tell it raises); the worker loop decides when the sweep is done."""

        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            return None

    return AskTellGridSampler


def sampler_for_trial(plan: SweepPlan, trial_number: int) -> optuna.samplers.BaseSampler:
    """The strategy's sampler, seeded from the sweep seed and the number of the trial about to be asked.

    Seeding per trial (not once per process) is what makes a resumed sweep draw the values an
    uninterrupted one would have: a sampler seeded once would start its sequence again after a restart
    and propose the finished trials' parameters a second time.
    """
    import optuna  # noqa: PLC0415

    config = plan.config
    seed = int(np.random.SeedSequence([config.seed, trial_number]).generate_state(1)[0])
    if config.strategy == "grid":
        choices = {n: list(s.choices) for n, s in plan.specs.items() if s.kind == "choice"}
        return _grid_sampler_class()(choices, seed=config.seed)
    if config.strategy == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    with quiet_optuna():
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(1, min(5, plan.num_trials // 2)))


# -- who is alive ----------------------------------------------------------------------------------


def _host_id() -> str:
    """Hostname plus boot id: a pid means something only on the same machine since the same boot."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""
    return f"{socket.gethostname()}/{boot}"


def worker_identity(trial_number: int) -> dict[str, Any]:
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


def reap_dead_trials(study: optuna.Study) -> list[int]:
    """Fail running trials whose worker is dead and queue a retry of each; returns their numbers.

    Heartbeat-stale trials (any machine) go through ``optuna.storages.fail_stale_trials``; trials of a
    dead process on this machine are failed at once the same way (state FAIL, then the storage's retry
    callback), instead of waiting out the grace period.
    """
    import optuna  # noqa: PLC0415
    from optuna.trial import TrialState  # noqa: PLC0415

    running = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    with quiet_optuna():
        optuna.storages.fail_stale_trials(study)
    reaped = [
        t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)) if t.number in running
    ]
    for number in reaped:
        logger.warning("trial %d: no heartbeat for %ds; it will be retried", number, GRACE_PERIOD_S)
    storage = study._storage  # the study's storage: Optuna exposes no public accessor
    callback = (
        storage.get_heartbeat_stale_trial_callback()
        if hasattr(storage, "get_heartbeat_stale_trial_callback")
        else storage.get_failed_trial_callback()
    )
    now = datetime.datetime.now()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get(ATTR_WORKER)
        if worker and worker.get("trial") == trial.number:
            if not _worker_gone(worker):
                continue
        elif trial.datetime_start and (now - trial.datetime_start).total_seconds() < GRACE_PERIOD_S:
            continue  # just asked; its worker has not written its name yet
        try:
            if not storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        reaped.append(trial.number)
        logger.warning("trial %d: its worker died; it will be retried", trial.number)
        if callback is not None and not trial.user_attrs.get(ATTR_DISCARDED):
            with quiet_optuna():
                callback(study, storage.get_trial(trial._trial_id))
    return reaped


class Heartbeat:
    """Records the trial's heartbeat every :data:`HEARTBEAT_INTERVAL_S` in a background thread."""

    def __init__(self, storage: Any, trial_id: int):
        self.storage, self.trial_id = storage, trial_id
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"sweep-heartbeat-{trial_id}", daemon=True)

    def _beat(self) -> None:
        while not self.stop.wait(HEARTBEAT_INTERVAL_S):
            try:
                self.storage.record_heartbeat(self.trial_id)
            except Exception as err:  # noqa: BLE001 - a missed beat must not kill the trial
                logger.warning("heartbeat of trial id %d failed: %s", self.trial_id, err)

    def __enter__(self) -> Heartbeat:
        self.storage.record_heartbeat(self.trial_id)
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join()


# -- counting trials -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tally:
    """The study's trials as the sweep counts them: retried and discarded attempts left out."""

    logical: list[Any]
    finished: int
    waiting: int

    def done(self, num_trials: int) -> bool:
        return self.finished >= num_trials

    def may_ask(self, num_trials: int) -> bool:
        return len(self.logical) < num_trials or self.waiting > 0


def _logical_trials(trials: Sequence[Any]) -> list[Any]:
    """Drop attempts that a retry replaced and trials discarded as surplus or duplicate."""
    replaced = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    return [t for t in trials if t.number not in replaced and not t.user_attrs.get(ATTR_DISCARDED)]


def tally_trials(study: optuna.Study) -> _Tally:
    from optuna.trial import TrialState  # noqa: PLC0415

    logical = _logical_trials(study.get_trials(deepcopy=False))
    finished = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL) for t in logical)
    waiting = sum(t.state == TrialState.WAITING for t in logical)
    return _Tally(logical, finished, waiting)


def discard_reason(study: optuna.Study, plan: SweepPlan, number: int) -> str | None:
    """Why a freshly asked trial must not run: the budget is already taken, or (grid) its point is.

    Trials are numbered by the storage in the order they were created, so when two workers ask at the
    same moment the lower number keeps the slot; both workers reach the same verdict.
    """
    trials = study.get_trials(deepcopy=False)
    mine = next(t for t in trials if t.number == number)
    if "failed_trial" in mine.system_attrs or "fixed_params" in mine.system_attrs:
        return None  # a retry or a trial the user enqueued: it replaces or adds a slot by design
    earlier = [t for t in _logical_trials(trials) if t.number < number]
    if len(earlier) >= plan.num_trials:
        return "surplus"
    grid_id = mine.system_attrs.get("grid_id")
    if grid_id is not None and any(t.system_attrs.get("grid_id") == grid_id for t in earlier):
        return "duplicate"
    return None


# -- results from the study ------------------------------------------------------------------------


def collect_results(study: optuna.Study, plan: SweepPlan) -> SweepResult:
    """The study as a :class:`SweepResult` (finalized when ``num_trials`` trials have finished)."""
    from optuna.trial import TrialState  # noqa: PLC0415

    config = plan.config
    states: dict[Any, TrialStateName] = {
        TrialState.COMPLETE: "complete",
        TrialState.FAIL: "failed",
        TrialState.PRUNED: "pruned",
        TrialState.RUNNING: "running",
        TrialState.WAITING: "waiting",
    }
    result = SweepResult(
        sweep_name=config.name,
        objective_metric=config.objective_metric,
        optimize_direction=config.optimize_direction,
        strategy=config.strategy,
        num_trials_planned=plan.num_trials,
        output_dir=str(plan.sweep_dir),
        storage=_redact(plan.storage_url),
    )
    logical = _logical_trials(study.get_trials(deepcopy=False))
    starts = [t.datetime_start for t in logical if t.datetime_start]
    result.started_at = min(starts).astimezone().isoformat(timespec="seconds") if starts else None
    for trial in logical:
        state = states[trial.state]
        attrs = trial.user_attrs
        duration = attrs.get(ATTR_DURATION)
        if duration is None and trial.datetime_start and trial.datetime_complete:
            duration = (trial.datetime_complete - trial.datetime_start).total_seconds()
        error = attrs.get(ATTR_ERROR) if state == "failed" else None
        if state == "failed" and error is None:
            error = "the trial's worker died and the trial was not retried (retries used up)"
        result.add_trial(
            SweepTrialResult(
                trial_id=trial.number,
                hyperparameters=attrs.get(ATTR_HYPERPARAMETERS) or plan.hyperparameters(trial.params),
                primary_metric=trial.value if state in ("complete", "pruned") else None,
                all_metrics=attrs.get(ATTR_METRICS, {}) if state in ("complete", "pruned") else {},
                success=state == "complete",
                state=state,
                error=error,
                duration_s=duration,
                run_dirs=list(attrs.get(ATTR_RUN_DIRS, [])),
                intermediate_values={int(k): float(v) for k, v in trial.intermediate_values.items()},
                retry_of=trial.system_attrs.get("failed_trial"),
            )
        )
    result.updated_at = now_isoformat()
    counts = result.counts()
    if counts["complete"] + counts["failed"] + counts["pruned"] >= plan.num_trials:
        result.finalize()
    return result


def write_results(study: optuna.Study, plan: SweepPlan) -> SweepResult:
    result = collect_results(study, plan)
    result.save_json(plan.results_path)
    return result
