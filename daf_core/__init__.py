"""DAF core library: configs, missions, evaluation, statistics, comparison, training and sweeps.

Pure Python over cogames/mettagrid; it never imports Dagster. Each domain is a package whose
``__init__`` is the face users import. Importing a package loads only what that package needs
(``import daf_core.stats`` loads neither mettagrid nor torch), and every import of mettagrid or PufferLib
goes through :mod:`daf_core._internal.process_state`, so the caller's root logger and signal handlers
stay as they were.
"""

import logging

logging.getLogger(__name__).addHandler(logging.NullHandler())

__version__ = "0.1.0"
