"""Figures of a hyperparameter sweep, from its ``results.json``, ``sweep_config.yaml`` and Optuna study.

* ``objective_history`` - every trial's objective in trial order with the best so far; pruned trials
  (their last reported value) and failed trials (no value: marked on the bottom edge) drawn apart.
* ``parameters`` - one panel per searched parameter, the objective against its value; a parameter
  whose range is ``log: true`` in the sweep's config gets a log axis, choices a categorical one.
* ``importance`` - each parameter's importance for the objective by Optuna's PED-ANOVA evaluator
  (``optuna.importance.get_param_importances`` over the study's complete trials; PED-ANOVA is Optuna
  5's default and, unlike fANOVA, needs no scikit-learn): how differently the parameter is
  distributed among the best trials than among all, normalised to sum to 1. A figure that says what is
  missing when the study cannot be opened or has too few complete trials.
* ``parallel_coordinates`` - each scored trial as a line across the parameters (log ranges on a log
  scale) to the objective, coloured by the objective; pruned trials dashed.
* ``fresh_seeds`` (only for a sweep whose best trials were re-evaluated,
  :mod:`daf_core.sweeps.reevaluation`) - each re-evaluated trial's sweep estimate beside its estimate on
  fresh seeds with that estimate's interval: the gap is the winner's curse.

The search space comes from ``<sweep dir>/sweep_config.yaml``; without it, parameters are those the
trials recorded, on linear axes (said in the figure). The study is the one given, or the one in the
result's ``storage`` (by default ``<sweep dir>/study.db``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.ticker import MaxNLocator

from daf_core.config import DAFSweepConfig
from daf_core.config.search_space import ParamSpec, parse_search_space
from daf_core.sweeps.results import SweepResult, SweepTrialResult
from daf_core.visualization import style

if TYPE_CHECKING:
    import optuna
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

__all__ = ["SWEEP_CONFIG_FILE", "daf_plot_sweep_results", "sweep_figures"]

SWEEP_CONFIG_FILE = "sweep_config.yaml"
STUDY_FILE = "study.db"
TRIAL_LABEL = "trial number"
#: How pruned and failed trials look in every figure.
PRUNED_MARKER = "x"
FAILED_MARKER = "v"
FAILED_COLOR = "#D55E00"


@dataclass(frozen=True)
class SweepView:
    """What the figures draw: the result, its search space (None when the config is missing), the study."""

    result: SweepResult
    space: dict[str, ParamSpec] | None
    objective_label: str
    sweep_dir: Path | None

    def searched(self) -> list[str]:
        """Parameters the sweep varied, in search-space order (or, without a config, every recorded one)."""
        if self.space is not None:
            return [name for name, spec in self.space.items() if spec.kind != "fixed"]
        names = dict.fromkeys(n for t in self.result.trials for n in t.hyperparameters)
        return [n for n in names if len({repr(t.hyperparameters.get(n)) for t in self.result.trials}) > 1]

    def is_log(self, name: str) -> bool:
        return self.space is not None and self.space[name].kind == "range" and self.space[name].log

    def is_choice(self, name: str) -> bool:
        if self.space is not None:
            return self.space[name].kind == "choice"
        return any(not _is_number(t.hyperparameters.get(name)) for t in self.result.trials)


def sweep_figures(
    sweep_result: SweepResult | str | Path, study: optuna.Study | None = None
) -> dict[str, Figure]:
    """Every sweep figure, by name (see the module docstring for the names).

    ``sweep_result``: a :class:`~daf_core.sweeps.SweepResult`, or the path of its ``results.json`` or
    of the sweep directory. ``study``: the sweep's Optuna study, for parameter importance; by default
    the one in the result's storage. Raises ``FileNotFoundError`` when the results file is missing
    and ``ValueError`` when no trial has an objective value yet (nothing finished, or only failures).
    """
    view = _sweep_view(sweep_result)
    scored = [t for t in view.result.trials if _objective(t) is not None]
    if not scored:
        raise ValueError(
            f"sweep {view.result.sweep_name!r}: no trial has an objective value yet "
            f"(trials by state: {view.result.counts()}); there is nothing to plot"
        )
    with style.styled():
        figures = {
            "objective_history": _history_figure(view),
            "parameters": _parameters_figure(view),
            "importance": _importance_figure(view, study),
            "parallel_coordinates": _parallel_figure(view),
        }
        if view.result.fresh_evaluations:
            figures["fresh_seeds"] = _fresh_figure(view)
        return figures


def daf_plot_sweep_results(
    sweep_result: SweepResult | str | Path, output_dir: str | Path = "sweep_plots"
) -> list[Path]:
    """Save every figure of :func:`sweep_figures` as PNG and SVG in ``output_dir``; the files written."""
    written: list[Path] = []
    for name, fig in sweep_figures(sweep_result).items():
        written += style.save_figure(fig, output_dir, name)
    return written


# --------------------------------------------------------------------------------------------------
# Reading the sweep
# --------------------------------------------------------------------------------------------------


def _sweep_view(sweep_result: SweepResult | str | Path) -> SweepView:
    if isinstance(sweep_result, SweepResult):
        result = sweep_result
        sweep_dir = Path(result.output_dir) if result.output_dir else None
    else:
        path = Path(sweep_result)
        result = SweepResult.load_json(path)
        sweep_dir = path if path.is_dir() else path.parent
    space = None
    config_path = sweep_dir / SWEEP_CONFIG_FILE if sweep_dir is not None else None
    if config_path is not None and config_path.is_file():
        space = parse_search_space(DAFSweepConfig.from_yaml(config_path).search_space)
    else:
        logger.warning(
            "%s not found: sweep parameters are drawn on linear axes", config_path or SWEEP_CONFIG_FILE
        )
    direction = "higher is better" if result.optimize_direction == "maximize" else "lower is better"
    return SweepView(result, space, f"objective: {result.objective_metric} ({direction})", sweep_dir)


def _objective(trial: SweepTrialResult) -> float | None:
    """The trial's objective: its value when complete, its last reported value when pruned, else None."""
    value = trial.primary_metric
    if value is None and trial.state == "pruned" and trial.intermediate_values:
        value = trial.intermediate_values[max(trial.intermediate_values)]
    return value if value is not None and math.isfinite(value) else None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _space_note(view: SweepView) -> str:
    if view.space is not None:
        return ""
    return f"; search space unknown ({SWEEP_CONFIG_FILE} not found): linear axes"


