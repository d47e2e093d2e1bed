"""DAF's configuration models and their YAML/JSON load and save.

Every model refuses unknown keys, raises ``ValueError`` naming the field and the value for bad input (from
a file, a constructor or an assignment; a failed assignment changes nothing), holds only what it can
save and load back equal, and saves atomically. The base and its error messages are in
:mod:`daf_core.config.base`, reading and writing files in :mod:`daf_core.config.formats`, the size limits
in :mod:`daf_core.config.limits`; each domain's models in a module of its own.
"""

from daf_core.config.base import CONFIG_SUFFIXES, DAFConfigBase
from daf_core.config.comparison import DAFComparisonConfig
from daf_core.config.deployment import DAFDeploymentConfig
from daf_core.config.global_config import DAFConfig, daf_load_config
from daf_core.config.log_setup import configure_logging
from daf_core.config.pipeline import (
    PIPELINE_STAGES,
    STAGE_DEPENDENCIES,
    BenchmarkSettings,
    DAFPipelineConfig,
    EnvironmentCheckSettings,
    EvaluationSettings,
)
from daf_core.config.sweep import DAFSweepConfig
from daf_core.config.training import DAFTrainingConfig, PPOConfig

__all__ = [
    "CONFIG_SUFFIXES",
    "PIPELINE_STAGES",
    "STAGE_DEPENDENCIES",
    "BenchmarkSettings",
    "DAFComparisonConfig",
    "DAFConfig",
    "DAFConfigBase",
    "DAFDeploymentConfig",
    "DAFPipelineConfig",
    "DAFSweepConfig",
    "DAFTrainingConfig",
    "EnvironmentCheckSettings",
    "EvaluationSettings",
    "PPOConfig",
    "configure_logging",
    "daf_load_config",
]
