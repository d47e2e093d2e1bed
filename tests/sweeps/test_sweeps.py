"""Sweeps: search spaces, routing, grid/random/Optuna strategies, resume after a kill, shared PostgreSQL.

Every sweep here trains for real (tiny_walk, 4 environments: 512 agent steps per epoch) and evaluates with
the evaluation engine; each trial takes about a second.
"""

import itertools
import json
import math
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import pandas as pd
import psycopg2
import pytest
import torch
from mettagrid.policy.lstm import LSTMPolicy
from optuna.trial import TrialState
from rich.console import Console
from torch import nn

from daf_core.config import DAFSweepConfig
from daf_core.sweeps import plan_sweep
from daf_core.sweeps import study as sweep_study
from daf_core.sweeps.study import open_storage, reap_dead_trials
from daf_core.tracking import list_experiments
from daf_core.training import read_trainer_state
from daf_core.sweeps import (
    SweepResult,
    SweepTrialResult,
    daf_grid_search,
    daf_launch_sweep,
    daf_random_search,
    daf_sweep_best_config,
    daf_sweep_status,
    run_sweep_worker,
)

REPO = Path(__file__).resolve().parents[2]
POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}

pytestmark = pytest.mark.slow


class TaggedLSTMPolicy(LSTMPolicy):
    """lstm with constructor arguments for a sweep to set.

    ``tag_size`` adds a parameter of that size to the network: the trained checkpoint shows which value
    training got, and evaluation can load it only when it passes the same value. ``explode`` fails,
    ``ctrl_c`` acts as if the user pressed Ctrl-C.
    """

    def __init__(
        self,
        policy_env_info,
        device: str = "cpu",
        tag_size: int = 1,
        explode: bool = False,
        ctrl_c: bool = False,
    ):
        if explode:
            raise RuntimeError("policy constructor exploded on purpose")
        if ctrl_c:
            raise KeyboardInterrupt
        super().__init__(policy_env_info, device=device)
        self._net.register_parameter("tag", nn.Parameter(torch.zeros(tag_size)))


def sweep_config(tmp_path: Path, **overrides) -> DAFSweepConfig:
    settings = {
        "name": "tiny",
        "missions": ["tiny_walk"],
        "search_space": {"learning_rate": [1e-3, 3e-3], "ent_coef": [0.0, 0.05]},
        "strategy": "grid",
        "episodes_per_trial": 2,
        "training_steps": 1024,
        "vector_num_envs": 4,
        "output_dir": tmp_path,
        **overrides,
    }
    return DAFSweepConfig(**settings)


def final_weights(trial: SweepTrialResult) -> dict[str, torch.Tensor]:
    run_dir = Path(trial.run_dir)
    return torch.load(run_dir / read_trainer_state(run_dir)["model_name"], map_location="cpu")


def file_times(run_dir: str) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in Path(run_dir).iterdir() if p.is_file()}


def worker_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def load_study(config: DAFSweepConfig, storage: str | None = None) -> optuna.Study:
    url = storage or f"sqlite:///{Path(config.output_dir) / config.name / 'study.db'}"
    return optuna.load_study(
        study_name=config.name, storage=open_storage(url)
    )  # names psycopg2 for PostgreSQL


# --------------------------------------------------------------------------------------------------
# Search spaces without training
# --------------------------------------------------------------------------------------------------


def test_grid_search_is_the_cartesian_product_with_fixed_values():
    grid = daf_grid_search({"lr": [0.001, 0.01], "batch_size": [32, 64], "gamma": 0.99})
    assert grid == [
        {"lr": 0.001, "batch_size": 32, "gamma": 0.99},
        {"lr": 0.001, "batch_size": 64, "gamma": 0.99},
        {"lr": 0.01, "batch_size": 32, "gamma": 0.99},
        {"lr": 0.01, "batch_size": 64, "gamma": 0.99},
    ]
    with pytest.raises(ValueError, match=r"'lr' is a range.*give a list of values"):
        daf_grid_search({"lr": {"low": 1e-4, "high": 1e-2}, "batch_size": [32]})


