"""Print the result of ``make demo``: the per-policy rewards that the Dagster ``demo_job`` recorded.

``make demo`` runs ``dagster job execute -j demo_job`` (environment check, then a short real evaluation
of ``random`` and ``noop`` on the built-in ``explore`` mission), then
``python -m daf_core.demo <records dir>`` to show what it measured and where the files are.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from daf_core.records import load_records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records_dir", type=Path, help="output_dir of the baseline_evaluation asset")
    args = parser.parse_args(argv)

    records = load_records(args.records_dir / "episodes.parquet")
    console = Console()
    table = Table(title="Total episode reward per policy and mission (same seeds for every policy)")
    for column in ("mission", "policy", "episodes", "mean", "std", "min", "max"):
        table.add_column(column, justify="left" if column in ("mission", "policy") else "right")
    for (mission, policy), group in records.groupby(["mission", "policy"], sort=True):
        rewards = group["reward"]
        table.add_row(
            str(mission),
            str(policy),
            str(len(group)),
            f"{rewards.mean():.3f}",
            f"{rewards.std(ddof=1):.3f}",
            f"{rewards.min():.3f}",
            f"{rewards.max():.3f}",
        )
    console.print(table)
    console.print("Outputs:")
    for path in sorted(args.records_dir.iterdir()):
        console.print(f"  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
