"""The evaluation engine: real mettagrid episodes, common random numbers, parallel workers, resume."""

import json

import pandas as pd
import pytest
from mettagrid.policy.lstm import LSTMPolicy
from mettagrid.policy.policy import PolicySpec
from mettagrid.policy.policy_env_interface import PolicyEnvInterface
from mettagrid.policy.submission import SubmissionPolicySpec, write_submission_policy_spec

from daf_core.evaluation import (
    EvaluationError,
    evaluate_policies,
    load_records,
    resolve_policy,
)
from daf_core.missions import load_mission

# Wall time is the only column allowed to differ between two runs of the same episodes.
TIMING = ["wall_time_s"]


@pytest.fixture(scope="module")
def serial_records():
    return evaluate_policies(
        ["random", "noop"], ["tiny_walk", "explore"], episodes=4, seed=7, show_progress=False
    )


def test_records_are_tidy_one_row_per_episode(serial_records):
    assert len(serial_records) == 2 * 2 * 4
    row = serial_records.iloc[0]
    assert {
        "policy",
        "mission",
        "episode",
        "seed",
        "reward",
        "agent_rewards",
        "steps",
        "action_timeouts",
    } <= set(serial_records.columns)
    assert row["reward"] == pytest.approx(sum(row["agent_rewards"]))
    assert "agent/cell.unique_visited" in serial_records.columns
    assert "game/objects.wall" in serial_records.columns
    # The reward is the environment's: 0.01 per distinct cell, and noop never leaves its spawn cell.
    noop = serial_records[serial_records.policy == "noop"]
    assert noop["reward"].to_numpy() == pytest.approx(noop["num_agents"].to_numpy() * 0.01)
    assert (noop["agent/cell.unique_visited"] == 1.0).all()


def test_every_policy_sees_the_same_seeds(serial_records):
    seeds = serial_records.groupby(["policy", "mission"])["seed"].apply(tuple)
    assert set(seeds) == {(7, 8, 9, 10)}


def test_random_policy_is_reproducible_from_the_seed(serial_records):
    again = evaluate_policies(["random"], ["tiny_walk"], episodes=4, seed=7, show_progress=False)
    first = serial_records[(serial_records.policy == "random") & (serial_records.mission == "tiny_walk")]
    assert again["reward"].tolist() == first["reward"].tolist()


def test_parallel_workers_give_identical_records(serial_records):
    parallel = evaluate_policies(
        ["random", "noop"],
        ["tiny_walk", "explore"],
        episodes=4,
        seed=7,
        max_parallel_jobs=2,
        show_progress=False,
    )
    columns = [c for c in serial_records.columns if c not in TIMING]
    pd.testing.assert_frame_equal(serial_records[columns], parallel[columns])


def test_batched_network_rollout_matches_mettagrids_per_agent_loop():
    # Same maps, same observations, same actions: every recorded number agrees except timing.
    policy = {"greedy_net": "class=tests.policies.DeterministicNetworkPolicy"}
    batched = evaluate_policies(policy, ["explore"], episodes=3, seed=4, show_progress=False)
    looped = evaluate_policies(
        policy, ["explore"], episodes=3, seed=4, show_progress=False, batch_networks=False
    )
    columns = [c for c in looped.columns if c not in TIMING]
    pd.testing.assert_frame_equal(batched[columns], looped[columns])
    assert batched["reward"].nunique() > 1  # the maps, hence the scores, differ between seeds


def test_lstm_batched_and_per_agent_scores_agree_statistically():
    batched = evaluate_policies(["lstm"], ["tiny_walk"], episodes=16, seed=0, show_progress=False)
    looped = evaluate_policies(
        ["lstm"], ["tiny_walk"], episodes=16, seed=0, show_progress=False, batch_networks=False
    )
    from scipy.stats import ttest_ind

    assert ttest_ind(batched["reward"], looped["reward"], equal_var=False).pvalue > 0.001