# --------------------------------------------------------------------------------------------------
# Objective per trial
# --------------------------------------------------------------------------------------------------


def _history_figure(view: SweepView) -> Figure:
    result = view.result
    fig = style.new_figure(7.5, 4.5)
    ax = fig.add_subplot()
    complete = [t for t in result.trials if t.state == "complete" and _objective(t) is not None]
    pruned = [t for t in result.trials if t.state == "pruned" and _objective(t) is not None]
    failed = [t for t in result.trials if t.state == "failed"]
    ax.scatter(
        [t.trial_id for t in complete],
        [_objective(t) for t in complete],
        color=style.color(0),
        label="complete",
        zorder=3,
    )
    if pruned:
        ax.scatter(
            [t.trial_id for t in pruned],
            [_objective(t) for t in pruned],
            color=style.color(1),
            marker=PRUNED_MARKER,
            s=60,
            label="pruned (last reported value)",
            zorder=3,
        )
    last = max(t.trial_id for t in (*complete, *pruned, *failed))
    if complete:
        best = np.maximum.accumulate if result.optimize_direction == "maximize" else np.minimum.accumulate
        ids = [t.trial_id for t in complete]
        values = list(best(np.array([_objective(t) for t in complete], dtype=float)))
        if last > ids[-1]:  # the best so far holds on through the trials after the last complete one
            ids, values = [*ids, last], [*values, values[-1]]
        ax.step(
            ids, values, where="post", color="black", linewidth=1.5, label="best so far (complete trials)"
        )
    _mark_failed(ax, [t.trial_id for t in failed])
    first = min(t.trial_id for t in (*complete, *pruned, *failed))
    ax.set_xlim(first - 0.5, last + 0.5)  # failed trials' markers do not widen the axes themselves
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(TRIAL_LABEL)
    ax.set_ylabel(view.objective_label)
    ax.legend(loc="best", fontsize="small")
    counts = result.counts()
    fig.suptitle(f"sweep {result.sweep_name}: objective per trial")
    ax.set_title(
        f"{counts['complete']} complete, {counts['pruned']} pruned, {counts['failed']} failed, "
        f"{counts['running'] + counts['waiting']} not finished",
        fontsize="small",
    )
    return fig


