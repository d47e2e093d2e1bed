"""The README's pictures, from real results: one figure of each kind and the comparison report's page.

    OMP_NUM_THREADS=1 .venv/bin/python bench/readme_figures.py

The comparison figures come from the learning check's report (bench/results/learning_collect, written
by bench/learning_check.py); the training curves from a short run of lstm on collect, resumed once; the
sweep figures from a 6-trial random sweep on tiny_walk. Writes PNGs to docs/images/ (the HTML report's
screenshot is saved there by tests/visualization/test_browser.py with DAF_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from daf_core.comparison import ComparisonReport
from daf_core.config import DAFConfig, DAFSweepConfig, DAFTrainingConfig
from daf_core.sweeps import daf_launch_sweep
from daf_core.training import train
from daf_core.visualization import (
    daf_plot_policy_comparison,
    daf_plot_sweep_results,
    daf_plot_training_curves,
)

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"


def keep(written: list[Path], names: dict[str, str]) -> None:
    """Copy the PNGs of the chosen figures to docs/images under their README names."""
    for path in written:
        if path.suffix == ".png" and path.stem in names:
            shutil.copy(path, IMAGES / f"{names[path.stem]}.png")
            print(IMAGES / f"{names[path.stem]}.png")


def main() -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        report = ComparisonReport.from_dir(ROOT / "bench" / "results" / "learning_collect")
        keep(daf_plot_policy_comparison(report, out / "comparison"), {"mission_means": "comparison_means"})

        daf = DAFConfig(output_dir=out, tensorboard=False, monitor_system_stats=False, log_to_file=False)
        run = DAFTrainingConfig(
            missions=["collect"],
            num_steps=40 * 2048,
            checkpoint_dir=out / "checkpoints",
            run_name="lstm-collect",
        )
        train(run.model_copy(update={"num_steps": 20 * 2048}), daf, show_progress=False)
        train(run, daf, show_progress=False)  # the same run resumed to 40 epochs: drawn as one line
        keep(
            daf_plot_training_curves(out / "checkpoints", out / "training"),
            {"episode_reward": "training_reward"},
        )

        sweep = DAFSweepConfig(
            name="readme_figures",
            missions=["tiny_walk"],
            search_space={"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}, "ent_coef": [0.0, 0.05]},
            num_trials=6,
            training_steps=4096,
            episodes_per_trial=3,
            output_dir=out / "sweeps",
        )
        daf_launch_sweep(sweep, daf)
        keep(
            daf_plot_sweep_results(out / "sweeps" / "readme_figures", out / "sweep"),
            {"objective_history": "sweep_history", "parameters": "sweep_parameters"},
        )


if __name__ == "__main__":
    main()
