"""DAF's trainer: hyperparameters reach PPO, checkpoints resume, two gloo workers train one policy."""

import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import torch
import yaml
from mettagrid.policy.lstm import LSTMPolicy
from mettagrid.policy.policy_env_interface import PolicyEnvInterface
from mettagrid.util.uri_resolvers.schemes import policy_spec_from_uri

from daf_core.config import DAFConfig, DAFTrainingConfig, configure_logging
from daf_core.distributed_training import (
    DistributedTrainingResult,
    daf_aggregate_training_stats,
    daf_create_training_cluster,
    daf_get_training_status,
    daf_launch_distributed_training,
)
from daf_core.evaluation import evaluate_policies
from daf_core.missions import load_mission, save_mission
from daf_core.tracking import list_experiments
from daf_core.training import TrainingResult, checkpoints, default_run_name, train
from daf_core.training.__main__ import main as training_main
from daf_core.training.run_files import RunFiles
from tests.training.small_runs import EPOCH, small_run


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu")


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def initial_weights(tmp_path_factory) -> Path:
    torch.manual_seed(123)
    path = tmp_path_factory.mktemp("init") / "untrained.pt"
    LSTMPolicy(PolicyEnvInterface.from_mg_cfg(load_mission("tiny_walk"))).save_policy_data(str(path))
    return path


def test_learning_rate_zero_leaves_the_weights_unchanged(tmp_path, initial_weights):
    config = small_run(tmp_path, initial_weights_path=initial_weights, ppo={"learning_rate": 0.0})
    result = train(config, show_progress=False)
    assert result.training_steps == 2 * EPOCH
    assert same_weights(weights(result.final_checkpoint), weights(initial_weights))


def test_learning_rates_change_the_weights_and_seeds_reproduce_them(tmp_path, initial_weights):
    def final(lr: float, name: str) -> dict[str, torch.Tensor]:
        config = small_run(
            tmp_path, initial_weights_path=initial_weights, run_name=name, ppo={"learning_rate": lr}
        )
        return weights(train(config, show_progress=False).final_checkpoint)

    slow, fast, fast_again = final(1e-4, "slow"), final(3e-3, "fast"), final(3e-3, "fast_again")
    assert not same_weights(slow, weights(initial_weights))
    assert not same_weights(slow, fast)
    assert same_weights(fast, fast_again)


def watch_pufferlib_updates(monkeypatch, look) -> list:
    """Call ``look(trainer)`` at each of PufferLib's PPO updates (``PuffeRL.train``); collect its answers."""
    from pufferlib import pufferl

    seen = []
    original = pufferl.PuffeRL.train

    def spy(self):
        seen.append(look(self))
        return original(self)

    monkeypatch.setattr(pufferl.PuffeRL, "train", spy)
    return seen


def test_every_ppo_setting_reaches_pufferlibs_trainer(tmp_path, monkeypatch):
    seen = watch_pufferlib_updates(
        monkeypatch, lambda trainer: (dict(trainer.config), dict(trainer.optimizer.param_groups[0]))
    )
    ppo = {
        "gamma": 0.9,
        "gae_lambda": 0.8,
        "ent_coef": 0.05,
        "clip_coef": 0.3,
        "update_epochs": 2,
        "adam_beta1": 0.9,
        "learning_rate": 0.002,
    }
    train(small_run(tmp_path, num_steps=EPOCH, ppo=ppo), show_progress=False)
    ((settings, optimizer),) = seen
    assert {key: settings[key] for key in ppo} == ppo
    assert optimizer["betas"][0] == 0.9 and optimizer["lr"] == 0.002  # PufferLib's optimizer uses them


def test_an_unknown_hyperparameter_is_rejected_before_training(tmp_path):
    with pytest.raises(ValueError, match="learning_rat.*did you mean 'learning_rate'"):
        daf_launch_distributed_training(missions=["tiny_walk"], hyperparameters={"learning_rat": 0.1})


