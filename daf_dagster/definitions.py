"""The code location: ``dagster dev`` / ``dagster job execute -m daf_dagster.definitions``.

Loading it imports Dagster and DAF's configs only; torch, cogames and mettagrid load inside asset bodies.
"""

from __future__ import annotations

import dagster as dg

from daf_dagster.assets.environment import environment_report
from daf_dagster.assets.evaluation import baseline_evaluation
from daf_dagster.jobs import demo_job

defs = dg.Definitions(assets=[environment_report, baseline_evaluation], jobs=[demo_job])
