"""Print what ``make demo`` made: the quickstart's leaderboard, where its HTML report is, how to browse it.

``make demo`` runs the Dagster job ``quickstart_job`` (train ``lstm`` on ``collect``, compare it with
``random`` and the untrained network on held-out maps, report, package, validate), then
``python -m daf_core.demo``, which reads what the ``quickstart_report`` asset wrote to
``<output root>/comparisons/quickstart/`` (the output root: ``$DAF_OUTPUT_ROOT``, else the repository's
``daf_output``, as the Dagster resources have it). It only reads files, so it never imports Dagster.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.markdown import Markdown

REPO_ROOT = Path(__file__).resolve().parents[1]
REPORT_NAME = "quickstart"


def default_report_dir() -> Path:
    root = Path(os.environ.get("DAF_OUTPUT_ROOT") or "daf_output").expanduser()
    return (root if root.is_absolute() else REPO_ROOT / root) / "comparisons" / REPORT_NAME


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "report_dir",
        nargs="?",
        type=Path,
        default=default_report_dir(),
        help="the quickstart_report asset's folder (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    leaderboard, report = args.report_dir / "leaderboard.md", args.report_dir / "report.html"
    console = Console()
    if not leaderboard.is_file():
        console.print(f"No quickstart report in {args.report_dir}: run `make demo` first.", soft_wrap=True)
        return 1
    console.print(Markdown(leaderboard.read_text()))
    # Never wrapped, so the paths can be copied whatever the terminal's width.
    console.print(f"HTML report: {report}", soft_wrap=True)
    console.print(f"Leaderboard, report.json and episodes: {args.report_dir}", soft_wrap=True)
    home = os.environ.get("DAGSTER_HOME")
    if home:
        webserver = Path(sys.executable).with_name("dagster-webserver")
        console.print("Browse the runs, assets and their metadata in Dagster's UI (http://127.0.0.1:3000):")
        console.print(f"  DAGSTER_HOME={home} {webserver} -w {REPO_ROOT / 'workspace.yaml'}", soft_wrap=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
