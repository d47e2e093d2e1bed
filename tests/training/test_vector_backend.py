"""Environments stepped by worker processes (``vector_backend="multiprocessing"``): the same run as
"serial", environment for environment and bit for bit; a worker that dies stops training, naming it."""

import itertools
import json
import os
import signal
import threading
import time
from pathlib import Path

import psutil
import pytest
import torch

from daf_core.config import DAFTrainingConfig
from daf_core.distributed_training import daf_get_training_status
from daf_core.missions import load_mission, save_mission
from daf_core.training import default_run_name, train
from daf_core.training import trainer as trainer_module
from daf_core.training.environments import TRAINING_MAP_SEED_BASE, MissionEnvCreator
from daf_core.training.vector_workers import EnvironmentWorkerError
from tests.training.small_runs import small_run

pytestmark = pytest.mark.slow

TWO_WORKERS = {"vector_backend": "multiprocessing", "vector_num_workers": 2}
#: 2 agents x 4 environments x BPTT 64.
SMALL_EPOCH = 512


class RecordingCreator(MissionEnvCreator):
    """Appends one line per environment built (process, PufferLib seed, first map seed, mission) to
    ``record``; worker processes write to the same file."""

    record: Path

    def __call__(self, buf=None, seed=None, **kwargs):
        env = super().__call__(buf=buf, seed=seed, **kwargs)
        cfg = env._current_cfg
        line = {"pid": os.getpid(), "seed": seed, "map_seed": cfg.game.map_builder.seed, "mission": cfg.label}
        with open(self.record, "a") as file:
            file.write(json.dumps(line) + "\n")
        return env


def run(tmp_path: Path, name: str, monkeypatch, **overrides) -> tuple[dict, list[dict]]:
    """Train a small two-mission rotation; its final weights and the environments it built."""
    RecordingCreator.record = tmp_path / f"{name}.jsonl"
    monkeypatch.setattr(trainer_module, "MissionEnvCreator", RecordingCreator)
    explore_for_two = save_mission(load_mission("explore", num_agents=2), tmp_path / "explore2.yaml")
    config = small_run(
        tmp_path,
        missions=["tiny_walk", str(explore_for_two)],
        vector_num_envs=4,
        num_steps=2 * SMALL_EPOCH,
        run_name=name,
        **overrides,
    )
    result = train(config, show_progress=False)
    built = [json.loads(line) for line in RecordingCreator.record.read_text().splitlines()]
    # PufferLib also builds seedless environments that only show it the spaces; they never step.
    return torch.load(result.final_checkpoint), [env for env in built if env["seed"] is not None]


def test_workers_step_the_serial_runs_environments_and_train_the_same_weights(tmp_path, monkeypatch):
    serial_weights, serial_envs = run(tmp_path, "serial", monkeypatch)
    weights, envs = run(tmp_path, "workers", monkeypatch, **TWO_WORKERS)
    weights_again, _ = run(tmp_path, "workers_again", monkeypatch, **TWO_WORKERS)

    # Environment i has the serial run's maps and mission, whichever worker builds it ...
    def by_seed(built):
        return sorted((env["seed"], env["map_seed"], env["mission"]) for env in built)

    assert by_seed(envs) == by_seed(serial_envs)
    # Environment i plays slot i + 1 of the rotation: the maps serial runs drew before workers existed.
    rotation = ["tiny_walk", "explore"]
    assert by_seed(serial_envs) == [
        (i, TRAINING_MAP_SEED_BASE + (i + 1) * 10_000, rotation[(i + 1) % 2]) for i in range(4)
    ]
    assert len({env["map_seed"] for env in envs}) == 4  # no two environments share maps
    # ... in two worker processes, each of which rotates over both missions.
    workers = {pid: {env["mission"] for env in envs if env["pid"] == pid} for pid in {e["pid"] for e in envs}}
    assert len(workers) == 2 and os.getpid() not in workers
    assert all(missions == {"tiny_walk", "explore"} for missions in workers.values())

    # Same batches in the same order, so the same weights, bit for bit, every time.
    for other in (serial_weights, weights_again):
        assert weights.keys() == other.keys() and all(torch.equal(weights[k], other[k]) for k in weights)


