"""DAF's workflows: pipelines of stages over every domain package, and single runs from their configs.

The face of the reference's ``daf.orchestrators``. :func:`daf_run_pipeline` runs a
:class:`~daf_core.config.DAFPipelineConfig` (:mod:`~daf_core.orchestrators.runner`: order, dependencies,
``stop_on_failure``, ``parallel_stages``) and returns a :class:`PipelineResult`
(:mod:`~daf_core.orchestrators.result`); each stage is a few lines over one daf_core API
(:mod:`~daf_core.orchestrators.stages`). :func:`daf_run_training_pipeline`,
:func:`daf_run_sweep_pipeline`, :func:`daf_run_comparison_pipeline` and :func:`daf_run_benchmark_pipeline`
are the reference's four workflows as plain functions (:mod:`~daf_core.orchestrators.pipelines`).
:func:`daf_compare_from_config` and :func:`daf_deploy_from_config` run one comparison or deployment
config (:mod:`~daf_core.orchestrators.from_config`).

Importing this package loads neither torch nor mettagrid: each stage imports what it needs when it runs.
"""

from daf_core.orchestrators.from_config import daf_compare_from_config, daf_deploy_from_config
from daf_core.orchestrators.pipelines import (
    daf_run_benchmark_pipeline,
    daf_run_comparison_pipeline,
    daf_run_sweep_pipeline,
    daf_run_training_pipeline,
)
from daf_core.orchestrators.result import PipelineResult, StageResult
from daf_core.orchestrators.runner import daf_run_pipeline

__all__ = [
    "PipelineResult",
    "StageResult",
    "daf_compare_from_config",
    "daf_deploy_from_config",
    "daf_run_benchmark_pipeline",
    "daf_run_comparison_pipeline",
    "daf_run_pipeline",
    "daf_run_sweep_pipeline",
    "daf_run_training_pipeline",
]
