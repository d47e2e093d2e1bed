"""Hyperparameter sweeps where every trial really trains and evaluates: grid, random and Bayesian search.

A sweep is one Optuna study driven through its ask/tell interface, whatever the strategy: ``grid`` uses
``GridSampler``, ``random`` ``RandomSampler`` and ``bayesian`` ``TPESampler``. Optuna does the searching;
DAF decides what a trial *is* (train with DAF's trainer, then measure with DAF's evaluation engine) and
keeps the study honest when workers die. The parts, each in its own module:

* :mod:`daf_core.config.search_space`: search spaces (choices, ranges, fixed values), grid and random
  draws (part of the sweep's config, so a config is validated without the sweep stack).
* :mod:`~daf_core.sweeps.plan`: where each parameter goes (PPO, trainer, mission, policy) and every check
  made before the first trial.
* :mod:`~daf_core.sweeps.trial`: one trial: train, evaluate, score; early stopping in chunks.
* :mod:`~daf_core.sweeps.results`: ``SweepResult``, ``results.json``, status and best configuration.
* :mod:`~daf_core.sweeps.study`: the Optuna study: storage, samplers, heartbeats, retrying dead workers'
  trials, counting trials.
* :mod:`~daf_core.sweeps.worker`: the worker loop; :mod:`~daf_core.sweeps.launch`:
  :func:`daf_launch_sweep` and worker processes; ``python -m daf_core.sweeps --config sweep.yaml
  [--worker]`` the command line. This package's face is the reference API.

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
  (see :mod:`daf_core.sweeps.study`).
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

from daf_core.config.search_space import ParamSpec, daf_grid_search, daf_random_search, parse_search_space
from daf_core.sweeps.launch import daf_launch_sweep, worker_command
from daf_core.sweeps.plan import DESTINATIONS, SweepPlan, plan_sweep
from daf_core.sweeps.results import SweepResult, SweepTrialResult, daf_sweep_best_config, daf_sweep_status
from daf_core.sweeps.worker import run_sweep_worker

__all__ = [
    "DESTINATIONS",
    "ParamSpec",
    "SweepPlan",
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
    "worker_command",
]
