"""Ctrl-C during training: stop at the end of the epoch, save, and say so."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

logger = logging.getLogger(__name__)


@contextmanager
def sigint_stops_at_epoch_end() -> Iterator[threading.Event]:
    """First Ctrl-C asks the loop to stop after the current epoch; a second one interrupts at once.

    A KeyboardInterrupt raised at an arbitrary point can land inside mettagrid's C++ set-up or a pydantic
    serializer (which turns it into another exception), leaving nothing clean to save. Stopping at an
    epoch boundary always leaves a consistent checkpoint.
    """
    requested = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield requested
        return

    def request_stop(signum: int, frame: Any) -> None:
        if requested.is_set():
            signal.default_int_handler(signum, frame)
        requested.set()
        logger.warning("Ctrl-C: stopping after this epoch (press again to stop now)")

    previous = signal.signal(signal.SIGINT, request_stop)
    try:
        yield requested
    finally:
        signal.signal(signal.SIGINT, previous)
