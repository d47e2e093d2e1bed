"""Fixtures shared by every test package."""

import logging

import pytest


@pytest.fixture
def daf_logger():
    """The daf_core logger, restored (handlers closed) after the test so tests do not leak handlers."""
    daf = logging.getLogger("daf_core")
    handlers, level = list(daf.handlers), daf.level
    yield daf
    for handler in list(daf.handlers):
        if handler not in handlers:
            daf.removeHandler(handler)
            handler.close()
    daf.setLevel(level)
