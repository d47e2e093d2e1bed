"""Launching a sweep: validate it, start its workers (or run the loop here), record the experiment.

Workers on this machine are forks of the launching process where that is safe (Linux, no CUDA state):
planning the sweep has already imported DAF's trainer (torch, PufferLib, mettagrid), so a worker starts
its first trial at once instead of paying those imports again; it then runs exactly what ``python -m
daf_core.sweeps --worker`` runs (and that command is how workers on other machines join).
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from pathlib import Path

from daf_core._internal.supervisor import WorkerSpec, fork_available, run_workers
from daf_core._internal.threads import SINGLE_THREAD_ENV
from daf_core.config import DAFConfig, DAFSweepConfig, configure_logging
from daf_core.sweeps.liveness import reap_dead_trials
from daf_core.sweeps.plan import SweepPlan, claim_checkpoint_root, plan_sweep, sweep_daf_config
from daf_core.sweeps.reevaluation import check_reevaluation, reevaluate_top_trials
from daf_core.sweeps.results import SweepResult
from daf_core.sweeps.study import SweepStudy, open_study, tally_trials, write_results
from daf_core.sweeps.worker import run_sweep_worker, run_worker_process

logger = logging.getLogger(__name__)

CONFIG_FILE = "sweep_config.yaml"
DAF_CONFIG_FILE = "daf_config.yaml"


def daf_launch_sweep(
    sweep_config: DAFSweepConfig | str | Path,
    daf_config: DAFConfig | None = None,
) -> SweepResult:
    """Run (or continue) a sweep to ``num_trials`` finished trials and return its results.

    Everything is validated before the first trial. The trials run in min(``max_parallel_jobs`` of
    the sweep, ``daf_config.max_parallel_jobs``, trials left) worker processes, or in this process when
    that is one. ``daf_config`` acts in every trial, here and in the workers (which get it as
    ``<sweep dir>/daf_config.yaml``): ``verbose``/``log_to_file`` configure DAF's logging in this
    process and each worker (``<output_dir>/logs/daf.log``); the device (``device: auto`` included)
    honours ``enable_gpu`` and ``gpu_memory_fraction``; ``monitor_system_stats``,
    ``track_experiments`` (each training run and the sweep are recorded in ``<output_dir>``'s
    experiments log) and ``max_checkpoints_to_keep`` act in each training run; trial checkpoints go to
    ``<checkpoint_dir>/<sweep name>/trial_NNNN/seedS``. Without one the sweep uses DAFConfig's defaults
    with its files under the sweep's ``output_dir`` (:func:`~daf_core.sweeps.plan.sweep_daf_config`).
    Raises ``RuntimeError`` when every trial failed (listing each error) or when the workers stopped
    before the sweep finished.

    The sweep's ``reevaluate_top_k`` > 0: once it is finished, its ``reevaluate_top_k`` best trials are
    evaluated again on ``reevaluate_episodes`` fresh seeds (default ``episodes_per_trial``; seeds no
    trial was scored or trained on) and ``result.fresh_evaluations`` gives each one's shrinkage, sweep
    estimate minus fresh estimate, with its interval (:mod:`daf_core.sweeps.reevaluation`). The fresh
    seeds are checked before any trial runs.
    """
    # Phase 1: the sweep, the settings its trials run under, and the files its workers read.
    config = (
        sweep_config if isinstance(sweep_config, DAFSweepConfig) else DAFSweepConfig.from_file(sweep_config)
    )
    config = config.model_copy(update={"output_dir": Path(config.output_dir).absolute()})
    reevaluate_top_k = config.reevaluate_top_k
    if reevaluate_top_k:
        reevaluate_episodes = check_reevaluation(config, reevaluate_top_k, config.reevaluate_episodes)
    daf_config = sweep_daf_config(config, daf_config)
    configure_logging(daf_config)
    plan = plan_sweep(config, daf_config)
    plan.sweep_dir.mkdir(parents=True, exist_ok=True)
    claim_checkpoint_root(plan)
    config_path = config.to_yaml(plan.sweep_dir / CONFIG_FILE)
    daf_config_path = daf_config.to_yaml(plan.sweep_dir / DAF_CONFIG_FILE)

    # Phase 2: how much is left, and on how many workers.
    sweep = open_study(plan)
    reap_dead_trials(sweep)
    finished = tally_trials(sweep).finished
    remaining = plan.num_trials - finished
    workers = max(1, min(config.max_parallel_jobs, plan.daf_config.max_parallel_jobs, remaining))
    logger.info(
        "sweep %s: %d of %d trials finished; %d to run on %d worker(s) = min(sweep max_parallel_jobs %d, "
        "DAFConfig.max_parallel_jobs %d, trials left %d)",
        config.name,
        finished,
        plan.num_trials,
        max(remaining, 0),
        workers,
        config.max_parallel_jobs,
        plan.daf_config.max_parallel_jobs,
        max(remaining, 0),
    )

    # Phase 3: run the trials, here or in worker processes.
    if remaining <= 0:
        result = write_results(sweep)
    elif workers == 1:
        result = run_sweep_worker(config, plan, sweep)
    else:
        fork = _can_fork()
        if fork:
            _prepare_fork(sweep)
        problems = _run_worker_processes(config_path, daf_config_path, workers, plan.sweep_dir, fork=fork)
        result = write_results(sweep)
        if not result.is_finished:
            raise RuntimeError(
                f"sweep {config.name!r}: the workers stopped with {result.finished_trials()} of "
                f"{plan.num_trials} trials finished:\n" + "\n".join(problems)
            )

    # Phase 4: record the experiment; a sweep whose every trial failed is an error.
    if remaining > 0:  # a rerun of a finished sweep is not a new experiment
        _record(result, plan)
    counts = result.counts()
    if counts["complete"] == 0 and counts["pruned"] == 0 and counts["failed"] > 0:
        raise RuntimeError(
            f"sweep {config.name!r}: all {counts['failed']} trials failed:\n"
            + "\n".join(f"  - {line}" for line in result.errors())
        )

    # Phase 5: the best trials on fresh seeds, when asked for (a rerun reuses the recorded episodes).
    if reevaluate_top_k:
        reevaluate_top_trials(sweep, reevaluate_top_k, reevaluate_episodes)
        result = write_results(sweep)
    return result


def _record(result: SweepResult, plan: SweepPlan) -> None:
    from daf_core.tracking import record_experiment  # noqa: PLC0415

    if not plan.daf_config.track_experiments:
        return
    best = result.get_best_trial()
    record_experiment(
        plan.daf_config.output_dir,
        "sweep",
        plan.config.name,
        plan.config.to_dict(),
        {
            **{k: v for k, v in result.status().items() if k != "best_hyperparameters"},
            "best_hyperparameters": best.hyperparameters if best else None,
        },
        {"sweep_dir": str(plan.sweep_dir), "results": str(plan.results_path)},
    )


def worker_command(config_path: str | Path, daf_config_path: str | Path | None = None) -> list[str]:
    """The command line of one sweep worker (what to start on other machines sharing the storage)."""
    command = [sys.executable, "-m", "daf_core.sweeps", "--config", str(config_path), "--worker"]
    return command + (["--daf-config", str(daf_config_path)] if daf_config_path is not None else [])


#: Whether local sweep workers are forked from the launching process (False: fresh interpreters).
_FORK_WORKERS = os.environ.get("DAF_SWEEP_WORKER_START", "fork") != "exec"


def _can_fork() -> bool:
    """Fork workers only on Linux and before this process touched CUDA (its state does not survive)."""
    torch = sys.modules.get("torch")
    cuda_used = torch is not None and torch.cuda.is_initialized()
    return _FORK_WORKERS and fork_available() and not cuda_used


def _prepare_fork(sweep: SweepStudy) -> None:
    """Import once, here, what every worker needs, and close this process's database connections (a
    fork must not share them; the engine reconnects when this process reads the results)."""
    import torch._dynamo  # noqa: F401, PLC0415 - torch's optimizer imports it on first use (about a second)

    import daf_core.evaluation  # noqa: F401, PLC0415
    import daf_core.training  # noqa: F401, PLC0415

    sweep.storage.engine.dispose()


def _run_worker_processes(
    config_path: Path, daf_config_path: Path, workers: int, sweep_dir: Path, *, fork: bool = False
) -> list[str]:
    """Start the workers, wait for all of them; returns a line per worker that exited abnormally.

    Workers are independent (they coordinate through the study), so one that fails does not stop the
    others. Ctrl-C here reaches every worker as SIGINT: each requeues its trial and stops.
    """
    env = {
        **os.environ,
        **SINGLE_THREAD_ENV,
        # The same imports as here (policy classes given by module path, e.g. from a test package).
        "PYTHONPATH": os.pathsep.join(dict.fromkeys(p for p in [os.getcwd(), *sys.path] if p)),
    }
    command = worker_command(config_path, daf_config_path)
    specs = [
        WorkerSpec(
            f"sweep worker {index}",
            command,
            env,
            sweep_dir / "logs" / f"worker-{index}.log",
            target=functools.partial(run_worker_process, config_path, daf_config_path) if fork else None,
        )
        for index in range(workers)
    ]
    exits = run_workers(specs, stop_all_on_failure=False, interrupt_grace_s=60.0)
    return [exit.describe() for exit in exits if exit.returncode != 0]
