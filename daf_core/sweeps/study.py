"""The Optuna study behind a sweep: its storage, the handle DAF keeps on it, counting trials, results.

* **Persistence.** The study lives in an Optuna RDB storage: ``<output_dir>/<name>/study.db`` (SQLite)
  unless ``storage`` names a database, e.g. PostgreSQL, which workers on several machines can share.
  Re-running a sweep continues its study: finished trials are never run again, and trials whose worker
  died are retried (:mod:`daf_core.sweeps.liveness`) with the sweep's ``heartbeat_interval_s``,
  ``heartbeat_grace_period_s`` and ``max_retries``, which the storage is opened with.
* **No private attributes.** Optuna keeps a study's storage (``study._storage``) and a trial's id
  (``trial._trial_id``) private. DAF opens the storage itself and keeps it beside the study in a
  :class:`SweepStudy`, and looks trial ids up through the storage's public
  ``get_study_id_from_name`` / ``get_trial_id_from_study_id_trial_number``; trials are finished with
  ``study.tell(..., skip_if_finished=True)``.
* **Counting.** Retried attempts and trials discarded as surplus or duplicate are left out of every count
  and every result (:mod:`daf_core.sweeps.logical`), and "finished" is counted once
  (:func:`daf_core.sweeps.results.count_finished`).
* **Distinct parameters.** Each trial's parameters are drawn by :class:`~daf_core.sweeps.sampler.SweepSampler`
  from the trial's logical index; :func:`discard_reason` settles the rare pair of workers that drew
  the same parameters, or took the last slot, in the same instant.
"""

from __future__ import annotations

import inspect
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daf_core._internal.database_urls import with_installed_driver
from daf_core.config import DAFSweepConfig
from daf_core.sweeps.logical import (
    ATTR_DURATION,
    ATTR_ERROR,
    ATTR_HYPERPARAMETERS,
    ATTR_METRICS,
    ATTR_RUN_DIRS,
    is_discarded,
    logical_trials,
    parameter_key,
    retry_of,
    reuses_parameters,
    state_name,
)
from daf_core.sweeps.plan import SweepPlan, without_password
from daf_core.sweeps.results import (
    FreshEvaluation,
    SweepResult,
    SweepTrialResult,
    count_finished,
    json_safe,
    now_isoformat,
    still_ranked,
)

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)

_STUDY_ATTR_CONFIG = "daf_sweep_config"
#: The study attribute holding the best trials' re-evaluations on fresh seeds (FreshEvaluation dicts).
STUDY_ATTR_FRESH = "daf_fresh_evaluations"
#: How often a fresh trial's duplicate check looks again at an earlier trial still drawing its values.
_DRAW_POLL_S = 0.05


def expect_optuna_warnings() -> None:
    """Silence the warnings of the Optuna features DAF uses on purpose, in this process.

    Optuna flags heartbeats outside ``study.optimize``, the storage's heartbeat arguments, its
    stale-trial reaping and its retry callback as experimental or unexpected; DAF's ask/tell loop
    needs them all to survive dead workers. The filters match those messages only, and re-adding an
    identical filter replaces it (no pile-up).
    They are process-wide rather than ``warnings.catch_warnings`` blocks because the heartbeat thread
    reaps too, and ``catch_warnings`` is not thread-safe.
    """
    import optuna  # noqa: PLC0415

    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
    warnings.filterwarnings(
        "ignore",
        message=r".*(fail_stale_trials|RetryHeartbeatStaleTrialCallback|RetryFailedTrialCallback) is "
        "experimental",
        category=optuna.exceptions.ExperimentalWarning,
    )
    warnings.filterwarnings(
        "ignore",
        message=r"Argument ``(heartbeat_interval|grace_period|heartbeat_stale_trial_callback|"
        r"failed_trial_callback)`` is an experimental feature",
        category=optuna.exceptions.ExperimentalWarning,
    )


def trial_retry_callback(max_retries: int) -> Callable[..., None]:
    """Optuna's callback that queues a failed trial again with the same parameters."""
    import optuna  # noqa: PLC0415

    expect_optuna_warnings()
    retry = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
    if retry is None:  # optuna < 4.9
        retry = optuna.storages.RetryFailedTrialCallback
    return retry(max_retry=max_retries)


