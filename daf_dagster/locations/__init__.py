"""The scaled-out deployment's two code locations (docker/workspace.yaml), split from
``daf_dagster.definitions`` so that no asset is in both:

- ``daf_dagster.locations.gpu``: :data:`GPU_ASSETS` (``training_checkpoints``) and ``gpu_training_job``;
  its default executor is the GPU executor, so a materialization started from the UI trains on a GPU
  worker too (Dagster picks one executor per run, from the run's code location).
- ``daf_dagster.locations.cpu``: every other asset and check, every job of ``jobs.JOBS`` that selects
  no GPU asset (``training_job`` is the one that does: ``gpu_training_job`` replaces it there), every
  sensor and schedule.

Assets in one location may depend on assets of the other (``checkpoint_package`` on
``training_checkpoints``): Dagster links them across locations by asset key.
"""

from daf_dagster.assets.training import training_checkpoints
from daf_dagster.definitions import ASSETS

#: The assets that train on GPUs: only the GPU location defines them.
GPU_ASSETS = [training_checkpoints]
GPU_ASSET_KEYS = {key for asset in GPU_ASSETS for key in asset.keys}


def selects_gpu_assets(job) -> bool:
    """Whether an asset job's selection (resolved against every asset) takes a GPU asset; op jobs
    (``rollback_job``) select none."""
    selection = getattr(job, "selection", None)
    if selection is None:
        return False
    return bool(selection.resolve(ASSETS) & GPU_ASSET_KEYS)
