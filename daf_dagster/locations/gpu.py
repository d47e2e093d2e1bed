"""The GPU code location of the scaled-out deployment (``daf_dagster.locations``): the GPU assets and
``gpu_training_job``, with the GPU executor (``daf_dagster.gpu``) as the location's default, so a
materialization launched from the UI runs there too. Served by docker-compose's ``daf_gpu_user_code``."""

import dagster as dg

from daf_dagster.definitions import GPU_TRAINING_JOB
from daf_dagster.gpu import GpuSettings, gpu_executor
from daf_dagster.locations import GPU_ASSETS
from daf_dagster.resources import resources_for

defs = dg.Definitions(
    assets=GPU_ASSETS,
    jobs=[GPU_TRAINING_JOB],
    executor=gpu_executor(GpuSettings.from_env()),
    resources=resources_for(),
)
