"""Sweeps without training: search spaces, routing, the checks made before any trial, the sampler's draws,
results files."""

import json
import logging
import math
import threading
import time

import optuna
import pytest
from rich.console import Console
from scipy import stats

from daf_core.config import DAFConfig, DAFSweepConfig
from daf_core.sweeps import (
    SweepResult,
    SweepTrialResult,
    daf_grid_search,
    daf_launch_sweep,
    daf_random_search,
    daf_sweep_best_config,
    daf_sweep_status,
    plan_sweep,
)
from daf_core.sweeps.logical import ATTR_DISCARDED
from daf_core.sweeps.plan import claim_checkpoint_root
from daf_core.sweeps.sampler import SweepSampler
from daf_core.sweeps.study import discard_reason, open_study
from tests.fixtures.games import installed_test_game
from tests.sweeps.helpers import REPO, TAGGED_POLICY, sweep_config

# --------------------------------------------------------------------------------------------------
# Search spaces
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
        ({"low": "small", "high": 0.1}, r"'learning_rate'.*low='small' is not a (finite )?number"),
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


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"heartbeat_interval_s": 0}, r"'heartbeat_interval_s': 0"),
        ({"heartbeat_grace_period_s": 0}, r"'heartbeat_grace_period_s': 0"),
        (
            {"heartbeat_interval_s": 10, "heartbeat_grace_period_s": 10},
            r"heartbeat_grace_period_s: 10 must be longer than heartbeat_interval_s \(10\)",
        ),
        ({"max_retries": -1}, r"'max_retries': -1"),
        ({"max_retries": True}, r"'max_retries': True"),
    ],
)
def test_liveness_settings_are_validated(tmp_path, settings, expected):
    with pytest.raises(ValueError, match=expected):
        sweep_config(tmp_path, **settings)


# --------------------------------------------------------------------------------------------------
# The plan: routing and every check before the first trial
# --------------------------------------------------------------------------------------------------


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
    config = sweep_config(tmp_path, search_space=search_space, strategy="random", num_trials=1)
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
        policy_class_path=TAGGED_POLICY,
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


def test_cogs_and_variants_of_an_installed_games_mission_route_to_the_mission(tmp_path):
    """A game mission takes cogames' --cogs and -v, so a sweep may vary them like a built-in's fields."""
    with installed_test_game():
        config = sweep_config(
            tmp_path,
            missions=["cogsguard:tutorial"],
            search_space={"cogs": [2, 3], "mission.variants": ["miner", "scout"]},
        )
        routes = {name: (r.destination, r.field) for name, r in plan_sweep(config).routes.items()}
    assert routes == {"cogs": ("mission", "cogs"), "mission.variants": ("mission", "variants")}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        # The case: DAF's defaults (16 environments) with tiny_walk's 2 agents and lstm's horizon.
        (
            {"search_space": {"minibatch_size": [4096, 8192]}, "vector_num_envs": 16},
            r"'minibatch_size': minibatch_size values \[4096, 8192\] all train with minibatch 2048: the "
            r"batch is 2 agents x 16 environments x BPTT horizon 64 = 2048",
        ),
        (
            {"search_space": {"minibatch_size": [256, 512, 1024]}},
            r"values \[512, 1024\] all train with minibatch 512: the batch is 2 agents x 4 environments x "
            r"BPTT horizon 64 = 512",
        ),
        (
            {
                "search_space": {"minibatch_size": {"low": 1024, "high": 8192, "int": True}},
                "strategy": "random",
                "num_trials": 2,
            },
            r"every minibatch_size in \{low: 1024, high: 8192\} trains with minibatch 512",
        ),
        (  # a minibatch is rounded down to a multiple of the horizon
            {"search_space": {"minibatch_size": [128, 192]}, "base_hyperparameters": {"bptt_horizon": 128}},
            r"values \[128, 192\] all train with minibatch 128: the batch is 2 agents x 4 environments x "
            r"BPTT horizon 128 = 1024",
        ),
        (  # the agent count comes from the mission parameters when they set it
            {"search_space": {"minibatch_size": [256, 512]}, "base_hyperparameters": {"num_cogs": 1}},
            r"values \[256, 512\] all train with minibatch 256: the batch is 1 agents x 4 environments",
        ),
    ],
)
def test_minibatch_sizes_that_train_alike_are_refused_naming_values_and_batch(tmp_path, overrides, expected):
    with pytest.raises(ValueError, match=expected):
        plan_sweep(sweep_config(tmp_path, **overrides))


