"""Worker-process supervision: start N worker processes, each with its own log, watch them, stop them all.

Training ranks and sweep workers are both "N copies of a DAF command that cooperate": a data-parallel
run through ``torch.distributed``, a sweep through its Optuna storage. They need the same care:

* each worker runs in its own process group (``start_new_session``), so stopping it also stops what it
  started (an evaluation pool, a dataloader);
* its output goes to a log file whose last lines explain a failure;
* stopping is polite first: SIGINT (DAF's workers save or requeue their work at the next safe point),
  then SIGTERM, then SIGKILL, so nothing is left running and nothing blocks forever;
* a training rank that dies must stop the others at once (they would wait in an all-reduce until the
  distributed timeout); sweep workers are independent and all run to the end.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: How often the supervisor looks at its workers.
POLL_INTERVAL_S = 0.2


@dataclass(frozen=True)
class WorkerSpec:
    """One worker to start: ``name`` labels it in errors (``rank 1``), ``log_path`` receives its output."""

    name: str
    command: Sequence[str]
    env: Mapping[str, str]
    log_path: Path


@dataclass(frozen=True)
class WorkerExit:
    name: str
    returncode: int
    log_path: Path

    def log_tail(self, lines: int = 15) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").strip().splitlines()[-lines:])

    def describe(self) -> str:
        return f"{self.name} exited with status {self.returncode}; last lines of {self.log_path}:\n" + (
            self.log_tail()
        )


class WorkerFailed(RuntimeError):
    """A worker of a group that must stop together exited abnormally; the others were stopped."""

    def __init__(self, failed: WorkerExit):
        super().__init__(failed.describe())
        self.failed = failed


def run_workers(
    specs: Sequence[WorkerSpec], *, stop_all_on_failure: bool, interrupt_grace_s: float = 10.0
) -> list[WorkerExit]:
    """Start every worker, wait for all of them, and return how each exited (in ``specs`` order).

    ``stop_all_on_failure``: the first worker that exits non-zero stops the rest at once and raises
    :class:`WorkerFailed`. Any exception in the caller while waiting (Ctrl-C included) stops every worker
    (SIGINT, ``interrupt_grace_s`` to finish, then SIGTERM and SIGKILL) before it propagates.
    """
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for spec in specs:
            spec.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(spec.log_path, "ab") as log:
                processes.append(
                    subprocess.Popen(
                        list(spec.command),
                        env=dict(spec.env),
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        return _wait(specs, processes, stop_all_on_failure)
    except BaseException:
        stop_workers(processes, grace_s=interrupt_grace_s)
        raise


def _wait(
    specs: Sequence[WorkerSpec], processes: Sequence[subprocess.Popen[bytes]], stop_all_on_failure: bool
) -> list[WorkerExit]:
    exits: dict[int, WorkerExit] = {}
    while len(exits) < len(processes):
        for index, (spec, process) in enumerate(zip(specs, processes, strict=True)):
            if index in exits or process.poll() is None:
                continue
            exits[index] = WorkerExit(spec.name, process.returncode, spec.log_path)
            if process.returncode != 0 and stop_all_on_failure:
                stop_workers(processes, grace_s=0)
                raise WorkerFailed(exits[index])
        time.sleep(POLL_INTERVAL_S)
    return [exits[index] for index in range(len(processes))]


def stop_workers(processes: Sequence[subprocess.Popen[bytes]], grace_s: float = 10.0) -> None:
    """SIGINT first (DAF workers finish their step and save), then SIGTERM, then SIGKILL."""
    for sig, wait_s in ((signal.SIGINT, grace_s), (signal.SIGTERM, 10.0)):
        for process in processes:
            if process.poll() is None:
                _signal_group(process, sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and any(p.poll() is None for p in processes):
            time.sleep(0.1)
    for process in processes:
        if process.poll() is None:
            _signal_group(process, signal.SIGKILL)
        process.wait()


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass  # it exited between poll() and the signal