def open_storage(config: DAFSweepConfig, url: str, attempts: int = 5) -> optuna.storages.RDBStorage:
    """An RDB storage with the sweep's heartbeat interval, grace period and retries of stale trials."""
    import optuna  # noqa: PLC0415

    expect_optuna_warnings()
    url = with_installed_driver(url)
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
            return optuna.storages.RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=config.heartbeat_interval_s,
                grace_period=config.heartbeat_grace_period_s,
                **{callback_arg: trial_retry_callback(config.max_retries)},
            )
        except ImportError as err:
            raise ImportError(
                f"the sweep storage {without_password(url)} needs a database driver that is not installed "
                "(PostgreSQL: pip install psycopg2-binary)"
            ) from err
        except Exception as err:  # noqa: BLE001 - workers starting together race to create the tables
            if attempt == attempts:
                raise RuntimeError(f"cannot open the sweep storage {without_password(url)}: {err}") from err
            logger.debug("opening storage failed (%s); retrying", err)
            time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class SweepStudy:
    """The sweep's Optuna study, the storage DAF opened for it, and the plan it runs.

    Optuna wraps the storage it is given and keeps it private, so DAF keeps its own reference for what
    only the storage does (heartbeats, failing a dead worker's trial, trial ids).
    """

    study: optuna.Study
    storage: optuna.storages.RDBStorage
    study_id: int
    plan: SweepPlan

    def trial_id(self, number: int) -> int:
        return self.storage.get_trial_id_from_study_id_trial_number(self.study_id, number)

    def trials(self) -> list[optuna.trial.FrozenTrial]:
        return self.study.get_trials(deepcopy=False)


def _config_identity(config: DAFSweepConfig) -> dict[str, Any]:
    """What makes two runs the same sweep (budget, parallelism, liveness settings and where files go
    may change)."""
    return config.model_dump(
        mode="json",
        exclude={
            "num_trials",
            "max_parallel_jobs",
            "output_dir",
            "storage",
            "heartbeat_interval_s",
            "heartbeat_grace_period_s",
            "max_retries",
            # Re-evaluating the best trials afterwards changes no trial (fields the sweep config may hold).
            "reevaluate_top_k",
            "reevaluate_episodes",
        },
    )


def open_study(plan: SweepPlan) -> SweepStudy:
    """Create the sweep's study or load it; a study created by a different sweep config is refused."""
    import optuna  # noqa: PLC0415

    from daf_core.sweeps.sampler import SweepSampler  # noqa: PLC0415 - imports optuna

    config = plan.config
    storage = open_storage(config, plan.storage_url)
    pruner = (
        optuna.pruners.SuccessiveHalvingPruner(
            min_resource=1, reduction_factor=config.early_stopping_reduction_factor, min_early_stopping_rate=0
        )
        if config.early_stopping
        else optuna.pruners.NopPruner()
    )
    study = optuna.create_study(
        study_name=config.name,
        storage=storage,
        sampler=SweepSampler(plan),
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
            f"sweep {config.name!r}: the study in {plan.storage_label} was created by a different "
            f"configuration (changed: {changed}); continuing it would mix incomparable trials. Use a new "
            "name, output_dir or storage, or restore the original settings."
        )
    if list(study.directions) != [optuna.study.StudyDirection[config.optimize_direction.upper()]]:
        raise ValueError(f"sweep {config.name!r}: the stored study optimizes in another direction")
    return SweepStudy(study, storage, storage.get_study_id_from_name(config.name), plan)


# -- counting trials -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """The study's logical trials as the worker loop counts them."""

    logical: list[Any]
    finished: int
    waiting: int

    def done(self, num_trials: int) -> bool:
        return self.finished >= num_trials

    def may_ask(self, num_trials: int) -> bool:
        return len(self.logical) < num_trials or self.waiting > 0


def tally_trials(sweep: SweepStudy) -> Tally:
    logical = logical_trials(sweep.trials())
    states = [state_name(t) for t in logical]
    return Tally(logical, count_finished(states), states.count("waiting"))


