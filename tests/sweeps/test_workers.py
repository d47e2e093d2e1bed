"""Sweep workers forked from the launching process: the trials they run are the trials the launching
process would run itself, each worker logs to its own file, and a worker's failure is reported."""

import os
from pathlib import Path

import pytest
import torch

import daf_core.sweeps.launch as launch
from daf_core.sweeps import daf_launch_sweep
from tests.sweeps.helpers import final_weights, sweep_config

pytestmark = pytest.mark.slow


def by_parameters(result) -> dict[str, object]:
    return {repr(sorted(t.hyperparameters.items())): t for t in result.trials}


def test_forked_workers_train_and_score_what_one_process_does(tmp_path):
    here = daf_launch_sweep(sweep_config(tmp_path / "here", max_parallel_jobs=1))
    forked_config = sweep_config(tmp_path / "forked", max_parallel_jobs=2)
    forked = daf_launch_sweep(forked_config)
    assert by_parameters(here).keys() == by_parameters(forked).keys()
    for key, trial in by_parameters(forked).items():
        alone = by_parameters(here)[key]
        assert trial.state == alone.state == "complete"
        assert trial.primary_metric == alone.primary_metric
        a, b = final_weights(trial), final_weights(alone)
        assert all(torch.equal(a[k], b[k]) for k in a)
    logs = Path(forked_config.output_dir) / forked_config.name / "logs"
    for index in range(2):
        log = (logs / f"worker-{index}.log").read_text()
        assert "worker pid" in log and f"worker pid {os.getpid()} " not in log  # its own process


def test_a_worker_that_dies_is_reported(tmp_path, monkeypatch):
    def dies(config_path, daf_config_path):
        os._exit(3)

    monkeypatch.setattr(launch, "run_worker_process", dies)  # the forks inherit the patch
    with pytest.raises(RuntimeError, match=r"sweep worker 0 exited with status 3"):
        daf_launch_sweep(sweep_config(tmp_path, max_parallel_jobs=2))
