"""Keep third-party imports from changing the caller's process.

mettagrid configures the root logger when it is imported, and PufferLib (imported by
``cogames.train``) replaces the SIGINT handler with one that exits with status 0 and installs
rich's traceback hook. A library must not do that to its caller, so every such import in DAF
goes through :func:`import_preserving_process_state`, which restores what the import changed.
"""

from __future__ import annotations

import importlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType


@contextmanager
def preserved_process_state() -> Iterator[None]:
    """Snapshot root-logger handlers and level, the SIGINT handler and sys.excepthook; restore on exit."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    excepthook = sys.excepthook
    in_main_thread = threading.current_thread() is threading.main_thread()
    sigint = signal.getsignal(signal.SIGINT) if in_main_thread else None
    try:
        yield
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
        sys.excepthook = excepthook
        if in_main_thread and sigint is not None and signal.getsignal(signal.SIGINT) is not sigint:
            signal.signal(signal.SIGINT, sigint)


def import_preserving_process_state(module_name: str) -> ModuleType:
    """Import ``module_name`` and undo any logging/signal/excepthook changes the import made."""
    if module_name in sys.modules:
        return sys.modules[module_name]
    with preserved_process_state():
        return importlib.import_module(module_name)
