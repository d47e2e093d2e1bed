"""Make ``DAFConfig.verbose`` and ``log_to_file`` take effect on DAF's own ``daf_core`` logger."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from daf_core.config.global_config import DAFConfig

logger = logging.getLogger(__name__)

_DAF_LOGGER_NAME = "daf_core"
_MANAGED_ATTR = "_daf_configure_logging"
_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(config: DAFConfig) -> Path | None:
    """Make ``config.verbose`` and ``config.log_to_file`` take effect on the ``daf_core`` logger.

    * ``verbose``: the ``daf_core`` logger logs at DEBUG (else INFO), and a stderr handler is added
      if ``daf_core`` has none yet, so DEBUG output is visible without configuring anything else.
    * ``log_to_file``: one file handler writes to ``<output_dir>/logs/daf.log`` (returned).

    Calling it again reconfigures rather than stacks: handlers this function added before are reused
    or removed (e.g. when ``output_dir`` changed), never duplicated. The root logger is never touched,
    because DAF is a library and the root logger belongs to the application using it.
    """
    daf_logger = logging.getLogger(_DAF_LOGGER_NAME)
    daf_logger.setLevel(logging.DEBUG if config.verbose else logging.INFO)
    managed = [handler for handler in daf_logger.handlers if getattr(handler, _MANAGED_ATTR, False)]

    # Console output for verbose runs, only when the caller has not given daf_core a stream already.
    managed_streams = [h for h in managed if not isinstance(h, logging.FileHandler)]
    if config.verbose:
        has_stream = any(
            isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
            for h in daf_logger.handlers
        )
        if not has_stream:
            stream_handler = logging.StreamHandler(sys.stderr)
            stream_handler.setFormatter(logging.Formatter(_LOG_FORMAT))
            setattr(stream_handler, _MANAGED_ATTR, True)
            daf_logger.addHandler(stream_handler)
    else:
        for handler in managed_streams:
            daf_logger.removeHandler(handler)

    # The log file, reused when it is already the right one.
    log_path: Path | None = (
        (config.output_dir / "logs" / "daf.log").absolute() if config.log_to_file else None
    )
    keep_file = False
    for handler in managed:
        if isinstance(handler, logging.FileHandler):
            if log_path is not None and Path(handler.baseFilename) == log_path and not keep_file:
                keep_file = True
                continue
            daf_logger.removeHandler(handler)
            handler.close()
    if log_path is not None and not keep_file:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_path, encoding="utf-8")
        file_handler.setFormatter(logging.Formatter(_LOG_FORMAT))
        setattr(file_handler, _MANAGED_ATTR, True)
        daf_logger.addHandler(file_handler)

    logger.debug("logging configured: verbose=%s, log file=%s", config.verbose, log_path)
    return log_path
