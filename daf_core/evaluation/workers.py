"""Running batches of episodes: serially in this process, or in worker processes, with a progress bar.

Workers are pinned to one thread each (:func:`daf_core._internal.threads.limit_threads`) and start by
fork when that is safe, else from a forkserver that has imported torch and mettagrid once.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from daf_core._internal.threads import limit_threads
from daf_core.evaluation.episodes import BatchOutcome, run_batch
from daf_core.evaluation.planning import EpisodeBatch

logger = logging.getLogger(__name__)


def run_batches(
    batches: Sequence[EpisodeBatch], workers: int, show_progress: bool
) -> tuple[list[dict[str, Any]], list[str]]:
    """Run every batch; returns the records of the episodes that finished and one line per failed batch."""
    records: list[dict[str, Any]] = []
    errors: list[str] = []
    total = sum(len(b.seeds) for b in batches)
    if not batches:
        return records, errors
    progress = Progress(
        TextColumn("[cyan]Evaluating"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not show_progress,
        transient=True,
    )
    if workers == 1:
        with progress:
            task = progress.add_task("episodes", total=total)
            for batch in batches:
                outcome = run_batch(batch, on_episode=lambda n: progress.advance(task, n))
                records.extend(outcome.records)
                if outcome.error:
                    errors.append(outcome.error)
        return records, errors
    # The pool forks its workers on the first submit: that happens before the progress bar starts its
    # refresh thread, so a fork-started pool forks a single-threaded process. Objects that exist before the
    # fork are frozen out of the garbage collector: a collection in a worker would otherwise touch every
    # inherited object and copy the parent's heap page by page (copy-on-write).
    gc.freeze()
    try:
        return _run_in_pool(batches, workers, progress, total)
    finally:
        gc.unfreeze()


def _run_in_pool(
    batches: Sequence[EpisodeBatch], workers: int, progress: Progress, total: int
) -> tuple[list[dict[str, Any]], list[str]]:
    records: list[dict[str, Any]] = []
    errors: list[str] = []
    with ProcessPoolExecutor(
        max_workers=min(workers, len(batches)), mp_context=_worker_context(), initializer=limit_threads
    ) as pool:
        futures: dict[Future[BatchOutcome], EpisodeBatch] = {
            pool.submit(run_batch, b): b for b in longest_first(batches)
        }
        with progress:
            task = progress.add_task("episodes", total=total)
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    batch = futures[future]
                    try:
                        outcome = future.result()
                    except BrokenProcessPool as err:
                        errors.append(
                            f"{batch.population.label} on mission {batch.mission.name!r}, seeds "
                            f"{batch.seeds[0]}..{batch.seeds[-1]}: worker process died ({err})"
                        )
                        continue
                    records.extend(outcome.records)
                    progress.advance(task, len(outcome.records))
                    if outcome.error:
                        errors.append(outcome.error)
    return records, errors


def longest_first(batches: Sequence[EpisodeBatch]) -> list[EpisodeBatch]:
    """Batches in the order workers should take them: network batches (the slowest per episode) first,
    then by episode count, so that no long batch starts last while the other workers sit idle.

    The order changes only which worker runs a batch, never a record (the records are sorted afterwards).
    """
    return sorted(batches, key=lambda batch: (not batch.batch_networks, -len(batch.seeds)))


def _worker_context() -> multiprocessing.context.BaseContext:
    """How worker processes start.

    ``fork`` when it is safe: only this thread is alive and torch (if imported) runs one thread, so no
    lock or OpenMP pool can be caught mid-use by the fork. Workers then start in milliseconds with every
    module already imported. Otherwise ``forkserver``: workers fork from a clean server process that
    imports torch and mettagrid once (a few seconds, paid by the first parallel call in a process).
    """
    torch = sys.modules.get("torch")
    single_threaded = threading.active_count() == 1 and (torch is None or torch.get_num_threads() == 1)
    if single_threaded and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # Importing torch costs seconds; done once in the server, every forked worker shares it.
    context.set_forkserver_preload(["torch", "daf_core.evaluation.episodes", "mettagrid.runner.rollout"])
    return context
