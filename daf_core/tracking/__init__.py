"""What DAF records beside results: the experiments log, the system monitor, TensorBoard and MLflow.

``DAFConfig.tensorboard`` and ``DAFConfig.mlflow_tracking_uri`` send training curves (keyed by agent
steps), sweep trials and comparison summaries where researchers already look; tensorboard and mlflow are
imported only when something is logged to them.
"""

from daf_core.tracking.experiments import EXPERIMENTS_FILE, list_experiments, record_experiment
from daf_core.tracking.results_log import comparison_metrics, log_comparison, log_sweep_trial
from daf_core.tracking.settings import TrackingSettings
from daf_core.tracking.system_monitor import SystemMonitor, sample_system
from daf_core.tracking.tensorboard_log import TENSORBOARD_DIR, TensorBoardLog
from daf_core.tracking.training_log import TrainingTrackers

__all__ = [
    "EXPERIMENTS_FILE",
    "TENSORBOARD_DIR",
    "SystemMonitor",
    "TensorBoardLog",
    "TrackingSettings",
    "TrainingTrackers",
    "comparison_metrics",
    "list_experiments",
    "log_comparison",
    "log_sweep_trial",
    "record_experiment",
    "sample_system",
]
