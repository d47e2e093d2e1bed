"""Sweep results: :class:`SweepTrialResult`, :class:`SweepResult` (what ``results.json`` holds) and reading
them back.

Workers rewrite ``results.json`` atomically whenever a trial starts or ends, so
:func:`daf_sweep_status` and :func:`daf_sweep_best_config` work on a running sweep as on a finished one.
Building a :class:`SweepResult` from the Optuna study is :mod:`daf_core.sweeps.study`'s job.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from daf_core._internal.atomic import atomic_write_json
from daf_core.sweeps.plan import RESULTS_FILE

TrialStateName = Literal["complete", "failed", "pruned", "running", "waiting"]
#: States of a trial that is over: the ones ``num_trials`` counts.
FINISHED_STATES: tuple[TrialStateName, ...] = ("complete", "failed", "pruned")


def count_finished(states: Iterable[str]) -> int:
    """The number of finished trials among these states: the one count of "finished" every part of a
    sweep uses (the worker loop deciding whether to stop, results.json, ``daf_sweep_status``)."""
    return sum(state in FINISHED_STATES for state in states)


@dataclass
class SweepTrialResult:
    """One trial: its values, its objective (``primary_metric``) and every metric averaged over episodes."""

    trial_id: int
    hyperparameters: dict[str, Any]
    primary_metric: float | None = None
    all_metrics: dict[str, float] = field(default_factory=dict)
    success: bool = False
    state: TrialStateName = "complete"
    error: str | None = None
    duration_s: float | None = None
    run_dirs: list[str] = field(default_factory=list)
    #: Objective after each training chunk (early stopping), keyed by chunk number.
    intermediate_values: dict[int, float] = field(default_factory=dict)
    #: The trial number this one retries after its worker died.
    retry_of: int | None = None

    @property
    def run_dir(self) -> str | None:
        """The first training seed's run directory (a checkpoint dir is a loadable policy)."""
        return self.run_dirs[0] if self.run_dirs else None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["intermediate_values"] = {str(k): v for k, v in self.intermediate_values.items()}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepTrialResult:
        data = dict(data)
        data["intermediate_values"] = {int(k): v for k, v in (data.get("intermediate_values") or {}).items()}
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


@dataclass
class FreshEvaluation:
    """One of a sweep's best trials measured again on fresh seeds: the winner's curse, in numbers.

    ``sweep_estimate`` is the trial's objective in the sweep (chosen *because* it was high, so biased
    upwards when maximizing); ``fresh_estimate`` the same objective, same checkpoints, on episode seeds
    no trial was selected on. ``shrinkage`` = sweep estimate - fresh estimate (positive: the sweep
    overrated the trial when maximizing; negative when minimizing), and ``shrinkage_ci_*`` its interval
    (see :mod:`daf_core.sweeps.reevaluation` for why only the fresh episodes' spread enters it).
    Seeds are given as ``[first, last]``; ``episodes`` counts per mission and training seed.
    """

    trial_id: int
    rank: int
    sweep_estimate: float
    fresh_estimate: float
    fresh_ci_low: float | None
    fresh_ci_high: float | None
    shrinkage: float
    shrinkage_ci_low: float | None
    shrinkage_ci_high: float | None
    sweep_seeds: list[int]
    fresh_seeds: list[int]
    sweep_episodes: int
    fresh_episodes: int
    confidence: float = 0.95
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FreshEvaluation:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


