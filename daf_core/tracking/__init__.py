"""What DAF records beside results: the experiments log and the system monitor."""

from daf_core.tracking.experiments import EXPERIMENTS_FILE, list_experiments, record_experiment
from daf_core.tracking.system_monitor import SystemMonitor, sample_system

__all__ = ["EXPERIMENTS_FILE", "SystemMonitor", "list_experiments", "record_experiment", "sample_system"]
