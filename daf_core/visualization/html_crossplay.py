"""The cross-play part of the comparison report: the matrix as a heatmap table, ratings, value over
replacement.

It renders ``ComparisonReport.cross_play``, the dict :meth:`daf_core.crossplay.CrossPlayReport.to_dict`
writes (``kind: "cross_play"``; see the contract in its module), and computes nothing: every number and
interval on the page is the dict's own. A matrix cell (policy, partner) is the mean per-agent reward of
the policy's agents in episodes beside the partner's agents, all splits pooled; the diagonal is
self-play. Its shade is the cell's mean on a scale spanning that matrix's smallest to largest mean, so
the eye finds the best partners; the numbers and intervals are printed in every cell, and a cell's
tooltip gives its episode count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from daf_core.comparison import formatting as fmt
from daf_core.visualization import html_page as hp
from daf_core.visualization.leaderboard import rank_interval_text

#: The keys a cross-play dict must have for the page to show it.
REQUIRED_KEYS = ("policies", "missions", "splits", "episodes", "confidence", "matrix")
#: The matrix over all missions pooled.
ALL_MISSIONS = "all"
#: Heatmap ends: the smallest mean gets the first colour, the largest the second.
_LOW_RGB = (247, 251, 255)
_HIGH_RGB = (8, 81, 156)


def check_cross_play(data: Any) -> Mapping[str, Any]:
    """The cross-play dict, refused (ValueError naming what is wrong) unless it has the contract's shape."""
    if not isinstance(data, Mapping):
        raise ValueError(
            f"cross_play: expected the dict of CrossPlayReport.to_dict(), got {type(data).__name__}"
        )
    if data.get("kind", "cross_play") != "cross_play":
        raise ValueError(f"cross_play: kind is {data.get('kind')!r}, expected 'cross_play'")
    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing:
        raise ValueError(f"cross_play: missing keys {missing} (present: {sorted(data)})")
    return data


def cross_play_body(data: Mapping[str, Any]) -> str:
    """The section's markup: the design in one line, the matrices, the ratings, value over replacement."""
    data = check_cross_play(data)
    pct = f"{float(data['confidence']):.0%}"
    design = hp.facts(
        [
            ("Policies", hp.esc(", ".join(map(str, data["policies"])))),
            ("Missions", hp.esc(", ".join(map(str, data["missions"])))),
            ("Splits", hp.esc(", ".join(map(str, data["splits"])) or "none recorded")),
            ("Episodes", hp.esc(f"{data['episodes']} per lineup, mission and split")),
            ("First seed", hp.esc(data.get("seed", "not recorded"))),
            ("Intervals", hp.esc(f"{pct} confidence")),
        ]
    )
    parts = [design, '<h3 id="cross-play-matrix">Cross-play matrix</h3>', _matrices(data, pct)]
    parts += ['<h3 id="cross-play-ratings">Ratings</h3>', _ratings(data.get("ratings") or [], pct)]
    vor = data.get("value_over_replacement") or []
    parts += ['<h3 id="cross-play-vor">Value over replacement</h3>', _vor(vor, pct)]
    return "".join(parts)


# --------------------------------------------------------------------------------------------------
# The matrix
# --------------------------------------------------------------------------------------------------


def _matrices(data: Mapping[str, Any], pct: str) -> str:
    cells = list(data["matrix"])
    if not cells:
        return hp.callout("The cross-play result has no matrix cells.", missing=True)
    scopes = list(dict.fromkeys(str(c["mission"]) for c in cells))
    scopes.sort(key=lambda scope: scope != ALL_MISSIONS)  # all missions pooled first, then each one
    note = (
        f'<p class="note">Row: the policy whose agents are scored; column: the partner its agents play '
        f"beside (all splits pooled). Each cell: mean per-agent reward of the row policy's agents and its "
        f"{pct} interval; the diagonal is self-play. Shade: the cell's mean within its matrix (light "
        "lowest, dark highest). Hover over, focus or tap a cell for its episode count.</p>"
    )
    blocks = [note]
    for scope in scopes:
        title = "All missions pooled" if scope == ALL_MISSIONS else f"Mission {scope}"
        blocks.append(f'<p class="table-caption">{hp.esc(title)}</p>')
        blocks.append(
            _matrix_table([c for c in cells if str(c["mission"]) == scope], data["policies"], scope)
        )
    return "".join(blocks)