def _fresh_figure(view: SweepView) -> Figure:
    """Sweep estimate (what selected the trial) against the fresh estimate and its interval, per trial."""
    evaluations = view.result.fresh_evaluations
    first = evaluations[0]
    fig = style.new_figure(max(5.0, 1.2 * len(evaluations) + 3.0), 4.5)
    ax = fig.add_subplot()
    xs = np.arange(len(evaluations), dtype=float)
    ax.scatter(
        xs - 0.1,
        [e.sweep_estimate for e in evaluations],
        color=style.color(1),
        marker="D",
        zorder=3,
        label=f"sweep estimate (seeds {first.sweep_seeds[0]}..{first.sweep_seeds[1]})",
    )
    seeds = first.fresh_seeds
    fresh = np.array([e.fresh_estimate for e in evaluations], dtype=float)
    low = np.array([np.nan if e.fresh_ci_low is None else e.fresh_ci_low for e in evaluations], dtype=float)
    high = np.array(
        [np.nan if e.fresh_ci_high is None else e.fresh_ci_high for e in evaluations], dtype=float
    )
    ax.errorbar(
        xs + 0.1,
        fresh,
        yerr=np.vstack([fresh - low, high - fresh]),
        fmt="o",
        color=style.color(0),
        capsize=4,
        zorder=3,
        label=f"fresh estimate, {first.confidence:.0%} CI (seeds {seeds[0]}..{seeds[1]})",
    )
    ax.set_xticks(xs, [f"trial {e.trial_id}\n(rank {e.rank})" for e in evaluations])
    ax.set_xlim(-0.6, len(evaluations) - 0.4)
    ax.set_ylabel(view.objective_label)
    ax.legend(loc="best", fontsize="small")
    fig.suptitle(f"sweep {view.result.sweep_name}: best trials on fresh seeds")
    ax.set_title("shrinkage = sweep estimate - fresh estimate (the winner's curse)", fontsize="small")
    return fig


def _mark_failed(ax: Axes, xs: list[Any]) -> None:
    """Failed trials have no objective: a marker on the bottom edge of the axes at their x."""
    if xs:
        ax.scatter(
            xs,
            [0.0] * len(xs),
            transform=ax.get_xaxis_transform(),
            marker=FAILED_MARKER,
            color=FAILED_COLOR,
            s=60,
            clip_on=False,
            label="failed (no objective)",
            zorder=4,
        )


# --------------------------------------------------------------------------------------------------
# Each parameter against the objective
# --------------------------------------------------------------------------------------------------


def _parameters_figure(view: SweepView) -> Figure:
    names = view.searched()
    result = view.result
    if not names:
        return style.notice_figure(
            f"sweep {result.sweep_name}: parameters", "No parameter varied between the trials."
        )
    columns = min(3, len(names))
    rows = math.ceil(len(names) / columns)
    fig = style.new_figure(4.0 * columns + 0.5, 3.4 * rows + 0.8)
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, name in zip(axes, names, strict=False):
        positions = _positions(view, name)
        for state, color, marker, label in (
            ("complete", style.color(0), "o", "complete"),
            ("pruned", style.color(1), PRUNED_MARKER, "pruned (last reported value)"),
        ):
            trials = [t for t in result.trials if t.state == state and _objective(t) is not None]
            if not trials:
                continue
            ax.scatter(
                [positions(t.hyperparameters.get(name)) for t in trials],
                [_objective(t) for t in trials],
                color=color,
                marker=marker,
                label=label,
                zorder=3,
            )
        _mark_failed(
            ax, [positions(t.hyperparameters.get(name)) for t in result.trials if t.state == "failed"]
        )
        _parameter_axis(ax, view, name)
        ax.set_ylabel(view.objective_label)
        ax.set_title(name)
    for ax in axes[len(names) :]:
        ax.set_axis_off()
    axes[0].legend(loc="best", fontsize="small")
    fig.suptitle(f"sweep {result.sweep_name}: objective against each parameter{_space_note(view)}")
    return fig


