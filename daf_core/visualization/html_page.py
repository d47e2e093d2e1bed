"""The page every DAF HTML report is built on: one self-contained file that reads well on a phone.

Self-contained means the file is all there is: the style sheet and the script are inline, figures are
SVG data URIs, fonts are the reader's own, and a Content-Security-Policy forbids every request but
inline ones - so a report opened from a laptop, a mail attachment or an air-gapped machine looks the
same, and never calls home. Interactive means: every table with the ``sortable`` class sorts by a
click on any column header (numbers as numbers, undefined values last), and every element with a
``data-tip`` shows that text in a tooltip on hover, focus or tap.

Everything put on a page goes through :func:`esc` (or is built from escaped parts): policy, mission
and parameter names come from users and may hold any character.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import daf_core
from daf_core._internal.atomic import atomic_write_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: No request may leave the page: only inline styles and scripts and data: images are allowed.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
)

STYLE = """
:root { --ink: #1d232a; --muted: #5a6470; --line: #d8dde3; --band: #f4f6f8; --accent: #0072B2;
  --good: #009E73; --warn: #D55E00; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.45;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header, main, footer { max-width: 74rem; margin: 0 auto; padding: 0 1rem; }
header { padding-top: 1.25rem; border-bottom: 1px solid var(--line); }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; overflow-wrap: anywhere; }
h2 { font-size: 1.25rem; margin: 2rem 0 .5rem; padding-bottom: .2rem; border-bottom: 2px solid var(--band); }
h3 { font-size: 1.05rem; margin: 1.25rem 0 .4rem; overflow-wrap: anywhere; }
p, li { overflow-wrap: anywhere; }
.sub { color: var(--muted); margin: 0 0 .6rem; }
nav { display: flex; flex-wrap: wrap; gap: .25rem .9rem; padding: .4rem 0 .8rem; }
nav a, a { color: var(--accent); }
code, .mono { font: 13px/1.35 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  overflow-wrap: anywhere; }
.table-wrap { overflow-x: auto; max-width: 100%; margin: .4rem 0 1rem; border: 1px solid var(--line);
  border-radius: 6px; }
.table-wrap:focus { outline: 2px solid var(--accent); }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
.table-caption { color: var(--muted); font-size: 13px; margin: .6rem 0 -.1rem; }
th, td { padding: .35rem .6rem; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top;
  white-space: nowrap; }
