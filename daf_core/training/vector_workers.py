"""PufferLib's multiprocessing vector backend made safe for training: dead workers raise, nobody spins.

PufferLib's trainer and its environment workers wait for each other by spinning on shared-memory flags,
and a worker that dies is waited for for ever. Here the trainer checks its workers while it waits and
raises :class:`EnvironmentWorkerError` naming the one that died, both sides nap after a short spin (on a
machine with fewer free cores than workers + 1, spinning takes the cores the other side computes on),
and a worker ignores Ctrl-C and exits once its trainer is gone.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

from daf_core._internal.process_state import import_preserving_process_state

pvector = import_preserving_process_state("pufferlib.vector")

#: How often a waiting trainer checks that its environment workers are alive, and a worker that its
#: trainer is (seconds).
WORKER_CHECK_INTERVAL_S = 0.2
#: How the trainer waits for its environment workers, and they for it: spin this long, then nap, from
#: the shortest nap doubling to the longest (seconds).
SPIN_S, NAP_MIN_S, NAP_MAX_S = 0.0002, 0.00005, 0.001


_worker_set_up = False


def become_environment_worker(trainer_pid: int) -> None:
    """In a PufferLib worker process (once): ignore Ctrl-C, and exit when the trainer is gone.

    Ctrl-C reaches the whole process group; the trainer finishes its epoch with the workers still
    stepping, saves, and closes them. A trainer killed outright cannot close them: without the watch
    they would poll their shared memory for ever.
    """
    global _worker_set_up  # noqa: PLW0603 - once per process
    if _worker_set_up:
        return
    _worker_set_up = True
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == trainer_pid:
            time.sleep(WORKER_CHECK_INTERVAL_S)
        os._exit(1)

    threading.Thread(target=watch, name="daf-trainer-watch", daemon=True).start()


class EnvironmentWorkerError(RuntimeError):
    """An environment worker process of the multiprocessing vector backend died."""


class CheckedMultiprocessing(pvector.Multiprocessing):
    """PufferLib's multiprocessing backend, where a dead environment worker raises instead of hanging.

    PufferLib's ``recv`` spins on the workers' shared-memory flags for ever; a worker that died never
    sets its flag. DAF runs every worker in each step (batch = all environments), waits for their flags
    itself, and checks every ``WORKER_CHECK_INTERVAL_S`` that the workers still live.

    Waiting, both sides spin for ``SPIN_S`` and then nap (``NAP_MIN_S`` doubling to ``NAP_MAX_S``).
    PufferLib's trainer and workers spin until the other side is done (its workers for up to 0.5 s),
    so on a machine with fewer free cores than workers + 1 they take the cores the other side
    computes on: on 2 cores, 2 workers trained explore at 0.3-0.4x the serial backend's speed with
    PufferLib's waiting, at about the serial speed with DAF's.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        # PufferLib's __init__ starts its module's _worker_process; DAF's napping one instead, for the
        # duration of the call (nothing else in PufferLib starts workers).
        spinning, pvector._worker_process = pvector._worker_process, _napping_worker_process
        try:
            super().__init__(*args, **kwargs)
        finally:
            pvector._worker_process = spinning
        if self.workers_per_batch != self.num_workers:
            self.close()
            raise ValueError("CheckedMultiprocessing steps all workers together: batch_size must be num_envs")

    def check_workers(self) -> None:
        """Raise :class:`EnvironmentWorkerError` naming the first worker that has exited."""
        for index, process in enumerate(self.processes):
            code = process.exitcode
            if code is not None:
                how = (
                    f"was killed by {signal.Signals(-code).name}"
                    if code < 0
                    else f"exited with status {code}"
                )
                raise EnvironmentWorkerError(
                    f"environment worker {index} of {self.num_workers} (pid {process.pid}) {how} "
                    f"(vector_backend='multiprocessing', vector_num_workers={self.num_workers}); "
                    "its error, if it printed one, is above"
                )

    def async_reset(self, seed: int = 0) -> None:
        self.check_workers()
        super().async_reset(seed)

    def recv(self) -> Any:
        flags = self.buf["semaphores"]
        waiting = list(self.waiting_workers)
        started = time.monotonic()
        next_check, nap = started + WORKER_CHECK_INTERVAL_S, 0.0
        while waiting:
            if flags[waiting[-1]] >= pvector.MAIN:
                waiting.pop()
                continue
            now = time.monotonic()
            if now >= next_check:
                self.check_workers()
                next_check = now + WORKER_CHECK_INTERVAL_S
            # Spin briefly, then nap: a trainer spinning through the whole step takes a core from the
            # workers it waits for.
            if now - started > SPIN_S:
                nap = min(2 * nap or NAP_MIN_S, NAP_MAX_S)
                time.sleep(nap)
        return super().recv()

    def close(self) -> None:
        super().close()  # terminates the workers
        for process in self.processes:
            process.join(timeout=5)
            if process.exitcode is None:
                process.kill()
                process.join(timeout=5)


