"""The code location: ``dagster dev`` / ``dagster-webserver -w workspace.yaml`` /
``dagster job execute -m daf_dagster.definitions``.

Loading it imports Dagster and DAF's configs only; torch, cogames and mettagrid load inside asset bodies.
"""

import dagster as dg

from daf_dagster.assets import benchmarks, comparison, deployment, quickstart, sweeps, training
from daf_dagster.assets.environment import environment_report
from daf_dagster.jobs import JOBS
from daf_dagster.resources import resources_for
from daf_dagster.sensors import SENSORS

DOMAINS = (training, sweeps, comparison, benchmarks, deployment, quickstart)

defs = dg.Definitions(
    assets=[environment_report, *(asset for domain in DOMAINS for asset in domain.ASSETS)],
    asset_checks=[check for domain in DOMAINS for check in domain.ASSET_CHECKS],
    jobs=JOBS,
    sensors=SENSORS,
    resources=resources_for(),
)
