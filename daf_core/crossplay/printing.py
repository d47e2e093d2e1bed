"""Cross-play results as rich tables: one matrix per mission, the ratings, the values over replacement.

Reads only the dict of :meth:`CrossPlayReport.to_dict` (so a ComparisonReport's ``cross_play`` slot
prints the same way). Matrix cells read ``mean ±half-width`` (their t intervals are symmetric), the VOR
and ratings ``[low, high]``; "n/a" where an interval is undefined (one seed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table


def print_cross_play(data: Mapping[str, Any], console: Console | None = None) -> None:
    """Print every table of a cross-play result (its ``to_dict()``), then a line saying how to read them."""
    console = console or Console()
    for table in cross_play_tables(data):
        console.print(table)
    console.print(_legend(data), style="dim")


def cross_play_tables(data: Mapping[str, Any]) -> list[Table]:
    """The tables :func:`print_cross_play` prints: a matrix per mission (and ``"all"`` when there are
    several), then the ratings and the VOR when there are any."""
    missions = list(dict.fromkeys(c["mission"] for c in data["matrix"]))
    if len(missions) == 2:  # one mission and "all", which repeats it
        missions = missions[:1]
    tables = [_matrix_table(data, m) for m in missions]
    if data["ratings"]:
        tables.append(_ratings_table(data))
    tables.extend(_vor_table(data, entry) for entry in data["value_over_replacement"])
    return tables


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _estimate(mean: float | None, low: float | None, high: float | None) -> str:
    """``mean ±h``: the cells' t intervals are symmetric, so the half-width says all and fits 80 columns."""
    return f"{_number(mean)} ±{'n/a' if low is None or high is None else _number((high - low) / 2)}"


def _table(title: str, caption: str | None = None) -> Table:
    return Table(
        title=escape(title), caption=caption and escape(caption), box=box.SIMPLE_HEAD, show_edge=False
    )


def _matrix_table(data: Mapping[str, Any], mission: str) -> Table:
    cells = {(c["policy"], c["partner"]): c for c in data["matrix"] if c["mission"] == mission}
    policies = [p for p in data["policies"] if any(p in key for key in cells)]
    where = "mean over missions" if mission == "all" else f"mission {mission}"
    table = _table(
        f"Cross-play, {where}: mean per-agent reward of the row's agents beside the column's",
        f"± half-width of the {data['confidence']:.0%} interval; splits {', '.join(data['splits'])} "
        "pooled; diagonal = self-play",
    )
    table.add_column("policy")
    for partner in policies:
        table.add_column(escape(partner), justify="right", no_wrap=True)
    for policy in policies:
        row = [cells.get((policy, partner)) for partner in policies]
        table.add_row(
            escape(policy),
            *("" if c is None else _estimate(c["mean"], c["ci_low"], c["ci_high"]) for c in row),
        )
    return table


def _ratings_table(data: Mapping[str, Any]) -> Table:
    pct = f"{data['confidence']:.0%}"
    table = _table("Bradley-Terry ratings (log-odds of beating each other's agents)")
    for column in ("rank", f"{pct} rank", "policy", "rating", f"{pct} CI"):
        table.add_column(column, justify="left" if column == "policy" else "right", no_wrap=True)
    for r in data["ratings"]:
        table.add_row(
            str(r["rank"]),
            f"{r['rank_low']}-{r['rank_high']}",
            escape(r["policy"]),
            f"{r['rating']:+.2f}",
            f"[{r['ci_low']:+.2f}, {r['ci_high']:+.2f}]",
        )
    return table


def _vor_table(data: Mapping[str, Any], entry: Mapping[str, Any]) -> Table:
    pct = f"{data['confidence']:.0%}"
    table = _table(
        f"Value over replacement: {entry['policy']} replacing {entry['replacement']}",
        f"{entry['n_episodes']} episodes, paired by seed",
    )
    for column in ("split", "candidate", "replacement", "VOR", f"{pct} CI"):
        table.add_column(column, justify="left" if column == "split" else "right", no_wrap=True)
    for s in entry["splits"]:
        ci = "n/a" if s["ci_low"] is None else f"[{_number(s['ci_low'])}, {_number(s['ci_high'])}]"
        table.add_row(s["split"], _number(s["candidate_mean"]), _number(s["replacement_mean"]),
                      _number(s["vor"]), ci)  # fmt: skip
    ci = "n/a" if entry["ci_low"] is None else f"[{_number(entry['ci_low'])}, {_number(entry['ci_high'])}]"
    table.add_row("[bold]overall[/bold]", "", "", f"[bold]{_number(entry['vor'])}[/bold]", ci)
    return table


def _legend(data: Mapping[str, Any]) -> str:
    text = (
        f"{data['episodes']} episode(s) per lineup and mission from seed {data['seed']}; intervals at "
        f"{data['confidence']:.0%} are Student t over seeds (a seed's episodes share a map)"
    )
    if data["ratings"]:
        text += "; ratings and rank ranges from a bootstrap over seeds"
    if data["value_over_replacement"]:
        text += (
            ". VOR: the candidate's mean per-agent reward minus the all-replacement mean; overall weighted "
            "by the candidate's agents (cogames pickup)"
        )
    return text + "."