@dataclass
class SweepResult:
    """All trials of a sweep and how far it got; what ``results.json`` holds.

    ``fresh_evaluations``: the best trials re-evaluated on fresh seeds, best first (empty unless the
    sweep was re-evaluated, :func:`daf_core.sweeps.daf_reevaluate_sweep`).
    """

    sweep_name: str
    objective_metric: str = "mean_reward"
    optimize_direction: str = "maximize"
    strategy: str = "random"
    num_trials_planned: int = 0
    trials: list[SweepTrialResult] = field(default_factory=list)
    output_dir: str | None = None
    storage: str | None = None
    started_at: str | None = None
    updated_at: str | None = None
    finished_at: str | None = None
    fresh_evaluations: list[FreshEvaluation] = field(default_factory=list)

    # -- building -----------------------------------------------------------------------------------

    def add_trial(self, trial: SweepTrialResult) -> None:
        """Add a trial, replacing an earlier record of the same trial id; trials stay in id order."""
        self.trials = [t for t in self.trials if t.trial_id != trial.trial_id] + [trial]
        self.trials.sort(key=lambda t: t.trial_id)

    def finalize(self) -> SweepResult:
        """Mark the sweep complete (``daf_sweep_status`` then reports it finished)."""
        self.finished_at = self.finished_at or now_isoformat()
        self.updated_at = self.finished_at
        return self

    @property
    def is_finished(self) -> bool:
        return self.finished_at is not None

    # -- reading ------------------------------------------------------------------------------------

    def _scored(self) -> list[SweepTrialResult]:
        scored = [
            t
            for t in self.trials
            if t.success and t.primary_metric is not None and math.isfinite(t.primary_metric)
        ]
        return sorted(
            scored,
            key=lambda t: (t.primary_metric, -t.trial_id),
            reverse=self.optimize_direction == "maximize",
        )

    def get_best_trial(self) -> SweepTrialResult | None:
        """The completed trial with the best objective (the earliest on ties); None if none completed."""
        scored = self._scored()
        return scored[0] if scored else None

    def get_worst_trial(self) -> SweepTrialResult | None:
        scored = self._scored()
        return scored[-1] if scored else None

    def top_trials(self, n: int = 5) -> list[SweepTrialResult]:
        """The ``n`` best completed trials, best first."""
        return self._scored()[: max(n, 0)]

    def counts(self) -> dict[str, int]:
        states = [t.state for t in self.trials]
        return {
            state: states.count(state) for state in ("complete", "failed", "pruned", "running", "waiting")
        }

    def finished_trials(self) -> int:
        return count_finished(t.state for t in self.trials)

    def status(self) -> dict[str, Any]:
        """Progress in numbers: what :func:`daf_sweep_status` returns."""
        counts = self.counts()
        finished = self.finished_trials()
        best = self.get_best_trial()
        planned = self.num_trials_planned
        return {
            "name": self.sweep_name,
            "state": "finished" if self.is_finished else "running",
            "finished": self.is_finished,
            "total_trials": planned,
            "finished_trials": finished,
            "completed": counts["complete"],
            "failed": counts["failed"],
            "pruned": counts["pruned"],
            "running": counts["running"],
            "waiting": counts["waiting"],
            "remaining": max(planned - finished, 0),
            "progress": finished / planned if planned else 0.0,
            "objective_metric": self.objective_metric,
            "optimize_direction": self.optimize_direction,
            "best_trial_id": best.trial_id if best else None,
            "best_value": best.primary_metric if best else None,
            "best_hyperparameters": dict(best.hyperparameters) if best else None,
            "started_at": self.started_at,
            "updated_at": self.updated_at,
            "finished_at": self.finished_at,
        }

    def errors(self) -> list[str]:
        return [
            f"trial {t.trial_id} {t.hyperparameters}: {t.error}" for t in self.trials if t.state == "failed"
        ]

    # -- files --------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        nested = ("trials", "fresh_evaluations")
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in nested}
        data["trials"] = [t.to_dict() for t in self.trials]
        data["fresh_evaluations"] = [e.to_dict() for e in self.fresh_evaluations]
        data["status"] = self.status()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepResult:
        known = {f.name for f in dataclasses.fields(cls)} - {"trials", "fresh_evaluations"}
        result = cls(**{key: value for key, value in data.items() if key in known})
        result.trials = [SweepTrialResult.from_dict(t) for t in data.get("trials", [])]
        result.fresh_evaluations = [FreshEvaluation.from_dict(e) for e in data.get("fresh_evaluations", [])]
        return result

    def save_json(self, path: str | Path) -> Path:
        """Write atomically, so a reader polling the file during the sweep never sees half of it."""
        return atomic_write_json(Path(path), json_safe(self.to_dict()))

    @classmethod
    def load_json(cls, path: str | Path) -> SweepResult:
        path = _results_file(path)
        return cls.from_dict(json.loads(path.read_text()))

    def print_summary(self, console: Any = None, top: int = 10) -> None:
        """A table of the best trials and the sweep's progress, on ``console`` (a rich Console)."""
        from rich.console import Console  # noqa: PLC0415
        from rich.table import Table  # noqa: PLC0415

        console = console or Console()
        status = self.status()
        console.print(
            f"[bold]Sweep {self.sweep_name}[/bold] ({self.strategy}, {self.optimize_direction} "
            f"{self.objective_metric}): {status['finished_trials']}/{status['total_trials']} finished - "
            f"{status['completed']} complete, {status['pruned']} pruned, {status['failed']} failed, "
            f"{status['running']} running" + ("" if self.is_finished else " [yellow](in progress)[/yellow]")
        )
        table = Table(show_header=True, header_style="bold")
        for column in ("rank", "trial", self.objective_metric, "hyperparameters", "time (s)"):
            table.add_column(column)
        for rank, trial in enumerate(self.top_trials(top), start=1):
            table.add_row(
                str(rank),
                str(trial.trial_id),
                f"{trial.primary_metric:.4g}",
                ", ".join(f"{k}={_short(v)}" for k, v in trial.hyperparameters.items()),
                f"{trial.duration_s:.1f}" if trial.duration_s is not None else "",
            )
        console.print(table)
        if self.fresh_evaluations:
            console.print(self._fresh_table())
        for line in self.errors():
            console.print(f"[red]failed[/red] {line}")

    def _fresh_table(self) -> Any:
        from rich.table import Table  # noqa: PLC0415

        first = self.fresh_evaluations[0]
        level = f"{first.confidence:.0%}"
        table = Table(
            title=f"Best trials on fresh seeds {first.fresh_seeds[0]}..{first.fresh_seeds[1]} "
            f"(sweep seeds {first.sweep_seeds[0]}..{first.sweep_seeds[1]})",
            show_header=True,
            header_style="bold",
        )
        for column in ("rank", "trial", "sweep", f"fresh ({level} CI)", f"shrinkage ({level} CI)"):
            table.add_column(column)
        for e in self.fresh_evaluations:
            table.add_row(
                str(e.rank),
                str(e.trial_id),
                f"{e.sweep_estimate:.4g}",
                f"{e.fresh_estimate:.4g} {_interval(e.fresh_ci_low, e.fresh_ci_high)}",
                f"{e.shrinkage:+.4g} {_interval(e.shrinkage_ci_low, e.shrinkage_ci_high)}",
            )
        return table


