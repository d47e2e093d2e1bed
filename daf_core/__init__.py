"""DAF core library: configs, missions, evaluation, statistics, training, sweeps and deployment.

Pure Python over cogames/mettagrid; it never imports Dagster. Importing it leaves the caller's
root logger and signal handlers as they were (mettagrid's import-time logging set-up is undone).
"""

import logging

from daf_core._process_state import import_preserving_process_state

# mettagrid configures the root logger in its __init__; import it once here under the guard so no
# later `from mettagrid... import` in DAF can do it to the caller.
import_preserving_process_state("mettagrid")

logging.getLogger(__name__).addHandler(logging.NullHandler())

__version__ = "0.1.0"
