"""Sweeps that train: grid, random and Bayesian sweeps end to end, routing to every destination, failing,
pruned and interrupted trials.

Every sweep here trains for real (tiny_walk, 4 environments: 512 agent steps per epoch) and evaluates with
the evaluation engine; each trial takes about a second.
"""

import itertools
import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch
from optuna.trial import TrialState

from daf_core._internal.threads import limit_threads
from daf_core.config import DAFConfig, DAFTrainingConfig, PPOConfig
from daf_core.sweeps import (
    daf_grid_search,
    daf_launch_sweep,
    daf_sweep_best_config,
    daf_sweep_status,
    run_sweep_worker,
)
from daf_core.tracking import list_experiments
from daf_core.training import read_trainer_state, train
from tests.sweeps.helpers import TAGGED_POLICY, file_times, final_weights, load_study, sweep_config, trial_dir

pytestmark = pytest.mark.slow


# --------------------------------------------------------------------------------------------------
# Sweeps that train
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def grid_sweep(tmp_path_factory):
    config = sweep_config(tmp_path_factory.mktemp("grid"), num_trials=10)
    return config, daf_launch_sweep(config)


def test_a_2x2_grid_runs_exactly_4_trials_with_different_weights(grid_sweep):
    config, result = grid_sweep
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
        records = pd.read_parquet(trial_dir(config, trial) / "evaluation" / "episodes.parquet")
        assert len(records) == config.episodes_per_trial
        assert records["seed"].min() == config.evaluation_seed


def test_a_finished_sweep_reports_status_best_config_and_experiment(grid_sweep):
    config, result = grid_sweep
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
    config, result = grid_sweep
    before = {t.trial_id: file_times(t.run_dir) for t in result.trials}
    again = daf_launch_sweep(config)
    assert [t.to_dict() for t in again.trials] == [t.to_dict() for t in result.trials]
    assert {t.trial_id: file_times(t.run_dir) for t in again.trials} == before
    assert len(load_study(config).trials) == 4


def test_a_changed_sweep_config_is_refused_for_an_existing_study(grid_sweep):
    config, _ = grid_sweep
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
        records = pd.read_parquet(trial_dir(config, trial) / "evaluation" / "episodes.parquet")
        assert set(records["steps"]) == {trial.hyperparameters["mission.max_steps"]}
        assert set(records["mission"]) == {"tiny_walk"}
        assert len(list((trial_dir(config, trial) / "missions").glob("*.yaml"))) == 1
    assert daf_sweep_status(tmp_path / "tiny")["failed"] == 2


def test_policy_arguments_reach_training_and_evaluation(tmp_path):
    config = sweep_config(
        tmp_path,
        policy_class_path=TAGGED_POLICY,
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
        records = pd.read_parquet(trial_dir(config, trial) / "evaluation" / "episodes.parquet")
        assert sorted(records["policy"].unique()) == ["seed0", "seed1"]
        per_seed = records.groupby("policy")["reward"].mean()
        assert trial.primary_metric == pytest.approx(per_seed.mean())


def test_a_sweep_where_every_trial_fails_raises_with_every_error(tmp_path):
    config = sweep_config(
        tmp_path,
        policy_class_path=TAGGED_POLICY,
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


def test_an_interrupted_trial_is_queued_again_with_its_parameters(tmp_path):
    config = sweep_config(
        tmp_path,
        policy_class_path=TAGGED_POLICY,
        search_space={"learning_rate": [1e-3, 2e-3]},
        base_hyperparameters={"policy.ctrl_c": True},
    )
    with pytest.raises(KeyboardInterrupt):
        run_sweep_worker(config)
    interrupted, retry = load_study(config).trials
    assert (interrupted.state, retry.state) == (TrialState.FAIL, TrialState.WAITING)
    assert retry.params == interrupted.params and retry.system_attrs["failed_trial"] == interrupted.number
    assert retry.state == TrialState.WAITING
    status = daf_sweep_status(tmp_path / "tiny")
    assert (status["waiting"], status["failed"], status["state"]) == (1, 0, "running")


def test_minibatch_sizes_the_plan_calls_alike_do_train_alike(tmp_path):
    # What plan_sweep's minibatch check refuses is really one run: 1024 and 2048 both train tiny_walk
    # (batch 2 agents x 4 environments x horizon 64 = 512) with minibatch 512, and 256 does not.
    daf_config = DAFConfig(
        output_dir=tmp_path, monitor_system_stats=False, track_experiments=False, log_to_file=False
    )
    weights = {}
    restore_threads = limit_threads(1)  # as in a sweep's trials: two torch threads crawl on a busy machine
    try:
        for minibatch in (256, 1024, 2048):
            run = DAFTrainingConfig(
                missions=["tiny_walk"],
                num_steps=1024,
                vector_num_envs=4,
                device="cpu",
                checkpoint_dir=tmp_path,
                run_name=f"minibatch{minibatch}",
                ppo=PPOConfig(minibatch_size=minibatch),
            )
            result = train(run, daf_config, show_progress=False)
            weights[minibatch] = torch.load(result.final_checkpoint, map_location="cpu")
    finally:
        restore_threads()
    assert all(torch.equal(weights[1024][k], weights[2048][k]) for k in weights[1024])
    assert not all(torch.equal(weights[256][k], weights[1024][k]) for k in weights[256])