def _napping_worker_process(
    env_creators: Any,
    env_args: Any,
    env_kwargs: Any,
    obs_shape: Any,
    obs_dtype: Any,
    atn_shape: Any,
    atn_dtype: Any,
    num_envs: int,
    num_agents: int,
    num_workers: int,
    worker_idx: int,
    send_pipe: Any,
    recv_pipe: Any,
    shm: Any,
    is_native: bool,
    seed: int,
) -> None:
    """PufferLib 3.0's ``_worker_process``, waiting for the trainer as the trainer waits for it."""
    import numpy as np  # noqa: PLC0415

    shape = (num_workers, num_envs * num_agents)
    atn_arr = np.ndarray((*shape, *atn_shape), dtype=atn_dtype, buffer=shm["actions"])[worker_idx]
    buf = dict(
        observations=np.ndarray((*shape, *obs_shape), dtype=obs_dtype, buffer=shm["observations"])[
            worker_idx
        ],
        rewards=np.ndarray(shape, dtype=np.float32, buffer=shm["rewards"])[worker_idx],
        terminals=np.ndarray(shape, dtype=bool, buffer=shm["terminals"])[worker_idx],
        truncations=np.ndarray(shape, dtype=bool, buffer=shm["truncateds"])[worker_idx],
        teacher_actions=np.ndarray((*shape, *atn_shape), dtype=atn_dtype, buffer=shm["teacher_actions"])[
            worker_idx
        ],
        masks=np.ndarray(shape, dtype=bool, buffer=shm["masks"])[worker_idx],
        actions=atn_arr,
    )
    buf["masks"][:] = True
    if is_native and num_envs == 1:
        envs = env_creators[0](*env_args[0], **env_kwargs[0], buf=buf, seed=seed)
    else:
        envs = pvector.Serial(env_creators, env_args, env_kwargs, num_envs, buf=buf, seed=seed * num_envs)
    semaphores = np.ndarray(num_workers, dtype=np.uint8, buffer=shm["semaphores"])
    notify = np.ndarray(num_workers, dtype=bool, buffer=shm["notify"])
    idle_since, nap = time.monotonic(), 0.0
    while True:
        if notify[worker_idx]:
            envs.notify()
            notify[worker_idx] = False
        sem = semaphores[worker_idx]
        if sem >= pvector.MAIN:
            if time.monotonic() - idle_since > SPIN_S:
                nap = min(2 * nap or NAP_MIN_S, NAP_MAX_S)
                time.sleep(nap)
            continue
        infos = None
        if sem == pvector.RESET:
            _, infos = envs.reset(seed=recv_pipe.recv())
        elif sem == pvector.STEP:
            _, _, _, _, infos = envs.step(atn_arr)
        elif sem == pvector.CLOSE:
            envs.close()
            send_pipe.send(None)
            break
        if infos:
            semaphores[worker_idx] = pvector.INFO
            send_pipe.send(infos)
        else:
            semaphores[worker_idx] = pvector.MAIN
        idle_since, nap = time.monotonic(), 0.0
