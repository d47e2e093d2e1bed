"""Fixtures shared by every test package."""

import logging

import pytest


@pytest.fixture
def daf_logger():
    """The daf_core logger, restored (handlers closed) after the test so tests do not leak handlers.

    The root logger's handlers are set aside meanwhile: importing mettagrid outside DAF's guard (test
    modules do) gives the root logger a handler, and configure_logging then rightly adds no console
    handler of its own; the tests of configure_logging start from an application that configured none.
    """
    root = logging.getLogger()
    root_handlers = list(root.handlers)
    for handler in root_handlers:
        root.removeHandler(handler)
    daf = logging.getLogger("daf_core")
    handlers, level = list(daf.handlers), daf.level
    yield daf
    for handler in list(daf.handlers):
        if handler not in handlers:
            daf.removeHandler(handler)
            handler.close()
    daf.setLevel(level)
    for handler in root_handlers:
        root.addHandler(handler)
