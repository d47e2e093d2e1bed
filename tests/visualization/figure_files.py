"""What every plotting function must write: a valid PNG and a valid SVG of each figure, nothing else."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG_ROOT = "{http://www.w3.org/2000/svg}svg"


def assert_png_and_svg_of(figure_names: Iterable[str], written: list[Path]) -> None:
    """``written`` is exactly one PNG and one SVG per figure name, and each parses as what it claims."""
    assert {p.name for p in written} == {f"{n}.{ext}" for n in figure_names for ext in ("png", "svg")}
    for path in written:
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == PNG_SIGNATURE, path
        else:
            assert ET.parse(path).getroot().tag == SVG_ROOT, path
