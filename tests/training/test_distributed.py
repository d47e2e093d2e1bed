"""How data-parallel ranks start: forked from the launcher on CPU, or fresh interpreters; the same run
either way, and a rank that fails early still takes the run down with an error naming it."""

import os

import pytest
import torch

import daf_core.distributed_training as distributed
from daf_core.config import DAFConfig, DAFTrainingConfig
from daf_core.distributed_training import daf_launch_distributed_training, resolve_num_workers
from daf_core.training.process_group import WorkerContext, check_world_size
from tests.training.small_runs import EPOCH


def launch(tmp_path, run_name: str, steps: int = 4 * EPOCH, **kwargs):
    return daf_launch_distributed_training(
        missions=["tiny_walk"],
        num_steps=steps,
        num_workers=2,
        checkpoint_interval=1,
        run_name=run_name,
        device="cpu",
        daf_config=DAFConfig(output_dir=tmp_path),
        show_progress=False,
        **kwargs,
    )


def final_weights(result) -> dict[str, torch.Tensor]:
    return torch.load(result.final_checkpoint, map_location="cpu")


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_forked_and_fresh_ranks_train_bit_identical_weights_and_resume(tmp_path, monkeypatch):
    # The same seed twice, once forked and once in fresh interpreters: the same weights, bit for bit.
    forked = launch(tmp_path, "forked")
    monkeypatch.setattr(distributed, "_FORK_RANKS", False)
    fresh = launch(tmp_path, "fresh")
    assert same(final_weights(forked), final_weights(fresh))
    for result in (forked, fresh):
        reports = result.worker_reports
        assert [r["rank"] for r in reports] == [0, 1]
        assert reports[0]["weights_sha256"] == reports[1]["weights_sha256"]
        # Each rank's output is in its own log (not in this process's captured output).
        assert '"training_steps"' in (result.run_dir / "workers" / "rank0.log").read_text()
    monkeypatch.setattr(distributed, "_FORK_RANKS", True)
    resumed = launch(tmp_path, "forked", steps=6 * EPOCH)
    assert resumed.resumed_from_step == 4 * EPOCH and resumed.training_steps == 6 * EPOCH
    assert resumed.worker_reports[0]["weights_sha256"] == resumed.worker_reports[1]["weights_sha256"]


def test_a_rank_failing_before_the_rendezvous_stops_the_run_naming_it(tmp_path, monkeypatch):
    def rank_one_fails(arguments):
        if os.environ["RANK"] == "1":
            raise RuntimeError("rank 1 broke during set-up")
        return real(arguments)

    real = distributed._forked_rank
    monkeypatch.setattr(distributed, "_forked_rank", rank_one_fails)  # the forks inherit the patch
    with pytest.raises(RuntimeError, match=r"rank 1 exited with status 1(.|\n)*rank 1 broke during set-up"):
        launch(tmp_path, "early_failure", steps=400 * EPOCH)
    assert not (tmp_path / "checkpoints" / "early_failure" / "metrics.jsonl").exists()


def test_auto_workers_are_the_cores_capped_by_max_parallel_jobs(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    config = DAFTrainingConfig(num_workers="auto", device="cpu")
    assert resolve_num_workers(config, DAFConfig(max_parallel_jobs=8)) == 3
    assert resolve_num_workers(config, DAFConfig(max_parallel_jobs=2)) == 2
    assert resolve_num_workers(config.model_copy(update={"num_workers": 5}), None) == 5
    # Under torchrun (or a plain process), "auto" is however many processes were started.
    check_world_size("auto", WorkerContext(rank=0, world_size=3))
    check_world_size("auto", WorkerContext())


def test_auto_is_the_launch_default_and_one_core_trains_in_this_process(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    result = daf_launch_distributed_training(
        missions=["tiny_walk"],
        num_steps=EPOCH,
        device="cpu",
        daf_config=DAFConfig(output_dir=tmp_path),
        show_progress=False,
    )
    assert result.num_workers == 1 and result.training_steps == EPOCH