def test_checkpoints_use_the_cogames_layout_and_load_anywhere(tmp_path):
    result = train(small_run(tmp_path, max_checkpoints_to_keep=1), show_progress=False)
    run_dir = result.run_dir
    assert [p.name for p in run_dir.glob("model_*.pt")] == ["model_000002.pt"]  # pruned to one
    spec = policy_spec_from_uri(str(run_dir))
    assert spec.class_path == "mettagrid.policy.lstm.LSTMPolicy"
    assert Path(spec.data_path).name == "model_000002.pt"
    records = evaluate_policies({"trained": run_dir}, ["tiny_walk"], episodes=2, show_progress=False)
    assert len(records) == 2

    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2]
    assert {"losses/approx_kl", "losses/clipfrac", "losses/explained_variance", "sps"} <= rows[-1].keys()
    assert "env/per_label_rewards/tiny_walk" in rows[-1]

    status = daf_get_training_status(tmp_path / "checkpoints")
    assert status["complete"] and status["global_step"] == 2 * EPOCH and status["epoch"] == 2

    samples = [json.loads(line) for line in (run_dir / "system.jsonl").read_text().splitlines()]
    assert len(samples) >= 2 and samples[-1]["process_rss_mb"] > 50

    # DAFConfig.track_experiments: the run is in the experiments log beside the checkpoints.
    experiments = list_experiments(tmp_path, kind="training")
    assert experiments["name"].tolist() == [run_dir.name]
    assert experiments.iloc[0]["result"]["training_steps"] == 2 * EPOCH


def _start_cli(config_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "daf_core.training", "--config", str(config_path)],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_for(path: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        assert process.poll() is None, process.stdout.read().decode()
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.1)


def test_a_killed_run_resumes_from_its_last_checkpoint(tmp_path):
    config = small_run(tmp_path, num_steps=12 * EPOCH, run_name="killed")
    config_path = config.to_yaml(tmp_path / "run.yaml")
    run_dir = tmp_path / "checkpoints" / "killed"
    process = _start_cli(config_path)
    # Once model 4 is being written, the trainer state already names model 3 (it is written right after it).
    _wait_for(run_dir / "model_000004.pt", process)
    process.send_signal(signal.SIGKILL)
    process.wait()

    result = train(DAFTrainingConfig.from_yaml(config_path), show_progress=False)
    assert result.resumed_from_step >= 3 * EPOCH
    assert result.training_steps == 12 * EPOCH
    assert metric_epochs(run_dir) == list(range(1, 13))


class Crash(Exception):
    """Stands in for a kill at one exact point of an epoch."""


@pytest.mark.parametrize(
    ("point", "crash_epoch", "resumed_epoch"),
    [("checkpoint", 2, 2), ("row", 2, 0), ("row", 3, 2)],
    ids=["right-after-a-checkpoint", "right-after-a-row-before-its-checkpoint", "right-after-a-row-between"],
)
def test_a_run_stopped_at_any_point_resumes_with_each_epoch_once(
    tmp_path, monkeypatch, point, crash_epoch, resumed_epoch
):
    armed = [True]

    def crash_once_after(write, epoch_of):
        def written_then_crash(*args):
            written = write(*args)
            if armed[0] and epoch_of(args) == crash_epoch:
                armed[0] = False
                raise Crash(f"after the {point} of epoch {crash_epoch}")
            return written

        return written_then_crash

    if point == "checkpoint":  # write_checkpoint(run_dir, epoch, ...)
        monkeypatch.setattr(
            checkpoints, "write_checkpoint", crash_once_after(checkpoints.write_checkpoint, lambda a: a[1])
        )
    else:  # RunFiles.append_metrics(self, row)
        monkeypatch.setattr(
            RunFiles, "append_metrics", crash_once_after(RunFiles.append_metrics, lambda a: a[1]["epoch"])
        )
    config = small_run(tmp_path, num_steps=4 * EPOCH, checkpoint_interval=2, run_name="stopped")
    with pytest.raises(Crash):
        train(config, show_progress=False)

    result = train(config, show_progress=False)
    assert result.resumed_from_step == resumed_epoch * EPOCH
    assert result.training_steps == 4 * EPOCH
    assert metric_epochs(result.run_dir) == [1, 2, 3, 4]


