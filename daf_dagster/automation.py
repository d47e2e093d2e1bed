"""The automation's switches, read from the environment when the code location loads.

``DAF_AUTOMATION``: ``on`` starts every sensor (``daf_dagster.sensors``) and schedule
(``daf_dagster.schedules``) RUNNING; ``off`` or unset leaves them STOPPED (Dagster's default), so nothing
validates, deploys, rolls back or benchmarks by itself until it is turned on, in the UI or by the variable.
``DAF_SENSOR_INTERVAL_S``: the minimum seconds between two ticks of each sensor (default 30). Any other
value stops the definitions from loading, with an error naming the variable.
"""

import os

AUTOMATION_ENV = "DAF_AUTOMATION"
SENSOR_INTERVAL_ENV = "DAF_SENSOR_INTERVAL_S"
DEFAULT_SENSOR_INTERVAL_S = 30


def automation_on() -> bool:
    """``$DAF_AUTOMATION``: ``on`` -> True; ``off`` or unset -> False; anything else is refused."""
    value = os.environ.get(AUTOMATION_ENV, "").strip().lower()
    if value not in ("", "on", "off"):
        raise ValueError(f"{AUTOMATION_ENV}: expected 'on' or 'off', got {os.environ[AUTOMATION_ENV]!r}")
    return value == "on"


def sensor_interval_s() -> int:
    """``$DAF_SENSOR_INTERVAL_S`` (a whole number of seconds >= 1), else 30."""
    raw = os.environ.get(SENSOR_INTERVAL_ENV, "").strip()
    if not raw:
        return DEFAULT_SENSOR_INTERVAL_S
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{SENSOR_INTERVAL_ENV}: expected a whole number of seconds >= 1, got {raw!r}")
    return int(raw)
