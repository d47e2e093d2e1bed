"""One thread-limit rule for parallel workers on small machines.

With another process busy on the other core, torch's default of a thread per core made training about
15x slower on this project's 2-core machines; OpenMP and MKL pools behave the same way. Every worker DAF
starts (evaluation pool, training rank, sweep worker) runs with these limits.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

#: Environment of a child process that must run single-threaded (read by OpenMP/MKL at start-up).
SINGLE_THREAD_ENV: dict[str, str] = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def limit_threads(count: int = 1) -> Callable[[], None]:
    """Use ``count`` OpenMP/MKL/torch threads in this process; returns a function restoring the old limits.

    A pool initialiser calls it and ignores the result; a block that must leave the process as it was
    calls the returned function in a ``finally``.
    """
    previous_env = {key: os.environ.get(key) for key in SINGLE_THREAD_ENV}
    os.environ.update({key: str(count) for key in SINGLE_THREAD_ENV})
    torch = sys.modules.get("torch")
    previous_threads = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(count)

    def restore() -> None:
        for key, value in previous_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if torch is not None and previous_threads is not None:
            torch.set_num_threads(previous_threads)

    return restore
