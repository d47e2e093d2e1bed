"""DAF's trainer: hyperparameters reach PPO, checkpoints resume, two gloo workers train one policy."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import torch
from mettagrid.policy.lstm import LSTMPolicy
from mettagrid.policy.policy_env_interface import PolicyEnvInterface
from mettagrid.util.uri_resolvers.schemes import policy_spec_from_uri

from daf_core.config import DAFConfig, DAFTrainingConfig
from daf_core.distributed_training import (
    daf_aggregate_training_stats,
    daf_create_training_cluster,
    daf_get_training_status,
    daf_launch_distributed_training,
)
from daf_core.evaluation import evaluate_policies
from daf_core.tracking import list_experiments
from daf_core.missions import load_mission, save_mission
from daf_core.training import train

# tiny_walk: 2 agents x 16 environments x BPTT 64 = 2048 agent steps per epoch.
EPOCH = 2048


def small_run(tmp_path: Path, **overrides) -> DAFTrainingConfig:
    settings = {
        "missions": ["tiny_walk"],
        "num_steps": 2 * EPOCH,
        "checkpoint_dir": tmp_path / "checkpoints",
        "checkpoint_interval": 1,
        "device": "cpu",
        **overrides,
    }
    return DAFTrainingConfig(**settings)


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


def test_every_ppo_setting_reaches_pufferlibs_trainer(tmp_path, monkeypatch):
    import daf_core.training as training

    seen = {}
    original = training.DAFTrainer.__init__

    def spy(self, settings, *args, **kwargs):
        seen.update(settings)
        original(self, settings, *args, **kwargs)

    monkeypatch.setattr(training.DAFTrainer, "__init__", spy)
    ppo = {
        "gamma": 0.9,
        "gae_lambda": 0.8,
        "ent_coef": 0.05,
        "clip_coef": 0.3,
        "update_epochs": 2,
        "adam_beta1": 0.9,
    }
    train(small_run(tmp_path, num_steps=EPOCH, ppo=ppo), show_progress=False)
    assert {key: seen[key] for key in ppo} == ppo


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
    config = small_run(tmp_path, num_steps=40 * EPOCH, run_name="killed")
    config_path = config.to_yaml(tmp_path / "run.yaml")
    run_dir = tmp_path / "checkpoints" / "killed"
    process = _start_cli(config_path)
    # Once model 4 is being written, the trainer state already names model 3 (it is written right after it).
    _wait_for(run_dir / "model_000004.pt", process)
    process.send_signal(signal.SIGKILL)
    process.wait()

    result = train(DAFTrainingConfig.from_yaml(config_path), show_progress=False)
    assert result.resumed_from_step >= 3 * EPOCH
    assert result.training_steps == 40 * EPOCH
    epochs = [json.loads(line)["epoch"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert epochs[-1] == 40
    assert set(range(1, 41)) <= set(epochs)  # nothing missing; epochs after the checkpoint may repeat


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
    assert result.num_workers == 2
    assert result.training_steps == 4 * EPOCH  # 2 epochs on each of 2 workers
    reports = result.worker_reports
    assert [r["rank"] for r in reports] == [0, 1]
    assert reports[0]["weights_sha256"] == reports[1]["weights_sha256"]
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
    victims = [
        p
        for p in psutil.process_iter(["cmdline", "environ"])
        if "daf_core.training" in " ".join(p.info["cmdline"] or [])
        and (p.info["environ"] or {}).get("RANK") == "1"
    ]
    assert victims, "rank 1 not found"
    victims[0].kill()
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
    with pytest.raises(ValueError, match="nccl"):
        daf_create_training_cluster(workers_per_node=2, backend="nccl")

    stats = [{"sps": 100.0, "loss": 1.0}, {"sps": 300.0}]
    assert daf_aggregate_training_stats(stats, "sum") == {"loss": 1.0, "sps": 400.0}
    assert daf_aggregate_training_stats(stats, "mean")["sps"] == 200.0
    with pytest.raises(ValueError, match="aggregation_method"):
        daf_aggregate_training_stats(stats, "median")


def test_a_run_trained_in_chunks_follows_one_learning_rate_schedule(tmp_path):
    def learning_rates(run_dir: Path) -> list[float]:
        return [
            json.loads(line)["learning_rate"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()
        ]

    whole = train(small_run(tmp_path, num_steps=4 * EPOCH, run_name="whole"), show_progress=False)
    for steps in (2 * EPOCH, 4 * EPOCH):  # the second call resumes the first
        chunked = train(
            small_run(tmp_path, num_steps=steps, lr_schedule_steps=4 * EPOCH, run_name="chunked"),
            show_progress=False,
        )
    assert learning_rates(chunked.run_dir) == pytest.approx(learning_rates(whole.run_dir))
