"""What the trackers need to know of the global settings, as a protocol ``DAFConfig`` satisfies.

The tracking package sits below the config package (configs are built from tracking's results, never
the reverse), so it names the three settings it reads instead of importing ``DAFConfig``.
"""

from __future__ import annotations

from typing import Protocol


class TrackingSettings(Protocol):
    """``DAFConfig.tensorboard``, ``.mlflow_tracking_uri`` and ``.mlflow_experiment``."""

    tensorboard: bool
    mlflow_tracking_uri: str | None
    mlflow_experiment: str