def test_random_search_is_reproducible_and_respects_each_kind_of_range():
    space = {
        "lr": {"low": 1e-5, "high": 1e-1, "log": True},
        "clip": {"low": 0.1, "high": 0.3},
        "epochs": {"low": 1, "high": 4, "int": True},
        "units": {"low": 8, "high": 512, "int": True, "log": True},
        "optimizer": ["adam", "sgd"],
        "gamma": 0.99,
    }
    samples = daf_random_search(space, num_samples=400, seed=3)
    assert samples == daf_random_search(space, num_samples=400, seed=3)
    assert samples != daf_random_search(space, num_samples=400, seed=4)
    lrs = [s["lr"] for s in samples]
    assert all(1e-5 <= lr <= 1e-1 for lr in lrs)
    # Log-uniform: about half the draws fall below the geometric mean of the bounds (1e-3).
    assert 0.4 < sum(lr < 1e-3 for lr in lrs) / len(lrs) < 0.6
    assert all(0.1 <= s["clip"] <= 0.3 for s in samples)
    assert {s["epochs"] for s in samples} == {1, 2, 3, 4}
    assert all(isinstance(s["units"], int) and 8 <= s["units"] <= 512 for s in samples)
    assert {s["optimizer"] for s in samples} == {"adam", "sgd"}
    assert {s["gamma"] for s in samples} == {0.99}
    with pytest.raises(ValueError, match="num_samples"):
        daf_random_search(space, num_samples=0)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"low": 0.1, "high": 0.1}, r"'learning_rate'.*low=0.1 must be less than high=0.1"),
        ({"low": 0.0, "high": 0.1, "log": True}, r"'learning_rate'.*log range needs low > 0"),
        ([], r"'learning_rate'.*empty list of choices"),
        ({"low": "small", "high": 0.1}, r"'learning_rate'.*low='small' is not a finite number"),
        ({"low": 1e-4}, r"'learning_rate'.*missing 'low' or 'high'"),
        ({"low": 1e-4, "high": 1e-3, "step": 2}, r"'learning_rate'.*unknown key\(s\) \['step'\]"),
        ({"low": 1.5, "high": 4, "int": True}, r"'learning_rate'.*int range needs whole-number bounds"),
        ([0.1, 0.1], r"'learning_rate'.*0.1 is listed more than once"),
        ([[0.1, 0.2]], r"'learning_rate'.*choices must be numbers"),
    ],
)
def test_malformed_search_spaces_are_rejected_with_the_parameter_named(tmp_path, spec, expected):
    with pytest.raises(ValueError, match=expected):
        sweep_config(tmp_path, search_space={"learning_rate": spec, "ent_coef": [0.0]})


