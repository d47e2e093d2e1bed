"""The code location of one machine: ``dagster dev`` / ``dagster-webserver -w workspace.yaml`` /
``dagster job execute -m daf_dagster.definitions``: every asset, job, sensor and schedule.

The scaled-out deployment splits the same definitions in two code locations (``daf_dagster.locations``:
``cpu`` and ``gpu``, docker/workspace.yaml), built from the lists here.

Loading it imports Dagster and DAF's configs only; torch, cogames and mettagrid load inside asset bodies.
"""

import dagster as dg

from daf_dagster.assets import benchmarks, comparison, deployment, promotion, quickstart, sweeps, training
from daf_dagster.assets.environment import environment_report
from daf_dagster.gpu import GpuSettings, gpu_training_job
from daf_dagster.jobs import JOBS
from daf_dagster.resources import resources_for
from daf_dagster.schedules import SCHEDULES
from daf_dagster.sensors import SENSORS

DOMAINS = (training, sweeps, comparison, benchmarks, deployment, promotion, quickstart)

ASSETS = [environment_report, *(asset for domain in DOMAINS for asset in domain.ASSETS)]
ASSET_CHECKS = [check for domain in DOMAINS for check in domain.ASSET_CHECKS]
#: ``gpu_training_job`` with the executor of ``$DAF_DEPLOYMENT`` (in-process on CPU locally).
GPU_TRAINING_JOB = gpu_training_job(GpuSettings.from_env())

defs = dg.Definitions(
    assets=ASSETS,
    asset_checks=ASSET_CHECKS,
    jobs=[*JOBS, GPU_TRAINING_JOB],
    sensors=SENSORS,
    schedules=SCHEDULES,
    resources=resources_for(),
)