def still_ranked(evaluations: Iterable[FreshEvaluation], result: SweepResult) -> list[FreshEvaluation]:
    """The re-evaluations whose trial still holds, in ``result``, the rank it was re-evaluated at.

    A sweep continued with a larger ``num_trials`` may find better trials; a re-evaluation made before
    then describes a top-k that no longer is, so it is left out until the sweep is re-evaluated again.
    """
    evaluations = list(evaluations)
    ranks = {t.trial_id: rank for rank, t in enumerate(result.top_trials(len(evaluations)), start=1)}
    return [e for e in evaluations if ranks.get(e.trial_id) == e.rank]


def _interval(low: float | None, high: float | None) -> str:
    return "[n/a]" if low is None or high is None else f"[{low:.4g}, {high:.4g}]"


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def json_safe(value: Any) -> Any:
    """Non-finite floats become null: results.json is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def now_isoformat() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def _results_file(path: str | Path) -> Path:
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"sweep results file not found: {path}")
    return path


def daf_sweep_status(results_path: str | Path) -> dict[str, Any]:
    """Progress of a sweep, running or finished, read from its ``results.json`` (or the sweep directory).

    Workers rewrite the file whenever a trial starts or ends, so this is live while the sweep runs;
    ``updated_at`` says when it was last written (a sweep whose workers were killed stays "running").
    """
    path = _results_file(results_path)
    result = SweepResult.load_json(path)
    return {**result.status(), "results_path": str(path)}


def daf_sweep_best_config(sweep_result: SweepResult | str | Path) -> dict[str, Any]:
    """The best completed trial's hyperparameters (fixed ones included), keyed as in the search space."""
    if not isinstance(sweep_result, SweepResult):
        sweep_result = SweepResult.load_json(sweep_result)
    best = sweep_result.get_best_trial()
    if best is None:
        raise ValueError(
            f"sweep {sweep_result.sweep_name!r} has no completed trial yet "
            f"({sweep_result.counts()}); there is no best configuration"
        )
    return dict(best.hyperparameters)
