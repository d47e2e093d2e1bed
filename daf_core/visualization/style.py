"""How every DAF figure looks and is saved: Okabe-Ito palette, readable fonts, PNG and SVG written atomically.

Figures are built as :class:`matplotlib.figure.Figure` objects directly (never through ``pyplot``), so
drawing needs no GUI backend and leaves the caller's matplotlib state alone: the Agg renderer draws the
PNG, matplotlib's SVG renderer the SVG, and DAF's fonts and sizes apply only inside :func:`styled`.

The palette is Okabe & Ito's (2008) eight colours, distinguishable with the common colour-vision
deficiencies; yellow comes late because it is faint on white. Continuous values use ``cividis`` and
signed ones ``PuOr``, both readable without red-green discrimination.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from daf_core._internal.atomic import atomic_write_bytes

__all__ = [
    "DIVERGING_COLORMAP",
    "FAINT_ALPHA",
    "OKABE_ITO",
    "SEQUENTIAL_COLORMAP",
    "color",
    "new_figure",
    "notice_figure",
    "save_figure",
    "styled",
]

#: Okabe-Ito colours, most distinct first: blue, orange, bluish green, vermillion, sky blue,
#: reddish purple, black, yellow.
OKABE_ITO = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#56B4E9",
    "#CC79A7",
    "#000000",
    "#F0E442",
)
SEQUENTIAL_COLORMAP = "cividis"
DIVERGING_COLORMAP = "PuOr"
#: Opacity of raw values drawn behind their smoothed line, and of individual episodes.
FAINT_ALPHA = 0.25
PNG_DPI = 150

#: The rc settings every DAF figure is drawn and saved with.
RC = {
    "font.family": "DejaVu Sans",
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "figure.titlesize": 14,
    "axes.prop_cycle": matplotlib.cycler(color=list(OKABE_ITO)),
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.fonttype": "none",  # text stays text in the SVG: searchable, selectable, small
    "svg.hashsalt": "daf",  # stable element ids, so the same figure gives the same SVG
}

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def color(index: int) -> str:
    """The ``index``-th palette colour (cycling after eight)."""
    return OKABE_ITO[index % len(OKABE_ITO)]


@contextmanager
def styled() -> Iterator[None]:
    """DAF's fonts, palette and grid for the figures built (and saved) inside; the caller's rc is restored."""
    with matplotlib.rc_context(RC):
        yield


def new_figure(width: float = 7.0, height: float = 4.5) -> Figure:
    """A figure with constrained layout, not registered with pyplot (no GUI, no global state)."""
    return Figure(figsize=(width, height), layout="constrained")


def notice_figure(title: str, message: str) -> Figure:
    """A figure that says what is missing instead of a plot, for a report that shows every figure slot."""
    with styled():
        fig = new_figure(7.0, 2.5)
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, transform=ax.transAxes)
        fig.suptitle(title)
    return fig


def save_figure(fig: Figure, output_dir: str | Path, name: str) -> list[Path]:
    """Write ``<output_dir>/<name>.png`` and ``<name>.svg`` atomically; returns both paths (PNG first).

    ``name`` must be a plain file stem (letters, digits, ``.``, ``_``, ``-``): it is never a path.
    Both files are rendered in memory first, then each is renamed into place, so a reader never sees
    half a figure and a render that fails writes neither.
    """
    if not isinstance(name, str) or not _SAFE_NAME.match(name):
        raise ValueError(f"name: {name!r} is not a plain file name (letters, digits, '.', '_', '-'; no path)")
    output_dir = Path(output_dir)
    png, svg = io.BytesIO(), io.BytesIO()
    engine = fig.get_layout_engine()
    with styled():
        fig.savefig(png, format="png", dpi=PNG_DPI)
        # The PNG's draw placed everything; the SVG reuses that layout instead of solving it again.
        fig.set_layout_engine("none")
        try:
            fig.savefig(svg, format="svg", metadata={"Date": None})
        finally:
            fig.set_layout_engine(engine if engine is not None else "none")
    return [
        atomic_write_bytes(output_dir / f"{name}.png", png.getvalue()),
        atomic_write_bytes(output_dir / f"{name}.svg", svg.getvalue()),
    ]