def _matrix_table(cells: Sequence[Mapping[str, Any]], policies: Sequence[str], scope: str) -> str:
    by_pair = {(str(c["policy"]), str(c["partner"])): c for c in cells}
    order = [str(p) for p in policies]
    order += [p for p in dict.fromkeys(name for pair in by_pair for name in pair) if p not in order]
    rows_names = [p for p in order if any(pair[0] == p for pair in by_pair)]
    partners = [p for p in order if any(pair[1] == p for pair in by_pair)]
    means = [float(c["mean"]) for c in cells]
    low, high = min(means), max(means)
    head = '<th scope="col">policy \\ partner</th>' + "".join(
        f'<th scope="col">{hp.esc(p)}</th>' for p in partners
    )
    body = []
    for policy in rows_names:
        row = [f'<th scope="row">{hp.esc(policy)}</th>']
        for partner in partners:
            cell = by_pair.get((policy, partner))
            row.append(_matrix_cell(cell, policy, partner, low, high))
        body.append("<tr>" + "".join(row) + "</tr>")
    label = f"Cross-play matrix: {scope}"
    return (
        f'<div class="table-wrap" role="region" tabindex="0" aria-label="{hp.esc(label)}">'
        f'<table class="heatmap" data-mission="{hp.esc(scope)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _matrix_cell(cell: Mapping[str, Any] | None, policy: str, partner: str, low: float, high: float) -> str:
    if cell is None:
        return '<td class="num note">not played</td>'
    mean = float(cell["mean"])
    share = 0.0 if high == low else (mean - low) / (high - low)
    rgb = tuple(round(a + (b - a) * share) for a, b in zip(_LOW_RGB, _HIGH_RGB, strict=True))
    ink = "#fff" if share > 0.55 else "#1d232a"
    interval = fmt.interval(cell.get("ci_low"), cell.get("ci_high"))
    tip = (
        f"{policy} beside {partner}"
        + (" (self-play)" if policy == partner else "")
        + f"\nmean {fmt.number(mean)}, "
        f"CI {interval}\nn = {cell.get('n_episodes', 'n/a')} episodes"
    )
    style = f"background: rgb{rgb}; color: {ink}"
    return (
        f'<td class="num" style="{style}" tabindex="0" data-tip="{hp.esc(tip)}" '
        f'data-policy="{hp.esc(policy)}" data-partner="{hp.esc(partner)}">'
        f'{hp.esc(fmt.number(mean))}<br> <span class="mono">{hp.esc(interval)}</span></td>'
    )


# --------------------------------------------------------------------------------------------------
# Ratings and value over replacement
# --------------------------------------------------------------------------------------------------


def _ratings(ratings: Sequence[Mapping[str, Any]], pct: str) -> str:
    if not ratings:
        return hp.callout("No ratings in this cross-play result.", missing=True)
    columns = [
        hp.Column("Rank", True),
        hp.Column("Policy"),
        hp.Column("Rating", True),
        hp.Column(f"Rating {pct} CI", True),
        hp.Column(f"Rank {pct} interval", True),
    ]
    rows = [
        [
            hp.number_cell(r["rank"], str(r["rank"])),
            hp.Cell(r["policy"]),
            hp.number_cell(r["rating"], fmt.number(r["rating"])),
            hp.Cell(fmt.interval(r.get("ci_low"), r.get("ci_high")), sort=_sort(r.get("ci_low")), kind="ci"),
            hp.Cell(rank_interval_text(r), sort=_sort(r.get("rank_low")), kind="ci"),
        ]
        for r in ratings
    ]
    caption = (
        "Best first. The rank interval is the range of ranks the policy takes across the rating's "
        "resamples: policies whose ranges overlap are not clearly ordered. Click a column header to sort."
    )
    return hp.table(columns, rows, caption=caption, label="Ratings")


def _vor(entries: Sequence[Mapping[str, Any]], pct: str) -> str:
    if not entries:
        return hp.callout("No value-over-replacement estimates in this cross-play result.", missing=True)
    overall_columns = [
        hp.Column("Policy"),
        hp.Column("Replacement"),
        hp.Column("VOR", True),
        hp.Column(f"VOR {pct} CI", True),
        hp.Column("Episodes", True),
    ]
    overall = [
        [
            hp.Cell(e["policy"]),
            hp.Cell(e["replacement"]),
            hp.number_cell(e["vor"], fmt.signed(e["vor"])),
            hp.Cell(fmt.interval(e.get("ci_low"), e.get("ci_high")), sort=_sort(e.get("ci_low")), kind="ci"),
            hp.number_cell(e.get("n_episodes"), str(e.get("n_episodes", "n/a"))),
        ]
        for e in entries
    ]
    split_columns = [
        hp.Column("Policy"),
        hp.Column("Split"),
        hp.Column("Candidate mean", True),
        hp.Column("Replacement mean", True),
        hp.Column("VOR", True),
        hp.Column(f"VOR {pct} CI", True),
    ]
    per_split = [
        [
            hp.Cell(e["policy"]),
            hp.Cell(s["split"]),
            hp.number_cell(s["candidate_mean"], fmt.number(s["candidate_mean"])),
            hp.number_cell(s["replacement_mean"], fmt.number(s["replacement_mean"])),
            hp.number_cell(s["vor"], fmt.signed(s["vor"])),
            hp.Cell(fmt.interval(s.get("ci_low"), s.get("ci_high")), sort=_sort(s.get("ci_low")), kind="ci"),
        ]
        for e in entries
        for s in e.get("splits") or []
    ]
    text = (
        "VOR: what the policy's agents add over the replacement agents they take the seats of. Per split "
        "(the policy's agents v the replacement's), the policy's mean per-agent reward minus the mean "
        "per-agent reward of episodes of the replacement alone; overall, the splits' policy means "
        "weighted by the policy's agent count, minus the same baseline."
    )
    markup = f'<p class="note">{hp.esc(text)}</p>'
    markup += hp.table(overall_columns, overall, caption="Value over replacement, all splits", label="VOR")
    if per_split:
        markup += hp.table(
            split_columns, per_split, caption="Value over replacement per split", label="VOR per split"
        )
    return markup


def _sort(value: Any) -> str:
    return "" if value is None else repr(float(value))
