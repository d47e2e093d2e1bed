"""Print the result of ``make demo``: what the Dagster ``demo_job`` recorded, and its HTML report.

``make demo`` runs ``dagster job execute -j demo_job`` (environment check, then a short real evaluation
of ``random`` and ``noop`` on the built-in ``explore`` mission), then
``python -m daf_core.demo <records dir>`` to show what it measured, write ``report.html`` there (the
comparison of the demo's policies, see :mod:`daf_core.visualization.html_report`) and say where the
files are.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from daf_core.records import load_records

REPORT_FILE = "report.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records_dir", type=Path, help="output_dir of the baseline_evaluation asset")
    args = parser.parse_args(argv)

    records = load_records(args.records_dir / "episodes.parquet")
    console = Console()
    console.print(_rewards_table(records))
    report_path = write_report(args.records_dir, records)
    # Never wrapped, so the path can be copied whatever the terminal's width.
    console.print(f"HTML report (a comparison of the demo's policies): {report_path}", soft_wrap=True)
    console.print("Outputs:")
    for path in sorted(args.records_dir.iterdir()):
        console.print(f"  {path}")
    return 0


def _rewards_table(records: Any) -> Table:
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
    return table


def write_report(records_dir: Path, records: Any) -> Path:
    """The records as a comparison report, its design from the evaluation's manifest, as HTML beside them."""
    from daf_core.comparison import ComparisonReport  # noqa: PLC0415 - the figures load matplotlib
    from daf_core.comparison.runner import package_versions  # noqa: PLC0415
    from daf_core.evaluation.engine import MANIFEST_FILE  # noqa: PLC0415 - seed, episodes, fingerprints
    from daf_core.visualization.html_report import daf_export_comparison_html  # noqa: PLC0415

    manifest_path = records_dir / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    metadata = {
        "kind": "Dagster demo_job (baseline_evaluation asset)",
        "policy_specs": {
            name: _policy_spec(name, fingerprint)
            for name, fingerprint in manifest.get("policies", {}).items()
        },
        "mission_fingerprints": manifest.get("missions", {}),
        "versions": package_versions(),
    }
    if "episodes" in manifest:
        metadata["episodes_per_mission"] = manifest["episodes"]
    report = ComparisonReport.from_records(
        records, name="demo", seed=int(manifest.get("seed", 0)), metadata=metadata
    )
    return daf_export_comparison_html(report, records_dir / REPORT_FILE)


def _policy_spec(name: str, recorded_fingerprint: str) -> dict[str, Any]:
    """What ran under ``name``: the recorded fingerprint, and the spec when ``name`` resolves to a policy
    with that very fingerprint (class, init kwargs and weights unchanged since the run).

    A policy given as a checkpoint path is recorded under a name derived from it, which names no policy:
    then only the fingerprint is known.
    """
    from daf_core.evaluation import resolve_policy  # noqa: PLC0415 - mettagrid, only when writing a report

    try:
        policy = resolve_policy(name)
    except (ValueError, FileNotFoundError):
        return {"fingerprint": recorded_fingerprint}
    if policy.fingerprint() != recorded_fingerprint:
        return {"fingerprint": recorded_fingerprint}
    spec = policy.spec
    return {
        "class_path": spec.class_path,
        "data_path": spec.data_path,
        "init_kwargs": dict(spec.init_kwargs),
        "fingerprint": recorded_fingerprint,
    }


if __name__ == "__main__":
    sys.exit(main())
