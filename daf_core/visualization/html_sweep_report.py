"""A sweep as one self-contained HTML page: its design, the best trial, every trial, the figures, the notes.

The same page as the comparison report (:mod:`~daf_core.visualization.html_page`): inline style and
script, SVG figures as data URIs, sortable tables, no request to any address. It reads a finished or
running sweep's ``results.json`` (never runs a trial); the figures are
:func:`~daf_core.visualization.sweep_plots.sweep_figures`.
"""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daf_core.comparison import formatting as fmt
from daf_core.visualization import html_page as hp

if TYPE_CHECKING:
    import optuna

    from daf_core.sweeps import SweepResult, SweepTrialResult

_STATE_TAGS = {"complete": "sig", "pruned": "tied", "failed": "unknown", "running": "ns", "waiting": "ns"}


def daf_export_sweep_html(
    sweep_result: SweepResult | str | Path,
    output_path: str | Path = "sweep_report.html",
    *,
    study: optuna.Study | None = None,
) -> Path:
    """Write the sweep's report as one self-contained HTML file (atomically); returns its path.

    ``sweep_result``: a :class:`~daf_core.sweeps.SweepResult`, or its ``results.json`` or the sweep
    directory. ``study``: the sweep's Optuna study for parameter importance (by default the one in the
    result's storage). Raises ``FileNotFoundError`` when the results file is missing and ``ValueError``
    when no trial has an objective yet (nothing finished, or every trial failed); nothing is written then.
    """
    from daf_core.sweeps import SweepResult  # noqa: PLC0415 - keeps this module's import light
    from daf_core.visualization.sweep_plots import sweep_figures  # noqa: PLC0415 - matplotlib

    result = sweep_result if isinstance(sweep_result, SweepResult) else SweepResult.load_json(sweep_result)
    figures = sweep_figures(sweep_result, study)  # refuses a sweep with nothing to show, before any output
    sections = [
        hp.Section("summary", "Summary", _summary(result)),
        hp.Section("design", "Design", _design(result)),
        hp.Section("trials", "Trials", _trials(result)),
    ]
    if result.fresh_evaluations:
        sections.append(hp.Section("fresh-seeds", "Best trials on fresh seeds", _fresh(result)))
    sections += [
        hp.Section("figures", "Figures", hp.figures(figures, "figure")),
        hp.Section("notes", "Notes", _notes(result)),
    ]
    counts = result.counts()
    subtitle = (
        f"{result.strategy} search, {result.optimize_direction} {result.objective_metric}: "
        f"{result.finished_trials()} of {result.num_trials_planned} trials finished "
        f"({counts['complete']} complete, {counts['pruned']} pruned, {counts['failed']} failed)"
        + ("" if result.is_finished else "; in progress")
    )
    return hp.write_page(output_path, hp.page(f"Sweep report: {result.sweep_name}", subtitle, sections))


def _summary(result: SweepResult) -> str:
    best = result.get_best_trial()
    if best is None:
        return hp.callout("No complete trial yet: there is no best configuration.", missing=True)
    parameters = hp.facts((name, hp.esc(_value_text(v))) for name, v in best.hyperparameters.items())
    fresh = next((e for e in result.fresh_evaluations if e.trial_id == best.trial_id), None)
    again = (
        ""
        if fresh is None
        else f"<p>On fresh seeds it scores <strong>{hp.esc(fmt.number(fresh.fresh_estimate))}</strong> "
        f"({fresh.confidence:.0%} CI {hp.esc(fmt.interval(fresh.fresh_ci_low, fresh.fresh_ci_high))}): "
        f"shrinkage {hp.esc(fmt.signed(fresh.shrinkage))} "
        f"({hp.esc(fmt.interval(fresh.shrinkage_ci_low, fresh.shrinkage_ci_high))}).</p>"
    )
    return (
        f"<p>Best trial: <strong>{best.trial_id}</strong> with {hp.esc(result.objective_metric)} "
        f"<strong>{hp.esc(fmt.number(best.primary_metric))}</strong> "
        f"({hp.esc(result.optimize_direction)}).</p>{again}{parameters}"
    )


def _design(result: SweepResult) -> str:
    counts = result.counts()
    items = [
        ("Name", hp.esc(result.sweep_name)),
        ("Strategy", hp.esc(result.strategy)),
        ("Objective", hp.esc(f"{result.objective_metric} ({result.optimize_direction})")),
        ("Trials planned", hp.esc(result.num_trials_planned)),
        ("Trials by state", hp.esc(", ".join(f"{n} {state}" for state, n in counts.items()))),
        ("Study storage", f"<code>{hp.esc(result.storage)}</code>" if result.storage else "not recorded"),
        (
            "Output folder",
            f"<code>{hp.esc(result.output_dir)}</code>" if result.output_dir else "not recorded",
        ),
        ("Started", hp.esc(result.started_at or "not recorded")),
        ("Last update", hp.esc(result.updated_at or "not recorded")),
        ("Finished", hp.esc(result.finished_at or "not yet: the sweep is running or was stopped")),
    ]
    return hp.facts(items)