td.note { white-space: normal; min-width: 16rem; max-width: 32rem; color: var(--muted); font-size: 13px; }
td code { overflow-wrap: normal; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.ci { white-space: nowrap; font-variant-numeric: tabular-nums; color: var(--muted); }
thead th { background: var(--band); position: sticky; top: 0; white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafbfc; }
th button { font: inherit; font-weight: 600; color: inherit; background: none; border: 0; padding: 0;
  cursor: pointer; text-align: inherit; }
th button::after { content: " \\2195"; color: var(--muted); font-weight: 400; }
th[aria-sort="ascending"] button::after { content: " \\2191"; color: var(--accent); }
th[aria-sort="descending"] button::after { content: " \\2193"; color: var(--accent); }
.tag { display: inline-block; padding: 0 .45rem; border-radius: 999px; font-size: 12px; font-weight: 600;
  white-space: nowrap; }
.tag.leader { background: var(--accent); color: #fff; }
.tag.tied { background: #cfe6f5; color: #003f63; }
.tag.sig { background: #d5f0e7; color: #00543d; }
.tag.ns { background: var(--band); color: var(--muted); }
.tag.unknown { background: #fbe3d3; color: #7a3000; }
.note { color: var(--muted); font-size: 13px; }
.callout { border-left: 4px solid var(--accent); background: var(--band); padding: .5rem .8rem;
  margin: .6rem 0; border-radius: 0 6px 6px 0; }
.callout.missing { border-left-color: var(--warn); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: .4rem 0 1rem; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.figures { display: grid; gap: 1rem; }
figure { margin: 0; padding: .5rem; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { font-size: 13px; color: var(--muted); padding-top: .3rem; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 26rem), 1fr));
  gap: 1rem; }
svg.chart { display: block; width: 100%; height: auto; font-family: inherit; }
svg.chart text { font-size: 13px; fill: var(--ink); }
svg.chart .axis text { font-size: 11px; fill: var(--muted); }
svg.chart .grid { stroke: var(--line); }
svg.chart .pt { cursor: pointer; outline: none; }
svg.chart .pt:hover .hit, svg.chart .pt:focus .hit { fill: #eef5fb; }
.legend { display: flex; flex-wrap: wrap; gap: .2rem 1rem; font-size: 13px; margin: .2rem 0 .6rem; }
.swatch { display: inline-block; width: .8rem; height: .8rem; border-radius: 50%; margin-right: .3rem;
  vertical-align: -1px; }
#tip { position: fixed; z-index: 10; max-width: min(22rem, 90vw); padding: .35rem .55rem; border-radius: 5px;
  background: #1d232a; color: #fff; font-size: 13px; pointer-events: none; white-space: pre-line; }
footer { color: var(--muted); font-size: 13px; padding: 2rem 1rem 2.5rem; }
@media (max-width: 600px) {
  body { font-size: 14px; }
  header, main, footer { padding-left: .6rem; padding-right: .6rem; }
  h1 { font-size: 1.3rem; }
  dl.facts { grid-template-columns: 1fr; }
  dl.facts dd { margin-bottom: .35rem; }
}
"""

SCRIPT = """
(function () {
  "use strict";
  function sortValue(row, column, numeric) {
    var cell = row.cells[column];
    var raw = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
    if (!numeric) { return raw.toLowerCase(); }
    var number = parseFloat(raw);
    return isNaN(number) ? null : number;
  }
  function sortBy(table, header, column) {
    var numeric = header.getAttribute("data-type") === "num";
    var direction = header.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    Array.prototype.forEach.call(header.parentNode.cells, function (h) {
      h.setAttribute("aria-sort", "none");
    });
    header.setAttribute("aria-sort", direction);
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = sortValue(a, column, numeric), y = sortValue(b, column, numeric);
      if (x === null || y === null) { return x === y ? 0 : (x === null ? 1 : -1); }
      var order = x < y ? -1 : (x > y ? 1 : 0);
      return direction === "ascending" ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header, column) {
      var button = header.querySelector("button");
      if (button) { button.addEventListener("click", function () { sortBy(table, header, column); }); }
    });
  });
  var tip = document.getElementById("tip");
  function show(event) {
    var target = event.currentTarget;
    tip.textContent = target.getAttribute("data-tip");
    tip.hidden = false;
    var anchor = target.querySelector(".point") || target;
    var box = anchor.getBoundingClientRect(), own = tip.getBoundingClientRect();
    var centred = box.left + box.width / 2 - own.width / 2;
    var left = Math.min(Math.max(4, centred), window.innerWidth - own.width - 4);
    var top = box.top - own.height - 6;
    tip.style.left = left + "px";
    tip.style.top = (top < 4 ? box.bottom + 6 : top) + "px";
  }
  function hide() { tip.hidden = true; }
  Array.prototype.forEach.call(document.querySelectorAll("[data-tip]"), function (element) {
    element.addEventListener("mouseenter", show);
    element.addEventListener("focus", show);
    element.addEventListener("click", show);
    element.addEventListener("mouseleave", hide);
    element.addEventListener("blur", hide);
  });
})();
"""


def esc(value: object) -> str:
    """``value`` as HTML text or attribute content: ``& < > " '`` escaped."""
    return html.escape(str(value), quote=True)


def slug(text: str) -> str:
    """An id fragment for ``text`` (letters, digits and ``-``), for anchors."""
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "x"


# --------------------------------------------------------------------------------------------------
# Parts of a page
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One table cell: its escaped ``text`` (or ready ``markup``), the value it sorts by, and its class."""

    text: object = ""
    sort: float | str | None = None
    kind: str = ""
    markup: str | None = None

    def html(self) -> str:
        attributes = f' class="{self.kind}"' if self.kind else ""
        if self.sort is not None:
            attributes += f' data-sort="{esc(self.sort)}"'
        return f"<td{attributes}>{self.markup if self.markup is not None else esc(self.text)}</td>"


def number_cell(value: float | None, text: str) -> Cell:
    """A right-aligned number that sorts by its value (undefined values sort last)."""
    return Cell(text, sort="" if value is None else repr(float(value)), kind="num")


@dataclass(frozen=True)
class Column:
    """A table header; ``numeric`` columns sort as numbers."""

    label: str
    numeric: bool = False


def table(
    columns: Sequence[Column], rows: Iterable[Sequence[Cell]], caption: str = "", label: str = ""
) -> str:
    """A sortable table in a horizontally scrolling frame (a wide table never widens a phone's page)."""
    numeric = ' data-type="num" class="num"'
    head = "".join(
        f'<th scope="col" aria-sort="none"{numeric if c.numeric else ""}>'
        f'<button type="button">{esc(c.label)}</button></th>'
        for c in columns
    )
    body = "".join("<tr>" + "".join(cell.html() for cell in row) + "</tr>" for row in rows)
    name = esc(label or caption or "table")
    # The caption stays outside the scrolling frame, so it wraps to the page's width, not the table's.
    return (
        (f'<p class="table-caption">{esc(caption)}</p>' if caption else "")
        + f'<div class="table-wrap" role="region" tabindex="0" aria-label="{name}">'
        f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
    )


def facts(items: Iterable[tuple[str, str]]) -> str:
    """A definition list of (term, escaped markup) pairs."""
    return '<dl class="facts">' + "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def callout(markup: str, missing: bool = False) -> str:
    """A highlighted paragraph; ``missing`` marks one that says what a report lacks."""
    return f'<div class="callout{" missing" if missing else ""}">{markup}</div>'


def tag(text: str, kind: str) -> str:
    return f'<span class="tag {esc(kind)}">{esc(text)}</span>'


def figure_title(figure: Figure, fallback: str) -> str:
    """The figure's suptitle, else its first axes' title, else ``fallback``: the alt text of its image."""
    title = figure.get_suptitle()
    if not title:
        title = next((ax.get_title() for ax in figure.axes if ax.get_title()), "")
    return title or fallback


def svg_data_uri(figure: Figure) -> str:
    """The figure as an SVG data URI, drawn with DAF's style (as :func:`~.style.save_figure` draws it)."""
    from daf_core.visualization.style import styled  # noqa: PLC0415 - matplotlib only when drawing

    buffer = io.BytesIO()
    with styled():
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def figures(named: Mapping[str, Figure], prefix: str) -> str:
    """Each figure as an embedded image with a caption, one under the other, shrunk to a narrow screen."""
    blocks = []
    for name, figure in named.items():
        caption = name.replace("_", " ")
        title = figure_title(figure, caption)
        blocks.append(
            f'<figure class="report-figure" id="{esc(prefix)}-{slug(name)}" data-figure="{esc(name)}">'
            f'<img src="{svg_data_uri(figure)}" alt="{esc(title)}" loading="eager">'
            f'<figcaption>{esc(title)} <span class="mono">({esc(name)})</span></figcaption></figure>'
        )
    return f'<div class="figures">{"".join(blocks)}</div>'


# --------------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    """A titled part of a page; ``body`` is markup built from escaped parts."""

    anchor: str
    title: str
    body: str


def page(title: str, subtitle: str, sections: Sequence[Section]) -> str:
    """The whole document: head (style, policy), contents, sections, footer, tooltip and script."""
    nav = "".join(f'<a href="#{esc(s.anchor)}">{esc(s.title)}</a>' for s in sections)
    body = "".join(
        f'<section id="{esc(s.anchor)}"><h2>{esc(s.title)}</h2>{s.body}</section>' for s in sections
    )
    written = datetime.now(UTC).isoformat(timespec="seconds")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
        f'<header><h1>{esc(title)}</h1><p class="sub">{esc(subtitle)}</p><nav>{nav}</nav></header>'
        f"<main>{body}</main>"
        f"<footer>Written by DAF {esc(daf_core.__version__)} at {esc(written)}. "
        "This file is self-contained: figures, styles and scripts are inline and it makes no network "
        "request.</footer>"
        f'<div id="tip" role="tooltip" hidden></div><script>{SCRIPT}</script></body></html>\n'
    )


def write_page(output_path: str | Path, document: str) -> Path:
    """Write the page atomically (a reader never opens half a report); returns its path."""
    return atomic_write_text(Path(output_path), document)