def test_minibatch_sizes_that_stay_distinct_are_accepted_and_partial_collapse_is_a_warning(tmp_path, caplog):
    plan_sweep(sweep_config(tmp_path, search_space={"minibatch_size": [256, 512]}))
    with caplog.at_level(logging.WARNING, logger="daf_core.sweeps.batch"):
        plan_sweep(
            sweep_config(tmp_path, search_space={"minibatch_size": [1024, 2048], "vector_num_envs": [4, 16]})
        )
    assert "in some trials" in caplog.text and "2 agents x 4 environments" in caplog.text


def test_a_random_search_space_smaller_than_num_trials_is_refused(tmp_path):
    space = {"ent_coef": [0.0, 0.05], "update_epochs": {"low": 1, "high": 2, "int": True}}
    assert plan_sweep(sweep_config(tmp_path, search_space=space, strategy="random", num_trials=4))
    for strategy in ("random", "bayesian"):
        with pytest.raises(ValueError, match=r"num_trials: 5 trials need 5 distinct parameter sets, but"):
            plan_sweep(sweep_config(tmp_path, search_space=space, strategy=strategy, num_trials=5))


def test_a_gpu_device_is_refused_when_the_daf_config_disables_gpus(tmp_path):
    with pytest.raises(ValueError, match=r"device: 'cuda' asks for a GPU but DAFConfig.enable_gpu is False"):
        plan_sweep(sweep_config(tmp_path, device="cuda"), DAFConfig(enable_gpu=False))


def test_a_checkpoint_dir_holding_another_sweeps_checkpoints_is_refused(tmp_path):
    daf_config = DAFConfig(output_dir=tmp_path / "daf", checkpoint_dir=tmp_path / "shared_checkpoints")
    first = plan_sweep(sweep_config(tmp_path / "first"), daf_config)
    claim_checkpoint_root(first)
    claim_checkpoint_root(first)  # the same sweep again (a rerun, another worker): fine
    second = sweep_config(tmp_path / "second")  # same name, another study
    with pytest.raises(ValueError, match=r"checkpoint_dir: .*shared_checkpoints/tiny holds the checkpoints"):
        daf_launch_sweep(second, daf_config)
    assert not (tmp_path / "second" / "tiny" / "trials").exists()


def test_example_configs_load_and_plan():
    paths = sorted((REPO / "configs").glob("sweep_*.yaml"))
    assert len(paths) >= 2
    for path in paths:
        plan = plan_sweep(DAFSweepConfig.from_yaml(path))
        assert plan.num_trials >= 1


# --------------------------------------------------------------------------------------------------
# The sampler: each draw from the sweep seed and the trial's logical index
# --------------------------------------------------------------------------------------------------


def _in_memory_study(plan) -> optuna.Study:
    return optuna.create_study(sampler=SweepSampler(plan), direction=plan.config.optimize_direction)


def _draw(trial: optuna.Trial, distributions) -> None:
    """Suggest every parameter of a trial created earlier, through Optuna's public suggest API."""
    for name, d in distributions.items():
        if isinstance(d, optuna.distributions.CategoricalDistribution):
            trial.suggest_categorical(name, d.choices)
        elif isinstance(d, optuna.distributions.IntDistribution):
            trial.suggest_int(name, d.low, d.high, log=d.log)
        else:
            trial.suggest_float(name, d.low, d.high, log=d.log)