def _trials(result: SweepResult) -> str:
    names = list(dict.fromkeys(n for t in result.trials for n in t.hyperparameters))
    columns = [hp.Column("Trial", True), hp.Column("State"), hp.Column(result.objective_metric, True)]
    columns += [hp.Column(name, _numeric(result.trials, name)) for name in names]
    columns += [
        hp.Column("Last reported", True),
        hp.Column("Duration (s)", True),
        hp.Column("Retry of", True),
        hp.Column("Error"),
    ]
    rows = [_trial_row(trial, names) for trial in result.trials]
    caption = (
        f"Every trial; {result.objective_metric} is the trial's objective (complete trials), 'last reported' "
        "the value after its last training chunk (early stopping). Click a column header to sort."
    )
    return hp.table(columns, rows, caption=caption, label="Trials")


def _trial_row(trial: SweepTrialResult, names: list[str]) -> list[hp.Cell]:
    reported = trial.intermediate_values
    last = reported[max(reported)] if reported else None
    cells = [
        hp.number_cell(trial.trial_id, str(trial.trial_id)),
        hp.Cell(trial.state, markup=hp.tag(trial.state, _STATE_TAGS.get(trial.state, "ns"))),
        hp.number_cell(trial.primary_metric, fmt.number(trial.primary_metric)),
    ]
    for name in names:
        value = trial.hyperparameters.get(name)
        if _is_number(value):
            cells.append(hp.number_cell(value, _value_text(value)))
        else:
            cells.append(hp.Cell("" if value is None else _value_text(value)))
    cells += [
        hp.number_cell(last, "" if last is None else f"{fmt.number(last)} (chunk {max(reported)})"),
        hp.number_cell(trial.duration_s, "" if trial.duration_s is None else f"{trial.duration_s:.1f}"),
        hp.number_cell(trial.retry_of, "" if trial.retry_of is None else str(trial.retry_of)),
        hp.Cell((trial.error or "").strip().splitlines()[-1] if trial.error else "", kind="note"),
    ]
    return cells


def _fresh(result: SweepResult) -> str:
    evaluations = result.fresh_evaluations
    first = evaluations[0]
    pct = f"{first.confidence:.0%}"
    columns = [
        hp.Column("Rank", True),
        hp.Column("Trial", True),
        hp.Column("Sweep estimate", True),
        hp.Column("Fresh estimate", True),
        hp.Column(f"Fresh {pct} CI", True),
        hp.Column("Shrinkage", True),
        hp.Column(f"Shrinkage {pct} CI", True),
        hp.Column("Note"),
    ]
    rows = [
        [
            hp.number_cell(e.rank, str(e.rank)),
            hp.number_cell(e.trial_id, str(e.trial_id)),
            hp.number_cell(e.sweep_estimate, fmt.number(e.sweep_estimate)),
            hp.number_cell(e.fresh_estimate, fmt.number(e.fresh_estimate)),
            hp.Cell(fmt.interval(e.fresh_ci_low, e.fresh_ci_high), sort=_sort(e.fresh_ci_low), kind="ci"),
            hp.number_cell(e.shrinkage, fmt.signed(e.shrinkage)),
            hp.Cell(
                fmt.interval(e.shrinkage_ci_low, e.shrinkage_ci_high),
                sort=_sort(e.shrinkage_ci_low),
                kind="ci",
            ),
            hp.Cell(e.note, kind="note"),
        ]
        for e in evaluations
    ]
    sign = "above" if result.optimize_direction == "maximize" else "below"
    explanation = (
        f"<p>The {len(evaluations)} best trials' final checkpoints, evaluated again on "
        f"{first.fresh_episodes} fresh seeds ({first.fresh_seeds[0]}..{first.fresh_seeds[1]}) that no trial "
        f"was scored or trained on; the sweep scored every trial on {first.sweep_episodes} seeds "
        f"({first.sweep_seeds[0]}..{first.sweep_seeds[1]}). Shrinkage = sweep estimate - fresh estimate: "
        f"how far the sweep's own number sits {sign} what the checkpoints do (the winner's curse). Its "
        "interval is the sweep estimate minus the fresh estimate's Student t interval over fresh seeds: "
        "the sweep estimate is a known number, only the true value is uncertain.</p>"
    )
    caption = f"Best trials on fresh seeds, best first; {pct} intervals. Click a column header to sort."
    return explanation + hp.table(columns, rows, caption=caption, label="Best trials on fresh seeds")


def _sort(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _notes(result: SweepResult) -> str:
    items = [
        f"<li>Trial {t.trial_id} failed: <code>{hp.esc(t.error or 'no error recorded')}</code></li>"
        for t in result.trials
        if t.state == "failed"
    ]
    items += [
        f"<li>Trial {t.trial_id} is a retry of trial {t.retry_of}, whose worker died.</li>"
        for t in result.trials
        if t.retry_of is not None
    ]
    unfinished = [t.trial_id for t in result.trials if t.state in ("running", "waiting")]
    if unfinished:
        items.append(f"<li>Not finished when this report was written: trials {hp.esc(unfinished)}.</li>")
    if not items:
        return "<p>None: every trial finished without error.</p>"
    return "<ul>" + "".join(items) + "</ul>"


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _numeric(trials: list[SweepTrialResult], name: str) -> bool:
    return all(_is_number(t.hyperparameters[name]) for t in trials if name in t.hyperparameters)


def _value_text(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
