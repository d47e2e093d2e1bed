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

A worker is either a command (a fresh interpreter: it pays its own imports, seconds for torch and
PufferLib) or a ``target`` function run in a fork of this process, which has already imported
everything: it starts in milliseconds. A forked worker gets the same treatment as a command: its own
session, its output (file descriptors 1 and 2, ``sys.stdout``/``sys.stderr``) in its log, its
environment, default signal handlers, one thread, and its exit status is the function's return value.
A worker's pid can be written to a file (``pid_path``), so an operator (or a test) can find it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

#: How often the supervisor looks at its workers (also how late it may notice the last one exit).
POLL_INTERVAL_S = 0.05


@dataclass(frozen=True)
class WorkerSpec:
    """One worker to start: ``name`` labels it in errors (``rank 1``), ``log_path`` receives its output.

    With ``target`` the worker is a fork of this process running ``target()`` (its return value is the
    exit status) and ``command`` only describes it; otherwise ``command`` is executed. ``pid_path``
    (optional) receives the worker's pid once it has started.
    """

    name: str
    command: Sequence[str]
    env: Mapping[str, str]
    log_path: Path
    target: Callable[[], int] | None = None
    pid_path: Path | None = None


class _Process(Protocol):
    pid: int

    def poll(self) -> int | None: ...

    def wait(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...


def fork_available() -> bool:
    """Forked workers need POSIX fork; on macOS fork after loading system frameworks is unsafe."""
    return hasattr(os, "fork") and sys.platform.startswith("linux")


class _ForkedWorker:
    """A worker forked from this process (multiprocessing's fork context), with ``Popen``'s interface."""

    def __init__(self, spec: WorkerSpec):
        assert spec.target is not None
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()  # or the child would write this process's buffered output again
        self._process = multiprocessing.get_context("fork").Process(
            target=_forked_main, args=(spec,), name=spec.name, daemon=False
        )
        self._process.start()
        self.pid = int(self._process.pid or 0)

    def poll(self) -> int | None:
        return self._process.exitcode

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def wait(self) -> int:
        self._process.join()
        return int(self._process.exitcode or 0)


def _forked_main(spec: WorkerSpec) -> None:
    """In the child: become a worker as a fresh process would be one, then run the target."""
    os.setsid()  # its own process group: stopping it stops what it starts; Ctrl-C reaches the supervisor
    fd = os.open(spec.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    old_streams = {id(stream) for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)}
    sys.stdout = sys.__stdout__ = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = sys.__stderr__ = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    for handler in _all_handlers():  # console handlers of the parent (a test's capture, say) -> the log
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            if id(handler.stream) in old_streams:
                handler.setStream(sys.stderr)
    os.environ.clear()
    os.environ.update(spec.env)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _single_thread()
    assert spec.target is not None
    try:
        code = spec.target()
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 0 if stop.code is None else 1
    except BaseException:  # noqa: BLE001 - reported in the worker's log, as an uncaught error would be
        traceback.print_exc()
        code = 1
    # Exit now, as the worker's work is done and written: waiting for threads the target left running
    # (PufferLib's utilization sampler sleeps a second between samples) would only delay the run's end.
    for handler in _all_handlers():
        handler.flush()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


def _all_handlers() -> list[logging.Handler]:
    loggers: list[Any] = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    return [h for lg in loggers if isinstance(lg, logging.Logger) for h in lg.handlers]


def _single_thread() -> None:
    """A forked worker runs on one thread, as DataLoader workers do (the parent's pools are not forked)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))


def _start(spec: WorkerSpec) -> _Process:
    spec.log_path.parent.mkdir(parents=True, exist_ok=True)
    if spec.target is not None:
        process: _Process = _ForkedWorker(spec)
    else:
        with open(spec.log_path, "ab") as log:
            process = subprocess.Popen(
                list(spec.command),
                env=dict(spec.env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    if spec.pid_path is not None:
        spec.pid_path.write_text(f"{process.pid}\n")
    return process


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
    processes: list[_Process] = []
    try:
        for spec in specs:
            processes.append(_start(spec))
        return _wait(specs, processes, stop_all_on_failure)
    except BaseException:
        stop_workers(processes, grace_s=interrupt_grace_s)
        raise


def _wait(
    specs: Sequence[WorkerSpec], processes: Sequence[_Process], stop_all_on_failure: bool
) -> list[WorkerExit]:
    exits: dict[int, WorkerExit] = {}
    while len(exits) < len(processes):
        for index, (spec, process) in enumerate(zip(specs, processes, strict=True)):
            if index in exits or process.poll() is None:
                continue
            exits[index] = WorkerExit(spec.name, int(process.returncode or 0), spec.log_path)
            if process.returncode != 0 and stop_all_on_failure:
                stop_workers(processes, grace_s=0)
                raise WorkerFailed(exits[index])
        time.sleep(POLL_INTERVAL_S)
    return [exits[index] for index in range(len(processes))]


def stop_workers(processes: Sequence[_Process], grace_s: float = 10.0) -> None:
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


def _signal_group(process: _Process, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        # It exited between poll() and the signal, or it is a forked worker not yet in its own session.
        try:
            os.kill(process.pid, sig)
        except ProcessLookupError:
            pass