def test_grid_over_a_range_asks_for_values(tmp_path):
    config = sweep_config(tmp_path, search_space={"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}})
    with pytest.raises(ValueError, match=r"'learning_rate' is a range.*give a list of values"):
        daf_launch_sweep(config)
    assert not (tmp_path / "tiny").exists()


@pytest.mark.parametrize(
    ("search_space", "expected"),
    [
        ({"learnin_rate": [1e-3]}, r"'learnin_rate' fits nowhere \(did you mean 'learning_rate'\?\).*PPO"),
        ({"ppo.walls": [1]}, r"'ppo.walls': 'walls' is not a PPO setting"),
        ({"mission.length": [10]}, r"'mission.length': 'length' is not a parameter of every mission"),
        ({"policy.hidden": [8]}, r"'policy.hidden': 'hidden' is not an argument of policy"),
        ({"learning_rate": [-1.0]}, r"'learning_rate': value -1.0 is invalid"),
        ({"update_epochs": {"low": 1, "high": 4}}, r"'update_epochs'.*takes integers.*int: true"),
        ({"gamma": [0.9], "ppo.gamma": [0.99]}, r"'gamma' and 'ppo.gamma' both set ppo.gamma"),
    ],
)
def test_parameters_that_fit_nowhere_are_rejected_before_any_trial(tmp_path, search_space, expected):
    config = sweep_config(tmp_path, search_space=search_space, strategy="random", num_trials=2)
    with pytest.raises(ValueError, match=expected):
        daf_launch_sweep(config)
    assert not (tmp_path / "tiny").exists()


def test_unknown_objective_metric_and_unfit_missions_are_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"objective_metric: 'score'.*mean_reward"):
        plan_sweep(sweep_config(tmp_path, objective_metric="score"))
    with pytest.raises(ValueError, match="same agent count"):
        plan_sweep(sweep_config(tmp_path, missions=["tiny_walk", "explore"]))


def test_names_route_to_trainer_mission_and_policy(tmp_path):
    config = sweep_config(
        tmp_path,
        policy_class_path="tests.sweeps.test_sweeps.TaggedLSTMPolicy",
        search_space={
            "learning_rate": [1e-3],
            "ppo.gamma": [0.9],
            "num_steps": [512],
            "walls": [2],
            "mission.max_steps": [20],
            "tag_size": [2],
            "policy.explode": [False],
        },
        base_hyperparameters={"anneal_lr": False},
    )
    plan = plan_sweep(config)
    routes = {name: (r.destination, r.field) for name, r in plan.routes.items()}
    assert routes == {
        "learning_rate": ("ppo", "learning_rate"),
        "ppo.gamma": ("ppo", "gamma"),
        "num_steps": ("trainer", "num_steps"),
        "walls": ("mission", "walls"),
        "mission.max_steps": ("mission", "max_steps"),
        "tag_size": ("policy", "tag_size"),
        "policy.explode": ("policy", "explode"),
        "anneal_lr": ("ppo", "anneal_lr"),
    }
    assert plan.num_trials == 1


def test_sweep_result_ranks_saves_and_prints(tmp_path):
    result = SweepResult("s", optimize_direction="minimize", num_trials_planned=4)
    for trial_id, value in [(0, 3.0), (1, 1.0), (2, 2.0)]:
        result.add_trial(SweepTrialResult(trial_id, {"x": trial_id}, value, {"loss": value}, success=True))
    result.add_trial(SweepTrialResult(3, {"x": 3}, state="failed", error="boom"))
    result.add_trial(SweepTrialResult(2, {"x": 2}, 0.5, success=True))  # replaces trial 2
    assert [t.trial_id for t in result.top_trials(2)] == [2, 1]
    assert result.get_best_trial().trial_id == 2 and result.get_worst_trial().trial_id == 0
    assert daf_sweep_best_config(result) == {"x": 2}
    path = result.finalize().save_json(tmp_path / "results.json")
    assert SweepResult.load_json(path).to_dict() == result.to_dict()
    status = daf_sweep_status(tmp_path)
    assert status["state"] == "finished" and status["completed"] == 3 and status["failed"] == 1
    console = Console(record=True, width=200)
    result.print_summary(console)
    text = console.export_text()
    assert "boom" in text and "Sweep s" in text
    with pytest.raises(FileNotFoundError):
        daf_sweep_status(tmp_path / "missing")
    with pytest.raises(ValueError, match="no completed trial"):
        daf_sweep_best_config(SweepResult("empty"))


def test_example_configs_load_and_plan():
    paths = sorted((REPO / "configs").glob("sweep_*.yaml"))
    assert len(paths) >= 2
    for path in paths:
        plan = plan_sweep(DAFSweepConfig.from_yaml(path))
        assert plan.num_trials >= 1


# --------------------------------------------------------------------------------------------------
# Sweeps that train
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def grid_sweep(tmp_path_factory):
    config = sweep_config(tmp_path_factory.mktemp("grid"), num_trials=10)
    started = time.monotonic()
    result = daf_launch_sweep(config)
    return config, result, time.monotonic() - started


def test_a_2x2_grid_runs_exactly_4_trials_with_different_weights(grid_sweep):
    config, result, _ = grid_sweep
    assert len(result.trials) == 4 and all(t.state == "complete" and t.success for t in result.trials)
    assert sorted(map(json.dumps, (t.hyperparameters for t in result.trials))) == sorted(
        map(json.dumps, daf_grid_search(config.search_space))
    )
    assert len(load_study(config).trials) == 4
    weights = [final_weights(t) for t in result.trials]
    for a, b in itertools.combinations(weights, 2):
        assert not all(torch.equal(a[k], b[k]) for k in a)
    for trial in result.trials:
        assert (
            math.isfinite(trial.primary_metric) and trial.all_metrics["mean_reward"] == trial.primary_metric
        )
        assert "agent/cell.unique_visited" in trial.all_metrics
        records = pd.read_parquet(Path(trial.run_dir).parents[1] / "evaluation" / "episodes.parquet")
        assert len(records) == config.episodes_per_trial
        assert records["seed"].min() == config.evaluation_seed


def test_a_finished_sweep_reports_status_best_config_and_experiment(grid_sweep):
    config, result, _ = grid_sweep
    status = daf_sweep_status(Path(config.output_dir) / config.name / "results.json")
    assert status["state"] == "finished"
    assert (status["total_trials"], status["completed"], status["failed"], status["running"]) == (4, 4, 0, 0)
    best = max(result.trials, key=lambda t: (t.primary_metric, -t.trial_id))
    assert status["best_trial_id"] == best.trial_id
    assert daf_sweep_best_config(result) == best.hyperparameters
    assert daf_sweep_best_config(Path(config.output_dir) / config.name) == best.hyperparameters
    sweeps = list_experiments(config.output_dir, kind="sweep")
    assert sweeps["name"].tolist()[:1] == [config.name]


def test_rerunning_a_finished_sweep_runs_no_trial(grid_sweep):
    config, result, _ = grid_sweep
    before = {t.trial_id: file_times(t.run_dir) for t in result.trials}
    again = daf_launch_sweep(config)
    assert [t.to_dict() for t in again.trials] == [t.to_dict() for t in result.trials]
    assert {t.trial_id: file_times(t.run_dir) for t in again.trials} == before
    assert len(load_study(config).trials) == 4


def test_a_changed_sweep_config_is_refused_for_an_existing_study(grid_sweep):
    config, _, _ = grid_sweep
    changed = config.model_copy(update={"search_space": {"learning_rate": [1e-3], "ent_coef": [0.0, 0.05]}})
    with pytest.raises(ValueError, match=r"different configuration \(changed: \['search_space'\]\)"):
        daf_launch_sweep(changed)


def test_a_random_sweep_is_reproducible_from_its_seed(tmp_path):
    space = {"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}, "ent_coef": [0.0, 0.02, 0.05]}
    runs = [
        daf_launch_sweep(
            sweep_config(tmp_path / d, search_space=space, strategy="random", num_trials=2, seed=s)
        )
        for d, s in (("a", 7), ("b", 7), ("c", 8))
    ]
    summary = [[(t.hyperparameters, t.primary_metric) for t in run.trials] for run in runs]
    assert summary[0] == summary[1]
    assert [h for h, _ in summary[0]] != [h for h, _ in summary[2]]
    assert len({t.hyperparameters["learning_rate"] for t in runs[0].trials}) == 2


def test_mission_parameters_reach_the_mission_and_a_failing_trial_does_not_stop_the_sweep(tmp_path):
    config = sweep_config(
        tmp_path,
        search_space={"mission.max_steps": [12, 18], "walls": [2, 1000]},
        training_steps=512,
        max_parallel_jobs=2,  # worker processes sharing the SQLite study
    )
    result = daf_launch_sweep(config)
    assert len(result.trials) == 4
    failed = [t for t in result.trials if t.state == "failed"]
    assert {t.hyperparameters["walls"] for t in failed} == {1000}
    assert all("walls=1000" in t.error and not t.success for t in failed)
    complete = [t for t in result.trials if t.state == "complete"]
    assert sorted(t.hyperparameters["mission.max_steps"] for t in complete) == [12, 18]
    for trial in complete:
        trial_dir = Path(trial.run_dir).parents[1]
        records = pd.read_parquet(trial_dir / "evaluation" / "episodes.parquet")
        assert set(records["steps"]) == {trial.hyperparameters["mission.max_steps"]}
        assert set(records["mission"]) == {"tiny_walk"}
        assert len(list((trial_dir / "missions").glob("*.yaml"))) == 1
    assert daf_sweep_status(tmp_path / "tiny")["failed"] == 2


def test_policy_arguments_reach_training_and_evaluation(tmp_path):
    config = sweep_config(
        tmp_path,
        policy_class_path="tests.sweeps.test_sweeps.TaggedLSTMPolicy",
        search_space={"tag_size": [3, 5]},
        training_steps=512,
        training_seeds=[0, 1],
    )
    result = daf_launch_sweep(config)
    assert all(t.state == "complete" for t in result.trials)
    for trial in result.trials:
        assert [Path(d).name for d in trial.run_dirs] == ["seed0", "seed1"]
        for run_dir in trial.run_dirs:
            weights = torch.load(Path(run_dir) / read_trainer_state(Path(run_dir))["model_name"])
            assert weights["tag"].shape == (trial.hyperparameters["tag_size"],)
        # Each seed's policy is evaluated on the same episodes; the objective is the mean over seeds.
        records = pd.read_parquet(Path(trial.run_dir).parents[1] / "evaluation" / "episodes.parquet")
        assert sorted(records["policy"].unique()) == ["seed0", "seed1"]
        per_seed = records.groupby("policy")["reward"].mean()
        assert trial.primary_metric == pytest.approx(per_seed.mean())


def test_a_sweep_where_every_trial_fails_raises_with_every_error(tmp_path):
    config = sweep_config(
        tmp_path,
        policy_class_path="tests.sweeps.test_sweeps.TaggedLSTMPolicy",
        search_space={"learning_rate": [1e-3, 2e-3]},
        base_hyperparameters={"policy.explode": True},
    )
    with pytest.raises(RuntimeError, match="all 2 trials failed") as err:
        daf_launch_sweep(config)
    assert str(err.value).count("exploded on purpose") == 2
    assert "trial 0" in str(err.value) and "trial 1" in str(err.value)
    status = daf_sweep_status(tmp_path / "tiny")
    assert (status["failed"], status["completed"], status["state"]) == (2, 0, "finished")
    assert "exploded on purpose" in (tmp_path / "tiny" / "trials" / "trial_0000" / "error.txt").read_text()


def test_early_stopping_prunes_weak_trials(tmp_path):
    # The reward scale differs 10x between grid points, so the ranking at the first rung is known. With
    # seed 5 the (seeded) grid order starts with the best point, and successive halving with factor 2
    # keeps a later trial at the first rung only if it beats the best half of those before it.
    config = sweep_config(
        tmp_path,
        search_space={"mission.reward_per_cell": [1.0, 0.1, 0.01, 0.001]},
        early_stopping=True,
        early_stopping_chunks=2,
        early_stopping_reduction_factor=2,
        seed=5,
    )
    result = daf_launch_sweep(config)
    pruned = [t for t in result.trials if t.state == "pruned"]
    assert len(result.trials) == 4
    assert sorted(t.hyperparameters["mission.reward_per_cell"] for t in pruned) == [0.001, 0.01, 0.1]
    for trial in pruned:
        assert list(trial.intermediate_values) == [1] and trial.primary_metric == trial.intermediate_values[1]
        state = read_trainer_state(Path(trial.run_dir))
        assert state["agent_step"] < config.training_steps  # stopped after the first chunk
    for trial in result.trials:
        if trial.state == "complete":
            assert read_trainer_state(Path(trial.run_dir))["agent_step"] >= config.training_steps
    assert daf_sweep_status(tmp_path / "tiny")["pruned"] == len(pruned)


def test_a_killed_bayesian_sweep_resumes_without_repeating_finished_trials(tmp_path):
    config = sweep_config(
        tmp_path,
        strategy="bayesian",
        num_trials=3,
        training_steps=4096,
        search_space={"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}, "gamma": [0.9, 0.99]},
    )
    config_path = config.to_yaml(tmp_path / "sweep.yaml")
    results_path = tmp_path / "tiny" / "results.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "daf_core.sweeps", "--config", str(config_path)],
        env=worker_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    running_status = None
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and process.poll() is None:
            if results_path.exists():
                status = daf_sweep_status(results_path)
                if status["completed"] >= 1 and status["running"] == 1:
                    running_status = status
                    break
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert running_status is not None, "the sweep never showed a finished and a running trial"
    assert running_status["state"] == "running" and running_status["remaining"] >= 1

    study = load_study(config)
    killed = [t for t in study.trials if t.state == TrialState.RUNNING]
    assert len(killed) == 1, "the kill did not land inside a trial"
    finished_before = {
        t.trial_id: t for t in SweepResult.load_json(results_path).trials if t.state == "complete"
    }
    times_before = {n: file_times(t.run_dir) for n, t in finished_before.items()}

    result = daf_launch_sweep(config)

    assert [t.state for t in result.trials] == ["complete"] * 3
    by_id = {t.trial_id: t for t in result.trials}
    for number, before in finished_before.items():  # finished trials are kept, not rerun
        assert by_id[number].hyperparameters == before.hyperparameters
        assert by_id[number].primary_metric == before.primary_metric
        assert file_times(by_id[number].run_dir) == times_before[number]
    retry = next(t for t in result.trials if t.retry_of is not None)
    assert retry.retry_of == killed[0].number
    assert retry.hyperparameters == {**killed[0].params}
    assert Path(retry.run_dir).parents[1].name == f"trial_{killed[0].number:04d}"  # resumed in place
    params = [json.dumps(t.hyperparameters, sort_keys=True) for t in result.trials]
    assert len(set(params)) == 3
    states = [t.state for t in load_study(config).trials]
    assert states.count(TrialState.COMPLETE) == 3 and states.count(TrialState.FAIL) == 1


@pytest.fixture
def postgres_url():
    name = f"daf_sweep_test_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(dbname="postgres", **POSTGRES)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://{POSTGRES['user']}@{POSTGRES['host']}:{POSTGRES['port']}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_two_workers_share_a_postgresql_study_without_duplicates(tmp_path, postgres_url):
    config = sweep_config(
        tmp_path,
        strategy="random",
        num_trials=5,
        # Trials of a few seconds each: neither worker can finish all five before the other has started
        # (each needs ~5 s of imports), so both really share the study.
        training_steps=8192,
        storage=postgres_url,
        search_space={"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}, "ent_coef": [0.0, 0.05]},
    )
    config_path = config.to_yaml(tmp_path / "sweep.yaml")
    command = [sys.executable, "-m", "daf_core.sweeps", "--config", str(config_path), "--worker"]
    workers = [
        subprocess.Popen(command, env=worker_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=240)[0].decode(errors="replace") for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]

    trials = load_study(config, postgres_url).trials
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 5
    assert all(t.user_attrs.get("daf_discarded") for t in trials if t.state != TrialState.COMPLETE)
    assert len({json.dumps(t.params, sort_keys=True) for t in complete}) == 5
    assert len({t.number for t in complete}) == 5
    assert len({t.user_attrs["daf_worker"]["pid"] for t in complete}) == 2  # both workers ran trials
    status = daf_sweep_status(tmp_path / "tiny")
    assert (status["state"], status["completed"], status["running"]) == ("finished", 5, 0)


def test_an_interrupted_trial_is_queued_again_with_its_parameters(tmp_path):
    config = sweep_config(
        tmp_path,
        policy_class_path="tests.sweeps.test_sweeps.TaggedLSTMPolicy",
        search_space={"learning_rate": [1e-3, 2e-3]},
        base_hyperparameters={"policy.ctrl_c": True},
    )
    with pytest.raises(KeyboardInterrupt):
        run_sweep_worker(config)
    interrupted, retry = load_study(config).trials
    assert (interrupted.state, retry.state) == (TrialState.FAIL, TrialState.WAITING)
    assert retry.params == interrupted.params and retry.system_attrs["failed_trial"] == interrupted.number
    status = daf_sweep_status(tmp_path / "tiny")
    assert (status["waiting"], status["failed"], status["state"]) == (1, 0, "running")


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_trial_whose_worker_on_another_machine_stops_beating_is_retried(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep_study, "HEARTBEAT_INTERVAL_S", 1)
    monkeypatch.setattr(sweep_study, "GRACE_PERIOD_S", 1)
    plan = plan_sweep(sweep_config(tmp_path))
    study = sweep_study.open_study(plan)
    trial = study.ask(plan.distributions())
    trial.set_user_attr(
        "daf_worker", {"trial": trial.number, "host": "elsewhere/boot", "pid": 1, "started": 0}
    )
    study._storage.record_heartbeat(trial._trial_id)
    assert reap_dead_trials(study) == []  # alive: another machine, heartbeat fresh
    time.sleep(2.5)
    assert reap_dead_trials(study) == [trial.number]
    failed, retry = study.get_trials()
    assert (failed.state, retry.state) == (TrialState.FAIL, TrialState.WAITING)
    assert retry.params == failed.params and retry.system_attrs["grid_id"] == failed.system_attrs["grid_id"]
