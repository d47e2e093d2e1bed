"""Launching a sweep: validate it, start its workers (or run the loop here), record the experiment."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from daf_core._internal.supervisor import WorkerSpec, run_workers
from daf_core._internal.threads import SINGLE_THREAD_ENV
from daf_core.config import DAFConfig, DAFSweepConfig
from daf_core.sweeps.plan import SweepPlan, plan_sweep
from daf_core.sweeps.results import SweepResult
from daf_core.sweeps.study import (
    open_study,
    reap_dead_trials,
    tally_trials,
    write_results,
)
from daf_core.sweeps.worker import run_sweep_worker

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)

CONFIG_FILE = "sweep_config.yaml"


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
    from daf_core.tracking import record_experiment  # noqa: PLC0415

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


def worker_command(config_path: str | Path, daf_config_path: str | Path | None = None) -> list[str]:
    """The command line of one sweep worker (what to start on other machines sharing the storage)."""
    command = [sys.executable, "-m", "daf_core.sweeps", "--config", str(config_path), "--worker"]
    return command + (["--daf-config", str(daf_config_path)] if daf_config_path is not None else [])


def _run_worker_processes(config_path: Path, workers: int, sweep_dir: Path) -> list[str]:
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
    specs = [
        WorkerSpec(
            f"sweep worker {index}",
            worker_command(config_path),
            env,
            sweep_dir / "logs" / f"worker-{index}.log",
        )
        for index in range(workers)
    ]
    exits = run_workers(specs, stop_all_on_failure=False, interrupt_grace_s=60.0)
    return [exit.describe() for exit in exits if exit.returncode != 0]
