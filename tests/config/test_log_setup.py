"""configure_logging as every entry point calls it: repeatedly, from threads, next to other handlers.

train(), daf_launch_sweep() and the sweep workers each call it with their DAFConfig, so it must be
idempotent and cheap (the same handler kept, nothing reopened), must not print every line twice when
the application already prints log records, and must refuse an output_dir it cannot log into without
losing the logging it had.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path

import pytest

from daf_core.config import DAFConfig, configure_logging


def _ours(daf: logging.Logger) -> list[logging.Handler]:
    return [h for h in daf.handlers if getattr(h, "_daf_configure_logging", False)]


def _flush(daf: logging.Logger) -> None:
    for handler in daf.handlers:
        handler.flush()


def test_repeated_calls_keep_the_same_file_handler_even_for_a_dotted_path(
    tmp_path: Path, daf_logger: logging.Logger
) -> None:
    config = DAFConfig(output_dir=tmp_path / "a" / ".." / "runs")
    first = configure_logging(config)
    handlers = _ours(daf_logger)
    for _ in range(5):
        assert configure_logging(config) == first
    assert _ours(daf_logger) == handlers  # the same objects: nothing closed and reopened
    assert first == tmp_path / "runs" / "logs" / "daf.log"
    logging.getLogger("daf_core.training").info("epoch 1")
    _flush(daf_logger)
    assert first.read_text().count("epoch 1") == 1


def test_a_changed_output_dir_moves_the_log_file(tmp_path: Path, daf_logger: logging.Logger) -> None:
    old = configure_logging(DAFConfig(output_dir=tmp_path / "one"))
    new = configure_logging(DAFConfig(output_dir=tmp_path / "two"))
    logging.getLogger("daf_core.sweeps").info("trial 7 finished")
    _flush(daf_logger)
    assert "trial 7 finished" in new.read_text()
    assert "trial 7 finished" not in old.read_text()
    assert [Path(h.baseFilename) for h in _ours(daf_logger)] == [new]


def test_verbose_does_not_print_twice_when_the_application_prints_already(
    tmp_path: Path, daf_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    # What `import mettagrid` (or logging.basicConfig) does: a console handler on the root logger.
    root = logging.getLogger()
    console = logging.StreamHandler(sys.stderr)
    root.addHandler(console)
    try:
        configure_logging(DAFConfig(output_dir=tmp_path, verbose=True, log_to_file=False))
        logging.getLogger("daf_core.training").debug("gradient step 12")
        console.flush()
    finally:
        root.removeHandler(console)
    assert capsys.readouterr().err.count("gradient step 12") == 1
    assert _ours(daf_logger) == []


def test_verbose_prints_to_stderr_when_nothing_else_does(
    tmp_path: Path, daf_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(DAFConfig(output_dir=tmp_path, verbose=True, log_to_file=False))
    logging.getLogger("daf_core.training").debug("gradient step 13")
    _flush(daf_logger)
    assert capsys.readouterr().err.count("gradient step 13") == 1

    configure_logging(DAFConfig(output_dir=tmp_path, verbose=False, log_to_file=False))
    logging.getLogger("daf_core.training").info("quiet again")
    assert "quiet again" not in capsys.readouterr().err
    assert daf_logger.level == logging.INFO


def test_an_output_dir_that_cannot_hold_the_log_is_refused_and_logging_continues(
    tmp_path: Path, daf_logger: logging.Logger
) -> None:
    good = configure_logging(DAFConfig(output_dir=tmp_path / "good"))
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    with pytest.raises(ValueError, match="output_dir") as excinfo:
        configure_logging(DAFConfig(output_dir=blocker))
    assert str(blocker) in str(excinfo.value)
    logging.getLogger("daf_core.sweeps").info("still logged")
    _flush(daf_logger)
    assert "still logged" in good.read_text()


def test_threads_configuring_at_once_leave_one_file_handler(
    tmp_path: Path, daf_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Opening the file is slowed so that every thread is inside configure_logging at the same time.
    slow_open = logging.FileHandler._open

    def open_slowly(self: logging.FileHandler):  # type: ignore[no-untyped-def]
        time.sleep(0.05)
        return slow_open(self)

    monkeypatch.setattr(logging.FileHandler, "_open", open_slowly)
    config = DAFConfig(output_dir=tmp_path, verbose=True)
    for _ in range(3):
        start = threading.Barrier(8)

        def configure(start: threading.Barrier = start) -> None:
            start.wait()
            configure_logging(config)

        threads = [threading.Thread(target=configure) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        files = [h for h in _ours(daf_logger) if isinstance(h, logging.FileHandler)]
        assert len(files) == 1
