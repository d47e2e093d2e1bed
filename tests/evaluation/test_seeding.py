"""An untrained network is the same network in every run, process and worker of the same evaluation.

Policy construction is seeded from the evaluation's seed, so an "untrained lstm" arm does not depend on
what the process drew from its generators before, nor on which worker built it. Before this, an ablation
of ``lstm`` against an identical variant reported "lstm better, significant".
"""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from daf_core.comparison import daf_policy_ablation
from daf_core.evaluation import evaluate_policies

REPO = Path(__file__).resolve().parents[2]
TIMING = ["wall_time_s"]

# One evaluation of an untrained lstm, written to argv[1]. With argv[2] = "busy" the process first draws
# from every generator, as a caller that did other work before evaluating would.
EVALUATION_SCRIPT = """
import random, sys
import numpy, torch
if sys.argv[2] == "busy":
    random.random(); numpy.random.rand(17); torch.rand(1000); torch.nn.LSTM(8, 8)
from daf_core.evaluation import evaluate_policies
records = evaluate_policies(["lstm"], ["tiny_walk"], episodes=2, seed=3, show_progress=False)
records.drop(columns=["wall_time_s"]).to_pickle(sys.argv[1])
"""


def without_timing(records: pd.DataFrame) -> pd.DataFrame:
    return records.drop(columns=TIMING)


def test_the_same_lstm_evaluation_in_two_processes_gives_identical_records(tmp_path):
    outputs = {state: tmp_path / f"{state}.pkl" for state in ("fresh", "busy")}
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", EVALUATION_SCRIPT, str(path), state],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"},
            stderr=subprocess.PIPE,
            text=True,
        )
        for state, path in outputs.items()
    ]
    for run in runs:
        _, stderr = run.communicate(timeout=600)
        assert run.returncode == 0, stderr[-3000:]
    fresh, busy = (pd.read_pickle(path) for path in outputs.values())
    assert len(fresh) == 2
    pd.testing.assert_frame_equal(fresh, busy)


def test_an_untrained_lstm_is_the_same_network_serially_and_in_two_workers():
    policies = {"lstm_a": "lstm", "lstm_b": "lstm"}
    serial = evaluate_policies(policies, ["tiny_walk"], episodes=3, seed=5, show_progress=False)
    parallel = evaluate_policies(
        policies, ["tiny_walk"], episodes=3, seed=5, max_parallel_jobs=2, show_progress=False
    )
    pd.testing.assert_frame_equal(without_timing(serial), without_timing(parallel))
    # Two arms with the same spec are one network: the second is not built from a used-up generator.
    rewards = serial.pivot(index="seed", columns="policy", values="reward")
    assert rewards["lstm_a"].tolist() == rewards["lstm_b"].tolist()
    assert rewards["lstm_a"].nunique() > 1  # the episodes differ: the equality is not of constants


def test_an_ablation_of_lstm_against_an_identical_variant_finds_no_difference():
    report = daf_policy_ablation(
        "lstm", {"lstm_again": "lstm"}, ["tiny_walk"], episodes_per_mission=8, seed=0, show_progress=False
    )
    rewards = report.records.pivot(index="seed", columns="policy", values="reward")
    assert rewards["lstm"].tolist() == rewards["lstm_again"].tolist()
    [comparison] = report.comparisons
    assert comparison.mean_diff == 0
    assert not comparison.is_significant
    assert comparison.better_policy is None
    assert "no significant difference" in comparison.verdict()
