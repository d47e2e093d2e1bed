"""The CPU code location of the scaled-out deployment (``daf_dagster.locations``): everything but the
GPU assets and jobs, on each job's own executor (in process, in the run's container)."""

import dagster as dg

from daf_dagster.definitions import ASSET_CHECKS, ASSETS
from daf_dagster.jobs import JOBS
from daf_dagster.locations import GPU_ASSET_KEYS, selects_gpu_assets
from daf_dagster.resources import resources_for
from daf_dagster.schedules import SCHEDULES
from daf_dagster.sensors import SENSORS

defs = dg.Definitions(
    assets=[asset for asset in ASSETS if not set(asset.keys) & GPU_ASSET_KEYS],
    asset_checks=[
        check for check in ASSET_CHECKS if not {key.asset_key for key in check.check_keys} & GPU_ASSET_KEYS
    ],
    jobs=[job for job in JOBS if not selects_gpu_assets(job)],
    sensors=SENSORS,
    schedules=SCHEDULES,
    resources=resources_for(),
)
