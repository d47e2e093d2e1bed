"""Sensors: Dagster runs started by what appears on disk, each at most once.

``checkpoint_validation_sensor`` starts ``checkpoint_validation_job`` for every new checkpoint of every
training run under DAFResource's checkpoint root. A sensor tick only lists file names (no torch, no
simulator, nothing trained or evaluated), so it stays well within Dagster's sensor time budget.
"""

import json
from pathlib import Path

import dagster as dg

from daf_core._internal.checkpoint_files import model_epoch, model_files
from daf_dagster.jobs import checkpoint_validation_job
from daf_dagster.partitions import TRAINING_RUNS
from daf_dagster.resources import DAFResource

#: The tag naming the checkpoint a validation run was requested for.
CHECKPOINT_TAG = "daf/checkpoint"


def newest_checkpoints(checkpoint_root: Path) -> dict[str, str]:
    """Training run name -> the file name of its newest model file, for every run that has one.

    Checkpoints are written atomically (``daf_core._internal.atomic``: a temporary ``.model_*.tmp``
    file, renamed into place), and temporary names never match ``model_NNNNNN.pt``, so a checkpoint
    still being written is not listed: only complete files are.
    """
    if not checkpoint_root.is_dir():
        return {}
    newest = {}
    for run_dir in sorted(p for p in checkpoint_root.iterdir() if p.is_dir()):
        files = model_files(run_dir)
        if files:
            newest[run_dir.name] = files[-1].name
    return newest


def read_cursor(cursor: str | None) -> dict[str, str]:
    """The sensor's cursor: run name -> the newest checkpoint already requested (JSON)."""
    return json.loads(cursor) if cursor else {}


@dg.sensor(
    job=checkpoint_validation_job,
    minimum_interval_seconds=30,
    description="A validation run (package + isolated validation) for every new training checkpoint.",
)
def checkpoint_validation_sensor(context: dg.SensorEvaluationContext, daf: DAFResource):
    """One ``checkpoint_validation_job`` run per new checkpoint: run key ``<run>:<model file>``, the
    run's partition (added when the run is new). The cursor remembers each run's newest checkpoint
    requested, so a restarted daemon re-requests nothing, and a run whose checkpoint is older than
    the cursor's (or the same) is skipped. Only a run's newest checkpoint is requested: several
    written between two ticks are one validation run.
    """
    seen = read_cursor(context.cursor)
    newest = newest_checkpoints(daf.checkpoint_dir())
    new = {
        run: name
        for run, name in newest.items()
        if run not in seen or model_epoch(name) > model_epoch(seen[run])
    }
    if not new:
        return dg.SkipReason(
            f"no new checkpoint in {len(newest)} training run(s) under {daf.checkpoint_dir()}"
        )
    known = set(context.instance.get_dynamic_partitions(TRAINING_RUNS.name))
    added = [run for run in new if run not in known]
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key=f"{run}:{name}", partition_key=run, tags={CHECKPOINT_TAG: name})
            for run, name in new.items()
        ],
        dynamic_partitions_requests=[TRAINING_RUNS.build_add_request(added)] if added else [],
        cursor=json.dumps({**seen, **new}, sort_keys=True),
    )


SENSORS = [checkpoint_validation_sensor]
