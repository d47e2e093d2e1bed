"""A small interactive chart drawn straight into the page: estimates with their intervals, one per row.

Drawn as inline SVG from the report's own numbers (no figure library, no script needed to draw it), so
each point is an element that carries its value and interval: hovering, focusing or tapping it shows
them in the page's tooltip (see :mod:`~daf_core.visualization.html_page`). Rows rather than columns
(a forest plot) because a label above each row stays readable at any width, also on a phone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from daf_core.visualization.html_page import esc

WIDTH = 420
PAD_X = 14
ROW = 38
AXIS = 44


@dataclass(frozen=True)
class Estimate:
    """One row: a label, a point with its interval (None where undefined), a colour, the tooltip text."""

    label: str
    point: float
    low: float | None
    high: float | None
    color: str
    tip: str


def _domain(estimates: Sequence[Estimate]) -> tuple[float, float]:
    values = [v for e in estimates for v in (e.point, e.low, e.high) if v is not None]
    low, high = min(values), max(values)
    if math.isclose(low, high):
        spread = abs(low) * 0.1 or 1.0
        return low - spread, high + spread
    margin = (high - low) * 0.06
    return low - margin, high + margin


def _ticks(low: float, high: float) -> list[float]:
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415 - matplotlib's tick choice, loaded late

    return [t for t in MaxNLocator(nbins=5).tick_values(low, high) if low <= t <= high]


def interval_chart(title: str, estimates: Sequence[Estimate], axis_label: str) -> str:
    """An SVG forest plot of ``estimates`` (one row each) under an x axis labelled ``axis_label``."""
    low, high = _domain(estimates)
    inner = WIDTH - 2 * PAD_X

    def x(value: float) -> float:
        return PAD_X + (value - low) / (high - low) * inner

    height = ROW * len(estimates) + AXIS
    bottom = ROW * len(estimates)
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="group" aria-label="{esc(title)}">']
    ticks = _ticks(low, high)
    parts.append('<g class="axis">')
    for tick in ticks:
        parts.append(
            f'<line class="grid" x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="4" y2="{bottom}"/>'
            f'<text x="{x(tick):.1f}" y="{bottom + 16}" text-anchor="middle">{esc(f"{tick:g}")}</text>'
        )
    parts.append(
        f'<text x="{WIDTH / 2:.0f}" y="{bottom + 36}" text-anchor="middle">{esc(axis_label)}</text></g>'
    )
    for row, estimate in enumerate(estimates):
        top = row * ROW
        mid = top + 27
        parts.append(
            f'<g class="pt" tabindex="0" data-tip="{esc(estimate.tip)}" aria-label="{esc(estimate.tip)}">'
            f'<rect class="hit" x="0" y="{top}" width="{WIDTH}" height="{ROW}" fill="transparent"/>'
            f'<text x="{PAD_X}" y="{top + 14}">{esc(estimate.label)}</text>'
        )
        if estimate.low is not None and estimate.high is not None:
            x0, x1 = x(estimate.low), x(estimate.high)
            parts.append(
                f'<line x1="{x0:.1f}" x2="{x1:.1f}" y1="{mid}" y2="{mid}" stroke="{estimate.color}" '
                'stroke-width="3" stroke-linecap="round"/>'
                f'<line x1="{x0:.1f}" x2="{x0:.1f}" y1="{mid - 6}" y2="{mid + 6}" stroke="{estimate.color}" '
                'stroke-width="2"/>'
                f'<line x1="{x1:.1f}" x2="{x1:.1f}" y1="{mid - 6}" y2="{mid + 6}" stroke="{estimate.color}" '
                'stroke-width="2"/>'
            )
        parts.append(
            f'<circle class="point" cx="{x(estimate.point):.1f}" cy="{mid}" r="6" fill="{estimate.color}" '
            'stroke="#fff" stroke-width="1.5"/></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