def _positions(view: SweepView, name: str) -> Any:
    """A function from the parameter's value to its x position (choices: their index in the search space)."""
    if not view.is_choice(name):
        return lambda value: np.nan if value is None else float(value)
    choices = _choices(view, name)
    return lambda value: float(choices.index(repr(value))) if repr(value) in choices else np.nan


def _choices(view: SweepView, name: str) -> list[str]:
    if view.space is not None and view.space[name].kind == "choice":
        return [repr(c) for c in view.space[name].choices]
    return list(dict.fromkeys(repr(t.hyperparameters.get(name)) for t in view.result.trials))


def _parameter_axis(ax: Axes, view: SweepView, name: str) -> None:
    if view.is_choice(name):
        choices = _choices(view, name)
        ax.set_xticks(range(len(choices)), choices)
        ax.set_xlim(-0.5, len(choices) - 0.5)
        ax.set_xlabel(f"{name} (choice)")
    elif view.is_log(name):
        ax.set_xscale("log")
        ax.set_xlabel(f"{name} (log scale)")
    else:
        ax.set_xlabel(name)
    if view.space is not None and view.space[name].kind == "range":
        spec = view.space[name]
        ax.set_xlim(spec.low, spec.high)


# --------------------------------------------------------------------------------------------------
# Parameter importance
# --------------------------------------------------------------------------------------------------


def _importance_figure(view: SweepView, study: optuna.Study | None) -> Figure:
    title = f"sweep {view.result.sweep_name}: parameter importance"
    if study is None:
        study, why = _load_study(view)
        if study is None:
            return style.notice_figure(title, f"Parameter importance needs the sweep's Optuna study: {why}.")
    import optuna  # noqa: PLC0415

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(complete) < 2:
        return style.notice_figure(
            title, f"Parameter importance needs at least 2 complete trials; the study has {len(complete)}."
        )
    evaluator = optuna.importance.PedAnovaImportanceEvaluator()
    try:
        importances = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (RuntimeError, ValueError) as error:  # Optuna's own reasons, e.g. no parameter varied
        return style.notice_figure(title, f"Optuna could not compute importances: {error}")
    names = list(importances)[::-1]
    fig = style.new_figure(7.0, 1.6 + 0.5 * len(names))
    ax = fig.add_subplot()
    ax.barh(names, [importances[n] for n in names], color=style.color(0))
    for y, name in enumerate(names):
        ax.text(importances[name], y, f" {importances[name]:.2f}", va="center", fontsize="small")
    ax.set_xlim(0.0, 1.05)
    ax.set_xlabel("importance (PED-ANOVA, normalised to sum to 1)")
    ax.set_ylabel("parameter")
    fig.suptitle(title)
    ax.set_title(
        f"Optuna PED-ANOVA over {len(complete)} complete trials: the best trials' parameter distribution "
        "against all trials'",
        fontsize="small",
        wrap=True,
    )
    return fig


def _load_study(view: SweepView) -> tuple[optuna.Study | None, str]:
    """The study in the result's storage (a SQLite file must exist: opening one would create it)."""
    import optuna  # noqa: PLC0415

    storage = view.result.storage
    if storage is None and view.sweep_dir is not None:
        storage = f"sqlite:///{(view.sweep_dir / STUDY_FILE).absolute()}"
    if storage is None:
        return None, "the result names no storage and no sweep directory"
    if storage.startswith("sqlite:///") and not Path(storage.removeprefix("sqlite:///")).is_file():
        return None, f"the study file {storage.removeprefix('sqlite:///')} does not exist"
    try:
        return optuna.load_study(study_name=view.result.sweep_name, storage=storage), ""
    except Exception as error:  # noqa: BLE001 - any storage failure means "not available": say which
        return None, f"opening {storage} failed ({type(error).__name__}: {error})"


