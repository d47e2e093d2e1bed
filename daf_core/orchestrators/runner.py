"""``daf_run_pipeline``: run a :class:`~daf_core.config.DAFPipelineConfig`'s stages and record each one.

Stages run in the order listed. A stage waits for its dependencies (the graph is
:data:`daf_core.config.pipeline.STAGE_DEPENDENCIES`, resolved by
:func:`~daf_core.config.pipeline.stage_dependencies`) and is skipped, with the reason, when one of
them failed or was skipped. ``stop_on_failure`` skips every stage not yet started once one fails;
otherwise every stage that does not depend on a failed one still runs. With ``parallel_stages`` each
stage starts on a thread as soon as its dependencies completed, so independent stages (``evaluate``
and ``package`` after ``train``) overlap; stages already running when another fails finish. Sequential
stages run on the calling thread (so Ctrl-C reaches training as usual).

A stage's failure is recorded, never raised: the result says "failed" or "partial", and
:meth:`~daf_core.orchestrators.result.PipelineResult.is_success` is True only when every stage
completed. The pipeline's folder ``<output_dir>/<name>/`` holds ``pipeline_config.yaml`` (the config that
ran) and ``pipeline_result.json``, rewritten atomically whenever a stage ends, beside the stages' own
outputs (see :data:`daf_core.config.pipeline.SECTION_OUTPUTS`).
"""

from __future__ import annotations

import contextlib
import logging
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from daf_core.config import DAFConfig, DAFPipelineConfig, configure_logging
from daf_core.config.pipeline import stage_dependencies
from daf_core.orchestrators.result import RESULT_FILE, PipelineResult, StageResult, json_ready
from daf_core.orchestrators.stages import (
    STAGE_STEPS,
    StageContext,
    StageFailed,
    StageOutput,
    resolve_daf_config,
)

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

logger = logging.getLogger(__name__)

#: The config that ran, saved in the pipeline's folder.
CONFIG_FILE = "pipeline_config.yaml"
_WAIT = object()


def daf_run_pipeline(
    config: DAFPipelineConfig, *, show_progress: bool = False, console: Console | None = None
) -> PipelineResult:
    """Run ``config``'s stages (see the module) and return what each did; saved in its folder.

    Raises only for what stops the pipeline from starting: its ``daf_config`` file missing
    (FileNotFoundError) or invalid (ValueError). ``show_progress`` shows a line per stage on
    ``console`` (default: a rich console on stderr) while it runs.
    """
    daf_config = resolve_daf_config(config)
    configure_logging(daf_config)
    config.folder.mkdir(parents=True, exist_ok=True)
    config.to_yaml(config.folder / CONFIG_FILE)
    return _PipelineRun(config, daf_config, _progress(config, show_progress, console)).run()


