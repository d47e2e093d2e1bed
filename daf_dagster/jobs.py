"""A job for every workflow. Each runs in process: here the multiprocess executor costs ~20 s per run (a
process per step), more than most steps; parallelism lives inside the steps (``max_parallel_jobs``).

Partitioned jobs choose their default partition by tag, which ``dagster job execute --tags`` or the
launchpad overrides: ``training_job`` trains the run named by ``dagster/partition``, and
``comparison_job`` evaluates every mission partition in one step (a range run) before its report.
``checkpoint_validation_job`` packages and validates a training run's newest checkpoint; the checkpoint
validation sensor (``daf_dagster.sensors``) requests it, a partition per run. ``promotion_job`` runs the
promotion gate on a training run's package (the promotion sensor requests it for every validated one);
``rollback_job`` (``daf_dagster.rollback``, an op job: it changes the server, it makes no asset) serves an
earlier version again (the health and promotion failure sensors request it).
"""

import dagster as dg

from daf_dagster.assets import benchmarks, comparison, quickstart, sweeps
from daf_dagster.assets.deployment import checkpoint_package, deployment_package
from daf_dagster.assets.environment import environment_report
from daf_dagster.assets.promotion import policy_promotion
from daf_dagster.assets.training import training_checkpoints
from daf_dagster.partitions import MISSIONS
from daf_dagster.rollback import rollback_job

PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
DEFAULT_TRAINING_RUN = "collect_lstm"
DEFAULT_BENCHMARK_SUITE = "quick"


def _job(name: str, selection: list, description: str, tags: dict[str, str] | None = None):
    return dg.define_asset_job(
        name, selection=selection, executor_def=dg.in_process_executor, tags=tags, description=description
    )


_missions = MISSIONS.get_partition_keys()

training_job = _job(
    "training_job",
    [training_checkpoints],
    "Train (or resume) the training run named by the partition (default collect_lstm).",
    tags={PARTITION_TAG: DEFAULT_TRAINING_RUN},
)
sweep_job = _job(
    "sweep_job",
    sweeps.ASSETS,
    "Run a hyperparameter sweep, then train a checkpoint with its best configuration.",
)
comparison_job = _job(
    "comparison_job",
    [comparison.comparison_episodes, comparison.comparison_report],
    "Evaluate the policies on every built-in mission in one step, then the comparison report.",
    tags={RANGE_START_TAG: _missions[0], RANGE_END_TAG: _missions[-1]},
)
benchmark_job = _job(
    "benchmark_job",
    benchmarks.ASSETS,
    "Run the policies on the benchmark suite named by the partition (default quick).",
    tags={PARTITION_TAG: DEFAULT_BENCHMARK_SUITE},
)
deployment_job = _job(
    "deployment_job",
    [deployment_package],
    "Package a trained policy as a cogames bundle and validate it in isolation (blocking check).",
)
checkpoint_validation_job = _job(
    "checkpoint_validation_job",
    [checkpoint_package],
    "Package the newest checkpoint of the training run named by the partition (default collect_lstm) "
    "as version 0.1.<epoch> and validate it in isolation (blocking check).",
    tags={PARTITION_TAG: DEFAULT_TRAINING_RUN},
)
promotion_job = _job(
    "promotion_job",
    [policy_promotion],
    "Benchmark the training run's newest validated package (or the configured bundle) against the "
    "deployed version on the same seeds; deploy it only if it is better, then smoke-test it.",
    tags={PARTITION_TAG: DEFAULT_TRAINING_RUN},
)
quickstart_job = _job(
    "quickstart_job",
    [environment_report, *quickstart.ASSETS],
    "`make demo`: train lstm on collect, compare it with random and the untrained network on held-out "
    "maps, report, package and validate.",
)

JOBS = [
    training_job,
    sweep_job,
    comparison_job,
    benchmark_job,
    deployment_job,
    checkpoint_validation_job,
    promotion_job,
    rollback_job,
    quickstart_job,
]
