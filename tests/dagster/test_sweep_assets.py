"""The sweep assets, materialized in process: a real two-trial sweep, the checkpoint trained with its best
configuration, and a re-materialization that continues the same study.

Every trial really trains ``lstm`` on ``tiny_walk`` (2 agents, 4 environments: 512 agent steps per
epoch, two epochs) and is evaluated on 2 episodes; each takes a second or two.
"""

import dagster as dg
import pandas as pd
import pytest
import yaml

from daf_core.config import DAFTrainingConfig
from daf_core.sweeps import SweepResult
from daf_dagster.assets.sweeps import ASSET_CHECKS, ASSETS, sweep_best_checkpoint, sweep_results
from daf_dagster.resources import DAFResource

LEARNING_RATES = [0.0005, 0.002, 0.004]
SWEEP = {
    "name": "tiny",
    "missions": ["tiny_walk"],
    "policy_class_path": "lstm",
    "search_space": {"learning_rate": LEARNING_RATES},
    "strategy": "random",  # a grid runs every point whatever num_trials says
    "num_trials": 2,
    "episodes_per_trial": 2,
    "training_steps": 1024,
    "vector_num_envs": 4,
    # A mission parameter: the best checkpoint must train on missions rebuilt with it, as the trials did.
    "base_hyperparameters": {"mission.max_steps": 40},
    "reevaluate_top_k": 1,  # the best trial again on 2 fresh seeds
}

pytestmark = pytest.mark.slow


def materialize(root, instance, selection, run_config) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [*ASSETS, *ASSET_CHECKS],
        selection=selection,
        resources={"daf": DAFResource(output_root=str(root))},
        instance=instance,
        run_config=run_config,
    )


def metadata_of(result: dg.ExecuteInProcessResult, asset: dg.AssetsDefinition) -> dict:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == asset.key]
    return event.materialization.metadata


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """sweep_results (2 trials) and sweep_best_checkpoint in one run, as sweep_job runs them."""
    root = tmp_path_factory.mktemp("sweep")
    instance = dg.DagsterInstance.ephemeral()
    result = materialize(
        root, instance, [sweep_results, sweep_best_checkpoint], {"ops": {"sweep_results": {"config": SWEEP}}}
    )
    assert result.success
    return root, instance, result


def test_sweep_results_records_the_best_configuration_trials_and_plots(swept):
    root, _, result = swept
    metadata = metadata_of(result, sweep_results)
    sweep_dir = root / "sweeps" / "tiny"
    saved = SweepResult.load_json(sweep_dir / "results.json")
    best = saved.get_best_trial()
    assert metadata["sweep_dir"].value == str(sweep_dir)
    assert metadata["finished_trials"].value == 2 and metadata["completed_trials"].value == 2
    assert metadata["best_configuration"].value == {"mission.max_steps": 40, **best.hyperparameters}
    assert metadata["best_objective"].value == pytest.approx(best.primary_metric)
    assert metadata["best_trial"].value == best.trial_id
    table = metadata["trials"].value
    assert table.count("| complete |") == 2
    assert table.splitlines()[2].startswith(f"| {best.trial_id} |")  # best first
    evaluated = pd.read_parquet(sweep_dir / "trials" / "trial_0000" / "evaluation" / "episodes.parquet")
    assert len(evaluated) == SWEEP["episodes_per_trial"]  # one training seed, one mission
    assert (sweep_dir / "sweep_report.html").is_file()
    assert (sweep_dir / "plots" / "objective_history.png").is_file()
    assert metadata["objective_history"].value.startswith("![")
    config = metadata["config"].value
    assert config["search_space"] == {"learning_rate": LEARNING_RATES} and config["output_dir"] == str(
        root / "sweeps"
    )
    assert metadata["versions"].value["dagster"] == dg.__version__
    (fresh,) = saved.fresh_evaluations
    assert (fresh.trial_id, fresh.fresh_seeds) == (best.trial_id, [1002, 1003])
    assert metadata["fresh_seeds"].value.splitlines()[2].startswith(f"| 1 | {best.trial_id} |")