class _PipelineRun:
    """The bookkeeping of one run; every field is changed on the calling thread only."""

    def __init__(self, config: DAFPipelineConfig, daf_config: DAFConfig, progress: _StageProgress) -> None:
        self.config = config
        self.daf_config = daf_config
        self.dependencies = stage_dependencies(config.stages)
        self.progress = progress
        self.results: dict[str, StageResult] = {}
        self.outputs: dict[str, StageOutput] = {}
        self.stopped_by: str | None = None
        self.started = time.perf_counter()
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")

    def run(self) -> PipelineResult:
        pending = list(self.config.stages)
        running: dict[Future[tuple[StageResult, StageOutput | None]], str] = {}
        pool = ThreadPoolExecutor(len(pending), "daf-stage") if self.config.parallel_stages else None
        with self.progress, pool or contextlib.nullcontext():
            while pending or running:
                for stage in list(pending):
                    readiness = self._readiness(stage)
                    if readiness is _WAIT:
                        continue
                    pending.remove(stage)
                    if isinstance(readiness, str):
                        self._record(StageResult(stage, "skipped", reason=readiness))
                    elif pool is not None:
                        self.progress.running(stage)
                        running[pool.submit(self._execute, stage, dict(self.outputs))] = stage
                    else:
                        self.progress.running(stage)
                        self._record(*self._execute(stage, dict(self.outputs)))
                if running:
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        running.pop(future)
                        self._record(*future.result())
        result = self._result()
        result.save_json(self.config.folder / RESULT_FILE)
        logger.info(
            "pipeline %s: %s in %.1f s (%s)",
            self.config.name,
            result.status,
            result.total_time_seconds,
            ", ".join(f"{stage.name} {stage.status}" for stage in result.stages),
        )
        return result

    def _readiness(self, stage: str) -> object | str | None:
        """None: it can start; a string: why it is skipped; _WAIT: a dependency is still running."""
        if self.stopped_by is not None:
            return f"not run: the pipeline stopped after {self.stopped_by!r} failed (stop_on_failure)"
        for dependency in self.dependencies[stage]:
            done = self.results.get(dependency)
            if done is None:
                return _WAIT
            if done.status != "success":
                return f"needs {dependency!r}, which {'failed' if done.status == 'failed' else 'was skipped'}"
        return None

    def _execute(self, stage: str, outputs: dict[str, StageOutput]) -> tuple[StageResult, StageOutput | None]:
        """Run one stage (on a pool thread when stages overlap); never raises. The output is handed on
        to later stages only when the stage succeeded."""
        context = StageContext(self.config, self.daf_config, outputs, stage, self.config.parallel_stages)
        started = time.perf_counter()
        output: StageOutput | None = None
        error = None
        try:
            output = STAGE_STEPS[stage](context)
        except StageFailed as failed:
            output, error = failed.output, str(failed)
        except Exception as err:  # noqa: BLE001 - a failed stage is recorded, and the pipeline goes on
            error = f"{type(err).__name__}: {err}"
            logger.debug("stage %s failed:\n%s", stage, traceback.format_exc())
        finished = time.perf_counter()
        result = StageResult(
            name=stage,
            status="failed" if error is not None else "success",
            seconds=finished - started,
            started_s=started - self.started,
            finished_s=finished - self.started,
            error=error,
            summary=json_ready({**output.summary, "headline": output.headline}) if output else {},
            output=output.value if output else None,
        )
        return result, output if error is None else None

    def _record(self, result: StageResult, output: StageOutput | None = None) -> None:
        if output is not None:
            self.outputs[result.name] = output
        self.results[result.name] = result
        if result.status == "failed":
            logger.warning("stage %s failed after %.1f s: %s", result.name, result.seconds, result.error)
            if self.config.stop_on_failure and self.stopped_by is None:
                self.stopped_by = result.name
        elif result.status == "skipped":
            logger.info("stage %s skipped: %s", result.name, result.reason)
        else:
            logger.info(
                "stage %s done in %.1f s: %s", result.name, result.seconds, result.summary["headline"]
            )
        self.progress.done(result)
        self._result().save_json(self.config.folder / RESULT_FILE)

    def _result(self) -> PipelineResult:
        order = {stage: index for index, stage in enumerate(self.config.stages)}
        return PipelineResult(
            pipeline_name=self.config.name,
            stages=sorted(self.results.values(), key=lambda result: order[result.name]),
            total_time_seconds=time.perf_counter() - self.started,
            started_at=self.started_at,
            output_dir=str(Path(self.config.folder).absolute()),
            config=self.config.to_dict(),
        )


class _StageProgress:
    """A line per stage while the pipeline runs (waiting, running with a spinner and its time, done)."""

    def __init__(self, config: DAFPipelineConfig, progress: Progress | None) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}
        if progress is not None:
            for stage in config.stages:
                self._tasks[stage] = progress.add_task(f"{stage}: waiting", total=1, start=False)

    def __enter__(self) -> _StageProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def running(self, stage: str) -> None:
        if self._progress is not None:
            self._progress.start_task(self._tasks[stage])
            self._progress.update(self._tasks[stage], description=f"{stage}: running")

    def done(self, result: StageResult) -> None:
        if self._progress is None:
            return
        task = self._tasks[result.name]
        mark = {"success": "[green]done", "failed": "[red]failed", "skipped": "[yellow]skipped"}[
            result.status
        ]
        self._progress.update(task, description=f"{result.name}: {mark}", completed=1)
        self._progress.stop_task(task)


def _progress(config: DAFPipelineConfig, show: bool, console: Console | None) -> _StageProgress:
    if not show:
        return _StageProgress(config, None)
    from rich.console import Console  # noqa: PLC0415 - only when shown
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn  # noqa: PLC0415

    columns = (SpinnerColumn(finished_text="-"), TextColumn("{task.description}"), TimeElapsedColumn())
    return _StageProgress(config, Progress(*columns, console=console or Console(stderr=True)))
