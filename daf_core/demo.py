"""`make demo`: check this machine, then run a short real evaluation on a built-in mission.

Run with ``python -m daf_core.demo [--output-dir DIR] [--mission NAME] [--episodes N]``. It prints the
environment check, then per-policy episode rewards of ``random`` and ``noop`` on the same seeds, and
writes them to ``<output_dir>/demo/``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from daf_core.config import DAFConfig, configure_logging
from daf_core.environment_checks import daf_check_environment
from daf_core.evaluation import evaluate_policies, save_records

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default="./daf_output")
    parser.add_argument("--mission", default="explore")
    parser.add_argument("--episodes", type=int, default=6)
    args = parser.parse_args(argv)

    console = Console()
    config = DAFConfig(output_dir=args.output_dir)
    log_path = configure_logging(config)

    check = daf_check_environment(
        missions=[args.mission], checkpoint_dir=config.checkpoint_dir, min_available_gb=1.0, console=console
    )
    if not check.is_healthy():
        console.print("[red]Environment check failed; fix the items marked above.[/red]")
        return 1

    records = evaluate_policies(["random", "noop"], [args.mission], episodes=args.episodes, seed=0)
    out_dir = Path(config.output_dir) / "demo"
    paths = save_records(records, out_dir / "episodes")

    table = Table(title=f"{args.mission}: total episode reward ({args.episodes} episodes, seeds 0..)")
    for column in ("policy", "mean", "std", "min", "max", "steps"):
        table.add_column(column, justify="right" if column != "policy" else "left")
    for policy, group in records.groupby("policy", sort=False):
        rewards = group["reward"]
        table.add_row(
            str(policy),
            f"{rewards.mean():.3f}",
            f"{rewards.std(ddof=1):.3f}",
            f"{rewards.min():.3f}",
            f"{rewards.max():.3f}",
            f"{group['steps'].mean():.0f}",
        )
    console.print(table)
    console.print(f"Per-episode records: {', '.join(str(p) for p in paths)}")
    if log_path is not None:
        console.print(f"Log: {log_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