def discard_reason(sweep: SweepStudy, number: int) -> str | None:
    """Why a freshly asked trial must not run: the budget is already taken, or its parameters are.

    Trials are numbered by the storage in the order they were created, so when two workers ask at the
    same moment the lower number keeps the slot (and the parameters); both workers reach the same
    verdict. An earlier trial still drawing its values is waited for (up to the grace period, after
    which a worker that died drawing has its trial failed anyway), so a pair that drew the same values
    in the same instant is always caught.
    """
    names = list(sweep.plan.distributions())
    deadline = time.monotonic() + sweep.plan.config.heartbeat_grace_period_s
    while True:
        trials = sweep.trials()
        mine = next(t for t in trials if t.number == number)
        if reuses_parameters(mine):
            return None  # a retry or a trial the user enqueued: it replaces or adds a slot by design
        earlier = [t for t in trials if t.number < number and not is_discarded(t)]
        if len(logical_trials(earlier)) >= sweep.plan.num_trials:
            return "surplus"
        drawing = [t for t in earlier if t.state.name == "RUNNING" and parameter_key(t.params, names) is None]
        if not drawing or time.monotonic() > deadline:
            break
        time.sleep(_DRAW_POLL_S)
    key = parameter_key(mine.params, names)
    if any(parameter_key(t.params, names) == key for t in earlier):
        return "duplicate"
    return None


# -- results from the study ------------------------------------------------------------------------


def collect_results(sweep: SweepStudy) -> SweepResult:
    """The study as a :class:`SweepResult` (finalized when ``num_trials`` trials have finished)."""
    plan = sweep.plan
    config = plan.config
    result = SweepResult(
        sweep_name=config.name,
        objective_metric=config.objective_metric,
        optimize_direction=config.optimize_direction,
        strategy=config.strategy,
        num_trials_planned=plan.num_trials,
        output_dir=str(plan.sweep_dir),
        storage=plan.storage_label,
    )
    logical = logical_trials(sweep.trials())
    starts = [t.datetime_start for t in logical if t.datetime_start]
    result.started_at = min(starts).astimezone().isoformat(timespec="seconds") if starts else None
    for trial in logical:
        result.add_trial(_trial_result(trial, plan))
    result.updated_at = now_isoformat()
    if result.finished_trials() >= plan.num_trials:
        result.finalize()
    stored = [FreshEvaluation.from_dict(e) for e in sweep.study.user_attrs.get(STUDY_ATTR_FRESH, [])]
    result.fresh_evaluations = still_ranked(stored, result)
    return result


def store_fresh_evaluations(sweep: SweepStudy, evaluations: list[FreshEvaluation]) -> None:
    """Keep the re-evaluations in the study, so every later ``results.json`` a worker writes has them."""
    sweep.study.set_user_attr(STUDY_ATTR_FRESH, json_safe([e.to_dict() for e in evaluations]))


def _trial_result(trial: Any, plan: SweepPlan) -> SweepTrialResult:
    state = state_name(trial)
    attrs = trial.user_attrs
    scored = state in ("complete", "pruned")
    duration = attrs.get(ATTR_DURATION)
    if duration is None and trial.datetime_start and trial.datetime_complete:
        duration = (trial.datetime_complete - trial.datetime_start).total_seconds()
    error = attrs.get(ATTR_ERROR) if state == "failed" else None
    if state == "failed" and error is None:
        error = "the trial's worker died and the trial was not retried (retries used up)"
    return SweepTrialResult(
        trial_id=trial.number,
        hyperparameters=attrs.get(ATTR_HYPERPARAMETERS) or plan.hyperparameters(trial.params),
        primary_metric=trial.value if scored else None,
        all_metrics=attrs.get(ATTR_METRICS, {}) if scored else {},
        success=state == "complete",
        state=state,
        error=error,
        duration_s=duration,
        run_dirs=list(attrs.get(ATTR_RUN_DIRS, [])),
        intermediate_values={int(k): float(v) for k, v in trial.intermediate_values.items()},
        retry_of=retry_of(trial),
    )


def write_results(sweep: SweepStudy) -> SweepResult:
    result = collect_results(sweep)
    result.save_json(sweep.plan.results_path)
    return result