class DyingCreator(MissionEnvCreator):
    """Environment 3 (in worker 1 of 2) ends its process after 100 steps."""

    def __call__(self, buf=None, seed=None, **kwargs):
        env = super().__call__(buf=buf, seed=seed, **kwargs)
        if seed == 3:
            step, steps = env.step, itertools.count()

            def step_then_die(actions):
                if next(steps) == 100:
                    os._exit(3)
                return step(actions)

            env.step = step_then_die
        return env


def live_children() -> set[int]:
    """This process's children that still run (other test files' servers included, under xdist)."""
    return {p.pid for p in psutil.Process().children() if p.status() != psutil.STATUS_ZOMBIE}


def test_a_dead_environment_worker_stops_training_with_an_error_naming_it(tmp_path, monkeypatch):
    before = live_children()
    monkeypatch.setattr(trainer_module, "MissionEnvCreator", DyingCreator)
    config = small_run(tmp_path, vector_num_envs=4, num_steps=50 * SMALL_EPOCH, **TWO_WORKERS)
    errors: list[BaseException] = []

    def training() -> None:
        try:
            train(config, show_progress=False)
        except BaseException as err:  # noqa: BLE001 - handed to the test
            errors.append(err)

    thread = threading.Thread(target=training, daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "training hung on a dead environment worker"
    assert errors and isinstance(errors[0], EnvironmentWorkerError)
    assert "environment worker 1 of 2" in str(errors[0]) and "exited with status 3" in str(errors[0])
    # The other worker was stopped too: none is left behind.
    assert live_children() <= before


def test_ctrl_c_leaves_the_workers_stepping_until_the_epoch_is_saved(tmp_path, monkeypatch):
    """Ctrl-C reaches the whole process group; workers that died of it would end the run unsaved."""
    from pufferlib import pufferl

    before = live_children()
    rollout = pufferl.PuffeRL.evaluate

    def ctrl_c_during_the_first_rollout(self):
        if self.epoch == 0:
            for process in self.vecenv.processes:
                os.kill(process.pid, signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)  # a worker that does not ignore it is dead by now
        return rollout(self)

    monkeypatch.setattr(pufferl.PuffeRL, "evaluate", ctrl_c_during_the_first_rollout)
    config = small_run(
        tmp_path, vector_num_envs=4, num_steps=50 * SMALL_EPOCH, run_name="stopped", **TWO_WORKERS
    )
    with pytest.raises(KeyboardInterrupt):
        train(config, show_progress=False)
    assert daf_get_training_status(tmp_path / "checkpoints" / "stopped")["epoch"] == 1
    assert live_children() <= before


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"vector_num_workers": 2}, "vector_num_workers: 2 needs vector_backend='multiprocessing'"),
        (
            {"vector_backend": "multiprocessing", "vector_num_workers": 3},
            r"vector_num_workers: 3 does not divide vector_num_envs \(16\)",
        ),
        ({"vector_backend": "processes"}, "vector_backend.*'processes'"),
        ({"vector_backend": "multiprocessing", "vector_num_workers": 0}, "vector_num_workers"),
    ],
)
def test_vector_settings_that_cannot_do_what_they_say_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        DAFTrainingConfig(**settings)
    config = DAFTrainingConfig(vector_backend="multiprocessing", vector_num_workers=4)
    with pytest.raises(ValueError, match="vector_num_workers: 4 does not divide vector_num_envs"):
        config.vector_num_envs = 6
    assert config.vector_num_envs == 16


def test_a_run_keeps_its_name_and_resumes_whichever_backend_steps_it():
    serial = DAFTrainingConfig(missions=["tiny_walk"], vector_num_envs=4)
    workers = serial.model_copy(update=TWO_WORKERS)
    assert default_run_name(workers) == default_run_name(serial)
