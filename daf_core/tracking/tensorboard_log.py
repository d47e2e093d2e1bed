"""Scalars to TensorBoard event files, and replacing what a directory shows when it is out of date.

Each :class:`TensorBoardLog` writes a new event file in its directory (TensorBoard reads every file of a
directory as one run). Event files only grow, so when a directory holds steps that are no longer true (a
run killed between checkpoints trains those epochs again; a comparison is rerun), :func:`rewrite` writes
the true points to a new file and deletes the old files. The new file starts with TensorBoard's restart
marker (a ``SessionLog.START`` event, as ``torch.utils.tensorboard.SummaryWriter(purge_step=...)``
writes), so a TensorBoard that had already read the old files hides them too; TensorBoard's Rust data
server (``--load_fast``) ignores that marker, which is why the old files go.

tensorboard is imported when a log is opened, never by importing this module.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from pathlib import Path

#: The folder name of TensorBoard logs inside a run, sweep or output directory.
TENSORBOARD_DIR = "tensorboard"


class TensorBoardLog:
    """One TensorBoard run directory's new event file: scalars by step, on disk after every step."""

    def __init__(self, log_dir: str | Path, purge_from_step: int | None = None):
        from tensorboard.compat.proto import event_pb2  # noqa: PLC0415 - see the module docstring
        from tensorboard.summary.writer.event_file_writer import EventFileWriter  # noqa: PLC0415

        self.log_dir = Path(log_dir)
        self._event_pb2 = event_pb2
        self._writer = EventFileWriter(str(self.log_dir))
        if purge_from_step is not None:
            start = event_pb2.SessionLog(status=event_pb2.SessionLog.START)
            self._writer.add_event(
                event_pb2.Event(step=purge_from_step, wall_time=time.time(), session_log=start)
            )
            self._writer.flush()

    def add_scalars(self, values: Mapping[str, float], step: int) -> None:
        """One event holding every value at ``step``, flushed so a watching TensorBoard sees it now."""
        from tensorboard.compat.proto import summary_pb2  # noqa: PLC0415

        summary = summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag=tag, simple_value=value) for tag, value in values.items()]
        )
        self._writer.add_event(self._event_pb2.Event(step=int(step), wall_time=time.time(), summary=summary))
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> TensorBoardLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def event_files(log_dir: str | Path) -> list[Path]:
    """The directory's event files, oldest first (their names start with the time they were opened)."""
    return sorted(Path(log_dir).glob("events.out.tfevents.*"))


def rewrite(log_dir: str | Path, points: Iterable[tuple[Mapping[str, float], int]]) -> TensorBoardLog:
    """A new event file holding only ``points`` (values, step); the directory's other event files are
    deleted once it is on disk. Returns the open log, to go on writing."""
    old = event_files(log_dir)
    log = TensorBoardLog(log_dir, purge_from_step=0)
    for values, step in points:
        log.add_scalars(values, step)
    for path in old:
        path.unlink(missing_ok=True)
    return log


def last_step(log_dir: str | Path, tag: str) -> int | None:
    """The newest step of ``tag`` that TensorBoard shows for ``log_dir`` (purged events left out)."""
    if not Path(log_dir).is_dir():
        return None
    from tensorboard.backend.event_processing import event_accumulator  # noqa: PLC0415

    # size 0 keeps every event: a smaller reservoir may sample away the step a later purge keeps.
    accumulator = event_accumulator.EventAccumulator(
        str(log_dir), size_guidance={event_accumulator.SCALARS: 0}
    )
    accumulator.Reload()
    if tag not in accumulator.Tags()[event_accumulator.SCALARS]:
        return None
    return max((event.step for event in accumulator.Scalars(tag)), default=None)
