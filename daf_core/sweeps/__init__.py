"""Hyperparameter sweeps where every trial really trains and evaluates: grid, random and Bayesian search.

A sweep is one Optuna study driven through its ask/tell interface, whatever the strategy. Optuna does
the searching (``RandomSampler`` for ``random``, ``TPESampler`` for ``bayesian``; a seeded grid order for
``grid``); DAF decides what a trial *is* (train with DAF's trainer, then measure with DAF's evaluation
engine) and keeps the study honest when workers race or die. The parts, each in its own module:

* :mod:`daf_core.config.search_space`: search spaces (choices, ranges, fixed values), grid and random
  draws (part of the sweep's config, so a config is validated without the sweep stack).
* :mod:`~daf_core.sweeps.plan`: where each parameter goes (PPO, trainer, mission, policy), the
  DAFConfig the trials run under, and every check made before the first trial;
  :mod:`~daf_core.sweeps.batch`: the batch a trial trains with, and minibatch sizes that would collapse.
* :mod:`~daf_core.sweeps.trial`: one trial, in phases: set up, train each seed, evaluate, score; early
  stopping in chunks.
* :mod:`~daf_core.sweeps.results`: ``SweepResult``, ``results.json``, status, best configuration, and
  the one count of finished trials.
* :mod:`~daf_core.sweeps.reevaluation`: the best trials on fresh seeds (:func:`daf_reevaluate_sweep`,
  a sweep with ``reevaluate_top_k: k``): each one's shrinkage, sweep estimate minus fresh
  estimate, with its interval: the winner's curse, measured.
* :mod:`~daf_core.sweeps.study`: the Optuna study and the storage DAF keeps beside it
  (``SweepStudy``), counting trials, discarding a trial that lost a race, results from the study;
  :mod:`~daf_core.sweeps.logical`: which Optuna trials count, and each draw's logical index;
  :mod:`~daf_core.sweeps.sampler`: ``SweepSampler``, which seeds each trial's draw from that index;
  :mod:`~daf_core.sweeps.liveness`: heartbeats, and failing and retrying dead workers' trials.
* :mod:`~daf_core.sweeps.worker`: the worker loop; :mod:`~daf_core.sweeps.launch`:
  :func:`daf_launch_sweep` and worker processes; ``python -m daf_core.sweeps --config sweep.yaml
  [--daf-config daf.yaml] [--worker]`` the command line. This package's face is the reference API.

How a sweep runs:

* **Workers.** min(sweep ``max_parallel_jobs``, ``DAFConfig.max_parallel_jobs``, trials left) worker
  processes (``python -m daf_core.sweeps --config ... --worker``, one thread each) loop ask -> train ->
  evaluate -> tell until the study holds ``num_trials`` finished trials; with one the loop runs in the
  calling process. Workers coordinate only through the storage, so the same command started on several
  machines shares one PostgreSQL study.
* **Distinct parameters.** Each trial's values are drawn inside Optuna's ``ask()`` by a sampler built
  for that trial and seeded from the sweep's ``seed`` and the trial's logical index (how many kept draws
  precede it), and a draw repeating an earlier trial's values is drawn again. Workers asking in the same
  instant therefore draw different values; should two still collide (a small finite space), or take the
  last slot together, the trial the storage numbered later is discarded (told FAIL, marked
  ``daf_discarded``, left out of every result) and its worker asks again. So no parameter set runs
  twice and no more than ``num_trials`` trials count; a random or Bayesian search space with fewer
  distinct points than ``num_trials`` is refused.
* **Resuming.** Re-running a sweep continues its study: finished trials are never run again, and a trial
  whose worker died is retried (up to ``max_retries``) with the same parameters in its own directories,
  resuming its checkpoint. Dead workers are noticed at once on the same machine and after
  ``heartbeat_grace_period_s`` without a heartbeat elsewhere, by every worker before it asks for a trial
  and at every ``heartbeat_interval_s`` while it runs one (see :mod:`~daf_core.sweeps.liveness`).
* **Failures.** A trial that raises is recorded (FAIL, its error in the results) and the sweep goes on;
  such a trial counts as finished and is not retried (the same parameters would fail the same way). A
  sweep whose every trial failed raises ``RuntimeError`` listing each error.
* **Reproducibility.** Every trial trains with the same ``training_seeds`` and is evaluated on the same
  episodes (seeds from ``evaluation_seed``), so trials differ only by their hyperparameters. The n-th
  draw of a sweep depends only on ``seed``, n and the trials before it, so a sweep draws the same
  values every time, also when it is killed and resumed. A trial that resumes from a checkpoint after
  its worker died is not bit-identical to an uninterrupted one (the environments restart), which a
  Bayesian search then sees in its later draws.
* **Global settings.** Every field of the DAFConfig given to :func:`daf_launch_sweep` acts in the trials,
  in this process and in worker processes (see :func:`daf_launch_sweep`); without one, DAFConfig's
  defaults apply with the sweep's ``output_dir``.

Layout under ``<output_dir>/<name>/``::

    sweep_config.yaml     the config the workers run
    daf_config.yaml       the DAFConfig they run under (the one given, or the sweep's default)
    study.db              the Optuna study (default storage)
    results.json          SweepResult, rewritten atomically whenever a trial starts or ends
    logs/worker-N.log     output of worker processes
    trials/trial_NNNN/    one per trial (a retry reuses the directory of the trial it retries):
        missions/           mission files built with the trial's mission parameters (if any)
        evaluation/         episodes.parquet/.csv of the final evaluation (evaluation_chunkK/ before)
        fresh_evaluation/   the same checkpoints on fresh seeds (best trials, when re-evaluated)
        trial.json          this trial's SweepTrialResult; error.txt holds a failed trial's traceback

and under ``<DAFConfig.checkpoint_dir>/<name>/`` (by default ``<output_dir>/checkpoints/<name>/``)::

    sweep.json            which sweep (study storage) owns these checkpoints
    trial_NNNN/seedS/     DAF training run per trial and training seed (checkpoints, metrics.jsonl)
"""

from daf_core.config.search_space import ParamSpec, daf_grid_search, daf_random_search, parse_search_space
from daf_core.sweeps.launch import daf_launch_sweep, worker_command
from daf_core.sweeps.plan import DESTINATIONS, SweepPlan, plan_sweep
from daf_core.sweeps.reevaluation import daf_reevaluate_sweep, seed_blocks, shrinkage_interval
from daf_core.sweeps.results import (
    FreshEvaluation,
    SweepResult,
    SweepTrialResult,
    daf_sweep_best_config,
    daf_sweep_status,
)
from daf_core.sweeps.trial import trial_training_config
from daf_core.sweeps.worker import run_sweep_worker

__all__ = [
    "DESTINATIONS",
    "FreshEvaluation",
    "ParamSpec",
    "SweepPlan",
    "SweepResult",
    "SweepTrialResult",
    "daf_grid_search",
    "daf_launch_sweep",
    "daf_random_search",
    "daf_reevaluate_sweep",
    "daf_sweep_best_config",
    "daf_sweep_status",
    "parse_search_space",
    "plan_sweep",
    "run_sweep_worker",
    "seed_blocks",
    "shrinkage_interval",
    "trial_training_config",
    "worker_command",
]
