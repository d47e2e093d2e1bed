"""Make ``DAFConfig.verbose`` and ``log_to_file`` take effect on DAF's own ``daf_core`` logger.

Every entry point (training, sweeps, sweep workers) calls :func:`configure_logging` with its config,
often several times in one process, so it reconfigures rather than stacks, and costs nothing when
nothing changed.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path

from daf_core.config.global_config import DAFConfig

logger = logging.getLogger(__name__)

_DAF_LOGGER_NAME = "daf_core"
_MANAGED_ATTR = "_daf_configure_logging"
_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_LOCK = threading.Lock()


def configure_logging(config: DAFConfig) -> Path | None:
    """Make ``config.verbose`` and ``config.log_to_file`` take effect on the ``daf_core`` logger.

    * ``verbose``: the ``daf_core`` logger logs at DEBUG (else INFO). If nothing prints its records yet
      (no console handler on ``daf_core`` or on a logger it propagates to, such as the one
      ``import mettagrid`` puts on the root), one stderr handler is added; otherwise every line would
      be printed twice.
    * ``log_to_file``: one file handler writes to ``<output_dir>/logs/daf.log`` (the absolute path is
      returned). A log file that cannot be created is a ``ValueError`` naming ``output_dir``, and the
      previous configuration is left as it was.

    Calling it again reconfigures rather than stacks: handlers this function added before are reused
    (same file: nothing is reopened) or removed (e.g. when ``output_dir`` changed), never duplicated,
    also when threads call it at once. The root logger is never touched, because DAF is a library and
    the root logger belongs to the application using it.
    """
    log_path = Path(os.path.abspath(config.output_dir / "logs" / "daf.log")) if config.log_to_file else None
    with _LOCK:
        daf_logger = logging.getLogger(_DAF_LOGGER_NAME)
        _set_log_file(daf_logger, log_path)
        _set_console(daf_logger, config.verbose)
        daf_logger.setLevel(logging.DEBUG if config.verbose else logging.INFO)
    logger.debug("logging configured: verbose=%s, log file=%s", config.verbose, log_path)
    return log_path


def _managed(daf_logger: logging.Logger, files: bool) -> list[logging.Handler]:
    return [
        handler
        for handler in daf_logger.handlers
        if getattr(handler, _MANAGED_ATTR, False) and isinstance(handler, logging.FileHandler) == files
    ]


def _set_log_file(daf_logger: logging.Logger, log_path: Path | None) -> None:
    """One managed file handler on ``log_path`` (none if None); the new one is opened before the old goes."""
    current = _managed(daf_logger, files=True)
    keep = next((h for h in current if Path(h.baseFilename) == log_path), None)  # type: ignore[attr-defined]
    if log_path is not None and keep is None:
        try:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            keep = logging.FileHandler(log_path, encoding="utf-8")
        except OSError as err:
            raise ValueError(
                f"DAFConfig.output_dir: cannot write the log file {log_path} ({err.strerror or err}); "
                "choose another output_dir or set log_to_file: false"
            ) from None
        keep.setFormatter(logging.Formatter(_LOG_FORMAT))
        setattr(keep, _MANAGED_ATTR, True)
        daf_logger.addHandler(keep)
    for handler in current:
        if handler is not keep:
            daf_logger.removeHandler(handler)
            handler.close()


def _set_console(daf_logger: logging.Logger, verbose: bool) -> None:
    """A managed stderr handler while verbose and nothing else prints daf_core's records."""
    ours = _managed(daf_logger, files=False)
    wanted = verbose and not _others_print(daf_logger)
    if wanted and not ours:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_LOG_FORMAT))
        setattr(handler, _MANAGED_ATTR, True)
        daf_logger.addHandler(handler)
    if not wanted:
        for handler in ours:
            daf_logger.removeHandler(handler)


def _others_print(daf_logger: logging.Logger) -> bool:
    """Whether a console handler we did not add sees daf_core's records (on it or up its propagation).

    Only handlers writing to stdout or stderr count: a log file or a test's capture buffer does not
    show the records on the console, so it does not make ours a duplicate.
    """
    consoles = {id(stream) for stream in (sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__)}
    current: logging.Logger | None = daf_logger
    while current is not None:
        for handler in current.handlers:
            on_console = isinstance(handler, logging.StreamHandler) and id(handler.stream) in consoles
            if on_console and not getattr(handler, _MANAGED_ATTR, False):
                return True
        current = current.parent if current.propagate else None  # type: ignore[assignment]
    return False
