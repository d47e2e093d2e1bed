"""Fixtures shared by every test package."""

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def restore_daf_logging() -> Iterator[None]:
    """Pipelines, sweeps and commands configure the ``daf_core`` logger from their DAFConfig; every later
    test gets it back as it was (handlers added meanwhile are closed)."""
    daf_logger = logging.getLogger("daf_core")
    level, handlers = daf_logger.level, list(daf_logger.handlers)
    yield
    for handler in daf_logger.handlers:
        if handler not in handlers:
            daf_logger.removeHandler(handler)
            handler.close()
    daf_logger.setLevel(level)


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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest files first (stable otherwise). ``make test`` hands whole files to its workers in this
    order (``--dist loadfile``), so the long files start early instead of one of them ending the run on
    one worker while the other idles. A file's length is estimated from its tests: a slow test counts
    ``seconds`` when its ``slow`` mark names them (``pytest.mark.slow(seconds=180)``), else 10, any
    other test 0.1."""
    length: dict[object, float] = {}
    for item in items:
        mark = item.get_closest_marker("slow")
        estimate = 0.1 if mark is None else float(mark.kwargs.get("seconds", 10))
        length[item.path] = length.get(item.path, 0.0) + estimate
    items.sort(key=lambda item: -length[item.path])