def test_records_are_saved_and_a_rerun_reuses_them(tmp_path):
    first = evaluate_policies(
        ["noop"], ["tiny_walk"], episodes=3, seed=0, output_dir=tmp_path, show_progress=False
    )
    assert (tmp_path / "episodes.parquet").exists() and (tmp_path / "episodes.csv").exists()
    assert json.loads((tmp_path / "evaluation.json").read_text())["episodes"] == 3
    pd.testing.assert_frame_equal(
        load_records(tmp_path / "episodes.csv"), load_records(tmp_path / "episodes.parquet")
    )

    # A larger rerun keeps the three recorded episodes (same wall times) and runs only the new two.
    second = evaluate_policies(
        ["noop"], ["tiny_walk"], episodes=5, seed=0, output_dir=tmp_path, show_progress=False
    )
    assert second["seed"].tolist() == [0, 1, 2, 3, 4]
    assert second["wall_time_s"].iloc[:3].tolist() == first["wall_time_s"].tolist()

    # A shorter rerun returns what it asks for and keeps the later episodes on disk for the next one.
    third = evaluate_policies(
        ["noop"], ["tiny_walk"], episodes=2, seed=0, output_dir=tmp_path, show_progress=False
    )
    assert third["seed"].tolist() == [0, 1]
    assert load_records(tmp_path / "episodes.parquet")["seed"].tolist() == [0, 1, 2, 3, 4]


def test_a_failing_policy_names_policy_mission_and_seed_and_keeps_finished_episodes(tmp_path):
    policies = {"good": "noop", "bad": "class=tests.policies.FailsOnSecondEpisodePolicy"}
    with pytest.raises(EvaluationError) as err:
        evaluate_policies(
            policies, ["tiny_walk"], episodes=3, seed=5, output_dir=tmp_path, show_progress=False
        )
    message = str(err.value)
    assert "policy 'bad' on mission 'tiny_walk', seed 6" in message
    assert "policy exploded on purpose" in message
    kept = err.value.records
    assert sorted(kept[kept.policy == "good"]["seed"]) == [5, 6, 7]
    assert kept[kept.policy == "bad"]["seed"].tolist() == [5]
    assert len(load_records(tmp_path / "episodes.parquet")) == 4


def test_a_dead_worker_process_is_reported_not_hung():
    policies = {"good": "noop", "dies": "class=tests.policies.KillsWorkerPolicy"}
    with pytest.raises(EvaluationError) as err:
        evaluate_policies(
            policies, ["tiny_walk"], episodes=2, seed=0, max_parallel_jobs=2, show_progress=False
        )
    assert "worker process died" in str(err.value)


def test_policies_resolve_from_shorthands_specs_and_checkpoints(tmp_path):
    assert resolve_policy("random").spec.class_path.endswith("RandomMultiAgentPolicy")
    assert resolve_policy(PolicySpec(class_path="noop"), name="idle").name == "idle"

    # A checkpoint directory in cogames' layout: weights plus policy_spec.json.
    env_cfg = load_mission("tiny_walk")
    interface = PolicyEnvInterface.from_mg_cfg(env_cfg)
    LSTMPolicy(interface).save_policy_data(str(tmp_path / "model_000001.pt"))
    write_submission_policy_spec(
        tmp_path / "policy_spec.json",
        SubmissionPolicySpec(
            class_path="mettagrid.policy.lstm.LSTMPolicy",
            data_path="model_000001.pt",
            policy_env_interface=interface,
        ),
    )
    from_dir = resolve_policy(tmp_path)
    from_file = resolve_policy(tmp_path / "model_000001.pt")
    assert from_dir.spec.data_path.endswith("model_000001.pt")
    assert from_file.spec.class_path == "mettagrid.policy.lstm.LSTMPolicy"
    records = evaluate_policies({"lstm_ckpt": tmp_path}, [("tiny", env_cfg)], episodes=1, show_progress=False)
    assert records["steps"].tolist() == [100]


@pytest.mark.parametrize(
    ("policy", "error", "message"),
    [
        ("no_such_policy", ValueError, "no_such_policy"),
        ("class=lstm,data=/nonexistent/model.pt", FileNotFoundError, "/nonexistent/model.pt"),
    ],
)
def test_bad_policies_fail_before_any_episode(policy, error, message):
    with pytest.raises(error, match=message):
        resolve_policy(policy)


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="episodes"):
        evaluate_policies(["noop"], ["tiny_walk"], episodes=0)
    with pytest.raises(ValueError, match="max_parallel_jobs"):
        evaluate_policies(["noop"], ["tiny_walk"], max_parallel_jobs=0)
    with pytest.raises(ValueError, match="repeated"):
        evaluate_policies(["noop", "noop"], ["tiny_walk"])