def metric_epochs(run_dir: Path) -> list[int]:
    return [json.loads(line)["epoch"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_ctrl_c_stops_cleanly_with_a_nonzero_exit_and_a_checkpoint(tmp_path):
    config = small_run(tmp_path, num_steps=400 * EPOCH, run_name="interrupted", checkpoint_interval=1000)
    process = _start_cli(config.to_yaml(tmp_path / "run.yaml"))
    _wait_for(tmp_path / "checkpoints" / "interrupted" / "metrics.jsonl", process)
    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=60)[0].decode()
    assert process.returncode == 130, output
    assert "rerun the same command to resume" in output
    status = daf_get_training_status(tmp_path / "checkpoints" / "interrupted")
    assert status["epoch"] >= 1 and not status["complete"]


def test_two_gloo_workers_train_one_policy_with_identical_weights(tmp_path):
    result = daf_launch_distributed_training(
        missions=["tiny_walk"],
        num_steps=4 * EPOCH,
        num_workers=2,
        checkpoint_interval=1,
        daf_config=DAFConfig(output_dir=tmp_path),
        show_progress=False,
    )
    # One result type: the run's TrainingResult, plus its workers' reports.
    assert isinstance(result, DistributedTrainingResult) and isinstance(result, TrainingResult)
    assert result.num_workers == 2
    assert result.training_steps == 4 * EPOCH  # 2 epochs on each of 2 workers
    assert result.epochs == 2 and result.training_rate() > 0
    reports = result.worker_reports
    assert [r["rank"] for r in reports] == [0, 1]
    assert reports[0]["weights_sha256"] == reports[1]["weights_sha256"]
    assert result.final_checkpoint == Path(reports[0]["final_checkpoint"])
    assert sorted(p.name for p in result.run_dir.glob("model_*.pt")) == ["model_000001.pt", "model_000002.pt"]
    assert same_weights(weights(result.final_checkpoint), weights(result.run_dir / "model_000002.pt"))


def test_a_dead_worker_takes_the_run_down_with_a_clear_error(tmp_path):
    config_dir = tmp_path / "checkpoints"
    errors: list[BaseException] = []

    def launch() -> None:
        try:
            daf_launch_distributed_training(
                missions=["tiny_walk"],
                num_steps=400 * EPOCH,
                num_workers=2,
                run_name="doomed",
                daf_config=DAFConfig(output_dir=tmp_path, checkpoint_dir=config_dir),
                show_progress=False,
            )
        except BaseException as err:  # noqa: BLE001 - handed to the test thread
            errors.append(err)

    launcher = threading.Thread(target=launch)
    launcher.start()
    metrics = config_dir / "doomed" / "metrics.jsonl"
    deadline = time.time() + 120
    while not metrics.exists() and time.time() < deadline:
        time.sleep(0.2)
    # Rank 1 is a fork of this process (CPU ranks are): its pid is next to its log.
    victim = psutil.Process(int((config_dir / "doomed" / "workers" / "rank1.pid").read_text()))
    assert victim.ppid() == os.getpid()  # forked from this process
    victim.kill()
    launcher.join(timeout=60)
    assert not launcher.is_alive()
    assert errors and isinstance(errors[0], RuntimeError)
    assert "rank 1 exited with status -9" in str(errors[0])


def test_missions_rotate_when_their_agents_match(tmp_path):
    explore_for_two = save_mission(load_mission("explore", num_agents=2), tmp_path / "explore2.yaml")
    result = train(small_run(tmp_path, missions=["tiny_walk", str(explore_for_two)]), show_progress=False)
    last = json.loads((result.run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"env/per_label_rewards/tiny_walk", "env/per_label_rewards/explore"} <= last.keys()

    with pytest.raises(ValueError, match="same agent count"):
        train(small_run(tmp_path, missions=["tiny_walk", "explore"]), show_progress=False)


def test_cluster_description_and_stat_aggregation():
    cluster = daf_create_training_cluster(num_nodes=2, workers_per_node=2, backend="gloo", master_port=29555)
    assert cluster.world_size == 4
    assert cluster.worker_env(1, 1)["RANK"] == "3"
    assert "--nnodes=2" in cluster.torchrun_command(1, "run.yaml")

    stats = [{"sps": 100.0, "loss": 1.0}, {"sps": 300.0}]
    assert daf_aggregate_training_stats(stats, "sum") == {"loss": 1.0, "sps": 400.0}
    assert daf_aggregate_training_stats(stats, "mean")["sps"] == 200.0
    with pytest.raises(ValueError, match="aggregation_method"):
        daf_aggregate_training_stats(stats, "median")


@pytest.mark.skipif(torch.cuda.device_count() >= 2, reason="asserts the refusal on a machine with < 2 GPUs")
def test_an_nccl_cluster_needs_a_gpu_per_worker():
    with pytest.raises(ValueError, match="nccl"):
        daf_create_training_cluster(workers_per_node=2, backend="nccl")


def test_a_run_trained_in_chunks_follows_one_schedule(tmp_path):
    """lr_schedule_steps sizes every schedule PufferLib derives from the run length: the cosine learning
    rate and the prioritised-replay beta anneal (from its total_epochs). The first chunk therefore trains
    exactly as the first epochs of the whole run, weights included, and the second continues its LR."""

    def learning_rates(run_dir: Path) -> list[float]:
        return [
            json.loads(line)["learning_rate"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()
        ]

    whole = train(small_run(tmp_path, num_steps=4 * EPOCH, run_name="whole"), show_progress=False)
    chunked = [
        train(
            small_run(tmp_path, num_steps=steps, lr_schedule_steps=4 * EPOCH, run_name="chunked"),
            show_progress=False,
        )
        for steps in (2 * EPOCH, 4 * EPOCH)  # the second call resumes the first
    ]
    assert same_weights(weights(chunked[0].final_checkpoint), weights(whole.run_dir / "model_000002.pt"))
    assert learning_rates(chunked[1].run_dir) == pytest.approx(learning_rates(whole.run_dir))


def test_num_workers_without_that_many_processes_is_refused(tmp_path, monkeypatch, capsys):
    for variable in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(variable, raising=False)
    config = small_run(tmp_path, num_workers=2)
    with pytest.raises(ValueError, match=r"num_workers: 2.*WORLD_SIZE=unset.*torchrun --nproc-per-node 2"):
        train(config, show_progress=False)
    assert training_main(["--config", str(config.to_yaml(tmp_path / "run.yaml"))]) == 2
    assert "daf_launch_distributed_training(..., num_workers=2)" in capsys.readouterr().err
    assert not (tmp_path / "checkpoints").exists()  # nothing trained


def test_more_workers_than_max_parallel_jobs_are_refused(tmp_path):
    daf_config = DAFConfig(output_dir=tmp_path, max_parallel_jobs=2)
    with pytest.raises(ValueError, match=r"num_workers: 3 exceeds DAFConfig.max_parallel_jobs=2"):
        daf_launch_distributed_training(missions=["tiny_walk"], num_workers=3, daf_config=daf_config)
    with pytest.raises(ValueError, match=r"num_workers: 3 exceeds DAFConfig.max_parallel_jobs=2"):
        train(small_run(tmp_path, num_workers=3), daf_config, show_progress=False)
    assert not (tmp_path / "checkpoints").exists()  # refused before any worker started


def test_a_gpu_the_config_forbids_or_that_workers_cannot_share_is_refused(tmp_path):
    no_gpu = DAFConfig(output_dir=tmp_path, enable_gpu=False)
    with pytest.raises(ValueError, match=r"device: 'cuda'.*enable_gpu is False"):
        train(small_run(tmp_path, device="cuda"), no_gpu, show_progress=False)
    with pytest.raises(ValueError, match=r"device: 'cuda:1' puts all 2 workers on one GPU"):
        daf_launch_distributed_training(
            missions=["tiny_walk"], device="cuda:1", num_workers=2, daf_config=DAFConfig(output_dir=tmp_path)
        )
    assert not (tmp_path / "checkpoints").exists()


GPUS = torch.cuda.device_count() if torch.cuda.is_available() else 0


@pytest.mark.parametrize(
    "device",
    [
        pytest.param("cuda", marks=pytest.mark.skipif(GPUS < 1, reason="needs a CUDA device")),
        pytest.param("cuda:1", marks=pytest.mark.skipif(GPUS < 2, reason="needs two CUDA devices")),
    ],
)
def test_a_gpu_run_keeps_pufferlibs_buffers_and_weights_on_the_chosen_gpu(tmp_path, monkeypatch, device):
    expected = torch.device(device) if ":" in device else torch.device("cuda", torch.cuda.current_device())
    seen = watch_pufferlib_updates(
        monkeypatch,
        lambda trainer: (
            {trainer.observations.device, trainer.values.device, trainer.rewards.device},
            {p.device for p in trainer.policy.parameters()},
            torch.cuda.current_device(),
        ),
    )
    daf_config = DAFConfig(output_dir=tmp_path, gpu_memory_fraction=0.5)
    train(small_run(tmp_path, num_steps=EPOCH, device=device), daf_config, show_progress=False)
    assert seen == [({expected}, {expected}, expected.index)]
    assert torch.cuda.get_per_process_memory_fraction(expected) == 0.5


def test_a_clamped_minibatch_is_announced_and_recorded(tmp_path, monkeypatch, caplog):
    seen = watch_pufferlib_updates(monkeypatch, lambda trainer: trainer.minibatch_size)
    config = small_run(tmp_path, num_steps=EPOCH, ppo={"minibatch_size": 8192})
    with caplog.at_level(logging.WARNING, logger="daf_core.training"):
        first = train(config, show_progress=False)
    assert seen == [2048]  # the minibatch PufferLib trained with: tiny_walk's whole batch
    assert any(
        "ppo.minibatch_size: 8192 requested, 2048 used" in record.getMessage()
        for record in caplog.records
        if record.levelno == logging.WARNING
    )
    saved = yaml.safe_load((first.run_dir / "config.yaml").read_text())
    assert saved["ppo"]["minibatch_size"] == 2048

    again = train(config, show_progress=False)  # the same config as given finds the same run
    from_saved = train(DAFTrainingConfig.from_yaml(first.run_dir / "config.yaml"), show_progress=False)
    assert again.run_dir == from_saved.run_dir == first.run_dir
    assert again.resumed_from_step == from_saved.resumed_from_step == EPOCH
    assert seen == [2048]  # nothing trained again


@pytest.fixture
def daf_logging_reset():
    yield
    configure_logging(DAFConfig(log_to_file=False, verbose=False))


def test_verbose_and_log_to_file_take_effect_in_train(tmp_path, daf_logging_reset):
    quiet = train(
        small_run(tmp_path, num_steps=EPOCH, run_name="quiet"),
        DAFConfig(output_dir=tmp_path / "quiet", log_to_file=False),
        show_progress=False,
    )
    assert not (tmp_path / "quiet" / "logs").exists()

    logged = train(
        small_run(tmp_path, num_steps=EPOCH, run_name="logged"),
        DAFConfig(output_dir=tmp_path / "logged", log_to_file=True),
        show_progress=False,
    )
    log = (tmp_path / "logged" / "logs" / "daf.log").read_text()
    assert f"INFO daf_core.training.trainer: training {logged.run_dir.name}" in log
    assert "finished logged: epoch 1" in log and " DEBUG " not in log

    verbose = DAFConfig(output_dir=tmp_path / "verbose", log_to_file=True, verbose=True)
    train(small_run(tmp_path, num_steps=EPOCH, run_name="verbose"), verbose, show_progress=False)
    log = (tmp_path / "verbose" / "logs" / "daf.log").read_text()
    assert "DEBUG daf_core.training.trainer: epoch 1: 2048 agent steps" in log
    assert quiet.epochs == 1


@pytest.mark.parametrize(
    ("missions", "expected_part"),
    [
        (["cogsguard:tutorial.miner"], "-cogsguard-tutorial.miner-"),
        (["cogsguard:tutorial"], "-cogsguard-tutorial-"),
        (["configs/missions/my.walk.yaml"], "-my.walk-"),
        (["tiny_walk", "game:a/b.c"], "-tiny_walk+game-a-b.c-"),
    ],
)
def test_run_folder_names_are_safe_readable_and_deterministic(missions, expected_part):
    config = DAFTrainingConfig(missions=missions)
    name = default_run_name(config)
    assert expected_part in name
    assert re.fullmatch(r"[A-Za-z0-9._+-]+", name), name  # cogames' policy shorthand refuses ':'
    assert default_run_name(DAFTrainingConfig(missions=missions)) == name


def test_run_folder_names_keep_look_alike_missions_apart():
    names = {default_run_name(DAFTrainingConfig(missions=[m])) for m in ("game:a.b", "game-a.b", "game:a")}
    assert len(names) == 3
