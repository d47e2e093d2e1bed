"""Record CPU, memory and GPU use beside a run's metrics, from a background thread.

A training curve means little without knowing what the machine was doing: a second process on a
2-core machine can make PPO 15x slower. ``DAFConfig.monitor_system_stats`` turns this on; samples go to
``system.jsonl`` in the run directory, one JSON object per line.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

logger = logging.getLogger(__name__)


def sample_system(process: psutil.Process) -> dict[str, Any]:
    """One reading: this process (and its children) and the whole machine; GPU memory when CUDA is up."""
    children = process.children(recursive=True)
    rss = process.memory_info().rss + sum(_rss(child) for child in children)
    sample: dict[str, Any] = {
        "time": time.time(),
        "process_cpu_percent": process.cpu_percent(),
        "process_rss_mb": rss / 2**20,
        "system_cpu_percent": psutil.cpu_percent(),
        "system_memory_percent": psutil.virtual_memory().percent,
    }
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        sample["gpu_memory_allocated_mb"] = torch.cuda.memory_allocated() / 2**20
        sample["gpu_memory_reserved_mb"] = torch.cuda.memory_reserved() / 2**20
    return sample


def _rss(process: psutil.Process) -> int:
    try:
        return process.memory_info().rss
    except psutil.Error:
        return 0


class SystemMonitor:
    """Append a sample to ``path`` every ``interval_s`` seconds until stopped (use as a context manager)."""

    def __init__(self, path: Path, interval_s: float = 2.0, enabled: bool = True):
        self.path = Path(path)
        self.interval_s = interval_s
        self.enabled = enabled
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="daf-system-monitor", daemon=True)

    def __enter__(self) -> SystemMonitor:
        if self.enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._stop.set()
            self._thread.join(timeout=5)

    def _run(self) -> None:
        """A sample at the start, every interval, and one when stopped (so short runs have two)."""
        process = psutil.Process()
        process.cpu_percent()  # the first reading of a process is always 0: prime it
        while True:
            stopping = self._stop.wait(self.interval_s if self.path.exists() else 0.1)
            try:
                with open(self.path, "a") as handle:
                    handle.write(json.dumps(sample_system(process)) + "\n")
            except OSError as err:  # a full disk must not kill training; say so once and stop sampling
                logger.warning("system monitor stopped: cannot write %s (%s)", self.path, err)
                return
            if stopping:
                return