def test_best_checkpoint_trains_with_the_best_hyperparameters(swept):
    root, _, result = swept
    best = SweepResult.load_json(root / "sweeps" / "tiny" / "results.json").get_best_trial()
    metadata = metadata_of(result, sweep_best_checkpoint)
    run_name = f"tiny_best_trial{best.trial_id:04d}"
    run_dir = root / "checkpoints" / run_name
    assert metadata["policy_ref"].value == f"training_run:{run_name}"
    assert metadata["run_dir"].value == str(run_dir)
    ran = DAFTrainingConfig.from_yaml(run_dir / "config.yaml")
    assert ran.ppo.learning_rate == best.hyperparameters["learning_rate"]
    assert ran.num_steps == SWEEP["training_steps"] and ran.vector_num_envs == SWEEP["vector_num_envs"]
    (mission_file,) = ran.missions
    assert yaml.safe_load(open(mission_file))["game"]["max_steps"] == 40
    assert metadata["steps"].value >= SWEEP["training_steps"]
    assert [e.passed for e in result.get_asset_check_evaluations()] == [True]  # training_finite


def test_best_checkpoint_settings_choose_steps_seed_and_run_name(swept):
    root, instance, _ = swept
    settings = {"num_steps": 1536, "seed": 3, "run_name": "chosen"}
    result = materialize(
        root, instance, [sweep_best_checkpoint], {"ops": {"sweep_best_checkpoint": {"config": settings}}}
    )
    ran = DAFTrainingConfig.from_yaml(root / "checkpoints" / "chosen" / "config.yaml")
    assert (ran.num_steps, ran.seed, ran.run_name) == (1536, 3, "chosen")
    assert metadata_of(result, sweep_best_checkpoint)["steps"].value == 1536


def test_materializing_again_continues_the_same_study(swept):
    root, instance, _ = swept
    trials_file = lambda t: root / "sweeps" / "tiny" / "trials" / f"trial_{t:04d}" / "trial.json"  # noqa: E731
    before = {t: trials_file(t).read_text() for t in (0, 1)}
    more = {"ops": {"sweep_results": {"config": {**SWEEP, "num_trials": 3}}}}
    result = materialize(root, instance, [sweep_results], more)
    saved = SweepResult.load_json(root / "sweeps" / "tiny" / "results.json")
    assert metadata_of(result, sweep_results)["finished_trials"].value == 3
    assert sorted(t.hyperparameters["learning_rate"] for t in saved.trials) == LEARNING_RATES
    assert {t: trials_file(t).read_text() for t in (0, 1)} == before  # finished trials never ran again


def test_a_bad_sweep_config_fails_naming_the_field(tmp_path):
    with pytest.raises(Exception, match="strategy"):
        materialize(
            tmp_path,
            dg.DagsterInstance.ephemeral(),
            [sweep_results],
            {"ops": {"sweep_results": {"config": {**SWEEP, "strategy": "exhaustive"}}}},
        )
    with pytest.raises(Exception, match="num_trials"):
        materialize(
            tmp_path,
            dg.DagsterInstance.ephemeral(),
            [sweep_results],
            {"ops": {"sweep_results": {"config": {**SWEEP, "num_trials": 0}}}},
        )
    with pytest.raises(Exception, match="search_space"):  # refused by DAFSweepConfig itself
        materialize(
            tmp_path,
            dg.DagsterInstance.ephemeral(),
            [sweep_results],
            {
                "ops": {
                    "sweep_results": {"config": {**SWEEP, "search_space": {"learning_rate": {"low": 0.1}}}}
                }
            },
        )
    assert not (tmp_path / "sweeps").exists() or not any((tmp_path / "sweeps").iterdir())


def test_the_shared_sweep_storage_comes_from_the_environment(tmp_path, monkeypatch):
    """``$DAF_SWEEP_STORAGE`` (docker-compose points it at PostgreSQL) holds the study of a sweep whose
    config names no storage; one that names its own keeps it."""
    import optuna  # noqa: PLC0415 - only here

    shared = f"sqlite:///{tmp_path / 'shared.db'}"
    monkeypatch.setenv("DAF_SWEEP_STORAGE", shared)
    one_trial = {**SWEEP, "num_trials": 1}
    result = materialize(
        tmp_path,
        dg.DagsterInstance.ephemeral(),
        [sweep_results],
        {"ops": {"sweep_results": {"config": one_trial}}},
    )
    assert metadata_of(result, sweep_results)["study_storage"].value == shared
    (study,) = optuna.get_all_study_summaries(shared)
    assert study.n_trials == 1
    assert not (tmp_path / "sweeps" / "tiny" / "study.db").exists()

    own = f"sqlite:///{tmp_path / 'own.db'}"
    result = materialize(
        tmp_path / "other",
        dg.DagsterInstance.ephemeral(),
        [sweep_results],
        {"ops": {"sweep_results": {"config": {**one_trial, "storage": own}}}},
    )
    assert metadata_of(result, sweep_results)["study_storage"].value == own
    assert len(optuna.get_all_study_summaries(shared)) == 1