# --------------------------------------------------------------------------------------------------
# Parallel coordinates
# --------------------------------------------------------------------------------------------------


def _parallel_figure(view: SweepView) -> Figure:
    """Every scored trial across the parameters' axes (each scaled to [0, 1]) and the objective."""
    names = view.searched()
    result = view.result
    trials = [t for t in result.trials if _objective(t) is not None]
    objectives = np.array([_objective(t) for t in trials], dtype=float)
    axes_values = [_scaled(view, name, trials) for name in names]
    axes_values.append(_unit(objectives))
    norm = Normalize(objectives.min(), objectives.max() if np.ptp(objectives) else objectives.min() + 1.0)
    cmap = colormaps[style.SEQUENTIAL_COLORMAP]
    fig = style.new_figure(max(6.5, 1.8 * (len(names) + 1)), 4.8)
    ax = fig.add_subplot()
    xs = np.arange(len(axes_values))
    for i, trial in enumerate(trials):
        ax.plot(
            xs,
            [values[0][i] for values in axes_values],
            color=cmap(norm(objectives[i])),
            linestyle="--" if trial.state == "pruned" else "-",
            marker="o",
            linewidth=1.5,
            label=f"trial {trial.trial_id}",
        )
    for x, (_, ticks) in enumerate(axes_values):
        ax.axvline(x, color="grey", linewidth=0.8)
        for position, text in ticks:
            ax.text(x, position, f" {text}", fontsize="x-small", va="center")
    ax.set_xticks(xs, [_axis_name(view, n) for n in names] + ["objective"])
    ax.set_xlabel("searched parameter, then the objective")
    ax.set_yticks([])
    ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel("position on each axis (its range scaled to [0, 1])")
    ax.grid(False)
    fig.colorbar(ScalarMappable(norm, cmap), ax=ax, label=view.objective_label)
    fig.suptitle(f"sweep {result.sweep_name}: parallel coordinates{_space_note(view)}")
    ax.set_title(
        f"{len(trials)} scored trials; dashed: pruned; failed trials have no objective", fontsize="small"
    )
    return fig


def _axis_name(view: SweepView, name: str) -> str:
    return f"{name}\n(log)" if view.is_log(name) else name


def _unit(values: np.ndarray) -> tuple[np.ndarray, list[tuple[float, str]]]:
    """Values scaled to [0, 1] over their own range, with tick labels at both ends."""
    low, high = float(values.min()), float(values.max())
    span = high - low
    scaled = (values - low) / span if span else np.full(values.shape, 0.5)
    ticks = [(0.0, f"{low:.3g}"), (1.0, f"{high:.3g}")] if span else [(0.5, f"{low:.3g}")]
    return scaled, ticks


def _scaled(
    view: SweepView, name: str, trials: list[SweepTrialResult]
) -> tuple[np.ndarray, list[tuple[float, str]]]:
    """One parameter's values on [0, 1]: choices evenly spaced, ranges over the search range (log if log)."""
    values = [t.hyperparameters.get(name) for t in trials]
    if view.is_choice(name):
        choices = _choices(view, name)
        steps = max(len(choices) - 1, 1)
        positions = np.array([choices.index(repr(v)) / steps for v in values], dtype=float)
        return positions, [(i / steps, c) for i, c in enumerate(choices)]
    numbers = np.array(values, dtype=float)
    spec = view.space[name] if view.space is not None else None
    low, high = (spec.low, spec.high) if spec is not None else (numbers.min(), numbers.max())
    if view.is_log(name):
        numbers, low, high = np.log10(numbers), math.log10(low), math.log10(high)
        scaled, _ = _unit(np.array([low, high, *numbers]))
        return scaled[2:], [(0.0, f"{10**low:.3g}"), (1.0, f"{10**high:.3g}")]
    scaled, ticks = _unit(np.array([low, high, *numbers], dtype=float))
    return scaled[2:], ticks