def test_random_draws_follow_the_search_space_distributions(tmp_path):
    space = {
        "learning_rate": {"low": 1e-4, "high": 1e-2, "log": True},
        "update_epochs": {"low": 1, "high": 4, "int": True},
        "ent_coef": [0.0, 0.01, 0.05],
    }
    plan = plan_sweep(sweep_config(tmp_path, search_space=space, strategy="random", num_trials=600))
    study = _in_memory_study(plan)
    draws = []
    for _ in range(600):
        trial = study.ask(plan.distributions())
        study.tell(trial, 0.0)
        draws.append(trial.params)
    # Each trial's sampler is seeded afresh, yet together the draws are the stated distributions:
    # log-uniform learning rates, uniform integers and choices (tests at the 0.1% level).
    exponents = [math.log10(d["learning_rate"]) for d in draws]
    assert stats.kstest(exponents, "uniform", args=(-4, 2)).pvalue > 1e-3
    for name, values in (("update_epochs", [1, 2, 3, 4]), ("ent_coef", [0.0, 0.01, 0.05])):
        counts = [sum(d[name] == v for d in draws) for v in values]
        assert stats.chisquare(counts).pvalue > 1e-3
    assert len({json.dumps(d, sort_keys=True) for d in draws}) == 600


@pytest.mark.parametrize("strategy", ["random", "bayesian", "grid"])
def test_trials_created_together_draw_what_one_after_another_draw(tmp_path, strategy):
    space = (
        {"learning_rate": [1e-3, 2e-3, 3e-3], "ent_coef": [0.0, 0.05]}
        if strategy == "grid"
        else {"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}, "ent_coef": [0.0, 0.05]}
    )
    plan = plan_sweep(sweep_config(tmp_path, search_space=space, strategy=strategy, num_trials=3))
    one_by_one = _in_memory_study(plan)
    sequential = [one_by_one.ask(plan.distributions()).params for _ in range(3)]
    together = _in_memory_study(plan)
    trials = [together.ask() for _ in range(3)]  # all created before any draws (as by three workers)
    for trial in reversed(trials):  # and the last created draws first
        _draw(trial, plan.distributions())
    assert [t.params for t in trials] == sequential
    assert len({json.dumps(p, sort_keys=True) for p in sequential}) == 3


def _two_trials_drawing_the_same_values(tmp_path):
    """Two trials created together over a two-point space, the later one drawing first: with some seed
    both draws are equal, which neither sampler call can see (the other has not drawn yet)."""
    for seed in range(50):
        config = sweep_config(
            tmp_path / str(seed),
            search_space={"ent_coef": [0.0, 0.05]},
            strategy="random",
            num_trials=2,
            seed=seed,
            heartbeat_interval_s=1,
            heartbeat_grace_period_s=5,
        )
        sweep = open_study(plan_sweep(config))
        distributions = sweep.plan.distributions()
        first, second = sweep.study.ask(), sweep.study.ask(distributions)
        probe = optuna.create_study(sampler=SweepSampler(sweep.plan)).ask(distributions).params
        if probe == second.params:
            return sweep, first, second, distributions
    raise AssertionError("no seed made the two draws equal")


def test_the_later_of_two_trials_that_drew_the_same_values_is_discarded_and_drawn_again(tmp_path):
    sweep, first, second, distributions = _two_trials_drawing_the_same_values(tmp_path)
    _draw(first, distributions)
    assert first.params == second.params
    assert discard_reason(sweep, first.number) is None
    assert discard_reason(sweep, second.number) == "duplicate"
    second.set_user_attr(ATTR_DISCARDED, "duplicate")
    sweep.study.tell(second, state=optuna.trial.TrialState.FAIL)
    third = sweep.study.ask(distributions)  # same logical index as the discarded one, drawn again
    assert third.params != first.params and discard_reason(sweep, third.number) is None


def test_the_duplicate_check_waits_for_an_earlier_trial_still_drawing(tmp_path):
    sweep, first, second, distributions = _two_trials_drawing_the_same_values(tmp_path)

    def draw_later():
        time.sleep(1.0)
        _draw(first, distributions)

    drawer = threading.Thread(target=draw_later)
    started = time.monotonic()
    drawer.start()
    assert discard_reason(sweep, second.number) == "duplicate"  # decided on the earlier trial's values
    assert time.monotonic() - started >= 1.0
    drawer.join()


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------


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
    assert status["finished_trials"] == 4 and status["remaining"] == 0
    console = Console(record=True, width=200)
    result.print_summary(console)
    text = console.export_text()
    assert "boom" in text and "Sweep s" in text
    with pytest.raises(FileNotFoundError):
        daf_sweep_status(tmp_path / "missing")
    with pytest.raises(ValueError, match="no completed trial"):
        daf_sweep_best_config(SweepResult("empty"))
