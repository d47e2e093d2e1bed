"""Jobs. Each runs in process: here the multiprocess executor costs ~20 s per run (a process per step),
more than the steps themselves; parallelism lives inside the steps (``max_parallel_jobs``)."""

from __future__ import annotations

import dagster as dg

from daf_dagster.assets.environment import environment_report
from daf_dagster.assets.evaluation import baseline_evaluation

demo_job = dg.define_asset_job(
    "demo_job",
    selection=[environment_report, baseline_evaluation],
    executor_def=dg.in_process_executor,
    description="`make demo` as a Dagster run: check the machine, then evaluate random and noop.",
)
