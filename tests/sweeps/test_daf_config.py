"""Every DAFConfig field acts in a sweep's trials, whether they run in this process or in worker processes."""

import logging
import os
from pathlib import Path

import pytest
import torch

from daf_core.config import DAFConfig
from daf_core.sweeps import SweepResult, daf_launch_sweep
from daf_core.tracking import list_experiments
from tests.sweeps.helpers import load_study, sweep_config

pytestmark = pytest.mark.slow


def _two_trial_sweep(tmp_path: Path, **overrides):
    """Two trials of two epochs each, with a checkpoint after every epoch."""
    return sweep_config(
        tmp_path / "sweeps",
        search_space={"learning_rate": [1e-3, 2e-3]},
        episodes_per_trial=1,
        base_hyperparameters={"checkpoint_interval": 1},
        **overrides,
    )


def _model_files(run_dir: str) -> list[str]:
    return sorted(p.name for p in Path(run_dir).glob("model_*.pt"))


def test_daf_config_acts_in_trials_run_in_this_process(tmp_path, caplog):
    daf_config = DAFConfig(
        output_dir=tmp_path / "daf",
        max_parallel_jobs=1,
        max_checkpoints_to_keep=5,
        monitor_system_stats=True,
        track_experiments=False,
        verbose=False,
        log_to_file=False,
    )
    config = _two_trial_sweep(tmp_path, max_parallel_jobs=2)
    caplog.set_level(logging.DEBUG)
    result = daf_launch_sweep(config, daf_config)

    # max_parallel_jobs: DAFConfig's limit of 1 wins over the sweep's 2, so the trials ran here.
    assert {t.user_attrs["daf_worker"]["pid"] for t in load_study(config).trials} == {os.getpid()}
    assert not (Path(config.output_dir) / config.name / "logs").exists()
    assert [t.state for t in result.trials] == ["complete", "complete"]
    for trial in result.trials:
        run_dir = Path(trial.run_dir)
        # checkpoint_dir (derived from output_dir): <checkpoint_dir>/<sweep>/trial_NNNN/seedS
        assert run_dir == tmp_path / "daf" / "checkpoints" / "tiny" / f"trial_{trial.trial_id:04d}" / "seed0"
        assert len(_model_files(trial.run_dir)) == 2  # both epochs' checkpoints kept (5 allowed)
        assert (run_dir / "system.jsonl").is_file()  # monitor_system_stats
    # track_experiments=False: neither the training runs nor the sweep are recorded anywhere.
    assert list_experiments(tmp_path / "daf").empty and list_experiments(config.output_dir).empty
    # verbose=False, log_to_file=False: no DEBUG records from DAF, no log file.
    assert not [r for r in caplog.records if r.name.startswith("daf_core") and r.levelno == logging.DEBUG]
    assert any(r.name == "daf_core.sweeps.worker" and r.levelno == logging.INFO for r in caplog.records)
    assert not (tmp_path / "daf" / "logs").exists()
    assert "1 worker(s) = min(sweep max_parallel_jobs 2, DAFConfig.max_parallel_jobs 1, trials left 2)" in (
        caplog.text
    )


def test_daf_config_acts_in_trials_run_in_worker_processes(tmp_path, caplog):
    daf_config = DAFConfig(
        output_dir=tmp_path / "daf",
        checkpoint_dir=tmp_path / "elsewhere",
        max_parallel_jobs=2,
        max_checkpoints_to_keep=1,
        monitor_system_stats=False,
        track_experiments=True,
        verbose=True,
        log_to_file=True,
    )
    config = _two_trial_sweep(tmp_path, max_parallel_jobs=3)
    caplog.set_level(logging.INFO)
    result = daf_launch_sweep(config, daf_config)

    sweep_dir = Path(config.output_dir) / config.name
    assert sorted(p.name for p in (sweep_dir / "logs").iterdir()) == ["worker-0.log", "worker-1.log"]
    pids = {t.user_attrs["daf_worker"]["pid"] for t in load_study(config).trials}
    assert os.getpid() not in pids
    assert [t.state for t in result.trials] == ["complete", "complete"]
    for trial in result.trials:
        run_dir = Path(trial.run_dir)
        assert run_dir == tmp_path / "elsewhere" / "tiny" / f"trial_{trial.trial_id:04d}" / "seed0"
        assert len(_model_files(trial.run_dir)) == 1  # max_checkpoints_to_keep
        assert not (run_dir / "system.jsonl").exists()  # monitor_system_stats=False
    # track_experiments: each trial's training run and the sweep, in DAFConfig.output_dir's log.
    training = list_experiments(tmp_path / "daf", kind="training")
    assert sorted(Path(paths["run_dir"]) for paths in training["paths"]) == sorted(
        Path(t.run_dir) for t in result.trials
    )
    assert list_experiments(tmp_path / "daf", kind="sweep")["name"].tolist() == ["tiny"]
    assert list_experiments(config.output_dir).empty
    # verbose and log_to_file in every worker: each worker's DEBUG lines are in <output_dir>/logs/daf.log.
    log = (tmp_path / "daf" / "logs" / "daf.log").read_text()
    for pid in pids:
        assert f"DEBUG daf_core.sweeps.worker: sweep tiny: worker pid {pid} asks for a trial" in log
    assert SweepResult.load_json(sweep_dir / "results.json").is_finished
    assert "2 worker(s) = min(sweep max_parallel_jobs 3, DAFConfig.max_parallel_jobs 2, trials left 2)" in (
        caplog.text
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_enable_gpu_and_gpu_memory_fraction_act_in_an_auto_device_sweep(tmp_path):
    for enable_gpu, expected in ((True, "training device: cuda:0"), (False, "training device: cpu")):
        out = tmp_path / str(enable_gpu)
        daf_config = DAFConfig(output_dir=out / "daf", enable_gpu=enable_gpu, gpu_memory_fraction=0.5)
        config = sweep_config(
            out, search_space={"learning_rate": [1e-3]}, device="auto", episodes_per_trial=1
        )
        daf_launch_sweep(config, daf_config)
        log = (out / "daf" / "logs" / "daf.log").read_text()
        assert expected in log
        assert ("capped cuda:0 memory at 50%" in log) == enable_gpu
